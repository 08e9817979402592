//! Dataset workflows end to end with the tiny fixture models: `autolabel
//! masks` (SAM 2 masks for a COCO dataset's boxes) on the demo scene's COCO
//! export, checked against `autolabel segment` and pycocotools.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::run::{cli, demo_dataset, fixture, json, ok, stderr};
use crate::support::{
    Scratch, check_json_files_null_only_where_optional, check_nulls_only_where_optional, run_oracle,
};

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

/// Where `autolabel masks`'s JSON (its report on stdout, the dataset it
/// writes) may hold `null`: the fields that are an `Option` in Rust
/// ([`check_nulls_only_where_optional`]).
const MASKS_NULLABLE: &[&str] = &[];

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
    check_nulls_only_where_optional("stdout", &report, MASKS_NULLABLE);
    check_nulls_only_where_optional("with-masks.json", &json(&out), MASKS_NULLABLE);
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
    check_nulls_only_where_optional("with-rle.json", &rle, MASKS_NULLABLE);
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

/// The demo scene's three keyframes as a folder of images, with a file that
/// is not an image between the first two.
fn image_folder(dir: &Path, dataset: &Path) -> PathBuf {
    let folder = dir.join("images");
    std::fs::create_dir_all(&folder).unwrap();
    let cam = dataset.join("samples/CAM_FRONT");
    for entry in std::fs::read_dir(&cam).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, folder.join(path.file_name().unwrap())).unwrap();
    }
    std::fs::write(folder.join(BROKEN), b"not a jpeg").unwrap();
    folder
}

const BROKEN: &str = "n000-2018-08-01-00-00-00+0000__CAM_FRONT__1533110400200000.jpg";

fn batch(images: &Path, ontology: &Path, size: &str, segment: bool, out: &Path) -> Value {
    let mut c = cli();
    c.args(["batch", "--quiet", "--size", size, "--images"])
        .arg(images)
        .arg("--detector")
        .arg(fixture("grounding-dino-tiny"))
        .arg("--ontology")
        .arg(ontology)
        .arg("--out")
        .arg(out);
    if segment {
        c.arg("--segmenter").arg(fixture("sam2-tiny"));
    }
    let report =
        serde_json::from_slice(&ok(c.output().unwrap(), "autolabel batch").stdout).unwrap();
    check_nulls_only_where_optional("stdout", &report, BATCH_NULLABLE);
    report
}

/// Where `autolabel batch`'s JSON (its report on stdout, the files of its
/// ZIP) may hold `null`: the fields that are an `Option` in Rust
/// ([`check_nulls_only_where_optional`]).
const BATCH_NULLABLE: &[&str] = &[];

/// The ZIP unpacked into `dir`; its file names.
fn unzip(zip_path: &Path, dir: &Path) -> Vec<String> {
    let bytes = std::fs::read(zip_path).unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    zip.extract(dir).unwrap();
    let mut names: Vec<String> = zip.file_names().map(|n| n.unwrap().into_owned()).collect();
    names.sort();
    names
}

#[test]
fn batch_labels_a_folder_into_a_resized_training_zip() {
    let scratch = Scratch::new("batch");
    let dataset = demo_dataset(&scratch.0, 13);
    let images = image_folder(&scratch.0, &dataset);
    let ontology = crate::run::write_ontology(&scratch.0);

    let small_zip = scratch.0.join("small.zip");
    let report = batch(&images, &ontology, "640", true, &small_zip);
    assert_eq!(
        (report["images"].as_u64(), report["labelled"].as_u64()),
        (Some(4), Some(3))
    );
    let failed = &report["failed"][0];
    assert_eq!(failed["file"], BROKEN, "{report}");
    assert!(
        failed["error"].as_str().unwrap().contains("decode"),
        "{report}"
    );
    assert!(
        report["objects"].as_u64().unwrap() >= 3,
        "the fixture finds objects: {report}"
    );

    let small = scratch.0.join("small");
    let names = unzip(&small_zip, &small);
    check_json_files_null_only_where_optional(&small, BATCH_NULLABLE);
    for prefix in ["images/", "preview/"] {
        let jpgs = names
            .iter()
            .filter(|n| n.starts_with(prefix) && n.ends_with(".jpg"));
        assert_eq!(jpgs.count(), 3, "{prefix}: {names:?}");
    }
    for file in ["coco_export.json", "report.json", "preview/index.html"] {
        assert!(names.iter().any(|n| n == file), "{file}: {names:?}");
    }
    let check: Value =
        serde_json::from_str(&run_oracle("batch_check.py", &[small.to_str().unwrap()])).unwrap();
    assert_eq!(check["images"], 3, "{check}");
    assert_eq!(check["with_masks"], report["objects"], "{check}");
    for zero in ["missing_files", "size_mismatches", "area_mismatches"] {
        assert_eq!(check[zero], 0, "{zero}: {check}");
    }

    check_yolo_voc(&small, "coco_export.json", &report["objects"]);
    assert_eq!(check["with_masks"], report["objects"]);

    let full_zip = scratch.0.join("full.zip");
    let report_full = batch(&images, &ontology, "1600", false, &full_zip);
    assert_eq!(report_full["objects"], report["objects"]);
    let full = scratch.0.join("full");
    unzip(&full_zip, &full);
    let (a, b) = (
        json(&small.join("coco_export.json")),
        json(&full.join("coco_export.json")),
    );
    for (im_a, im_b) in a["images"]
        .as_array()
        .unwrap()
        .iter()
        .zip(b["images"].as_array().unwrap())
    {
        assert_eq!(
            (&im_a["width"], &im_a["height"]),
            (&json!(640), &json!(360))
        );
        assert_eq!(
            (&im_b["width"], &im_b["height"]),
            (&json!(1600), &json!(900))
        );
        assert_eq!(im_a["file_name"], im_b["file_name"]);
    }
    let (sx, sy) = (640.0 / 1600.0, 360.0 / 900.0);
    for (x, y) in a["annotations"]
        .as_array()
        .unwrap()
        .iter()
        .zip(b["annotations"].as_array().unwrap())
    {
        assert!(
            y.get("segmentation").is_none(),
            "bbox-only without a segmenter"
        );
        assert_eq!(
            (&x["image_id"], &x["category_id"]),
            (&y["image_id"], &y["category_id"])
        );
        let small_box: [f64; 4] = serde_json::from_value(x["bbox"].clone()).unwrap();
        let full_box: [f64; 4] = serde_json::from_value(y["bbox"].clone()).unwrap();
        let want = [
            full_box[0] * sx,
            full_box[1] * sy,
            full_box[2] * sx,
            full_box[3] * sy,
        ];
        assert_eq!(small_box, want, "annotation {}: exactly rescaled", x["id"]);
    }
}

/// The YOLO and VOC files of an unpacked training ZIP read back by the
/// reference reader agree with its COCO file `coco_name` (`objects` objects).
pub(crate) fn check_yolo_voc(dir: &Path, coco_name: &str, objects: &Value) {
    let r: Value = serde_json::from_str(&run_oracle(
        "yolo_voc_check.py",
        &[dir.to_str().unwrap(), coco_name],
    ))
    .unwrap();
    assert_eq!(&r["objects"], objects, "{r}");
    // Six decimals of a side of at most 1600 px.
    assert!(r["yolo_max_error_px"].as_f64().unwrap() < 2e-3, "{r}");
    for zero in [
        "yolo_class_mismatches",
        "yolo_missing",
        "seg_bad",
        "voc_class_mismatches",
        "voc_box_mismatches",
        "voc_missing",
    ] {
        assert_eq!(r[zero], 0, "{zero}: {r}");
    }
    assert_eq!(r["image_set_ok"], true, "{r}");
}

#[test]
fn batch_with_annealing_records_pass_and_threshold() {
    let scratch = Scratch::new("batch-anneal");
    let dataset = demo_dataset(&scratch.0, 13);
    let images = image_folder(&scratch.0, &dataset);
    let ontology = crate::run::write_ontology(&scratch.0);
    let settings = scratch.0.join("anneal.json");
    std::fs::write(
        &settings,
        r#"{"start": 0.5, "floor": 0.3, "max_iterations": 3,
            "scheduler": {"kind": "stepwise", "step": 0.1}, "merge": {"kind": "nms", "iou": 0.5}}"#,
    )
    .unwrap();
    let zip_path = scratch.0.join("annealed.zip");
    let mut c = cli();
    c.args(["batch", "--quiet", "--images"])
        .arg(&images)
        .arg("--detector")
        .arg(fixture("grounding-dino-tiny"))
        .arg("--ontology")
        .arg(&ontology)
        .arg("--anneal")
        .arg(&settings)
        .arg("--out")
        .arg(&zip_path);
    let report: Value =
        serde_json::from_slice(&ok(c.output().unwrap(), "batch --anneal").stdout).unwrap();
    assert_eq!(report["labelled"], 3, "{report}");
    check_nulls_only_where_optional("stdout", &report, BATCH_NULLABLE);
    let dir = scratch.0.join("annealed");
    unzip(&zip_path, &dir);
    check_json_files_null_only_where_optional(&dir, BATCH_NULLABLE);
    let coco = json(&dir.join("coco_export.json"));
    let thresholds = [0.5, 0.4, 0.3];
    let mut pass_of: BTreeMap<(i64, i64), u64> = BTreeMap::new();
    for a in coco["annotations"].as_array().unwrap() {
        let pass = a["anneal_pass"].as_u64().unwrap();
        let threshold = a["anneal_threshold"].as_f64().unwrap();
        assert!((threshold - thresholds[pass as usize]).abs() < 1e-12, "{a}");
        assert!(a["score"].as_f64().unwrap() > threshold, "{a}");
        let key = (
            a["image_id"].as_i64().unwrap(),
            a["category_id"].as_i64().unwrap(),
        );
        let first = *pass_of.entry(key).or_insert(pass);
        assert_eq!(
            first, pass,
            "a class with labels is not detected again: {a}"
        );
    }
    let passes: std::collections::BTreeSet<u64> = pass_of.values().copied().collect();
    assert!(
        passes.len() >= 2,
        "the fixture needs lower thresholds for some classes: {passes:?}"
    );

    std::fs::write(&settings, r#"{"start": 0.3, "floor": 0.5}"#).unwrap();
    let bad = scratch.0.join("bad.zip");
    let o = cli()
        .args(["batch", "--images"])
        .arg(&images)
        .arg("--detector")
        .arg(fixture("grounding-dino-tiny"))
        .arg("--anneal")
        .arg(&settings)
        .arg("--out")
        .arg(&bad)
        .output()
        .unwrap();
    let e = stderr(&o);
    assert!(
        e.contains("--anneal") && e.contains("the floor 0.5 is above the start threshold 0.3"),
        "{e}"
    );
    assert!(!bad.exists());
}
