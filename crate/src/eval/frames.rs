//! What the evaluation made of each object on each frame: every prediction's
//! outcome (true or false positive, ignored on a crowd region, below its
//! score threshold) and every ground-truth object's (found or missed), with
//! the frame's counts — the TP/FP/FN colouring of a keyframe in the viewer.
//!
//! It is the box matching of [`super::evaluate`] — the same function
//! (`metrics::evaluate_greedy`) on the same inputs at the configured IoU and
//! score thresholds, run once more and cut by frame — so a frame's counts are
//! its share of the evaluation's and the frames' counts add up to it.

use serde::Serialize;

use super::data::{Detection, GroundTruth, Xywh};
use super::metrics::{ClassCounts, DetOutcome, GreedyResult, IouKind, evaluate_greedy};
use super::{EvalConfig, score_gate};

/// A prediction on a frame and what the matching made of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PredictionMatch {
    pub class: String,
    /// `[x, y, w, h]`, pixels.
    pub bbox: Xywh,
    pub score: f64,
    /// `outcome`: `true_positive` (with the ground-truth object's `gt`, an
    /// index into the frame's `ground_truth`, and the `iou`),
    /// `false_positive`, `crowd` (with its `gt`) or `below_threshold`.
    #[serde(flatten)]
    pub outcome: FrameOutcome,
}

/// [`DetOutcome`] with its ground-truth index taken within the frame.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum FrameOutcome {
    TruePositive { gt: usize, iou: f64 },
    FalsePositive,
    Crowd { gt: usize },
    BelowThreshold,
}

/// A ground-truth object on a frame and whether a prediction found it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TruthMatch {
    pub class: String,
    /// `[x, y, w, h]`, pixels.
    pub bbox: Xywh,
    /// A crowd region: never missed, never found.
    pub crowd: bool,
    /// The prediction that found it (an index into the frame's `predictions`).
    pub found_by: Option<usize>,
}

/// One frame of the evaluation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FrameMatches {
    pub image_id: i64,
    /// The frame's predictions, in the results' order.
    pub predictions: Vec<PredictionMatch>,
    pub ground_truth: Vec<TruthMatch>,
    /// This frame's counts per class (every class of the ground truth) and in all.
    pub per_class: Vec<ClassCounts>,
    pub overall: ClassCounts,
}

/// Every image of `gt`, in its order, as [`evaluate`](super::evaluate)
/// matched `dets` on it with boxes under `config`.
pub fn frame_matches(
    gt: &GroundTruth,
    dets: &[Detection],
    config: &EvalConfig,
) -> Vec<FrameMatches> {
    let greedy = evaluate_greedy(
        gt,
        dets,
        IouKind::Bbox,
        config.iou_threshold,
        &score_gate(gt, config),
    );
    gt.images
        .iter()
        .map(|image| one_frame(gt, dets, &greedy, image.id))
        .collect()
}

fn one_frame(
    gt: &GroundTruth,
    dets: &[Detection],
    greedy: &GreedyResult,
    image_id: i64,
) -> FrameMatches {
    let class = |id: i64| {
        gt.categories
            .iter()
            .find(|c| c.id == id)
            .map_or_else(|| format!("category {id}"), |c| c.name.clone())
    };
    let objects: Vec<usize> = (0..gt.objects.len())
        .filter(|&g| gt.objects[g].image_id == image_id)
        .collect();
    let preds: Vec<usize> = (0..dets.len())
        .filter(|&d| dets[d].image_id == image_id)
        .collect();
    let on_frame = |g: usize| objects.iter().position(|&o| o == g).unwrap_or(usize::MAX);
    let predictions = preds
        .iter()
        .map(|&d| PredictionMatch {
            class: class(dets[d].category_id),
            bbox: dets[d].bbox,
            score: dets[d].score,
            outcome: match greedy.detections[d] {
                DetOutcome::TruePositive { gt, iou } => FrameOutcome::TruePositive {
                    gt: on_frame(gt),
                    iou,
                },
                DetOutcome::FalsePositive => FrameOutcome::FalsePositive,
                DetOutcome::Crowd { gt } => FrameOutcome::Crowd { gt: on_frame(gt) },
                DetOutcome::BelowThreshold => FrameOutcome::BelowThreshold,
            },
        })
        .collect();
    let ground_truth = objects
        .iter()
        .map(|&g| TruthMatch {
            class: class(gt.objects[g].category_id),
            bbox: gt.objects[g].bbox,
            crowd: gt.objects[g].iscrowd,
            found_by: greedy.gt_match[g].and_then(|d| preds.iter().position(|&p| p == d)),
        })
        .collect();
    let (per_class, overall) = greedy.image_counts(gt, dets, image_id);
    FrameMatches {
        image_id,
        predictions,
        ground_truth,
        per_class,
        overall,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::data::{Category, GtObject, Image};
    use crate::eval::evaluate;

    fn object(id: i64, image_id: i64, category_id: i64, bbox: Xywh) -> GtObject {
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

    /// Three frames, two classes: a found car, a duplicate, a truck called a
    /// car, a missed car, a prediction on an empty frame, one below the score
    /// threshold and one on a crowd region.
    fn scene() -> (GroundTruth, Vec<Detection>) {
        let mut crowd = object(5, 3, 1, [60.0, 60.0, 40.0, 40.0]);
        crowd.iscrowd = true;
        let gt = GroundTruth {
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
            ],
            objects: vec![
                object(1, 1, 1, [0.0, 0.0, 10.0, 10.0]),
                object(2, 1, 2, [50.0, 50.0, 20.0, 20.0]),
                object(3, 2, 1, [0.0, 0.0, 10.0, 10.0]),
                object(4, 2, 2, [30.0, 30.0, 10.0, 10.0]),
                crowd,
            ],
        };
        let det = |image_id, category_id, bbox, score| {
            Detection::from_box(image_id, category_id, bbox, score)
        };
        let dets = vec![
            det(1, 1, [0.0, 0.0, 10.0, 10.0], 0.9),
            det(1, 1, [1.0, 1.0, 10.0, 10.0], 0.8),
            det(1, 1, [50.0, 50.0, 20.0, 20.0], 0.7),
            det(2, 2, [30.0, 30.0, 10.0, 10.0], 0.6),
            det(2, 1, [0.0, 0.0, 10.0, 10.0], 0.2),
            det(3, 2, [5.0, 5.0, 10.0, 10.0], 0.6),
            det(3, 1, [62.0, 62.0, 20.0, 20.0], 0.5),
        ];
        (gt, dets)
    }

    fn config() -> EvalConfig {
        EvalConfig {
            score_threshold: 0.3,
            ..EvalConfig::default()
        }
    }

    fn key(c: &ClassCounts) -> (usize, usize, usize, usize, usize) {
        (c.gt, c.predictions, c.tp, c.fp, c.fn_)
    }

    #[test]
    fn the_frames_add_up_to_the_evaluation_per_class() {
        let (gt, dets) = scene();
        let config = config();
        let report = evaluate(&gt, &dets, &config);
        let frames = frame_matches(&gt, &dets, &config);
        assert_eq!(frames.len(), 3);
        for (k, row) in report.bbox.per_class.iter().enumerate() {
            let sum = |f: fn(&ClassCounts) -> usize| {
                frames.iter().map(|m| f(&m.per_class[k])).sum::<usize>()
            };
            let summed = (
                sum(|c| c.gt),
                sum(|c| c.predictions),
                sum(|c| c.tp),
                sum(|c| c.fp),
                sum(|c| c.fn_),
            );
            assert_eq!(summed, key(&row.counts), "{}", row.counts.class);
            let id = row.counts.category_id.unwrap();
            let truth = gt
                .objects
                .iter()
                .filter(|o| o.category_id == id && !o.iscrowd)
                .count();
            assert_eq!(
                row.counts.tp + row.counts.fn_,
                truth,
                "TP + FN = ground truth"
            );
            let drawn: Vec<&PredictionMatch> = frames
                .iter()
                .flat_map(|f| &f.predictions)
                .filter(|p| p.class == row.counts.class)
                .collect();
            let above = dets
                .iter()
                .filter(|d| d.category_id == id && d.score >= config.score_threshold)
                .count();
            let positives = drawn
                .iter()
                .filter(|p| {
                    matches!(
                        p.outcome,
                        FrameOutcome::TruePositive { .. } | FrameOutcome::FalsePositive
                    )
                })
                .count();
            let crowd = drawn
                .iter()
                .filter(|p| matches!(p.outcome, FrameOutcome::Crowd { .. }))
                .count();
            assert_eq!(
                positives + crowd,
                above,
                "TP + FP (+ crowd) = above threshold"
            );
            assert_eq!(row.counts.tp + row.counts.fp, positives);
        }
        let overall = frames.iter().map(|f| f.overall.tp).sum::<usize>();
        assert_eq!(overall, report.bbox.overall.tp);
    }

    #[test]
    fn a_frame_names_each_objects_outcome() {
        let (gt, dets) = scene();
        let frames = frame_matches(&gt, &dets, &config());
        let first = &frames[0];
        let outcomes: Vec<FrameOutcome> = first.predictions.iter().map(|p| p.outcome).collect();
        assert_eq!(
            outcomes,
            [
                FrameOutcome::TruePositive { gt: 0, iou: 1.0 },
                FrameOutcome::FalsePositive,
                FrameOutcome::FalsePositive,
            ],
            "the duplicate and the truck called a car are false positives"
        );
        let found: Vec<Option<usize>> = first.ground_truth.iter().map(|t| t.found_by).collect();
        assert_eq!(found, [Some(0), None]);
        assert_eq!(key(&first.overall), (2, 3, 1, 2, 1));
        let second = &frames[1];
        assert_eq!(second.predictions[1].outcome, FrameOutcome::BelowThreshold);
        assert_eq!(
            second.ground_truth[0].found_by, None,
            "below threshold finds nothing"
        );
        assert_eq!(second.ground_truth[1].found_by, Some(0));
        let third = &frames[2];
        assert_eq!(third.predictions[1].outcome, FrameOutcome::Crowd { gt: 0 });
        assert!(third.ground_truth[0].crowd);
        assert_eq!(key(&third.overall), (0, 2, 0, 1, 0));
    }

    #[test]
    fn a_prediction_serialises_flat() {
        let (gt, dets) = scene();
        let frames = frame_matches(&gt, &dets, &config());
        let json = serde_json::to_value(&frames[0].predictions[0]).unwrap();
        assert_eq!(json["outcome"], "true_positive");
        assert_eq!(
            (json["gt"].as_u64(), json["iou"].as_f64()),
            (Some(0), Some(1.0))
        );
    }

    #[test]
    fn a_class_threshold_changes_the_frame() {
        let (gt, dets) = scene();
        let mut config = config();
        config.class_score_thresholds.insert("car".into(), 0.85);
        let first = &frame_matches(&gt, &dets, &config)[0];
        assert_eq!(first.predictions[1].outcome, FrameOutcome::BelowThreshold);
        assert_eq!(key(&first.overall), (2, 1, 1, 0, 1));
    }
}
