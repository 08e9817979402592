//! Stage 4, evaluate: the labels as COCO results, compared with the ground
//! truth.
//!
//! The comparison always goes through the written results file: the run
//! serialises its predictions ([`predictions`]) and evaluates the bytes
//! ([`evaluate_results`]) exactly as `autolabel eval --pred` does, so the
//! report of a run and a later `autolabel eval` of its `predictions.json`
//! are the same numbers by construction.

use std::collections::{HashMap, HashSet};

use super::track::TrackOutput;
use crate::eval::data::{Detection, GroundTruth};
use crate::eval::failures::FailureKind;
use crate::eval::frames::{FrameMatches, frame_matches};
use crate::eval::{EvalConfig, EvalReport, evaluate};
use crate::export::coco::{CocoError, CocoResult, Segmentation, parse_results_skipping};
use crate::labels::boxes::xyxy_to_xywh;

/// Failure cases of each kind kept in a report by default.
pub const DEFAULT_MAX_FAILURES_PER_KIND: usize = 20;

/// The tracked objects in COCO's results format: `image_id` = clip index,
/// `category_id` = 1 + the class's position in `class_table`, mask as RLE.
/// Objects of a class not in the table are left out.
pub fn predictions(tracks: &TrackOutput, class_table: &[String]) -> Vec<CocoResult> {
    tracks
        .objects()
        .filter_map(|(f, o)| {
            let class = class_table.iter().position(|c| *c == o.class)?;
            Some(CocoResult {
                image_id: f.frame as i64,
                category_id: class as i64 + 1,
                bbox: Some(xyxy_to_xywh(o.bbox)),
                score: o.score,
                segmentation: o.mask.clone().map(Segmentation::Rle),
                track_id: Some(o.track_id as i64),
            })
        })
        .collect()
}

/// The ground truth of the labelled frames only: a keyframe a run left out
/// (by `--max-frames`, `--every`, a range) is not a miss.
pub fn truth_of_frames(gt: &GroundTruth, frames: &[usize]) -> GroundTruth {
    let kept: HashSet<i64> = frames.iter().map(|&f| f as i64).collect();
    GroundTruth {
        images: gt
            .images
            .iter()
            .filter(|i| kept.contains(&i.id))
            .cloned()
            .collect(),
        categories: gt.categories.clone(),
        objects: gt
            .objects
            .iter()
            .filter(|o| kept.contains(&o.image_id))
            .cloned()
            .collect(),
    }
}

/// Evaluates a COCO results file's bytes against `gt`. Results on frames of
/// the clip without ground truth (`0..frames`: nuScenes sweeps) are skipped
/// and counted in the notes; each failure kind keeps its
/// `max_failures_per_kind` first cases (the whole queue is returned apart).
pub fn evaluate_results(
    gt: &GroundTruth,
    results: &[u8],
    frames: usize,
    config: &EvalConfig,
    max_failures_per_kind: usize,
) -> Result<(EvalReport, crate::eval::failures::FailureQueue), CocoError> {
    let (dets, skipped) = parse_results(gt, results, frames)?;
    let mut report = evaluate(gt, &dets, config);
    if skipped > 0 {
        report.notes.push(format!(
            "{skipped} predictions on frames without ground truth (nuScenes sweeps) skipped"
        ));
    }
    let whole = report.failures.clone();
    let mut kept: HashMap<FailureKind, usize> = HashMap::new();
    report.failures.cases.retain(|c| {
        let n = kept.entry(c.kind).or_insert(0);
        *n += 1;
        *n <= max_failures_per_kind
    });
    Ok((report, whole))
}

/// What [`evaluate_results`] made of each object on each frame of `gt`
/// (the viewer's TP/FP/FN), from the same bytes read the same way.
pub fn results_frame_matches(
    gt: &GroundTruth,
    results: &[u8],
    frames: usize,
    config: &EvalConfig,
) -> Result<Vec<FrameMatches>, CocoError> {
    let (dets, _) = parse_results(gt, results, frames)?;
    Ok(frame_matches(gt, &dets, config))
}

/// A results file's detections on frames `0..frames` and how many were on
/// frames without ground truth.
fn parse_results(
    gt: &GroundTruth,
    results: &[u8],
    frames: usize,
) -> Result<(Vec<Detection>, usize), CocoError> {
    let frames = frames as i64;
    parse_results_skipping(results, gt, &|id| (0..frames).contains(&id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::data::{Category, GtObject, Image};
    use crate::labels::Rle;
    use crate::pipeline::track::{FrameTracks, TrackedObject};

    fn truth() -> GroundTruth {
        let image = |id| Image {
            id,
            file_name: format!("{id}.jpg"),
            width: 20,
            height: 10,
        };
        let object = |id, image_id| GtObject {
            id,
            image_id,
            category_id: 2,
            bbox: [1.0, 1.0, 4.0, 3.0],
            area: 12.0,
            iscrowd: false,
            mask: None,
            distance_m: None,
            visibility: None,
            source: None,
        };
        GroundTruth {
            images: vec![image(0), image(6)],
            categories: vec![
                Category {
                    id: 1,
                    name: "car".into(),
                },
                Category {
                    id: 2,
                    name: "bus".into(),
                },
            ],
            objects: vec![object(1, 0), object(2, 6)],
        }
    }

    fn tracks() -> TrackOutput {
        let mask =
            crate::labels::Mask::from_fn(20, 10, |x, y| (1..5).contains(&x) && (1..4).contains(&y));
        TrackOutput {
            method: "keyframe-association".into(),
            frames: vec![FrameTracks {
                frame: 6,
                width: 20,
                height: 10,
                objects: vec![TrackedObject {
                    track_id: 4,
                    class: "bus".into(),
                    bbox: [1.0, 1.0, 5.0, 4.0],
                    score: 0.8,
                    mask: Some(Rle::encode(&mask)),
                }],
            }],
            tracks: Vec::new(),
            skipped: Vec::new(),
        }
    }

    #[test]
    fn only_the_labelled_frames_are_judged() {
        let gt = truth_of_frames(&truth(), &[6]);
        assert_eq!(gt.images.len(), 1);
        assert_eq!(gt.objects.len(), 1);
        assert_eq!(gt.objects[0].image_id, 6);
    }

    #[test]
    fn predictions_evaluate_through_their_bytes() {
        let table = vec!["car".to_string(), "bus".to_string()];
        let results = predictions(&tracks(), &table);
        assert_eq!((results[0].image_id, results[0].category_id), (6, 2));
        assert_eq!(results[0].bbox, Some([1.0, 1.0, 4.0, 3.0]));
        let bytes = serde_json::to_vec(&results).unwrap();
        let gt = truth_of_frames(&truth(), &[6]);
        let (report, _) = evaluate_results(&gt, &bytes, 7, &EvalConfig::default(), 20).unwrap();
        assert_eq!(report.bbox.overall.tp, 1);
        assert_eq!(report.bbox.overall.fn_, 0);
        let frames = results_frame_matches(&gt, &bytes, 7, &EvalConfig::default()).unwrap();
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].image_id, 6);
        assert_eq!(frames[0].overall, report.bbox.overall);
        assert_eq!(frames[0].ground_truth[0].found_by, Some(0));
    }
}
