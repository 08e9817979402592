//! What a run's stages add up to: the predictions file, its evaluation with
//! the throughput measured in the run, and the report — computed here once,
//! so that `autolabel run` and the page (through the wasm crate) give the
//! same numbers from the same stage outputs. Timing is the caller's: a stage
//! is timed where it runs (a native clock, the browser's), and handed in as
//! [`StageTime`].

use serde::{Deserialize, Serialize};

use super::analyse::{self, RunReport};
use super::detect::DetectOutput;
use super::evaluate::{
    DEFAULT_MAX_FAILURES_PER_KIND, evaluate_results, predictions, results_frame_matches,
    truth_of_frames,
};
use super::segment::SegmentOutput;
use super::skipped::SkippedFrame;
use super::track::TrackOutput;
use crate::eval::data::GroundTruth;
use crate::eval::failures::FailureQueue;
use crate::eval::frames::FrameMatches;
use crate::eval::{EvalConfig, EvalReport};
use crate::export::coco::CocoError;
use crate::export::report_html::StageTiming;

/// How long a stage took over how many items (frames).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct StageTime {
    pub items: usize,
    pub seconds: f64,
}

/// A stage's progress: items done of `total` in `seconds`, with the rate and
/// the time left that a progress bar shows.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct StageProgress {
    pub done: usize,
    pub total: usize,
    pub seconds: f64,
}

impl StageProgress {
    /// Items per second so far (`None` before any time was measured).
    pub fn rate(&self) -> Option<f64> {
        (self.seconds > 0.0 && self.done > 0).then(|| self.done as f64 / self.seconds)
    }

    /// Seconds left at the rate so far.
    pub fn eta_seconds(&self) -> Option<f64> {
        self.rate()
            .map(|r| self.total.saturating_sub(self.done) as f64 / r)
    }
}

/// The timing rows of the model stages (`track` only when propagation ran:
/// joining keyframe masks is not model time) on `device`.
pub fn stage_timings(
    device: &str,
    detect: StageTime,
    segment: StageTime,
    track: Option<StageTime>,
) -> Vec<StageTiming> {
    let timing = |stage: &str, t: StageTime| StageTiming {
        stage: stage.into(),
        items: t.items,
        unit: "frames".into(),
        seconds: t.seconds,
        device: device.to_string(),
    };
    let mut stages = vec![timing("detect", detect), timing("segment", segment)];
    if let Some(t) = track {
        stages.push(timing("track", t));
    }
    stages
}

/// The evaluate stage's output.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// `predictions.json`: the tracked objects as COCO results, the bytes
    /// that were evaluated.
    pub results: Vec<u8>,
    /// The evaluation settings used: the cost model's throughput is the one
    /// measured in the run (`eval-config.json`, for `autolabel eval --config`).
    pub config: EvalConfig,
    /// The report (failure cases cut per kind) and the whole failure queue,
    /// when the clip has ground truth.
    pub eval: Option<(EvalReport, FailureQueue)>,
    /// What the evaluation made of each object on each frame with ground
    /// truth (the viewer's TP/FP/FN); empty without ground truth.
    pub frames: Vec<FrameMatches>,
    /// Labelled frames per second of model time.
    pub frames_per_s: Option<f64>,
}

/// What the evaluate stage reads besides the tracks.
pub struct EvaluateInputs<'a> {
    /// The clip's ground truth, if it has one.
    pub truth: Option<&'a GroundTruth>,
    /// Frames in the clip (results on frames outside it are refused).
    pub clip_frames: usize,
    /// The class table: `category_id` = 1 + position.
    pub class_table: &'a [String],
    pub config: &'a EvalConfig,
    /// The model stages' timings (the throughput of the cost table).
    pub stages: &'a [StageTiming],
    /// Frames a stage skipped ([`skipped_frames`]): their ground truth is
    /// left out, neither a miss nor a hit.
    pub skipped: &'a [SkippedFrame],
}

/// The frames the stages skipped (each stage's list, in stage order), by
/// frame (a frame skipped twice keeps its first reason).
pub fn skipped_frames(stages: &[&[SkippedFrame]]) -> Vec<SkippedFrame> {
    let mut skipped: Vec<SkippedFrame> = stages.iter().flat_map(|s| s.iter()).cloned().collect();
    skipped.sort_by_key(|s| s.frame);
    skipped.dedup_by_key(|s| s.frame);
    skipped
}

/// Serialises the predictions and evaluates them against the labelled
/// frames' ground truth (the detection frames, less the skipped ones),
/// exactly as `autolabel eval --pred` would.
pub fn evaluate_run(
    detections: &DetectOutput,
    tracks: &TrackOutput,
    inputs: &EvaluateInputs,
) -> Result<Evaluation, CocoError> {
    let results = predictions(tracks, inputs.class_table);
    let mut bytes = serde_json::to_string_pretty(&results)
        .map_err(|e| CocoError::Json(format!("predictions: {e}")))?
        .into_bytes();
    bytes.push(b'\n');
    let frames_per_s = analyse::throughput(detections.frames.len(), inputs.stages);
    let mut config = inputs.config.clone();
    if let Some(rate) = frames_per_s {
        config.cost.throughput_frames_per_s = rate;
    }
    let (eval, frames) = match inputs.truth {
        Some(gt) => {
            let labelled: Vec<usize> = detections
                .frames
                .iter()
                .map(|f| f.frame)
                .filter(|&f| inputs.skipped.iter().all(|s| s.frame != f))
                .collect();
            let gt = truth_of_frames(gt, &labelled);
            let eval = evaluate_results(
                &gt,
                &bytes,
                inputs.clip_frames,
                &config,
                DEFAULT_MAX_FAILURES_PER_KIND,
            )?;
            let frames = results_frame_matches(&gt, &bytes, inputs.clip_frames, &config)?;
            (Some(eval), frames)
        }
        None => (None, Vec::new()),
    };
    Ok(Evaluation {
        results: bytes,
        config,
        eval,
        frames,
        frames_per_s,
    })
}

/// The analyse stage: the report of a run from its stages' outputs.
pub fn run_report(
    source: &str,
    frames: usize,
    detections: &DetectOutput,
    masks: &SegmentOutput,
    tracks: &TrackOutput,
    evaluation: &Evaluation,
    stages: Vec<StageTiming>,
) -> RunReport {
    let (eval, failure_modes) = match &evaluation.eval {
        Some((report, whole)) => (Some(report.clone()), analyse::failure_modes(whole)),
        None => (None, Vec::new()),
    };
    RunReport {
        source: source.to_string(),
        caption: detections.caption.clone(),
        frames,
        detection_frames: detections.frames.len(),
        detections_per_class: analyse::objects_per_class(tracks),
        boxes_with_points: masks.boxes_with_points,
        tracks: tracks.tracks.len(),
        eval,
        failure_modes,
        frames_per_s: evaluation.frames_per_s,
        stages,
        skipped_frames: skipped_frames(&[&detections.skipped, &masks.skipped, &tracks.skipped]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::data::{Category, GtObject, Image};
    use crate::pipeline::detect::FrameDetections;

    /// One car on each of frames 0, 1 and 2.
    fn truth() -> GroundTruth {
        GroundTruth {
            images: (0..3)
                .map(|id| Image {
                    id,
                    file_name: format!("{id}.jpg"),
                    width: 20,
                    height: 10,
                })
                .collect(),
            categories: vec![Category {
                id: 1,
                name: "car".into(),
            }],
            objects: (0..3)
                .map(|id| GtObject {
                    id,
                    image_id: id,
                    category_id: 1,
                    bbox: [1.0, 1.0, 5.0, 5.0],
                    area: 25.0,
                    iscrowd: false,
                    mask: None,
                    distance_m: None,
                    visibility: None,
                    source: None,
                })
                .collect(),
        }
    }

    #[test]
    fn a_skipped_frames_ground_truth_is_left_out() {
        let detections = DetectOutput {
            caption: "car .".into(),
            frames: (0..3)
                .map(|frame| FrameDetections {
                    frame,
                    width: 20,
                    height: 10,
                    detections: Vec::new(),
                    passes: Vec::new(),
                })
                .collect(),
            skipped: Vec::new(),
        };
        let tracks = TrackOutput {
            method: "keyframe-association".into(),
            frames: Vec::new(),
            tracks: Vec::new(),
            skipped: Vec::new(),
        };
        let truth = truth();
        let skip = SkippedFrame {
            frame: 1,
            reason: "1.jpg: cannot decode image".into(),
        };
        let masks = SegmentOutput::new(Vec::new()).with_skipped(vec![skip.clone()]);
        let evaluated = |skipped: &[SkippedFrame]| {
            let inputs = EvaluateInputs {
                truth: Some(&truth),
                clip_frames: 3,
                class_table: &["car".to_string()],
                config: &EvalConfig::default(),
                stages: &[],
                skipped,
            };
            let (report, _) = evaluate_run(&detections, &tracks, &inputs)
                .unwrap()
                .eval
                .unwrap();
            (report.images, report.ground_truth)
        };
        assert_eq!(evaluated(&[]), (3, 3));
        let skipped = skipped_frames(&[&detections.skipped, &masks.skipped]);
        assert_eq!(skipped, [skip]);
        assert_eq!(evaluated(&skipped), (2, 2), "neither a miss nor a hit");
    }

    #[test]
    fn progress_has_a_rate_and_time_left() {
        let p = StageProgress {
            done: 4,
            total: 10,
            seconds: 2.0,
        };
        assert_eq!(p.rate(), Some(2.0));
        assert_eq!(p.eta_seconds(), Some(3.0));
        assert_eq!(StageProgress::default().rate(), None);
    }

    #[test]
    fn tracking_time_counts_only_when_given() {
        let t = |items, seconds| StageTime { items, seconds };
        let rows = stage_timings("cpu", t(3, 1.0), t(3, 2.0), None);
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[1].stage.as_str(), rows[1].seconds), ("segment", 2.0));
        let rows = stage_timings("wasm", t(3, 1.0), t(3, 2.0), Some(t(13, 4.0)));
        assert_eq!((rows[2].items, rows[2].device.as_str()), (13, "wasm"));
    }
}
