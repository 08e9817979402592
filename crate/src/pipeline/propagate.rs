//! Propagation: SAM 2's video predictor carries prompted objects through a
//! clip, forward, backward or both, and each frame's masks come out at the
//! frame's size as COCO RLE with the object's presence logit and box.
//!
//! This is `autolabel track`'s stage; it takes prompts as data
//! ([`PropagationPrompt`], the `PROMPTS.json` format) and frames from the
//! caller one at a time, so the CLI and the page share it.
//!
//! Reference: transformers v5.23.0 `Sam2VideoProcessor` /
//! `Sam2VideoModel.propagate_in_video_iterator` and `post_process_masks`
//! (bilinear to the frame size, logit > 0).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::labels::mask::Mask;
use crate::labels::{Box2, Prompt, Rle};
use crate::models::sam2::processing::{MASK_THRESHOLD, upscale_masks};
use crate::models::sam2::video_session::FrameSource;
use crate::models::sam2::{FrameResult, Sam2Error, Sam2VideoModel, VideoPrompt, VideoSession};

/// A prompt for one object on one frame, in original-frame pixels:
/// `{"frame": i, "object_id": k, "points": [[x, y, label], …]?, "box": [x0, y0, x1, y1]?}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PropagationPrompt {
    pub frame: usize,
    pub object_id: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub points: Vec<[f64; 3]>,
    #[serde(default, rename = "box", skip_serializing_if = "Option::is_none")]
    pub bbox: Option<Box2>,
}

impl PropagationPrompt {
    /// The segmentation prompt it carries.
    pub fn prompt(&self) -> Prompt {
        Prompt {
            bbox: self.bbox,
            points: self.points.clone(),
        }
    }
}

/// Which way propagation runs from the earliest prompted frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    #[default]
    Forward,
    Backward,
    /// Forward to the last frame, then backward to frame 0, in one session.
    Both,
}

/// One object on one frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PropagatedObject {
    pub object_id: u32,
    /// The mask at the frame's size (logit > 0).
    pub rle: Rle,
    /// Object-presence logit (> 0: the object is there).
    pub object_score: f32,
    /// The mask's bounds; `null` when the mask is empty.
    #[serde(rename = "box")]
    pub bbox: Option<Box2>,
}

/// Every object on one frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PropagatedFrame {
    pub frame: usize,
    pub objects: Vec<PropagatedObject>,
}

/// Every frame reached, in frame order (a frame reached twice keeps its last
/// result, as SAM 2's predictor does).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Propagation {
    pub frames: Vec<PropagatedFrame>,
}

/// A clip's shape as the session needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClipShape {
    pub frames: usize,
    pub width: usize,
    pub height: usize,
}

/// Runs the prompts (each frame run as its prompt is added, in the order
/// given) and then propagation from the earliest prompted frame. `progress`
/// hears each frame as it is done.
pub fn propagate(
    model: &Sam2VideoModel,
    shape: ClipShape,
    prompts: &[PropagationPrompt],
    direction: Direction,
    frames: &mut FrameSource,
    progress: &mut dyn FnMut(&PropagatedFrame),
) -> Result<Propagation, Sam2Error> {
    if prompts.is_empty() {
        return Err(Sam2Error::Prompt("no prompts: nothing to track".into()));
    }
    let original = [shape.height, shape.width];
    let mut session = VideoSession::new(original, Some(shape.frames));
    let mut reached = BTreeMap::new();
    let mut keep = |result: FrameResult, reached: &mut BTreeMap<usize, PropagatedFrame>| {
        let frame = frame_output(&result, original)?;
        progress(&frame);
        reached.insert(frame.frame, frame);
        Ok::<(), Sam2Error>(())
    };
    for p in prompts {
        let prompt = VideoPrompt::Points(p.prompt());
        let result = session
            .add_prompt(model, p.frame, p.object_id, &prompt, frames)
            .map_err(|e| {
                Sam2Error::Prompt(format!("object {} on frame {}: {e}", p.object_id, p.frame))
            })?;
        keep(result, &mut reached)?;
    }
    let start = prompts.iter().map(|p| p.frame).min().unwrap_or(0);
    let passes: &[bool] = match direction {
        Direction::Forward => &[false],
        Direction::Backward => &[true],
        Direction::Both => &[false, true],
    };
    for &reverse in passes {
        session.propagate(model, start, reverse, frames, &mut |result| {
            keep(result, &mut reached)
        })?;
    }
    Ok(Propagation {
        frames: reached.into_values().collect(),
    })
}

/// A frame's low-resolution logits → masks at the frame's size.
pub fn frame_output(
    result: &FrameResult,
    original: [usize; 2],
) -> Result<PropagatedFrame, Sam2Error> {
    let [height, width] = original;
    let objects = result
        .objects
        .iter()
        .map(|o| {
            let logits = upscale_masks(o.low_res.clone(), original)
                .into_data()
                .try_into_vec::<f32>()
                .map_err(|e| Sam2Error::Readback(format!("{e:?}")))?;
            let mask = Mask::from_fn(width as u32, height as u32, |x, y| {
                logits[y as usize * width + x as usize] > MASK_THRESHOLD
            });
            Ok(PropagatedObject {
                object_id: o.object_id,
                rle: Rle::encode(&mask),
                object_score: o.object_score,
                bbox: mask.bbox(),
            })
        })
        .collect::<Result<_, Sam2Error>>()?;
    Ok(PropagatedFrame {
        frame: result.frame,
        objects,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_read_the_documented_json() {
        let json = r#"[{"frame": 3, "object_id": 2, "points": [[10, -4.5, 1]], "box": [0, 0, 5, 5]},
                       {"frame": 0, "object_id": 1, "box": [1, 2, 3, 4]}]"#;
        let prompts: Vec<PropagationPrompt> = serde_json::from_str(json).unwrap();
        assert_eq!(prompts[0].prompt().points, vec![[10.0, -4.5, 1.0]]);
        assert_eq!(prompts[1].prompt().bbox, Some([1.0, 2.0, 3.0, 4.0]));
        let unknown = r#"[{"frame": 0, "object_id": 1, "mask": 3}]"#;
        assert!(serde_json::from_str::<Vec<PropagationPrompt>>(unknown).is_err());
    }
}
