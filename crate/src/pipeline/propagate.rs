//! Propagation: SAM 2's video predictor carries prompted objects through a
//! clip, forward, backward or both, and each frame's masks come out at the
//! frame's size as COCO RLE with the object's presence logit and box.
//!
//! [`propagate`] is `autolabel track`'s stage; it takes prompts as data
//! ([`PropagationPrompt`], the `PROMPTS.json` format) and frames from the
//! caller one at a time, so the CLI and the page share it.
//! [`track_detections`] is the pipeline's track stage with propagation:
//! tracks seeded from keyframe detections, carried through every frame.
//!
//! Reference: transformers v5.23.0 `Sam2VideoProcessor` /
//! `Sam2VideoModel.propagate_in_video_iterator` and `post_process_masks`
//! (bilinear to the frame size, logit > 0).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::segment::{FrameMasks, MaskedObject, SegmentOutput};
use super::track::{FrameTracks, TrackOutput, TrackSettings, TrackedObject, hungarian};
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

/// A track the [`track_detections`] stage carries.
#[derive(Debug, Clone)]
struct Track {
    class: String,
    /// Its latest detection's score (what the evaluation ranks by).
    score: f64,
    /// Keyframes in a row without a matching detection.
    misses: usize,
}

/// Stage 3 with propagation: tracks seeded from the keyframes' detections and
/// masks and carried through every frame of `frames` (clip indices, in
/// order) by SAM 2's video predictor. On each keyframe the tracked masks are
/// matched one-to-one to the detections (Hungarian on mask IoU, same class,
/// at least `min_iou`): a match keeps its id; a detection left over starts a
/// new track from its mask, carried `backfill` frames backward too; a track
/// unmatched for `retire_after` keyframes and absent is retired. `source`
/// gives a clip frame's RGB; `progress` hears each frame done.
pub fn track_detections(
    model: &Sam2VideoModel,
    frames: &[usize],
    masks: &SegmentOutput,
    settings: &TrackSettings,
    source: &mut dyn FnMut(usize) -> Result<Vec<u8>, Sam2Error>,
    progress: &mut dyn FnMut(usize),
) -> Result<TrackOutput, Sam2Error> {
    let Some(first) = masks.frames.first() else {
        return Ok(TrackOutput::propagated(Vec::new()));
    };
    let original = [first.height as usize, first.width as usize];
    let keyframes: BTreeMap<usize, &FrameMasks> =
        masks.frames.iter().map(|f| (f.frame, f)).collect();
    let mut session = VideoSession::new(original, Some(frames.len()));
    let mut at = |position: usize| source(frames[position]);
    let mut tracks: BTreeMap<u32, Track> = BTreeMap::new();
    let mut next_id = 1u32;
    let mut out: Vec<FrameTracks> = Vec::with_capacity(frames.len());
    for (position, &clip_index) in frames.iter().enumerate() {
        let result = if tracks.is_empty() {
            None
        } else {
            Some(session.track_frame(model, position, false, &mut at)?)
        };
        let mut tracked = match &result {
            Some(r) => frame_output(r, original)?,
            None => PropagatedFrame {
                frame: position,
                objects: Vec::new(),
            },
        };
        if let Some(detected) = keyframes.get(&clip_index) {
            let new = match_detections(detected, &tracked, &mut tracks, settings);
            // Retired on what the tracker saw, before the new tracks join.
            retire(&mut session, &mut tracks, &tracked, settings.retire_after);
            if !new.is_empty() {
                let mut prompts = Vec::with_capacity(new.len());
                let mut started = BTreeMap::new();
                for object in new {
                    let track = Track {
                        class: object.class.clone(),
                        score: object.score,
                        misses: 0,
                    };
                    tracks.insert(next_id, track.clone());
                    started.insert(next_id, track);
                    prompts.push((next_id, VideoPrompt::Mask(object.mask.decode())));
                    next_id += 1;
                }
                let added = session.add_objects(model, position, &prompts, &mut at)?;
                tracked
                    .objects
                    .extend(frame_output(&added, original)?.objects);
                let fill = Backfill {
                    position,
                    frames: settings.backfill,
                    original,
                };
                fill.run(model, &mut out, &prompts, &started, &mut at)?;
            }
        }
        out.push(FrameTracks {
            frame: clip_index,
            width: first.width,
            height: first.height,
            objects: tracked_objects(&tracked, &tracks),
        });
        progress(clip_index);
    }
    Ok(TrackOutput::propagated(out))
}

/// Matches a keyframe's detections to the tracked masks; updates the matched
/// tracks and counts misses; returns the detections that start new tracks.
fn match_detections<'a>(
    detected: &'a FrameMasks,
    tracked: &PropagatedFrame,
    tracks: &mut BTreeMap<u32, Track>,
    settings: &TrackSettings,
) -> Vec<&'a MaskedObject> {
    let candidates: Vec<&MaskedObject> = detected
        .objects
        .iter()
        .filter(|o| o.mask.area() > 0)
        .collect();
    let live: Vec<&PropagatedObject> = tracked
        .objects
        .iter()
        .filter(|o| o.object_score > 0.0 && o.rle.area() > 0)
        .collect();
    const FORBIDDEN: f64 = 2.0;
    let cost: Vec<Vec<f64>> = candidates
        .iter()
        .map(|d| {
            live.iter()
                .map(|t| {
                    let same_class = tracks.get(&t.object_id).is_some_and(|k| k.class == d.class);
                    let iou = Rle::iou(&d.mask, &t.rle, false);
                    if same_class && iou >= settings.min_iou && iou > 0.0 {
                        1.0 - iou
                    } else {
                        FORBIDDEN
                    }
                })
                .collect()
        })
        .collect();
    let assignment = hungarian(&cost);
    let mut matched = Vec::new();
    let mut new = Vec::new();
    for (d, (candidate, column)) in candidates.iter().zip(assignment).enumerate() {
        match column.filter(|&j| cost[d][j] < FORBIDDEN) {
            Some(j) => {
                let id = live[j].object_id;
                if let Some(track) = tracks.get_mut(&id) {
                    track.score = candidate.score;
                    track.misses = 0;
                }
                matched.push(id);
            }
            None => new.push(*candidate),
        }
    }
    for (id, track) in tracks.iter_mut() {
        if !matched.contains(id) {
            track.misses += 1;
        }
    }
    new
}

/// Retires tracks missed on `after` keyframes in a row that are absent now.
fn retire(
    session: &mut VideoSession,
    tracks: &mut BTreeMap<u32, Track>,
    tracked: &PropagatedFrame,
    after: usize,
) {
    let absent = |id: u32| {
        tracked
            .objects
            .iter()
            .find(|o| o.object_id == id)
            .is_none_or(|o| o.object_score <= 0.0)
    };
    let retired: Vec<u32> = tracks
        .iter()
        .filter(|(id, t)| t.misses >= after && absent(**id))
        .map(|(id, _)| *id)
        .collect();
    for id in retired {
        session.remove_object(id);
        tracks.remove(&id);
    }
}

/// Carries the tracks started on one keyframe backward ("label from the
/// future").
struct Backfill {
    /// The keyframe's position in the walked frames.
    position: usize,
    /// How many frames back.
    frames: usize,
    original: [usize; 2],
}

impl Backfill {
    /// Runs the new tracks backward over the frames before the keyframe in a
    /// session of their own (the main session's memories stay forward ones),
    /// adding them to those frames' outputs where they are present.
    fn run(
        &self,
        model: &Sam2VideoModel,
        out: &mut [FrameTracks],
        prompts: &[(u32, VideoPrompt)],
        tracks: &BTreeMap<u32, Track>,
        source: &mut FrameSource,
    ) -> Result<(), Sam2Error> {
        if self.frames == 0 || self.position == 0 {
            return Ok(());
        }
        let mut session = VideoSession::new(self.original, Some(self.position + 1));
        session.add_prompts(model, self.position, prompts, source)?;
        for earlier in (self.position.saturating_sub(self.frames)..self.position).rev() {
            let result = session.track_frame(model, earlier, true, source)?;
            let frame = frame_output(&result, self.original)?;
            out[earlier].objects.extend(tracked_objects(&frame, tracks));
        }
        Ok(())
    }
}

/// The present objects of a frame as track entries.
fn tracked_objects(frame: &PropagatedFrame, tracks: &BTreeMap<u32, Track>) -> Vec<TrackedObject> {
    frame
        .objects
        .iter()
        .filter(|o| o.object_score > 0.0)
        .filter_map(|o| {
            let track = tracks.get(&o.object_id)?;
            Some(TrackedObject {
                track_id: u64::from(o.object_id),
                class: track.class.clone(),
                bbox: o.bbox?,
                score: track.score,
                mask: Some(o.rle.clone()),
            })
        })
        .collect()
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
