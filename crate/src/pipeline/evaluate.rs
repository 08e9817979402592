//! Stage 4, evaluate: the labels as COCO results, compared with the ground
//! truth.
//!
//! The comparison always goes through the written results file: the run
//! serialises its predictions ([`predictions`]) and evaluates the bytes
//! ([`evaluate_results`]) exactly as `autolabel eval --pred` does, so the
//! report of a run and a later `autolabel eval` of its `predictions.json`
//! are the same numbers by construction.

use std::collections::HashMap;

use super::track::TrackOutput;
use crate::eval::data::GroundTruth;
use crate::eval::failures::FailureKind;
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
    let frames = frames as i64;
    let (dets, skipped) = parse_results_skipping(results, gt, &|id| (0..frames).contains(&id))?;
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
