//! pycocotools, live, as the oracle of the COCO export and of COCO AP
//! (`tests/oracle/coco_check.py`): it loads what we write, `annToMask` gives
//! back every source mask, its RLE strings are ours, and COCOeval's numbers
//! equal ours to 1e-6 — on the demo scene (boxes and masks) and on random
//! sets with crowd regions, area ranges, score ties and > 100 detections.

use std::path::Path;

use autolabel::eval::cocoeval::{CocoStats, coco_eval};
use autolabel::eval::data::{Category, Detection, GroundTruth, GtObject, Image};
use autolabel::eval::metrics::IouKind;
use autolabel::export::coco::{
    CocoDataset, LabelledFrame, LabelledObject, Segmentation, SegmentationFormat, build_dataset,
    dataset_from_ground_truth, import_ground_truth, results_from_detections,
};
use autolabel::labels::mask::Mask;
use image::{ImageBuffer, Luma};
use serde_json::Value;

use crate::eval_fixtures::{Rng, demo_truth, jittered_predictions};
use crate::support::{Scratch, run_oracle};

fn write_json(path: &Path, value: &impl serde::Serialize) -> String {
    std::fs::write(path, serde_json::to_vec(value).unwrap()).unwrap();
    path.to_str().unwrap().to_string()
}

/// A label map as a 16-bit PNG (pixel = label value).
fn write_labels(path: &Path, width: u32, height: u32, labels: &[u32]) -> String {
    let img: ImageBuffer<Luma<u16>, Vec<u16>> = ImageBuffer::from_fn(width, height, |x, y| {
        Luma([labels[(y * width + x) as usize] as u16])
    });
    img.save(path).unwrap();
    path.to_str().unwrap().to_string()
}

/// Asserts agreement to 1e-6; returns the largest difference.
fn assert_stats_equal(what: &str, ours: &CocoStats, theirs: &Value) -> f64 {
    let mut max: f64 = 0.0;
    let stats: Vec<f64> = theirs["stats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    for (i, (a, b)) in ours.stats.iter().zip(&stats).enumerate() {
        assert!(
            (a - b).abs() <= 1e-6,
            "{what} stats[{i}]: ours {a}, pycocotools {b}"
        );
        max = max.max((a - b).abs());
    }
    for c in &ours.per_category {
        let p = &theirs["per_category"][c.category_id.to_string()];
        for (name, ours) in [("ap", c.ap), ("ap50", c.ap50)] {
            match (ours, p[name].as_f64()) {
                (Some(a), Some(b)) => {
                    assert!(
                        (a - b).abs() <= 1e-6,
                        "{what} category {} {name}: {a} vs {b}",
                        c.category_id
                    );
                    max = max.max((a - b).abs());
                }
                (None, None) => {}
                other => panic!("{what} category {} {name}: {other:?}", c.category_id),
            }
        }
    }
    max
}

/// Mask checks of the oracle: every IoU ≥ 0.99 (in fact 1); RLE annotations
/// carry pycocotools' own encoding of the source mask. Returns the minimum IoU.
fn check_masks(dataset: &CocoDataset, answer: &Value) -> f64 {
    let masks = answer["masks"].as_array().unwrap();
    assert_eq!(masks.len(), dataset.annotations.len());
    let mut min_iou: f64 = 1.0;
    for m in masks {
        let id = m["id"].as_i64().unwrap();
        let iou = m["iou"].as_f64().unwrap();
        assert!(
            iou >= 0.99,
            "annotation {id}: annToMask IoU {iou} with its source mask"
        );
        min_iou = min_iou.min(iou);
        let a = dataset.annotations.iter().find(|a| a.id == id).unwrap();
        if let Some(Segmentation::Rle(rle)) = &a.segmentation {
            assert_eq!(
                rle.to_compressed(),
                m["rle"].as_str().unwrap(),
                "annotation {id}: RLE string"
            );
        }
    }
    min_iou
}

fn manifest(dataset: &CocoDataset, png_of: impl Fn(i64) -> (String, u32)) -> Vec<Value> {
    dataset
        .annotations
        .iter()
        .map(|a| {
            let (png, value) = png_of(a.id);
            serde_json::json!({"id": a.id, "png": png, "value": value})
        })
        .collect()
}

#[test]
fn pycocotools_reads_the_demo_export_and_agrees_on_box_and_mask_ap() {
    let truth = demo_truth();
    let (dets, _) = jittered_predictions(truth, 4);
    let dir = Scratch::new("coco-demo");
    let mut pngs = std::collections::HashMap::new();
    for (&image_id, labels) in &truth.labels {
        let path = dir.0.join(format!("labels-{image_id}.png"));
        pngs.insert(
            image_id,
            write_labels(&path, truth.width, truth.height, labels),
        );
    }
    let png_of = |id: i64| {
        let (image, value) = truth.label_of[&id];
        (pngs[&image].clone(), value)
    };
    let results = write_json(&dir.0.join("results.json"), &results_from_detections(&dets));
    for format in [
        SegmentationFormat::Auto,
        SegmentationFormat::Polygon,
        SegmentationFormat::Rle,
    ] {
        let dataset = if format == SegmentationFormat::Auto {
            truth.dataset.clone()
        } else {
            build_dataset(&truth.frames, &truth.classes, format)
                .unwrap()
                .dataset
        };
        let gt = write_json(&dir.0.join(format!("gt-{format:?}.json")), &dataset);
        let masks = write_json(&dir.0.join("masks.json"), &manifest(&dataset, png_of));
        let answer: Value = serde_json::from_str(&run_oracle(
            "coco_check.py",
            &[&gt, &results, "--masks", &masks, "--segm"],
        ))
        .unwrap();
        assert_eq!(answer["images"], 20);
        assert_eq!(
            answer["annotations"].as_u64().unwrap() as usize,
            truth.gt.objects.len()
        );
        let min_iou = check_masks(&dataset, &answer);
        eprintln!(
            "{format:?}: {} masks, min annToMask IoU {min_iou}",
            dataset.annotations.len()
        );
        assert_eq!(min_iou, 1.0, "crack polygons reproduce masks exactly");
        // The ground truth as pycocotools reads it is the ground truth we evaluate.
        let ours_gt = import_ground_truth(&dataset).unwrap().ground_truth;
        let db = assert_stats_equal(
            "bbox",
            &coco_eval(&ours_gt, &dets, IouKind::Bbox),
            &answer["bbox"],
        );
        let ds = assert_stats_equal(
            "segm",
            &coco_eval(&ours_gt, &dets, IouKind::Segm),
            &answer["segm"],
        );
        eprintln!("{format:?}: largest difference to pycocotools: bbox {db:e}, segm {ds:e}");
    }
}

/// Masks with holes, islands in holes, diagonal touches, a checkerboard and an
/// empty mask survive every export format.
#[test]
fn masks_with_holes_survive_pycocotools() {
    let (w, h) = (64u32, 48u32);
    let shapes: Vec<Box<dyn Fn(u32, u32) -> bool>> = vec![
        Box::new(|x, y| {
            (4..30).contains(&x)
                && (4..30).contains(&y)
                && !((10..20).contains(&x) && (10..20).contains(&y))
        }),
        Box::new(|x, y| (13..17).contains(&x) && (13..17).contains(&y) && !(x == 14 && y == 14)),
        Box::new(|x, y| (34..60).contains(&x) && (2..20).contains(&y) && (x + y) % 2 == 0),
        Box::new(|x, y| {
            let (dx, dy) = (x as f64 - 47.0, y as f64 - 34.0);
            let r = (dx * dx + dy * dy).sqrt();
            (r < 12.0 && r > 7.0) || r < 3.0 || (x == 34 && y == 46)
        }),
        Box::new(|_, _| false),
    ];
    let mut labels = vec![0u32; (w * h) as usize];
    let mut objects = Vec::new();
    // Each shape on its own label map (shapes overlap), so one PNG per shape.
    let dir = Scratch::new("coco-holes");
    let mut pngs = Vec::new();
    for (k, shape) in shapes.iter().enumerate() {
        let mask = Mask::from_fn(w, h, shape);
        for (i, l) in labels.iter_mut().enumerate() {
            *l = u32::from(mask.data()[i] != 0);
        }
        pngs.push(write_labels(
            &dir.0.join(format!("shape-{k}.png")),
            w,
            h,
            &labels,
        ));
        objects.push(LabelledObject {
            class: "car".into(),
            bbox: [0.0, 0.0, 10.0, 10.0],
            score: None,
            track_id: None,
            reviewed: None,
            mask: Some(mask),
        });
    }
    let frames = vec![LabelledFrame {
        image_id: 1,
        file_name: "shapes.png".into(),
        width: w,
        height: h,
        objects,
    }];
    let classes = vec!["car".to_string()];
    let results = write_json(
        &dir.0.join("results.json"),
        &serde_json::json!([{"image_id": 1, "category_id": 1, "bbox": [4, 4, 26, 26], "score": 0.9}]),
    );
    for format in [
        SegmentationFormat::Auto,
        SegmentationFormat::Polygon,
        SegmentationFormat::Rle,
    ] {
        let exported = build_dataset(&frames, &classes, format).unwrap();
        assert_eq!(
            exported.warnings.len(),
            1,
            "the empty mask: {:?}",
            exported.warnings
        );
        let gt = write_json(
            &dir.0.join(format!("gt-{format:?}.json")),
            &exported.dataset,
        );
        let masks = write_json(
            &dir.0.join("masks.json"),
            &manifest(&exported.dataset, |id| (pngs[id as usize - 1].clone(), 1)),
        );
        let answer: Value = serde_json::from_str(&run_oracle(
            "coco_check.py",
            &[&gt, &results, "--masks", &masks],
        ))
        .unwrap();
        assert_eq!(check_masks(&exported.dataset, &answer), 1.0, "{format:?}");
    }
}

/// Random ground truth and detections: crowd regions, `area` fields apart
/// from the box, all three size ranges, tied scores, an image with 150
/// detections, an image without objects and a category without ground truth.
fn random_set(seed: u64) -> (GroundTruth, Vec<Detection>) {
    let mut rng = Rng::new(seed);
    let images: Vec<Image> = (1..=6)
        .map(|id| Image {
            id,
            file_name: format!("{id}.jpg"),
            width: 640,
            height: 480,
        })
        .collect();
    let categories: Vec<Category> = (1..=4)
        .map(|id| Category {
            id,
            name: format!("c{id}"),
        })
        .collect();
    let mut objects = Vec::new();
    let mut dets = Vec::new();
    for image in &images[..5] {
        for _ in 0..(3 + rng.next() % 12) {
            let category_id = 1 + (rng.next() % 3) as i64;
            let size = [8.0, 20.0, 50.0, 150.0][(rng.next() % 4) as usize] * rng.range(0.7, 1.3);
            let b = [
                rng.range(0.0, 480.0),
                rng.range(0.0, 320.0),
                size * rng.range(0.6, 1.6),
                size * rng.range(0.6, 1.6),
            ];
            let crowd = rng.next().is_multiple_of(10);
            objects.push(GtObject {
                id: objects.len() as i64 + 1,
                image_id: image.id,
                category_id,
                bbox: b,
                area: b[2] * b[3] * rng.range(0.5, 1.0),
                iscrowd: crowd,
                mask: None,
                distance_m: None,
                visibility: None,
                source: None,
            });
            let spread = rng.range(0.02, 0.3);
            for _ in 0..(rng.next() % 3) {
                let j = |v: f64, s: f64, rng: &mut Rng| v + s * rng.range(-spread, spread);
                let d = [
                    j(b[0], b[2], &mut rng),
                    j(b[1], b[3], &mut rng),
                    b[2] * (1.0 + rng.range(-spread, spread)),
                    b[3] * (1.0 + rng.range(-spread, spread)),
                ];
                let score = (rng.range(0.0, 1.0) * 10.0).round() / 10.0;
                dets.push(Detection::from_box(image.id, category_id, d, score));
            }
        }
        for _ in 0..(rng.next() % 5) {
            let d = [
                rng.range(0.0, 600.0),
                rng.range(0.0, 440.0),
                rng.range(5.0, 120.0),
                rng.range(5.0, 120.0),
            ];
            dets.push(Detection::from_box(
                image.id,
                1 + (rng.next() % 4) as i64,
                d,
                rng.range(0.0, 1.0),
            ));
        }
    }
    for k in 0..150 {
        let d = [
            rng.range(0.0, 600.0),
            rng.range(0.0, 440.0),
            rng.range(5.0, 60.0),
            rng.range(5.0, 60.0),
        ];
        dets.push(Detection::from_box(1, 1 + (k % 3), d, rng.range(0.0, 1.0)));
    }
    (
        GroundTruth {
            images,
            categories,
            objects,
        },
        dets,
    )
}

#[test]
fn cocoeval_equals_pycocotools_on_random_sets() {
    let dir = Scratch::new("coco-random");
    for seed in 1..=5 {
        let (gt, dets) = random_set(seed);
        let gt_path = write_json(
            &dir.0.join(format!("gt-{seed}.json")),
            &dataset_from_ground_truth(&gt),
        );
        let res_path = write_json(
            &dir.0.join(format!("res-{seed}.json")),
            &results_from_detections(&dets),
        );
        let answer: Value =
            serde_json::from_str(&run_oracle("coco_check.py", &[&gt_path, &res_path])).unwrap();
        let ours = coco_eval(&gt, &dets, IouKind::Bbox);
        let diff = assert_stats_equal(&format!("seed {seed}"), &ours, &answer["bbox"]);
        eprintln!(
            "seed {seed}: {} objects ({} crowd), {} detections, AP {:.6} AP50 {:.6}, largest difference {diff:e}",
            gt.objects.len(),
            gt.objects.iter().filter(|o| o.iscrowd).count(),
            dets.len(),
            ours.stats[0],
            ours.stats[1]
        );
    }
}
