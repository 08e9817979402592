//! Stage 2, segment: a SAM 2 mask for every detection, prompted by its box —
//! and, where another detection covers much of the box, by points too.
//!
//! Occlusion-aware prompting: a box largely covered by a detection nearer the
//! camera (a pedestrian behind a car: the occluder's box reaches lower in the
//! image) holds two objects, and a bare box makes SAM 2 segment the front
//! one as readily as the one meant. Such a box gets a positive point on its
//! uncovered part (the point of a grid over the box farthest from both the
//! occluders and the box's edge) and a negative point on the occluder (the
//! middle of the overlap). A box covered everywhere keeps the bare box.

use serde::{Deserialize, Serialize};

use super::PipelineError;
use super::detect::{Detected, FrameDetections};
use super::skipped::SkippedFrame;
use crate::data::frame::Frame;
use crate::labels::boxes::{area, intersection};
use crate::labels::prompt::{BACKGROUND, OBJECT};
use crate::labels::{Box2, Prompt, Rle};
use crate::models::sam2::{self, Sam2ImagePredictor};

/// Settings of the segment stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SegmentSettings {
    /// A detection nearer the camera covering at least this fraction of a
    /// box makes it occluded (`None`: bare boxes only).
    pub occlusion_min_cover: Option<f64>,
}

impl Default for SegmentSettings {
    fn default() -> Self {
        SegmentSettings {
            occlusion_min_cover: Some(0.25),
        }
    }
}

/// One object's mask.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MaskedObject {
    /// The detection (index in the frame's detections).
    pub detection: usize,
    pub class: String,
    /// The detection's score.
    pub score: f64,
    pub mask: Rle,
    /// SAM 2's predicted IoU of the mask.
    pub iou_score: f64,
    /// SAM 2's object-presence logit (> 0: an object is there).
    pub object_score: f64,
    /// The prompt SAM 2 was given.
    pub prompt: Prompt,
    /// The detection (index in the frame) taken as the occluder, when the
    /// prompt has occlusion points.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occluder: Option<usize>,
}

/// The masks of one frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameMasks {
    pub frame: usize,
    pub width: u32,
    pub height: u32,
    pub objects: Vec<MaskedObject>,
}

/// `masks.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentOutput {
    pub frames: Vec<FrameMasks>,
    /// How many boxes were given points (occlusion-aware prompts).
    pub boxes_with_points: usize,
    /// Frames with detections that did not decode here, in order (none in
    /// `frames`).
    #[serde(default)]
    pub skipped: Vec<SkippedFrame>,
}

impl SegmentOutput {
    /// Collects per-frame masks.
    pub fn new(frames: Vec<FrameMasks>) -> Self {
        let boxes_with_points = frames
            .iter()
            .flat_map(|f| &f.objects)
            .filter(|o| !o.prompt.points.is_empty())
            .count();
        SegmentOutput {
            frames,
            boxes_with_points,
            skipped: Vec::new(),
        }
    }

    /// The same output with the frames this stage skipped.
    pub fn with_skipped(self, skipped: Vec<SkippedFrame>) -> Self {
        SegmentOutput { skipped, ..self }
    }
}

/// The masks of one frame's detections (the image is encoded only when it
/// has detections).
pub fn segment_frame(
    predictor: &mut Sam2ImagePredictor,
    frame: &Frame,
    detections: &FrameDetections,
    settings: &SegmentSettings,
) -> Result<FrameMasks, PipelineError> {
    let (width, height) = frame.rgb.dimensions();
    let mut out = FrameMasks {
        frame: frame.index,
        width,
        height,
        objects: Vec::new(),
    };
    if detections.detections.is_empty() {
        return Ok(out);
    }
    predictor.set_image(frame.rgb.as_raw(), width as usize, height as usize)?;
    let used = prompts(&detections.detections, settings);
    let model_prompts = used
        .iter()
        .map(|(p, _)| sam2::Prompt::try_from(p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PipelineError::Frame {
            frame: frame.index,
            message: e.to_string(),
        })?;
    let predictions = predictor.predict(&model_prompts, false)?;
    for (k, ((det, (prompt, occluder)), p)) in detections
        .detections
        .iter()
        .zip(used)
        .zip(predictions)
        .enumerate()
    {
        let (Some(mask), Some(&iou)) = (p.masks.first(), p.iou_scores.first()) else {
            return Err(PipelineError::Frame {
                frame: frame.index,
                message: format!("SAM 2 returned no mask for detection {k}"),
            });
        };
        out.objects.push(MaskedObject {
            detection: k,
            class: det.class.clone(),
            score: det.score,
            mask: Rle::encode(mask),
            iou_score: f64::from(iou),
            object_score: f64::from(p.object_score_logit),
            prompt,
            occluder,
        });
    }
    Ok(out)
}

/// The prompt of each detection, with the occluder its points refer to.
pub fn prompts(
    detections: &[Detected],
    settings: &SegmentSettings,
) -> Vec<(Prompt, Option<usize>)> {
    (0..detections.len())
        .map(|i| {
            let bare = (
                Prompt {
                    bbox: Some(detections[i].bbox),
                    points: Vec::new(),
                },
                None,
            );
            settings
                .occlusion_min_cover
                .and_then(|cover| occluded_prompt(detections, i, cover))
                .unwrap_or(bare)
        })
        .collect()
}

/// The detections nearer the camera than `i` that cover at least `min_cover`
/// of its box, most covering first.
fn occluders(detections: &[Detected], i: usize, min_cover: f64) -> Vec<usize> {
    let b = detections[i].bbox;
    let own = area(b);
    let mut found: Vec<(usize, f64)> = detections
        .iter()
        .enumerate()
        .filter(|&(j, d)| j != i && d.bbox[3] > b[3])
        .map(|(j, d)| (j, intersection(b, d.bbox) / own))
        .filter(|&(_, cover)| own > 0.0 && cover >= min_cover)
        .collect();
    found.sort_by(|a, b| b.1.total_cmp(&a.1));
    found.into_iter().map(|(j, _)| j).collect()
}

/// Box plus a positive point on the uncovered part and a negative point on
/// the main occluder; `None` when nothing occludes the box or it is covered
/// everywhere.
fn occluded_prompt(
    detections: &[Detected],
    i: usize,
    min_cover: f64,
) -> Option<(Prompt, Option<usize>)> {
    let front = occluders(detections, i, min_cover);
    let &main = front.first()?;
    let b = detections[i].bbox;
    let fronts: Vec<Box2> = front.iter().map(|&j| detections[j].bbox).collect();
    let [x, y] = deepest_uncovered_point(b, &fronts)?;
    let o = detections[main].bbox;
    let overlap = [
        b[0].max(o[0]),
        b[1].max(o[1]),
        b[2].min(o[2]),
        b[3].min(o[3]),
    ];
    let negative = [
        (overlap[0] + overlap[2]) / 2.0,
        (overlap[1] + overlap[3]) / 2.0,
        BACKGROUND,
    ];
    let prompt = Prompt {
        bbox: Some(b),
        points: vec![[x, y, OBJECT], negative],
    };
    Some((prompt, Some(main)))
}

/// Cells of the grid over a box in which the positive point is searched.
const GRID: usize = 12;

/// Of a grid of points over `b`, the one outside every box of `covers` that
/// lies farthest from both the covers and `b`'s own edge.
fn deepest_uncovered_point(b: Box2, covers: &[Box2]) -> Option<[f64; 2]> {
    let (w, h) = (b[2] - b[0], b[3] - b[1]);
    let mut best: Option<([f64; 2], f64)> = None;
    for gy in 0..GRID {
        for gx in 0..GRID {
            let p = [
                b[0] + w * (gx as f64 + 0.5) / GRID as f64,
                b[1] + h * (gy as f64 + 0.5) / GRID as f64,
            ];
            let to_covers = covers
                .iter()
                .map(|&c| distance_outside(p, c))
                .fold(f64::INFINITY, f64::min);
            let to_edge = (p[0] - b[0])
                .min(b[2] - p[0])
                .min(p[1] - b[1])
                .min(b[3] - p[1]);
            let depth = to_covers.min(to_edge);
            if to_covers > 0.0 && best.is_none_or(|(_, d)| depth > d) {
                best = Some((p, depth));
            }
        }
    }
    best.map(|(p, _)| p)
}

/// Distance from `p` to the box `c` (0 inside it).
fn distance_outside(p: [f64; 2], c: Box2) -> f64 {
    let dx = (c[0] - p[0]).max(p[0] - c[2]).max(0.0);
    let dy = (c[1] - p[1]).max(p[1] - c[3]).max(0.0);
    dx.hypot(dy)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(class: &str, bbox: Box2) -> Detected {
        Detected {
            bbox,
            score: 0.9,
            class: class.into(),
            phrase: class.into(),
            anneal: None,
        }
    }

    #[test]
    fn a_pedestrian_behind_a_car_gets_points() {
        let dets = vec![
            det("pedestrian", [100.0, 50.0, 140.0, 150.0]),
            det("car", [60.0, 100.0, 260.0, 200.0]),
        ];
        let p = prompts(&dets, &SegmentSettings::default());
        assert!(p[1].0.points.is_empty(), "the car is in front: bare box");
        let (ped, occluder) = &p[0];
        assert_eq!(*occluder, Some(1));
        let [[px, py, pl], [nx, ny, nl]] = [ped.points[0], ped.points[1]];
        assert_eq!((pl, nl), (1.0, 0.0));
        assert!(
            py < 100.0 && (100.0..140.0).contains(&px),
            "positive above the car"
        );
        assert!((100.0..=150.0).contains(&ny) && (100.0..=140.0).contains(&nx));
        assert_eq!(sam2::Prompt::try_from(ped).unwrap().points.len(), 2);
    }

    #[test]
    fn small_overlaps_and_objects_behind_keep_bare_boxes() {
        let dets = vec![
            det("car", [0.0, 0.0, 100.0, 100.0]),
            det("car", [90.0, 0.0, 200.0, 110.0]), // covers 10 %
        ];
        let p = prompts(&dets, &SegmentSettings::default());
        assert!(p.iter().all(|(p, _)| p.points.is_empty()));
        let off = SegmentSettings {
            occlusion_min_cover: None,
        };
        let dets = vec![
            det("pedestrian", [100.0, 50.0, 140.0, 150.0]),
            det("car", [60.0, 100.0, 260.0, 200.0]),
        ];
        assert!(
            prompts(&dets, &off)
                .iter()
                .all(|(p, _)| p.points.is_empty())
        );
    }

    #[test]
    fn a_box_covered_everywhere_keeps_the_bare_box() {
        let dets = vec![
            det("pedestrian", [100.0, 50.0, 140.0, 150.0]),
            det("bus", [0.0, 0.0, 300.0, 200.0]),
        ];
        assert!(
            prompts(&dets, &SegmentSettings::default())[0]
                .0
                .points
                .is_empty()
        );
    }
}
