//! The whole evaluation on the demo scene: ground truth jittered and dropped
//! as "predictions" gives a metrics table, recall bins, a confusion matrix, a
//! failure queue, a cost table and a verdict — with counts that follow from
//! what the fixture did, and the numbers pinned.

use autolabel::eval::failures::FailureKind;
use autolabel::eval::{EvalConfig, EvalReport, evaluate};

use crate::eval_fixtures::{Record, demo_truth, jittered_predictions};

const SEED: u64 = 4;

fn report() -> (EvalReport, Record) {
    let truth = demo_truth();
    let (dets, record) = jittered_predictions(truth, SEED);
    (evaluate(&truth.gt, &dets, &EvalConfig::default()), record)
}

fn row<'a>(r: &'a EvalReport, class: &str) -> &'a autolabel::eval::ClassRow {
    r.bbox
        .per_class
        .iter()
        .find(|c| c.counts.class == class)
        .unwrap_or_else(|| panic!("no row for {class}"))
}

#[test]
fn counts_follow_from_what_the_fixture_did() {
    let (r, rec) = report();
    let truth = demo_truth();
    for c in &r.bbox.per_class {
        let class = &c.counts.class;
        let kept = rec.kept.get(class).copied().unwrap_or(0);
        let fps = rec.false_positives.get(class).copied().unwrap_or(0);
        assert_eq!(
            c.counts.tp, kept,
            "{class}: true positives are the kept objects"
        );
        assert_eq!(
            c.counts.fp, fps,
            "{class}: false positives are the planted ones"
        );
        assert_eq!(c.counts.fn_, c.counts.gt - kept, "{class}: misses");
        let gt = truth
            .gt
            .objects
            .iter()
            .filter(|o| truth.gt.category_name(o.category_id) == Some(class))
            .count();
        assert_eq!(c.counts.gt, gt, "{class}");
    }
    // nuScenes has no traffic lights or signs: rows with 0 GT, undefined recall and AP.
    for class in ["traffic light", "traffic sign"] {
        let c = row(&r, class);
        assert_eq!(
            (c.counts.gt, c.counts.recall, c.ap, c.ap50),
            (0, None, None, None),
            "{class}"
        );
    }
    // Every planted error is in the queue as what it was planted as.
    let cases = &r.failures.cases;
    for &(d, kind) in &rec.planted {
        let case = cases
            .iter()
            .find(|c| c.prediction == Some(d) && c.kind == kind);
        assert!(
            case.is_some(),
            "planted {kind:?} (prediction {d}) not in the queue"
        );
    }
    // Every dropped object is its planted miss, or a miss explained otherwise:
    // a loose planted box on it (poor localisation) or the merged box over it.
    for &(id, kind) in &rec.dropped {
        let listed = cases.iter().any(|c| {
            c.gt_id == Some(id) && (c.kind == kind || c.kind == FailureKind::PoorLocalization)
                || c.kind == FailureKind::MergedBox
                    && (c.gt_id == Some(id) || c.other_gt_ids.contains(&id))
        });
        assert!(listed, "dropped object {id} ({kind:?}) not in the queue");
    }
    let q = &r.failures.counts;
    assert_eq!(q["class_confusion"], rec.relabelled);
    assert_eq!(q["duplicate"], rec.duplicates);
    assert_eq!(q["false_positive"], rec.background);
    assert_eq!(q["merged_box"], rec.merged);
    assert_eq!(q["wrong_surface"], rec.wrong_surface);
    assert_eq!(
        q["miss"] + q["small_miss"],
        0,
        "every miss has a planted cause"
    );
    // The confusion matrix sees the relabelled trucks as truck → car.
    let car = r.confusion.columns.iter().position(|c| c == "car").unwrap();
    let truck = r.confusion.rows.iter().position(|c| c == "truck").unwrap();
    assert_eq!(r.confusion.matrix[truck][car], rec.relabelled);
    assert!(rec.dropped_occluded > 0 && rec.dropped_far_small > 0 && rec.relabelled > 0);
    assert!(rec.duplicates > 0 && rec.background > 0 && rec.merged == 1 && rec.wrong_surface == 1);
}

/// Pinned: the table, COCO stats, bins, failure counts, cost and verdict of
/// the demo run (pycocotools gives the same AP: `coco_oracle`).
#[test]
fn the_numbers_are_pinned() {
    let (r, _) = report();
    let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
    let expect = [
        ("car", 245, 179, 58, 66, 0.6613, 0.5616),
        ("truck", 35, 20, 0, 15, 0.5743, 0.4791),
        ("bus", 21, 21, 0, 0, 1.0, 0.8158),
        ("pedestrian", 139, 15, 2, 124, 0.1058, 0.0881),
        ("cyclist", 33, 7, 0, 26, 0.2178, 0.1824),
    ];
    for (class, gt, tp, fp, fn_, ap50, ap) in expect {
        let c = row(&r, class);
        let k = &c.counts;
        assert_eq!((k.gt, k.tp, k.fp, k.fn_), (gt, tp, fp, fn_), "{class}");
        assert!(
            (c.ap50.unwrap() - ap50).abs() < 5e-5,
            "{class} AP50 {:?}",
            c.ap50
        );
        assert!((c.ap.unwrap() - ap).abs() < 5e-5, "{class} AP {:?}", c.ap);
    }
    let all = &r.bbox.overall;
    assert_eq!((all.gt, all.tp, all.fp, all.fn_), (473, 242, 60, 231));
    assert!(
        close(all.precision.unwrap(), 242.0 / 302.0) && close(all.recall.unwrap(), 242.0 / 473.0)
    );
    let bbox = [
        0.425390522,
        0.511835874,
        0.511835874,
        0.319554455,
        0.685800566,
        0.736521082,
        0.240708960,
        0.438769353,
        0.449626495,
        0.318055683,
        0.713795193,
        0.793535802,
    ];
    let segm = [
        0.318209855,
        0.318209855,
        0.318209855,
        0.022277228,
        0.785856019,
        0.752415868,
        0.214673056,
        0.384279085,
        0.392442350,
        0.020900445,
        0.832601881,
        0.910123457,
    ];
    let segm_stats = r
        .segm
        .as_ref()
        .expect("every demo object has a mask")
        .coco_stats;
    for i in 0..12 {
        assert!(
            (r.bbox.coco_stats[i] - bbox[i]).abs() < 1e-8,
            "bbox stats[{i}] {}",
            r.bbox.coco_stats[i]
        );
        assert!(
            (segm_stats[i] - segm[i]).abs() < 1e-8,
            "segm stats[{i}] {}",
            segm_stats[i]
        );
    }
    let bins: Vec<(String, String, usize, usize)> = r
        .recall_bins
        .iter()
        .flat_map(|a| {
            a.bins
                .iter()
                .map(move |b| (a.axis.clone(), b.bin.clone(), b.all.matched, b.all.gt))
        })
        .collect();
    let expect_bins = [
        ("distance", "0-20 m", 104, 138),
        ("distance", "20-40 m", 98, 229),
        ("distance", "40+ m", 40, 106),
        ("distance", "unknown", 0, 0),
        ("size", "small (<1024)", 63, 265),
        ("size", "medium (1024-9216)", 71, 87),
        ("size", "large (>=9216)", 108, 121),
        ("visibility", "v0-40", 75, 289),
        ("visibility", "v40-60", 28, 33),
        ("visibility", "v60-80", 32, 34),
        ("visibility", "v80-100", 107, 117),
        ("visibility", "unknown", 0, 0),
    ];
    let got: Vec<(&str, &str, usize, usize)> = bins
        .iter()
        .map(|b| (b.0.as_str(), b.1.as_str(), b.2, b.3))
        .collect();
    assert_eq!(got, expect_bins);
    let q = &r.failures.counts;
    let counts: Vec<usize> = [
        "class_confusion",
        "duplicate",
        "merged_box",
        "false_positive",
        "wrong_surface",
        "poor_localization",
        "occluded_miss",
        "distant_miss",
        "small_miss",
        "miss",
    ]
    .iter()
    .map(|k| q[*k])
    .collect();
    assert_eq!(counts, [13, 27, 1, 19, 1, 20, 193, 2, 0, 0]);
    let top = &r.failures.cases[0];
    assert_eq!((top.rank, top.kind), (1, FailureKind::ClassConfusion));
    let cost = &r.cost.rows[0];
    assert!(
        (cost.auto_usd_per_label.unwrap() - 0.040356425).abs() < 1e-8,
        "{cost:?}"
    );
    assert!((cost.ratio.unwrap() - 1.561089726).abs() < 1e-8, "{cost:?}");
    assert!((r.cost.labels_per_frame - 23.65).abs() < 1e-12);
    assert!((r.cost.fleet.saving_usd.unwrap() - 23_134_488.0).abs() < 1.0);
    assert_eq!(
        r.verdict.statement,
        "Reliable for bus (P ≥ 0.9, R ≥ 0.8); usable with QA for car and truck (P ≥ 0.6, R ≥ 0.5); \
         keep humans on pedestrian and cyclist; not judged, fewer than 10 ground-truth objects: \
         traffic light and traffic sign."
    );
    // The COCO file we wrote reads back with only the expected remarks: fully
    // hidden objects have empty masks.
    assert!(
        demo_truth()
            .import_warnings
            .iter()
            .all(|w| w.contains("mask is empty")),
        "{:?}",
        demo_truth().import_warnings
    );
}

/// Broken COCO input (here: the demo's own export, damaged) gives errors that
/// name the annotation, or documented warnings — never a panic.
#[test]
fn bad_coco_input_is_named_or_documented() {
    use autolabel::export::coco::{Segmentation, import_ground_truth, parse_results};
    let truth = demo_truth();
    let damaged = |f: &dyn Fn(&mut autolabel::export::coco::CocoDataset)| {
        let mut ds = truth.dataset.clone();
        f(&mut ds);
        import_ground_truth(&ds)
    };
    let id = truth.dataset.annotations[5].id;
    let e = damaged(&|ds| ds.annotations[5].image_id = 999)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!("annotations[5] (id {id})"))
            && e.contains("image_id 999")
            && e.contains("dangling"),
        "{e}"
    );
    let e = damaged(&|ds| ds.annotations[5].bbox[2] = -10.0)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!("(id {id})")) && e.contains("negative box"),
        "{e}"
    );
    let bow_tie = damaged(&|ds| {
        ds.annotations[5].segmentation = Some(Segmentation::Polygons(vec![vec![
            10.0, 10.0, 60.0, 50.0, 60.0, 10.0, 10.0, 50.0,
        ]]))
    })
    .unwrap();
    assert!(
        bow_tie
            .warnings
            .iter()
            .any(|w| w.contains(&format!("(id {id})")) && w.contains("crosses itself"))
    );
    let area = bow_tie.ground_truth.objects[5]
        .mask
        .as_ref()
        .unwrap()
        .area();
    assert!(
        area > 0 && area < 50 * 40,
        "even-odd fill of the bow tie: {area} px"
    );
    let empty = damaged(&|ds| {
        ds.annotations[5].segmentation = Some(Segmentation::Rle(
            autolabel::labels::rle::Rle::new(900, 1600, vec![1_440_000]).unwrap(),
        ))
    })
    .unwrap();
    assert!(
        empty
            .warnings
            .iter()
            .any(|w| w.contains(&format!("(id {id})")) && w.contains("empty"))
    );
    let e = parse_results(
        br#"[{"image_id": 1, "category_id": 1, "bbox": [0, 0, 5, 5], "score": 0.5}]"#,
        &truth.gt,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("results[0]") && e.contains("image_id 1 is not an image"),
        "{e}"
    );
}
