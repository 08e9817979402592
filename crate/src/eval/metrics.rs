//! True/false positives, misses, precision and recall per class and overall,
//! from the greedy matcher (`matching`) run per frame, per class.
//!
//! - Only predictions with `score ≥` their class's score threshold take part
//!   ([`ScoreGate`]).
//! - Crowd ground truth (`iscrowd`) is not counted as an object to find: a
//!   prediction left unmatched that covers a crowd region of its class (its
//!   intersection over the prediction's own area ≥ the IoU threshold, COCO's
//!   crowd rule) is ignored — neither a true nor a false positive.
//! - 0/0 is undefined, not perfect: precision without predictions and recall
//!   without ground truth are `null`. A class with no ground truth (nuScenes has
//!   no traffic lights or signs) still gets its row, with `gt: 0`.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::data::{Detection, GroundTruth, GtObject};
use super::matching::greedy_match;
use crate::labels::rle::{Rle, bbox_iou};

/// Which overlap the matcher uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IouKind {
    /// Box IoU.
    Bbox,
    /// Mask IoU; a detection without a mask counts as its box.
    Segm,
}

/// What became of one detection.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum DetOutcome {
    /// Matched ground truth object `gt` (an index into `GroundTruth::objects`).
    TruePositive {
        gt: usize,
        iou: f64,
    },
    FalsePositive,
    /// Unmatched but on a crowd region: ignored.
    Crowd {
        gt: usize,
    },
    /// Below the score threshold: not evaluated.
    BelowThreshold,
}

/// Counts and rates of one class (or of all classes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassCounts {
    pub class: String,
    /// `None` for the overall row.
    pub category_id: Option<i64>,
    /// Ground truth objects (crowd regions excluded).
    pub gt: usize,
    /// Predictions evaluated (above the score threshold, crowd-ignored ones included).
    pub predictions: usize,
    pub tp: usize,
    pub fp: usize,
    #[serde(rename = "fn")]
    pub fn_: usize,
    /// `tp / (tp + fp)`, `null` when there are no true or false positives.
    pub precision: Option<f64>,
    /// `tp / gt`, `null` when there is no ground truth.
    pub recall: Option<f64>,
}

impl ClassCounts {
    fn new(class: &str, category_id: Option<i64>) -> Self {
        ClassCounts {
            class: class.to_string(),
            category_id,
            gt: 0,
            predictions: 0,
            tp: 0,
            fp: 0,
            fn_: 0,
            precision: None,
            recall: None,
        }
    }

    fn finish(&mut self) {
        self.precision = ratio(self.tp, self.tp + self.fp);
        self.recall = ratio(self.tp, self.gt);
    }
}

/// `a / b`, `None` for 0/0.
pub fn ratio(a: usize, b: usize) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

/// The greedy evaluation of a whole set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GreedyResult {
    pub iou_kind: IouKind,
    pub iou_threshold: f64,
    pub score_threshold: f64,
    /// Per detection, in input order.
    pub detections: Vec<DetOutcome>,
    /// Per ground truth object: the detection that matched it.
    pub gt_match: Vec<Option<usize>>,
    /// One row per category of the ground truth, in its order.
    pub per_class: Vec<ClassCounts>,
    pub overall: ClassCounts,
}

/// The overlap of detection `d` (with its mask for `Segm`) with object `g`;
/// `crowd`: intersection over the detection's area.
pub fn overlap(
    kind: IouKind,
    d: &Detection,
    d_mask: Option<&Rle>,
    g: &GtObject,
    crowd: bool,
) -> f64 {
    match kind {
        IouKind::Bbox => bbox_iou(d.bbox, g.bbox, crowd),
        IouKind::Segm => match (d_mask, &g.mask) {
            (Some(dm), Some(gm)) => Rle::iou(dm, gm, crowd),
            _ => 0.0,
        },
    }
}

/// Detection masks for mask IoU, by detection position: the detection's own,
/// or its box rasterised like pycocotools' `loadRes` does for a result
/// without a segmentation. Empty for box IoU.
pub struct DetMasks(Vec<Option<Rle>>);

impl DetMasks {
    pub fn new(gt: &GroundTruth, dets: &[Detection], kind: IouKind) -> Self {
        let sizes: HashMap<i64, (u32, u32)> = gt
            .images
            .iter()
            .map(|im| (im.id, (im.height, im.width)))
            .collect();
        DetMasks(
            dets.iter()
                .map(|d| match (kind, &d.mask) {
                    (IouKind::Bbox, _) => None,
                    (IouKind::Segm, Some(m)) => Some(m.clone()),
                    (IouKind::Segm, None) => sizes
                        .get(&d.image_id)
                        .and_then(|&(h, w)| Rle::from_bbox(d.bbox, h, w).ok()),
                })
                .collect(),
        )
    }

    pub fn get(&self, i: usize) -> Option<&Rle> {
        self.0.get(i).and_then(Option::as_ref)
    }
}

/// Which predictions take part in the greedy metrics: those scoring at least
/// their category's threshold, or the default one.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ScoreGate {
    pub default: f64,
    /// Thresholds of single categories (by id), replacing the default.
    pub per_category: HashMap<i64, f64>,
}

impl ScoreGate {
    /// One threshold for every category.
    pub fn all(threshold: f64) -> Self {
        ScoreGate {
            default: threshold,
            per_category: HashMap::new(),
        }
    }

    /// The threshold of `category_id`.
    pub fn threshold(&self, category_id: i64) -> f64 {
        self.per_category
            .get(&category_id)
            .copied()
            .unwrap_or(self.default)
    }

    /// Whether `d` takes part.
    pub fn passes(&self, d: &Detection) -> bool {
        d.score >= self.threshold(d.category_id)
    }
}

/// Ground truth and detection positions grouped by `(image, category)`.
pub type Groups = HashMap<(i64, i64), (Vec<usize>, Vec<usize>)>;

/// Groups objects and the detections `gate` passes by image and category.
pub fn group(gt: &GroundTruth, dets: &[Detection], gate: &ScoreGate) -> Groups {
    let mut groups: Groups = HashMap::new();
    for (i, g) in gt.objects.iter().enumerate() {
        groups
            .entry((g.image_id, g.category_id))
            .or_default()
            .0
            .push(i);
    }
    for (i, d) in dets.iter().enumerate() {
        if gate.passes(d) {
            groups
                .entry((d.image_id, d.category_id))
                .or_default()
                .1
                .push(i);
        }
    }
    groups
}

/// Runs the greedy matcher per frame and class and counts.
pub fn evaluate_greedy(
    gt: &GroundTruth,
    dets: &[Detection],
    kind: IouKind,
    iou_threshold: f64,
    gate: &ScoreGate,
) -> GreedyResult {
    let masks = DetMasks::new(gt, dets, kind);
    let mut detections = vec![DetOutcome::BelowThreshold; dets.len()];
    let mut gt_match = vec![None; gt.objects.len()];
    for (gis, dis) in group(gt, dets, gate).values() {
        let (crowd, objects): (Vec<usize>, Vec<usize>) =
            gis.iter().partition(|&&g| gt.objects[g].iscrowd);
        let scores: Vec<f64> = dis.iter().map(|&d| dets[d].score).collect();
        let m = greedy_match(
            &scores,
            objects.len(),
            |p, g| {
                let d = dis[p];
                overlap(kind, &dets[d], masks.get(d), &gt.objects[objects[g]], false)
            },
            iou_threshold,
        );
        for (p, matched) in m.pred_to_gt.iter().enumerate() {
            let d = dis[p];
            detections[d] = match matched {
                Some((g, iou)) => {
                    gt_match[objects[*g]] = Some(d);
                    DetOutcome::TruePositive {
                        gt: objects[*g],
                        iou: *iou,
                    }
                }
                None => crowd
                    .iter()
                    .find(|&&c| {
                        overlap(kind, &dets[d], masks.get(d), &gt.objects[c], true) >= iou_threshold
                    })
                    .map_or(DetOutcome::FalsePositive, |&c| DetOutcome::Crowd { gt: c }),
            };
        }
    }
    let (per_class, overall) = count(gt, dets, &detections, &gt_match, None);
    GreedyResult {
        iou_kind: kind,
        iou_threshold,
        score_threshold: gate.default,
        detections,
        gt_match,
        per_class,
        overall,
    }
}

impl GreedyResult {
    /// The counts of image `image_id` alone (its rows and its total), from
    /// this matching: over every image they add up to `per_class` and
    /// `overall`. `gt` and `dets` are the ones this result was made from.
    pub fn image_counts(
        &self,
        gt: &GroundTruth,
        dets: &[Detection],
        image_id: i64,
    ) -> (Vec<ClassCounts>, ClassCounts) {
        count(gt, dets, &self.detections, &self.gt_match, Some(image_id))
    }
}

/// Counts per class and overall, of image `image` only when given.
fn count(
    gt: &GroundTruth,
    dets: &[Detection],
    outcomes: &[DetOutcome],
    gt_match: &[Option<usize>],
    image: Option<i64>,
) -> (Vec<ClassCounts>, ClassCounts) {
    let mut rows: Vec<ClassCounts> = gt
        .categories
        .iter()
        .map(|c| ClassCounts::new(&c.name, Some(c.id)))
        .collect();
    let row_of = |id: i64| gt.categories.iter().position(|c| c.id == id);
    let counted = |image_id: i64| image.is_none_or(|i| i == image_id);
    for (g, m) in gt.objects.iter().zip(gt_match) {
        if !counted(g.image_id) {
            continue;
        }
        if let (false, Some(r)) = (g.iscrowd, row_of(g.category_id)) {
            rows[r].gt += 1;
            rows[r].fn_ += usize::from(m.is_none());
        }
    }
    for (d, outcome) in dets.iter().zip(outcomes) {
        let Some(r) = row_of(d.category_id).filter(|_| counted(d.image_id)) else {
            continue;
        };
        match outcome {
            DetOutcome::TruePositive { .. } => rows[r].tp += 1,
            DetOutcome::FalsePositive => rows[r].fp += 1,
            DetOutcome::Crowd { .. } | DetOutcome::BelowThreshold => {}
        }
        if !matches!(outcome, DetOutcome::BelowThreshold) {
            rows[r].predictions += 1;
        }
    }
    let mut overall = ClassCounts::new("all", None);
    for r in rows.iter_mut() {
        r.finish();
        overall.gt += r.gt;
        overall.predictions += r.predictions;
        overall.tp += r.tp;
        overall.fp += r.fp;
        overall.fn_ += r.fn_;
    }
    overall.finish();
    (rows, overall)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::data::{Category, Image};

    pub(crate) fn obj(id: i64, image_id: i64, category_id: i64, bbox: [f64; 4]) -> GtObject {
        GtObject {
            id,
            image_id,
            category_id,
            bbox,
            area: bbox[2] * bbox[3],
            iscrowd: false,
            mask: None,
            distance_m: None,
            visibility: None,
            source: None,
        }
    }

    fn gt(objects: Vec<GtObject>) -> GroundTruth {
        GroundTruth {
            images: (1..=3)
                .map(|id| Image {
                    id,
                    file_name: format!("{id}.jpg"),
                    width: 100,
                    height: 100,
                })
                .collect(),
            categories: vec![
                Category {
                    id: 1,
                    name: "car".into(),
                },
                Category {
                    id: 2,
                    name: "truck".into(),
                },
                Category {
                    id: 3,
                    name: "traffic light".into(),
                },
            ],
            objects,
        }
    }

    fn det(image_id: i64, category_id: i64, bbox: [f64; 4], score: f64) -> Detection {
        Detection::from_box(image_id, category_id, bbox, score)
    }

    /// Hand-computed: image 1 has a car and a truck; image 2 a car; image 3 nothing.
    /// - car on image 1 found twice (duplicate → 1 TP + 1 FP),
    /// - the truck predicted as "car" (a FP for car, a miss for truck),
    /// - the car on image 2 missed, a truck predicted on empty image 3 (FP),
    /// - one prediction below the score threshold (ignored).
    #[test]
    fn two_classes_duplicates_and_empty_frames_by_hand() {
        let g = gt(vec![
            obj(1, 1, 1, [0.0, 0.0, 10.0, 10.0]),
            obj(2, 1, 2, [50.0, 50.0, 20.0, 20.0]),
            obj(3, 2, 1, [0.0, 0.0, 10.0, 10.0]),
        ]);
        let dets = vec![
            det(1, 1, [0.0, 0.0, 10.0, 10.0], 0.9),
            det(1, 1, [1.0, 1.0, 10.0, 10.0], 0.8),
            det(1, 1, [50.0, 50.0, 20.0, 20.0], 0.7),
            det(3, 2, [5.0, 5.0, 10.0, 10.0], 0.6),
            det(2, 1, [0.0, 0.0, 10.0, 10.0], 0.01),
        ];
        let r = evaluate_greedy(&g, &dets, IouKind::Bbox, 0.5, &ScoreGate::all(0.05));
        let car = &r.per_class[0];
        assert_eq!(
            (car.gt, car.predictions, car.tp, car.fp, car.fn_),
            (2, 3, 1, 2, 1)
        );
        assert_eq!(car.precision, Some(1.0 / 3.0));
        assert_eq!(car.recall, Some(0.5));
        let truck = &r.per_class[1];
        assert_eq!((truck.gt, truck.tp, truck.fp, truck.fn_), (1, 0, 1, 1));
        assert_eq!((truck.precision, truck.recall), (Some(0.0), Some(0.0)));
        let light = &r.per_class[2];
        assert_eq!((light.gt, light.predictions), (0, 0));
        assert_eq!(
            (light.precision, light.recall),
            (None, None),
            "0/0 is undefined"
        );
        let all = &r.overall;
        assert_eq!((all.gt, all.tp, all.fp, all.fn_), (3, 1, 3, 2));
        assert_eq!(r.detections[4], DetOutcome::BelowThreshold);
        assert_eq!(r.gt_match, vec![Some(0), None, None]);
    }

    #[test]
    fn a_class_threshold_gates_that_class_only() {
        let g = gt(vec![
            obj(1, 1, 1, [0.0, 0.0, 10.0, 10.0]),
            obj(2, 1, 2, [0.0, 0.0, 10.0, 10.0]),
        ]);
        let dets = vec![
            det(1, 1, [0.0, 0.0, 10.0, 10.0], 0.4),
            det(1, 2, [0.0, 0.0, 10.0, 10.0], 0.4),
        ];
        let gate = ScoreGate {
            default: 0.1,
            per_category: HashMap::from([(1, 0.5)]),
        };
        let r = evaluate_greedy(&g, &dets, IouKind::Bbox, 0.5, &gate);
        assert_eq!(r.detections[0], DetOutcome::BelowThreshold);
        assert_eq!((r.per_class[0].tp, r.per_class[0].fn_), (0, 1));
        assert_eq!((r.per_class[1].tp, r.per_class[1].fn_), (1, 0));
    }

    #[test]
    fn zero_ground_truth_gives_zero_precision_and_undefined_recall() {
        let g = gt(vec![]);
        let r = evaluate_greedy(
            &g,
            &[det(1, 3, [0.0, 0.0, 5.0, 5.0], 0.5)],
            IouKind::Bbox,
            0.5,
            &ScoreGate::all(0.0),
        );
        let light = &r.per_class[2];
        assert_eq!(
            (light.gt, light.fp, light.precision, light.recall),
            (0, 1, Some(0.0), None)
        );
    }

    #[test]
    fn crowd_regions_absorb_predictions_and_are_not_missed() {
        let mut crowd = obj(1, 1, 1, [0.0, 0.0, 100.0, 50.0]);
        crowd.iscrowd = true;
        let g = gt(vec![crowd, obj(2, 1, 1, [0.0, 60.0, 10.0, 10.0])]);
        let dets = vec![
            det(1, 1, [10.0, 10.0, 10.0, 10.0], 0.9),
            det(1, 1, [0.0, 60.0, 10.0, 10.0], 0.8),
        ];
        let r = evaluate_greedy(&g, &dets, IouKind::Bbox, 0.5, &ScoreGate::all(0.0));
        assert_eq!(r.detections[0], DetOutcome::Crowd { gt: 0 });
        let car = &r.per_class[0];
        assert_eq!((car.gt, car.tp, car.fp, car.fn_), (1, 1, 0, 0));
    }
}
