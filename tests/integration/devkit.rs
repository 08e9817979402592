//! The projected 2D ground truth against the real nuscenes-devkit 1.2.0, live:
//! the same dataset is loaded by `NuScenes(...)` and projected by the devkit's
//! own `get_2d_boxes` (`tests/oracle/nuscenes_gt.py`).

use autolabel::data::classes::ClassMap;
use autolabel::data::nuscenes::{DEFAULT_CHANNEL, KeyframeGt, NuScenes};
use autolabel::data::synthetic::{SceneConfig, SyntheticScene};
use serde_json::Value;

use crate::support::{Scratch, demo_scene, run_oracle};

/// Box corners agree to this many pixels.
const BOX_TOLERANCE_PX: f64 = 1e-3;

fn write_metadata(scene: &SyntheticScene, dir: &std::path::Path) {
    for (path, bytes) in scene.metadata_files().expect("demo metadata") {
        let full = dir.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, bytes).unwrap();
    }
}

fn ours(root: &std::path::Path, scene: &str, max_frames: Option<usize>) -> Vec<KeyframeGt> {
    let db = NuScenes::open(root, "v1.0-mini").unwrap();
    let frames = db
        .camera_frames(scene, DEFAULT_CHANNEL, max_frames)
        .unwrap();
    db.ground_truth(&frames, &ClassMap::nuscenes_default())
        .unwrap()
}

fn devkit(root: &std::path::Path, scene: &str, max_frames: Option<usize>) -> Vec<Value> {
    let mut args = vec![
        "--dataroot",
        root.to_str().unwrap(),
        "--version",
        "v1.0-mini",
        "--scene",
        scene,
    ];
    let n = max_frames.map(|n| n.to_string());
    if let Some(n) = &n {
        args.extend(["--max-frames", n.as_str()]);
    }
    serde_json::from_str(&run_oracle("nuscenes_gt.py", &args)).unwrap()
}

/// Compares keyframe by keyframe; annotations the devkit cannot box (it crashes
/// on them, `devkit_error`) must be absent from ours. Returns the boxes compared.
fn compare(ours: &[KeyframeGt], theirs: &[Value]) -> usize {
    assert_eq!(ours.len(), theirs.len(), "number of keyframes");
    let mut compared = 0;
    for (o, t) in ours.iter().zip(theirs) {
        assert_eq!(o.sample_token, t["sample_token"].as_str().unwrap());
        assert_eq!(o.timestamp, t["timestamp"].as_i64().unwrap());
        assert_eq!(o.image, t["image"].as_str().unwrap());
        let boxed: Vec<&Value> = t["annotations"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| !a["box"].is_null())
            .collect();
        let tokens = |v: &[&Value]| {
            v.iter()
                .map(|a| a["annotation_token"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        };
        let our_tokens: Vec<String> = o
            .annotations
            .iter()
            .map(|a| a.annotation_token.clone())
            .collect();
        assert_eq!(
            our_tokens,
            tokens(&boxed),
            "annotations of sample {}",
            o.sample_token
        );
        for (a, b) in o.annotations.iter().zip(&boxed) {
            let theirs_box: Vec<f64> = b["box"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            for k in 0..4 {
                let diff = (a.bbox[k] - theirs_box[k]).abs();
                assert!(
                    diff <= BOX_TOLERANCE_PX,
                    "{}: box {:?} vs devkit {theirs_box:?}",
                    a.annotation_token,
                    a.bbox
                );
            }
            assert_eq!(a.instance_token, b["instance_token"].as_str().unwrap());
            assert_eq!(a.category, b["category"].as_str().unwrap());
            assert_eq!(a.visibility.as_deref(), b["visibility"].as_str());
            assert_eq!(a.num_lidar_pts, b["num_lidar_pts"].as_i64().unwrap());
            assert!((a.distance_m - b["distance_m"].as_f64().unwrap()).abs() < 1e-6);
            compared += 1;
        }
    }
    compared
}

#[test]
fn demo_scene_boxes_match_the_devkit() {
    let dir = Scratch::new("devkit-demo");
    let scene = demo_scene();
    write_metadata(scene, &dir.0);
    let n = compare(
        &ours(&dir.0, &scene.config.name, None),
        &devkit(&dir.0, &scene.config.name, None),
    );
    assert!(n > 200, "only {n} boxes compared");
    // A cap on the walk (keyframes + sweeps) cuts both the same way.
    let capped = ours(&dir.0, &scene.config.name, Some(40));
    assert_eq!(capped.len(), 7);
    compare(&capped, &devkit(&dir.0, &scene.config.name, Some(40)));
}

#[test]
fn another_seed_matches_the_devkit() {
    let dir = Scratch::new("devkit-seed");
    let scene = SyntheticScene::generate(&SceneConfig {
        seed: 77,
        name: "scene-0077".into(),
        frames: 60,
        ..SceneConfig::demo()
    });
    write_metadata(&scene, &dir.0);
    let n = compare(
        &ours(&dir.0, "scene-0077", None),
        &devkit(&dir.0, "scene-0077", None),
    );
    assert!(n > 80, "only {n} boxes compared");
}

/// Boxes partly behind the camera, crossing the border, outside it, and the
/// degenerate hulls the devkit crashes on (written by `tests/oracle/edge_cases.py`).
#[test]
fn projection_edge_cases_match_the_devkit() {
    let dir = Scratch::new("devkit-edges");
    run_oracle("edge_cases.py", &[dir.0.to_str().unwrap()]);
    let db = NuScenes::open(&dir.0, "v1.0-mini").unwrap();
    let mut crashes = 0;
    for scene in db.scene.rows.iter().map(|s| s.name.clone()) {
        let theirs = devkit(&dir.0, &scene, None);
        crashes += theirs
            .iter()
            .flat_map(|k| k["annotations"].as_array().unwrap())
            .filter(|a| a.get("devkit_error").is_some())
            .count();
        compare(&ours(&dir.0, &scene, None), &theirs);
    }
    assert!(
        crashes >= 3,
        "the edge cases should include degenerate hulls"
    );
}
