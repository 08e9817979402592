//! The demo scene: its ground truth sits on its rendered objects, its frames
//! walk lazily, and it exercises what the evaluation needs (occlusion, distance,
//! look-alikes).

use autolabel::data::classes::ClassMap;
use autolabel::data::clip::Clip;
use autolabel::data::nuscenes::{DEFAULT_CHANNEL, MemorySource, NuScenes};
use autolabel::data::synthetic::render::render;
use autolabel::data::synthetic::{SceneConfig, SyntheticScene};

use crate::alloc::peak_during;
use crate::support::metadata_source;

fn ground_truth(scene: &SyntheticScene) -> Vec<autolabel::data::nuscenes::KeyframeGt> {
    let db = NuScenes::load(&metadata_source(scene), "v1.0-mini").unwrap();
    let frames = db
        .camera_frames(&scene.config.name, DEFAULT_CHANNEL, None)
        .unwrap();
    db.ground_truth(&frames, &ClassMap::nuscenes_default())
        .unwrap()
}

/// Pixel bounds `[x0, y0, x1, y1]` (exclusive ends) of the pixels with id `id`.
fn pixel_bounds(ids: &[u32], width: u32, id: u32) -> Option<[f64; 4]> {
    let mut b: Option<[f64; 4]> = None;
    for (i, _) in ids.iter().enumerate().filter(|(_, v)| **v == id) {
        let (x, y) = ((i as u32 % width) as f64, (i as u32 / width) as f64);
        let r = b.get_or_insert([x, y, x + 1.0, y + 1.0]);
        *r = [
            r[0].min(x),
            r[1].min(y),
            r[2].max(x + 1.0),
            r[3].max(y + 1.0),
        ];
    }
    b
}

/// Every keyframe box is the projection of exactly what is drawn: the object
/// rendered alone fills its GT box to within a pixel, and what is visible of it
/// in the full frame lies inside the box.
#[test]
fn ground_truth_boxes_sit_on_the_rendered_objects() {
    let scene = SyntheticScene::generate(&SceneConfig::small(13, 800, 450));
    let gt = ground_truth(&scene);
    let keyframes: Vec<usize> = (0..scene.len())
        .filter(|&i| scene.tables.sample_data[i].is_key_frame)
        .collect();
    let mut checked = 0;
    for (k, &frame) in gt.iter().zip(&keyframes) {
        let camera = scene.camera(frame).unwrap();
        let solids = scene.solids(frame).unwrap();
        let full = scene.render(frame).unwrap();
        for a in &k.annotations {
            let actor = scene.actor_of_instance(&a.instance_token).unwrap();
            let alone = render(&camera, 800, 450, &solids[actor..=actor]);
            let bounds = pixel_bounds(&alone.ids, 800, 0).expect("an annotated box is drawn");
            for i in 0..4 {
                assert!(
                    (bounds[i] - a.bbox[i]).abs() <= 1.0,
                    "{} {}: drawn {bounds:?}, GT {:?}",
                    a.category,
                    a.annotation_token,
                    a.bbox
                );
            }
            if let Some(seen) = pixel_bounds(&full.ids, 800, actor as u32) {
                assert!(
                    seen[0] >= a.bbox[0] - 1.0
                        && seen[1] >= a.bbox[1] - 1.0
                        && seen[2] <= a.bbox[2] + 1.0
                        && seen[3] <= a.bbox[3] + 1.0
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 30, "only {checked} boxes checked");
}

/// The scene has what the evaluation must be tested on.
#[test]
fn the_demo_scene_has_occlusion_distance_and_look_alikes() {
    let gt = ground_truth(crate::support::demo_scene());
    let all: Vec<_> = gt.iter().flat_map(|k| &k.annotations).collect();
    let count = |f: &dyn Fn(&&autolabel::data::nuscenes::GtAnnotation) -> bool| {
        all.iter().filter(|a| f(a)).count()
    };
    assert!(
        count(&|a| a.visibility.as_deref() == Some("v0-40")) >= 10,
        "occluded objects"
    );
    assert!(
        count(&|a| a.visibility.as_deref() == Some("v80-100")) >= 50,
        "fully visible objects"
    );
    assert!(count(&|a| a.distance_m > 40.0) >= 10, "distant objects");
    assert!(
        count(&|a| a.bbox[2] - a.bbox[0] < 32.0) >= 10,
        "small boxes"
    );
    for class in ["car", "truck", "bus", "pedestrian", "cyclist"] {
        assert!(
            count(&|a| a.class.as_deref() == Some(class)) >= 3,
            "class {class}"
        );
    }
    for category in [
        "vehicle.emergency.police",
        "vehicle.emergency.ambulance",
        "vehicle.trailer",
        "vehicle.bicycle",
        "human.pedestrian.child",
    ] {
        assert!(
            count(&|a| a.category == category) >= 1,
            "category {category}"
        );
    }
    assert!(count(&|a| a.class.is_none()) >= 3, "ignored categories");
}

/// Walking a 400-frame scene holds at most a few decoded frames at a time.
#[test]
fn walking_a_long_scene_keeps_memory_flat() {
    let (w, h) = (320, 180);
    let scene = SyntheticScene::generate(&SceneConfig::small(400, w, h));
    let mut source = MemorySource::default();
    for file in scene.files() {
        let (path, bytes) = file.expect("demo file");
        source.insert(path, bytes);
    }
    let db = NuScenes::load(&source, "v1.0-mini").unwrap();
    let mut clip = Clip::nuscenes(
        &db,
        Box::new(source),
        &scene.config.name,
        DEFAULT_CHANNEL,
        None,
    )
    .unwrap();
    assert_eq!(clip.len(), 400);
    let frame_bytes = (w * h * 3) as usize;
    let (walked, peak) = peak_during(|| {
        let mut n = 0;
        for frame in clip.iter() {
            let frame = frame.unwrap();
            assert_eq!(frame.rgb.dimensions(), (w, h));
            n += 1;
        }
        n
    });
    assert_eq!(walked, 400);
    assert!(
        peak < 4 * frame_bytes,
        "peak {peak} B while walking, a frame is {frame_bytes} B"
    );
}
