//! Stage 5, analyse: the failure modes of the seed found in the evaluation —
//! a small or distant object missed, an occluded object missed, one class
//! taken for another — each with its highest-ranked concrete case, and the
//! run's report data.

use std::collections::BTreeMap;

use image::RgbImage;
use serde::{Deserialize, Serialize};

use super::PipelineError;
use super::skipped::SkippedFrame;
use super::track::TrackOutput;
use crate::data::clip::Clip;
use crate::eval::EvalReport;
use crate::eval::failures::{FailureCase, FailureKind, FailureQueue};
use crate::export::report_html::{FailureExample, ReportView, StageTiming};
use crate::labels::Box2;

/// The three failure modes the report always looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureMode {
    /// A small or distant object missed.
    SmallOrDistantMiss,
    /// An occluded object missed.
    OcclusionMiss,
    /// An object found with the wrong class.
    ClassConfusion,
}

impl FailureMode {
    pub const ALL: [FailureMode; 3] = [
        FailureMode::SmallOrDistantMiss,
        FailureMode::OcclusionMiss,
        FailureMode::ClassConfusion,
    ];

    /// The queue's kinds that are this mode.
    pub fn kinds(self) -> &'static [FailureKind] {
        match self {
            FailureMode::SmallOrDistantMiss => &[FailureKind::SmallMiss, FailureKind::DistantMiss],
            FailureMode::OcclusionMiss => &[FailureKind::OccludedMiss],
            FailureMode::ClassConfusion => &[FailureKind::ClassConfusion],
        }
    }

    /// A heading for people.
    pub fn title(self) -> &'static str {
        match self {
            FailureMode::SmallOrDistantMiss => "Small / distant miss",
            FailureMode::OcclusionMiss => "Occluded miss",
            FailureMode::ClassConfusion => "Class confusion",
        }
    }
}

/// A failure mode: how often it occurred and its first case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModeFinding {
    pub mode: FailureMode,
    /// Cases of the mode in the whole queue.
    pub count: usize,
    /// Its highest-priority case (`None`: the mode did not occur).
    pub example: Option<FailureCase>,
}

/// Each mode's count and first case, from the whole (uncut) failure queue.
pub fn failure_modes(queue: &FailureQueue) -> Vec<ModeFinding> {
    FailureMode::ALL
        .iter()
        .map(|&mode| {
            let of_mode = |c: &&FailureCase| mode.kinds().contains(&c.kind);
            ModeFinding {
                mode,
                count: queue.cases.iter().filter(of_mode).count(),
                example: queue.cases.iter().find(of_mode).cloned(),
            }
        })
        .collect()
}

/// `report.json`: what the run found, measured and concluded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// What was labelled.
    pub source: String,
    /// The caption the detector read.
    pub caption: String,
    /// Frames taken from the clip; frames the detector ran on.
    pub frames: usize,
    pub detection_frames: usize,
    pub detections_per_class: BTreeMap<String, usize>,
    /// Boxes given occlusion-aware point prompts.
    pub boxes_with_points: usize,
    pub tracks: usize,
    /// The evaluation, when the clip has ground truth.
    pub eval: Option<EvalReport>,
    /// The seed's three failure modes.
    pub failure_modes: Vec<ModeFinding>,
    /// Labelled frames per second of model time, all model stages together:
    /// the throughput the cost table uses.
    pub frames_per_s: Option<f64>,
    pub stages: Vec<StageTiming>,
    /// Frames left out because they did not decode, by frame.
    #[serde(default)]
    pub skipped_frames: Vec<SkippedFrame>,
}

/// Objects per class over the whole run.
pub fn objects_per_class(tracks: &TrackOutput) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for (_, o) in tracks.objects() {
        *counts.entry(o.class.clone()).or_insert(0) += 1;
    }
    counts
}

/// Labelled frames per second of the model stages' summed time.
pub fn throughput(frames: usize, model_stages: &[StageTiming]) -> Option<f64> {
    let seconds: f64 = model_stages.iter().map(|s| s.seconds).sum();
    (seconds > 0.0 && frames > 0).then(|| frames as f64 / seconds)
}

/// The page of `report.html` for a run: `settings` as name/value rows,
/// `examples` the JPEG crop of each failure mode's case.
pub fn report_view<'a>(
    report: &'a RunReport,
    settings: Vec<(String, String)>,
    examples: Vec<(FailureMode, Vec<u8>)>,
) -> ReportView<'a> {
    let examples = examples
        .into_iter()
        .filter_map(|(mode, jpeg)| {
            let finding = report.failure_modes.iter().find(|f| f.mode == mode)?;
            let case = finding.example.as_ref()?;
            Some(FailureExample {
                kind: case.kind,
                heading: format!(
                    "{} — frame {} ({} case(s) in the run)",
                    mode.title(),
                    case.image_id,
                    finding.count
                ),
                detail: case.reason.clone(),
                jpeg,
            })
        })
        .collect();
    let mut notes: Vec<String> = report
        .skipped_frames
        .iter()
        .map(|s| format!("frame {} skipped, not labelled: {}", s.frame, s.reason))
        .collect();
    notes.extend(
        report
            .failure_modes
            .iter()
            .filter(|f| f.example.is_none())
            .map(|f| format!("{}: none found in this run", f.mode.title())),
    );
    notes.push(format!(
        "{} box(es) were prompted with points because another detection covers them (occlusion-aware prompting)",
        report.boxes_with_points
    ));
    if let Some(rate) = report.frames_per_s {
        notes.push(format!(
            "the cost table's inference cost uses this run's measured throughput, {rate:.3} labelled frames/s"
        ));
    }
    ReportView {
        title: "autolabel run".into(),
        source: format!(
            "{} — {} frames taken, detection on {}, {} track(s)",
            report.source, report.frames, report.detection_frames, report.tracks
        ),
        settings,
        eval: report.eval.as_ref(),
        detections_per_class: report
            .detections_per_class
            .iter()
            .map(|(c, n)| (c.clone(), *n))
            .collect(),
        examples,
        stages: report.stages.clone(),
        notes,
    }
}

/// Colour of a ground-truth box in example crops.
pub const GT_COLOUR: [u8; 3] = [40, 220, 90];
/// Colour of a predicted box in example crops.
pub const PREDICTION_COLOUR: [u8; 3] = [240, 60, 60];

/// A crop of `frame` around a case's boxes (ground truth green, prediction
/// red), scaled so that its longer side is at least 320 px; `None` when the
/// case has no box.
pub fn example_crop(frame: &RgbImage, case: &FailureCase) -> Option<RgbImage> {
    let boxes: Vec<Box2> = [case.gt_box, case.predicted_box]
        .into_iter()
        .flatten()
        .collect();
    let region = crop_region(&boxes, frame.width(), frame.height())?;
    let mut crop = image::imageops::crop_imm(
        frame,
        region[0],
        region[1],
        region[2] - region[0],
        region[3] - region[1],
    )
    .to_image();
    let offset = [f64::from(region[0]), f64::from(region[1])];
    for (b, colour) in [
        (case.gt_box, GT_COLOUR),
        (case.predicted_box, PREDICTION_COLOUR),
    ] {
        if let Some(b) = b {
            let shifted = [
                b[0] - offset[0],
                b[1] - offset[1],
                b[2] - offset[0],
                b[3] - offset[1],
            ];
            crate::export::overlay::draw_box(&mut crop, shifted, colour);
        }
    }
    Some(upscale(crop, 320))
}

/// Each failure mode's example as a JPEG crop of its frame of `clip` (the
/// report's pictures; modes without an example are left out).
pub fn example_crops(
    clip: &mut Clip,
    report: &RunReport,
) -> Result<Vec<(FailureMode, Vec<u8>)>, PipelineError> {
    let mut crops = Vec::new();
    for finding in &report.failure_modes {
        let Some(case) = &finding.example else {
            continue;
        };
        let image = |message: String| PipelineError::Image {
            image_id: case.image_id,
            message,
        };
        let index = usize::try_from(case.image_id).map_err(|e| image(e.to_string()))?;
        let frame = clip.frame(index)?;
        if let Some(jpeg) = example_jpeg(&frame.rgb, case).map_err(|e| image(e.to_string()))? {
            crops.push((finding.mode, jpeg));
        }
    }
    Ok(crops)
}

/// [`example_crop`] as a JPEG.
pub fn example_jpeg(
    frame: &RgbImage,
    case: &FailureCase,
) -> Result<Option<Vec<u8>>, image::ImageError> {
    let Some(crop) = example_crop(frame, case) else {
        return Ok(None);
    };
    let mut jpeg = Vec::new();
    crop.write_with_encoder(image::codecs::jpeg::JpegEncoder::new_with_quality(
        &mut jpeg, 88,
    ))?;
    Ok(Some(jpeg))
}

/// The pixels `[x0, y0, x1, y1]` around `boxes` with a margin of half their
/// size (at least 48 px), inside the frame; `None` without boxes or area.
fn crop_region(boxes: &[Box2], width: u32, height: u32) -> Option<[u32; 4]> {
    let first = boxes.first()?;
    let u = boxes.iter().fold(*first, |u, b| {
        [
            u[0].min(b[0]),
            u[1].min(b[1]),
            u[2].max(b[2]),
            u[3].max(b[3]),
        ]
    });
    let margin = ((u[2] - u[0]).max(u[3] - u[1]) * 0.5).max(48.0);
    let (w, h) = (f64::from(width), f64::from(height));
    let clamp = |v: f64, hi: f64| v.clamp(0.0, hi).round() as u32;
    let r = [
        clamp(u[0] - margin, w),
        clamp(u[1] - margin, h),
        clamp(u[2] + margin, w),
        clamp(u[3] + margin, h),
    ];
    (r[2] > r[0] && r[3] > r[1]).then_some(r)
}

/// Scales an image up (nearest pixel, whole factors) until its longer side
/// reaches `min_side`.
fn upscale(image: RgbImage, min_side: u32) -> RgbImage {
    let side = image.width().max(image.height()).max(1);
    let factor = min_side.div_ceil(side).clamp(1, 8);
    if factor == 1 {
        return image;
    }
    image::imageops::resize(
        &image,
        image.width() * factor,
        image.height() * factor,
        image::imageops::FilterType::Nearest,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(kind: FailureKind, rank: usize) -> FailureCase {
        FailureCase {
            rank,
            kind,
            priority: 1.0 / rank as f64,
            image_id: 6,
            file_name: "f.jpg".into(),
            gt_id: Some(1),
            gt_class: Some("car".into()),
            gt_box: Some([100.0, 100.0, 120.0, 110.0]),
            prediction: None,
            predicted_class: None,
            predicted_box: None,
            score: None,
            track_id: None,
            iou: None,
            mask_iou: None,
            area_px2: Some(200.0),
            distance_m: Some(45.0),
            visibility: None,
            other_gt_ids: Vec::new(),
            reason: "missed".into(),
        }
    }

    #[test]
    fn each_mode_takes_its_first_case() {
        let queue = FailureQueue {
            counts: BTreeMap::new(),
            cases: vec![
                case(FailureKind::FalsePositive, 1),
                case(FailureKind::DistantMiss, 2),
                case(FailureKind::SmallMiss, 3),
            ],
        };
        let modes = failure_modes(&queue);
        assert_eq!(modes[0].count, 2);
        assert_eq!(modes[0].example.as_ref().map(|c| c.rank), Some(2));
        assert_eq!((modes[1].count, modes[1].example.is_none()), (0, true));
    }

    #[test]
    fn the_crop_shows_the_box_in_green_and_is_enlarged() {
        let frame = RgbImage::from_pixel(400, 300, image::Rgb([10, 10, 10]));
        let crop = example_crop(&frame, &case(FailureKind::SmallMiss, 1)).unwrap();
        assert!(crop.width().max(crop.height()) >= 320);
        assert!(crop.pixels().any(|p| p.0 == GT_COLOUR));
        let mut none = case(FailureKind::SmallMiss, 1);
        none.gt_box = None;
        assert!(example_crop(&frame, &none).is_none());
    }

    #[test]
    fn throughput_is_frames_over_model_seconds() {
        let t = |s: f64| StageTiming {
            stage: "x".into(),
            items: 3,
            unit: "frames".into(),
            seconds: s,
            device: "cpu".into(),
        };
        assert_eq!(throughput(10, &[t(2.0), t(3.0)]), Some(2.0));
        assert_eq!(throughput(10, &[t(0.0)]), None);
    }
}
