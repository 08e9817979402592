//! Propagation: SAM 2's video predictor carries prompted objects through a
//! clip, forward, backward or both, and each frame's masks come out at the
//! frame's size as COCO RLE with the object's presence logit and box.
//!
//! [`propagate`] is `autolabel track`'s stage; it takes prompts as data
//! ([`PropagationPrompt`], the `PROMPTS.json` format) and frames from the
//! caller one at a time, so the CLI and the page share it.
//! [`Tracker`] is the pipeline's track stage with propagation:
//! tracks seeded from keyframe detections, carried through every frame.
//!
//! Reference: transformers v5.23.0 `Sam2VideoProcessor` /
//! `Sam2VideoModel.propagate_in_video_iterator` and `post_process_masks`
//! (bilinear to the frame size, logit > 0).

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use super::segment::{FrameMasks, MaskedObject, SegmentOutput};
use super::skipped::{SkippedFrame, decodable_frames};
use super::track::{FrameTracks, TrackSettings, TrackedObject, hungarian};
use crate::data::clip::{Clip, ClipError};
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

/// A clip as a [`Tracker`]'s frame source: frame `index`'s RGB, or an error
/// naming the frame.
pub fn clip_source(clip: &mut Clip) -> impl FnMut(usize) -> Result<Vec<u8>, Sam2Error> + '_ {
    move |index| {
        clip.frame(index)
            .map(|frame| frame.rgb.into_raw())
            .map_err(|e| Sam2Error::Image(format!("frame {index}: {e}")))
    }
}

/// The frames propagation runs over: the taken frames (clip indices, in
/// order) less those an earlier stage skipped and those that do not decode
/// (checked here, all before the first step: see
/// [`decodable_frames`]); the latter are returned as the track stage's skips.
pub fn frames_to_track(
    clip: &mut Clip,
    taken: &[usize],
    skipped_before: &[SkippedFrame],
) -> Result<(Vec<usize>, Vec<SkippedFrame>), ClipError> {
    let left: Vec<usize> = taken
        .iter()
        .copied()
        .filter(|&i| skipped_before.iter().all(|s| s.frame != i))
        .collect();
    decodable_frames(clip, &left)
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

/// A track the [`Tracker`] carries.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Track {
    class: String,
    /// Its latest detection's score (what the evaluation ranks by).
    score: f64,
    /// Keyframes in a row without a matching detection.
    misses: usize,
}

/// Stage 3 with propagation: tracks seeded from the keyframes' detections and
/// masks and carried through every frame of `frames` (clip indices, in
/// order) by SAM 2's video predictor, one frame per [`step`](Self::step) so
/// that the caller can show progress, stop, and [`save`](Self::save) and
/// [`load`](Self::load) a long run.
///
/// On each keyframe the tracked masks are matched one-to-one to the
/// detections (Hungarian on mask IoU, same class, at least `min_iou`): a match
/// keeps its id; a detection left over starts a new track from its mask,
/// carried `backfill` frames backward too ("label from the future"); a track
/// unmatched for `retire_after` keyframes and absent is retired. A frame's
/// labels are final once no later keyframe can carry a new track back into
/// it: `step` returns them then, in frame order.
pub struct Tracker {
    frames: Vec<usize>,
    keyframes: BTreeMap<usize, FrameMasks>,
    settings: TrackSettings,
    /// `[height, width]` of the frames.
    original: [usize; 2],
    session: VideoSession,
    state: TrackerState,
}

/// What a [`Tracker`] holds besides its session.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct TrackerState {
    /// The position in `frames` of the next frame to run.
    position: usize,
    next_id: u32,
    tracks: BTreeMap<u32, Track>,
    /// Frames run whose labels are not final yet, oldest first.
    open: VecDeque<FrameTracks>,
}

/// Where a track starts: its new id and the mask prompt it starts from.
type Started = Vec<(u32, VideoPrompt)>;

impl Tracker {
    /// A tracker over `frames` (clip indices, in order) seeded by the
    /// keyframes' masks; nothing to do when `masks` has no frame.
    pub fn new(frames: Vec<usize>, masks: &SegmentOutput, settings: TrackSettings) -> Self {
        let original = masks
            .frames
            .first()
            .map_or([0, 0], |f| [f.height as usize, f.width as usize]);
        let frames = if masks.frames.is_empty() {
            Vec::new()
        } else {
            frames
        };
        Tracker {
            session: VideoSession::new(original, Some(frames.len())),
            keyframes: masks.frames.iter().map(|f| (f.frame, f.clone())).collect(),
            frames,
            settings,
            original,
            state: TrackerState {
                next_id: 1,
                ..TrackerState::default()
            },
        }
    }

    /// Frames to walk in all.
    pub fn frames(&self) -> usize {
        self.frames.len()
    }

    /// Frames walked so far.
    pub fn position(&self) -> usize {
        self.state.position
    }

    /// Frames whose labels are final (returned by [`step`](Self::step)).
    pub fn finished_frames(&self) -> usize {
        self.state.position - self.state.open.len()
    }

    /// Whether every frame has been walked.
    pub fn is_done(&self) -> bool {
        self.state.position >= self.frames.len()
    }

    /// Runs the next frame (`source` gives a clip frame's RGB by clip index)
    /// and returns the frames whose labels became final: none at first, all
    /// that are left once the last frame has run.
    pub fn step(
        &mut self,
        model: &Sam2VideoModel,
        source: &mut dyn FnMut(usize) -> Result<Vec<u8>, Sam2Error>,
    ) -> Result<Vec<FrameTracks>, Sam2Error> {
        let position = self.state.position;
        let Some(&clip_index) = self.frames.get(position) else {
            return Ok(Vec::new());
        };
        let frames = &self.frames;
        let mut at = |p: usize| source(frames[p]);
        let result = if self.state.tracks.is_empty() {
            None
        } else {
            Some(self.session.track_frame(model, position, false, &mut at)?)
        };
        let mut tracked = match &result {
            Some(r) => frame_output(r, self.original)?,
            None => PropagatedFrame {
                frame: position,
                objects: Vec::new(),
            },
        };
        if let Some(detected) = self.keyframes.get(&clip_index) {
            let state = &mut self.state;
            let new = match_detections(detected, &tracked, &mut state.tracks, &self.settings);
            // Retired on what the tracker saw, before the new tracks join.
            retire(
                &mut self.session,
                &mut state.tracks,
                &tracked,
                self.settings.retire_after,
            );
            let started = state.start(new);
            if !started.is_empty() {
                let added = self
                    .session
                    .add_objects(model, position, &started, &mut at)?;
                tracked
                    .objects
                    .extend(frame_output(&added, self.original)?.objects);
                let fill = Backfill {
                    position,
                    frames: self.settings.backfill,
                    original: self.original,
                };
                let earlier = fill.run(model, &started, &mut at)?;
                self.state.carry_back(position, earlier);
            }
        }
        let [height, width] = self.original;
        let objects = tracked_objects(&tracked, &self.state.tracks);
        self.state.open.push_back(FrameTracks {
            frame: clip_index,
            width: width as u32,
            height: height as u32,
            objects,
        });
        self.state.position += 1;
        Ok(self.finished())
    }

    /// The open frames no later keyframe can reach any more.
    fn finished(&mut self) -> Vec<FrameTracks> {
        let keep = if self.is_done() {
            0
        } else {
            self.settings.backfill
        };
        let n = self.state.open.len().saturating_sub(keep);
        self.state.open.drain(..n).collect()
    }

    /// The tracker as bytes, between steps (see [`VideoSession::save`]).
    pub fn save(&self) -> Result<Vec<u8>, Sam2Error> {
        let state =
            serde_json::to_string(&self.state).map_err(|e| Sam2Error::Snapshot(e.to_string()))?;
        self.session.save(&state)
    }

    /// A tracker [`save`](Self::save)d by a run over the same `frames`,
    /// `masks` and `settings`; its tensors on `model`'s device. It goes on
    /// exactly as the saved one would have.
    pub fn load(
        bytes: &[u8],
        model: &Sam2VideoModel,
        frames: Vec<usize>,
        masks: &SegmentOutput,
        settings: TrackSettings,
    ) -> Result<Self, Sam2Error> {
        let mut tracker = Tracker::new(frames, masks, settings);
        let (session, state) = VideoSession::load(bytes, model.device())?;
        let state: TrackerState =
            serde_json::from_str(&state).map_err(|e| Sam2Error::Snapshot(e.to_string()))?;
        let (saved, now) = (session.original(), tracker.original);
        let frames = tracker.frames.len();
        if state.position > frames || session.num_frames() != Some(frames) || saved != now {
            return Err(Sam2Error::Snapshot(format!(
                "saved at frame {} of {:?} frames of {}×{}; this run has {frames} frames of {}×{}",
                state.position,
                session.num_frames(),
                saved[1],
                saved[0],
                now[1],
                now[0],
            )));
        }
        tracker.session = session;
        tracker.state = state;
        Ok(tracker)
    }
}

impl TrackerState {
    /// New tracks for the detections left over, with their prompts.
    fn start(&mut self, new: Vec<&MaskedObject>) -> Started {
        new.into_iter()
            .map(|object| {
                let id = self.next_id;
                self.next_id += 1;
                let track = Track {
                    class: object.class.clone(),
                    score: object.score,
                    misses: 0,
                };
                self.tracks.insert(id, track);
                (id, VideoPrompt::Mask(object.mask.decode()))
            })
            .collect()
    }

    /// Adds the new tracks carried backward from the keyframe at `position`
    /// to the open frames they reached.
    fn carry_back(&mut self, position: usize, earlier: Vec<PropagatedFrame>) {
        let first_open = position - self.open.len();
        for frame in earlier {
            if let Some(open) = frame
                .frame
                .checked_sub(first_open)
                .and_then(|i| self.open.get_mut(i))
            {
                open.objects.extend(tracked_objects(&frame, &self.tracks));
            }
        }
    }
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
    /// session of their own (the main session's memories stay forward ones):
    /// their outputs on those frames, by position.
    fn run(
        &self,
        model: &Sam2VideoModel,
        prompts: &[(u32, VideoPrompt)],
        source: &mut FrameSource,
    ) -> Result<Vec<PropagatedFrame>, Sam2Error> {
        if self.frames == 0 || self.position == 0 {
            return Ok(Vec::new());
        }
        let mut session = VideoSession::new(self.original, Some(self.position + 1));
        session.add_prompts(model, self.position, prompts, source)?;
        (self.position.saturating_sub(self.frames)..self.position)
            .rev()
            .map(|earlier| {
                let result = session.track_frame(model, earlier, true, source)?;
                frame_output(&result, self.original)
            })
            .collect()
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
