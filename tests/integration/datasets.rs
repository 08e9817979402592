//! Dataset workflows end to end with the tiny fixture models: `autolabel
//! masks` (SAM 2 masks for a COCO dataset's boxes) on the demo scene's COCO
//! export, checked against `autolabel segment` and pycocotools.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::run::{cli, demo_dataset, fixture, json, ok, stderr};
use crate::support::{Scratch, run_oracle};

/// The demo scene's ground truth as a COCO dataset (`file_name`s relative to
/// the dataset root).
fn demo_coco(dir: &Path, dataset: &Path) -> PathBuf {
    let path = dir.join("gt.json");
    ok(
        cli()
            .args(["export", "--scene", "scene-demo", "--nuscenes"])
            .arg(dataset)
            .arg("--out")
            .arg(&path)
            .output()
            .unwrap(),
        "autolabel export",
    );
    path
}

/// Ids of the annotations `edit_for_masks` adds or makes unmaskable.
const CROWD: i64 = 2;
const DEGENERATE: i64 = 1000;
const MISSING_FILE: i64 = 1001;
const UNKNOWN_IMAGE: i64 = 1002;

/// The demo COCO with what real datasets hold: fields of its own at every
/// level, an old segmentation, a crowd region, a box without width, an image
/// whose file is not in the folder and an annotation of no listed image.
fn edit_for_masks(gt: &mut Value) {
    gt["x_tool"] = json!({"name": "my labeller", "version": 3});
    gt["categories"][0]["x_colour"] = json!("#ff0000");
    let first = gt["images"][0]["id"].clone();
    let anns = gt["annotations"].as_array_mut().unwrap();
    anns[0]["x_reviewed"] = json!(true);
    anns[2]["segmentation"] = json!([[10.0, 10.0, 20.0, 10.0, 20.0, 20.0]]);
    let crowd = anns.iter_mut().find(|a| a["id"] == CROWD).unwrap();
    crowd["iscrowd"] = json!(1);
    let ann = |id: i64, image: Value, bbox: [f64; 4]| json!({"id": id, "image_id": image, "category_id": 1, "bbox": bbox, "area": 0.0, "iscrowd": 0});
    anns.push(ann(DEGENERATE, first.clone(), [10.0, 10.0, 0.0, 5.0]));
    anns.push(ann(MISSING_FILE, json!(99), [10.0, 10.0, 50.0, 50.0]));
    anns.push(ann(UNKNOWN_IMAGE, json!(555), [10.0, 10.0, 50.0, 50.0]));
    gt["images"].as_array_mut().unwrap().push(json!({
        "id": 99, "file_name": "samples/CAM_FRONT/not-there.jpg", "width": 1600, "height": 900
    }));
}

fn masks_command(gt: &Path, images: &Path, out: &Path, format: &str) -> std::process::Command {
    let mut c = cli();
    c.args(["masks", "--gt-eval", "--segmentation", format, "--coco"])
        .arg(gt)
        .arg("--images")
        .arg(images)
        .arg("--model")
        .arg(fixture("sam2-tiny"))
        .arg("--out")
        .arg(out);
    c
}

/// `autolabel segment`'s mask for each annotation of `ids` (one call per
/// image with all its boxes in annotation order, as `masks` decodes them).
fn segment_masks(gt: &Value, root: &Path, ids: &[i64]) -> BTreeMap<String, Value> {
    let mut expected = BTreeMap::new();
    for image in gt["images"].as_array().unwrap() {
        let anns: Vec<&Value> = gt["annotations"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["image_id"] == image["id"] && ids.contains(&a["id"].as_i64().unwrap()))
            .collect();
        if anns.is_empty() {
            continue;
        }
        let mut c = cli();
        c.args(["segment", "--model"])
            .arg(fixture("sam2-tiny"))
            .arg("--image")
            .arg(root.join(image["file_name"].as_str().unwrap()));
        for a in &anns {
            let b: Vec<f64> = serde_json::from_value(a["bbox"].clone()).unwrap();
            c.arg("--box")
                .arg(format!("{},{},{},{}", b[0], b[1], b[0] + b[2], b[1] + b[3]));
        }
        let out: Value =
            serde_json::from_slice(&ok(c.output().unwrap(), "segment").stdout).unwrap();
        for (a, r) in anns.iter().zip(out["results"].as_array().unwrap()) {
            expected.insert(a["id"].to_string(), r["masks"][0]["rle"].clone());
        }
    }
    expected
}

/// Everything but the fields `masks` writes.
fn without_masks(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(a) = v.as_object_mut() {
        a.remove("segmentation");
        a.remove("mask_score");
    }
    v
}

#[test]
fn masks_for_coco_boxes_keep_every_field_and_equal_segment() {
    let scratch = Scratch::new("masks-coco");
    let dataset = demo_dataset(&scratch.0, 13);
    let mut gt = json(&demo_coco(&scratch.0, &dataset));
    edit_for_masks(&mut gt);
    let gt_path = scratch.0.join("gt-edited.json");
    std::fs::write(&gt_path, gt.to_string()).unwrap();

    let out = scratch.0.join("with-masks.json");
    let run = ok(
        masks_command(&gt_path, &dataset, &out, "auto")
            .output()
            .unwrap(),
        "autolabel masks",
    );
    let report: Value = serde_json::from_slice(&run.stdout).unwrap();
    let skipped: Vec<(i64, &str)> = report["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["annotation_id"].as_i64().unwrap(),
                s["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        skipped,
        [
            (CROWD, "crowd"),
            (DEGENERATE, "degenerate"),
            (MISSING_FILE, "image"),
            (UNKNOWN_IMAGE, "unknown_image")
        ],
        "{report}"
    );
    assert!(stderr(&run).contains("skipped annotation 1001 (image 99): image:"));
    let total = gt["annotations"].as_array().unwrap().len();
    assert_eq!(report["masked"], total - 4);
    assert_eq!(report["replaced"], 1, "the old segmentation is replaced");
    let classes = report["gt_eval"].as_array().unwrap();
    assert!(classes.len() >= 3, "{report}");
    let masked: usize = classes
        .iter()
        .map(|c| c["masks"].as_u64().unwrap() as usize)
        .sum();
    assert_eq!(masked, total - 4);

    let with = json(&out);
    for key in ["x_tool", "info", "images", "categories"] {
        assert_eq!(with[key], gt[key], "{key} kept");
    }
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&with), keys(&gt), "no top-level field added or lost");
    let skipped_ids = [CROWD, DEGENERATE, MISSING_FILE, UNKNOWN_IMAGE];
    let mut ids = Vec::new();
    for (a, b) in gt["annotations"]
        .as_array()
        .unwrap()
        .iter()
        .zip(with["annotations"].as_array().unwrap())
    {
        let id = a["id"].as_i64().unwrap();
        if skipped_ids.contains(&id) {
            assert_eq!(a, b, "a skipped annotation is left as it was");
        } else {
            assert_eq!(
                without_masks(a),
                without_masks(b),
                "annotation {id}: fields kept"
            );
            assert!(b["segmentation"].is_array() || b["segmentation"].is_object());
            assert!(b["mask_score"].is_f64());
            ids.push(id);
        }
    }
    assert_eq!(with["annotations"][0]["x_reviewed"], true);

    let expected = segment_masks(&gt, &dataset, &ids);
    assert_eq!(expected.len(), ids.len());
    let expected_path = scratch.0.join("expected.json");
    std::fs::write(&expected_path, serde_json::to_string(&expected).unwrap()).unwrap();
    let check: Value = serde_json::from_str(&run_oracle(
        "masks_check.py",
        &[out.to_str().unwrap(), expected_path.to_str().unwrap()],
    ))
    .unwrap();
    assert_eq!(check["compared"], ids.len(), "{check}");
    assert_eq!(check["differing_pixels"], 0, "{check}");

    let rle_out = scratch.0.join("with-rle.json");
    ok(
        masks_command(&gt_path, &dataset, &rle_out, "rle")
            .output()
            .unwrap(),
        "autolabel masks --segmentation rle",
    );
    let rle = json(&rle_out);
    for a in rle["annotations"].as_array().unwrap() {
        if let Some(want) = expected.get(&a["id"].to_string()) {
            assert_eq!(
                &a["segmentation"], want,
                "annotation {}: the RLE of `segment`",
                a["id"]
            );
        }
    }
}

#[test]
fn masks_refuses_bad_arguments_by_name() {
    let scratch = Scratch::new("masks-bad");
    let gt = scratch.0.join("gt.json");
    std::fs::write(
        &gt,
        r#"{"images": [], "categories": [], "annotations": [{"id": 1}]}"#,
    )
    .unwrap();
    let out = scratch.0.join("out.json");
    for (images, says) in [
        (scratch.0.join("nowhere"), "--images"),
        (scratch.0.clone(), "--coco"),
    ] {
        let o = masks_command(&gt, &images, &out, "auto").output().unwrap();
        let e = stderr(&o);
        assert!(!o.status.success() && e.contains(says), "{e}");
    }
    let o = masks_command(&gt, &scratch.0, &out, "outline")
        .output()
        .unwrap();
    assert!(
        stderr(&o).contains("expected auto, polygon or rle"),
        "{}",
        stderr(&o)
    );
    assert!(!out.exists(), "nothing written on bad input");
}
