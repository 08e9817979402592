//! The state of one video being tracked, kept apart from the networks (as
//! transformers' `Sam2VideoInferenceSession` / SAM 2's `inference_state`):
//! the objects, their prompts, and per object the memories later frames read.
//!
//! Prompts are added for one object on one frame, and that frame is run at
//! once ([`VideoSession::add_prompt`]), as SAM 2's predictor does; then
//! [`VideoSession::propagate`] carries every object forward or backward from a
//! frame. Frames come from the caller one at a time and are never held: only
//! the last frame's encoding is cached.
//!
//! **Memory flat in clip length.** The reference keeps every frame's outputs
//! (≈16 MiB per frame and object at 1024²). A frame `t` reads only: the
//! conditioning (prompted) frames, the `num_maskmem − 1` frames before it
//! (after it, tracking backward), and the pointers of the last
//! `max_object_pointers_in_encoder − 1` frames. So the session keeps, per
//! object, the conditioning frames' outputs, and of the tracked frames only
//! the bf16 memory and the pointer, and only of frames within that window of
//! the current frame or of a conditioning frame (a backward pass that starts
//! at a prompted frame after a forward pass reads the forward results just
//! after it). A pass that starts at a prompted frame or where the last pass
//! stopped sees exactly what the reference sees; outputs are identical.
//!
//! Reference: transformers v5.23.0 `models/sam2_video/modeling_sam2_video.py`
//! (`Sam2VideoModel.forward`, `_gather_memory_frame_outputs`,
//! `_select_closest_cond_frames`, `_get_object_pointers`,
//! `_batch_encode_memories`, `propagate_in_video_iterator`) and
//! `processing_sam2_video.py` (`add_inputs_to_inference_session`).

use std::collections::{BTreeMap, BTreeSet};

use burn::tensor::{Tensor, TensorData, bf16};

use super::prompt_encoder::PromptTokens;
use super::video::{FrameFeatures, MemoryRead, ObjectStep, Sam2VideoModel, StepInput};
use super::{Sam2Error, processing};
use crate::labels::Prompt;
use crate::labels::mask::Mask;
use crate::models::resample::antialiased_bilinear_resize;

mod snapshot;

/// A prompt for one object on one frame, in original-frame pixels.
#[derive(Debug, Clone, PartialEq)]
pub enum VideoPrompt {
    /// Points (label 1 object, 0 background) and/or a box.
    Points(Prompt),
    /// A mask at the frame's size.
    Mask(Mask),
}

/// One object's result on one frame.
#[derive(Debug, Clone)]
pub struct ObjectFrame {
    pub object_id: u32,
    /// Low-resolution mask logits `[1, 1, 4h, 4w]` (−1024 where absent).
    pub low_res: Tensor<4>,
    /// Object-presence logit (> 0: the object is there).
    pub object_score: f32,
}

/// Every object's result on one frame.
#[derive(Debug, Clone)]
pub struct FrameResult {
    pub frame: usize,
    pub objects: Vec<ObjectFrame>,
}

/// What the session keeps of one object on one frame.
#[derive(Debug, Clone)]
struct FrameState {
    /// The memory `[hw × 64]` in bfloat16, once encoded.
    memory: Option<Vec<bf16>>,
    /// `[1, C]`.
    pointer: Tensor<2>,
    object_score: f32,
    /// Kept for conditioning frames only, whose outputs are reused when a
    /// pass reaches them again.
    low_res: Option<Tensor<4>>,
}

/// One tracked object.
#[derive(Debug, Clone)]
struct TrackedObject {
    id: u32,
    /// Conditioning frames in the order they were first stored.
    cond: Vec<(usize, FrameState)>,
    non_cond: BTreeMap<usize, FrameState>,
    /// The prompt waiting to be run, by frame.
    pending: BTreeMap<usize, StepInput>,
    /// Frames tracked (not prompted) so far: a prompt on one of them is a
    /// correction, read with the memories, not a new start. (A set of
    /// frame numbers: 8 bytes a frame, no tensors.)
    tracked: BTreeSet<usize>,
}

impl TrackedObject {
    fn cond_state(&self, frame: usize) -> Option<&FrameState> {
        self.cond.iter().find(|(f, _)| *f == frame).map(|(_, s)| s)
    }

    fn store(&mut self, frame: usize, state: FrameState, conditioning: bool) {
        if !conditioning {
            self.non_cond.insert(frame, state);
        } else if let Some(slot) = self.cond.iter_mut().find(|(f, _)| *f == frame) {
            slot.1 = state;
        } else {
            self.cond.push((frame, state));
        }
    }

    fn state_mut(&mut self, frame: usize) -> Option<&mut FrameState> {
        if let Some(slot) = self.cond.iter_mut().find(|(f, _)| *f == frame) {
            return Some(&mut slot.1);
        }
        self.non_cond.get_mut(&frame)
    }
}

/// What the session holds of one object on one frame.
#[derive(Debug, Clone, Copy)]
pub struct StoredFrame<'a> {
    /// A prompted (conditioning) frame of the object.
    pub conditioning: bool,
    /// The memory `[hw × 64]`, row-major, in bfloat16.
    pub memory: Option<&'a [bf16]>,
    /// The object pointer `[1, C]`.
    pub pointer: &'a Tensor<2>,
    pub object_score: f32,
}

/// Deliberately wrong trackers, for tests that show the parity fixture
/// catches them. Not for use.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ablation {
    /// Object pointers left out of the memory bank.
    NoObjectPointers,
    /// Every earlier tracked frame read, not the `num_maskmem − 1` window.
    AllPastMemories,
}

/// A video being tracked.
#[derive(Debug, Clone)]
pub struct VideoSession {
    /// Frames in the clip, when known (the pointer window is capped by it).
    num_frames: Option<usize>,
    /// `[height, width]` of the frames.
    original: [usize; 2],
    objects: Vec<TrackedObject>,
    /// Ids of the objects whose latest prompt has not been run yet.
    new_inputs: Vec<u32>,
    /// The last frame encoded.
    cached: Option<(usize, FrameFeatures)>,
    ablation: Option<Ablation>,
}

/// How the caller hands the session a frame: interleaved RGB of the
/// session's size.
pub type FrameSource<'a> = dyn FnMut(usize) -> Result<Vec<u8>, Sam2Error> + 'a;

impl VideoSession {
    /// A session over frames of `[height, width]`; `num_frames` when the
    /// clip's length is known (a stream's is not).
    pub fn new(original: [usize; 2], num_frames: Option<usize>) -> Self {
        VideoSession {
            num_frames,
            original,
            objects: Vec::new(),
            new_inputs: Vec::new(),
            cached: None,
            ablation: None,
        }
    }

    #[doc(hidden)]
    pub fn ablate(&mut self, ablation: Ablation) {
        self.ablation = Some(ablation);
    }

    /// What the session holds of `object_id` on `frame`, if anything (the
    /// conditioning output first where there are both).
    pub fn stored(&self, object_id: u32, frame: usize) -> Option<StoredFrame<'_>> {
        let object = self.objects.iter().find(|o| o.id == object_id)?;
        let (conditioning, state) = match object.cond_state(frame) {
            Some(state) => (true, state),
            None => (false, object.non_cond.get(&frame)?),
        };
        Some(StoredFrame {
            conditioning,
            memory: state.memory.as_deref(),
            pointer: &state.pointer,
            object_score: state.object_score,
        })
    }

    /// `[height, width]` of the frames.
    pub fn original(&self) -> [usize; 2] {
        self.original
    }

    /// Frames in the clip, when known.
    pub fn num_frames(&self) -> Option<usize> {
        self.num_frames
    }

    /// Object ids in the order they were first prompted.
    pub fn object_ids(&self) -> Vec<u32> {
        self.objects.iter().map(|o| o.id).collect()
    }

    /// Frames whose outputs the session holds, over all objects: what stays
    /// bounded however long the clip.
    pub fn stored_frames(&self) -> usize {
        self.objects
            .iter()
            .map(|o| o.cond.len() + o.non_cond.len())
            .sum()
    }

    /// Stops tracking `object_id`: its memories are dropped and later frames
    /// leave it out (SAM 2's `remove_object`).
    pub fn remove_object(&mut self, object_id: u32) {
        self.objects.retain(|o| o.id != object_id);
        self.new_inputs.retain(|&o| o != object_id);
    }

    /// Earliest frame any object was prompted on.
    pub fn first_prompted_frame(&self) -> Option<usize> {
        self.objects
            .iter()
            .flat_map(|o| o.cond.iter().map(|(f, _)| *f))
            .min()
    }

    /// Adds a prompt for `object_id` on `frame` (replacing an earlier one on
    /// that frame) and runs the frame at once, as the reference's
    /// `add_inputs_to_inference_session` followed by `model(frame_idx=…)`.
    pub fn add_prompt(
        &mut self,
        model: &Sam2VideoModel,
        frame: usize,
        object_id: u32,
        prompt: &VideoPrompt,
        frames: &mut FrameSource,
    ) -> Result<FrameResult, Sam2Error> {
        self.add_prompts(model, frame, &[(object_id, prompt.clone())], frames)
    }

    /// Adds a prompt for each of several objects on one frame and runs the
    /// frame once (the reference's `add_inputs_to_inference_session` with a
    /// list of object ids).
    pub fn add_prompts(
        &mut self,
        model: &Sam2VideoModel,
        frame: usize,
        prompts: &[(u32, VideoPrompt)],
        frames: &mut FrameSource,
    ) -> Result<FrameResult, Sam2Error> {
        self.queue_prompts(model, frame, prompts)?;
        self.run_frame(model, frame, false, frames, |_| true)
    }

    /// Starts objects that were not tracked before, each from its prompt on
    /// `frame`, and runs only them on it: the result holds the new objects.
    /// The others' outputs on this frame are what [`add_prompts`] would
    /// recompute (their memories have not changed), so a tracker that has
    /// just run the frame loses nothing by not running it again.
    ///
    /// [`add_prompts`]: Self::add_prompts
    pub fn add_objects(
        &mut self,
        model: &Sam2VideoModel,
        frame: usize,
        prompts: &[(u32, VideoPrompt)],
        frames: &mut FrameSource,
    ) -> Result<FrameResult, Sam2Error> {
        if let Some((id, _)) = prompts
            .iter()
            .find(|(id, _)| self.object_ids().contains(id))
        {
            return Err(Sam2Error::Prompt(format!(
                "object {id} is tracked already: add_objects starts new objects only"
            )));
        }
        self.queue_prompts(model, frame, prompts)?;
        let new: Vec<u32> = prompts.iter().map(|(id, _)| *id).collect();
        self.run_frame(model, frame, false, frames, |o| new.contains(&o.id))
    }

    /// Checks the prompts and holds them for their objects' next run of `frame`.
    fn queue_prompts(
        &mut self,
        model: &Sam2VideoModel,
        frame: usize,
        prompts: &[(u32, VideoPrompt)],
    ) -> Result<(), Sam2Error> {
        if let Some(n) = self.num_frames
            && frame >= n
        {
            return Err(Sam2Error::Prompt(format!(
                "frame {frame} is past the clip's {n} frames"
            )));
        }
        let inputs = prompts
            .iter()
            .map(|(id, prompt)| Ok((*id, self.step_input(model, prompt)?)))
            .collect::<Result<Vec<_>, Sam2Error>>()?;
        self.new_inputs.clear();
        for (object_id, input) in inputs {
            let index = self.object_index(object_id);
            self.objects[index].pending.insert(frame, input);
            self.new_inputs.push(object_id);
        }
        Ok(())
    }

    /// The index of `object_id`, added if new.
    fn object_index(&mut self, object_id: u32) -> usize {
        if let Some(i) = self.objects.iter().position(|o| o.id == object_id) {
            return i;
        }
        self.objects.push(TrackedObject {
            id: object_id,
            cond: Vec::new(),
            non_cond: BTreeMap::new(),
            pending: BTreeMap::new(),
            tracked: BTreeSet::new(),
        });
        self.objects.len() - 1
    }

    /// Runs every object from `start` to the last frame (or, `reverse`, to
    /// frame 0), calling `each` with every frame's result
    /// (`propagate_in_video_iterator`). Starting at frame 0 in reverse does
    /// nothing, as in the reference.
    pub fn propagate(
        &mut self,
        model: &Sam2VideoModel,
        start: usize,
        reverse: bool,
        frames: &mut FrameSource,
        each: &mut dyn FnMut(FrameResult) -> Result<(), Sam2Error>,
    ) -> Result<(), Sam2Error> {
        let Some(n) = self.num_frames else {
            return Err(Sam2Error::Prompt(
                "propagation needs the clip's frame count".into(),
            ));
        };
        if self.objects.is_empty() {
            return Err(Sam2Error::Prompt(
                "no objects to track: add a prompt first".into(),
            ));
        }
        if start >= n {
            return Err(Sam2Error::Prompt(format!(
                "start frame {start} is past the clip's {n} frames"
            )));
        }
        let order: Vec<usize> = if reverse {
            if start == 0 {
                Vec::new()
            } else {
                (0..=start).rev().collect()
            }
        } else {
            (start..n).collect()
        };
        for frame in order {
            let result = self.track_frame(model, frame, reverse, frames)?;
            each(result)?;
        }
        Ok(())
    }

    /// A prompt as the model takes it (`process_new_points_or_boxes_for_video_frame`,
    /// `process_new_mask_for_video_frame`).
    fn step_input(
        &self,
        model: &Sam2VideoModel,
        prompt: &VideoPrompt,
    ) -> Result<StepInput, Sam2Error> {
        let size = model.image_size();
        match prompt {
            VideoPrompt::Points(p) => {
                p.check().map_err(|e| Sam2Error::Prompt(e.to_string()))?;
                if p.points.is_empty() && p.bbox.is_none() {
                    return Err(Sam2Error::Prompt(
                        "a prompt needs points, a box or a mask".into(),
                    ));
                }
                let mut points = Vec::new();
                if let Some(b) = p.bbox {
                    let [x0, y0, x1, y1] =
                        processing::scale_box(b.map(|v| v as f32), self.original, size);
                    points.push(([x0, y0], 2));
                    points.push(([x1, y1], 3));
                }
                for &[x, y, label] in &p.points {
                    let xy = processing::scale_point([x as f32, y as f32], self.original, size);
                    points.push((xy, label as i32));
                }
                Ok(StepInput::Points(PromptTokens { points, bbox: None }))
            }
            VideoPrompt::Mask(mask) => {
                let [height, width] = self.original;
                if (mask.height() as usize, mask.width() as usize) != (height, width) {
                    return Err(Sam2Error::Prompt(format!(
                        "mask prompt is {}×{}, the frames are {width}×{height}",
                        mask.width(),
                        mask.height()
                    )));
                }
                let values: Vec<f32> = mask.data().iter().map(|&v| f32::from(v.min(1))).collect();
                let mask = Tensor::<4>::from_data(
                    TensorData::new(values, [1, 1, height, width]),
                    model.device(),
                );
                let mask = if [height, width] == [size, size] {
                    mask
                } else {
                    antialiased_bilinear_resize(mask, [size, size])
                        .greater_equal_elem(0.5)
                        .float()
                };
                Ok(StepInput::Mask(Box::new(mask)))
            }
        }
    }

    /// `Sam2VideoModel.forward` on one frame, one step of a pass: each object
    /// reuses its conditioning output here, or is run (prompted or tracked);
    /// then the run objects' memories are encoded in one batch.
    pub fn track_frame(
        &mut self,
        model: &Sam2VideoModel,
        frame: usize,
        reverse: bool,
        frames: &mut FrameSource,
    ) -> Result<FrameResult, Sam2Error> {
        self.run_frame(model, frame, reverse, frames, |_| true)
    }

    /// [`track_frame`](Self::track_frame) over the objects `which` selects.
    fn run_frame(
        &mut self,
        model: &Sam2VideoModel,
        frame: usize,
        mut reverse: bool,
        frames: &mut FrameSource,
        which: impl Fn(&TrackedObject) -> bool,
    ) -> Result<FrameResult, Sam2Error> {
        let features = self.features(model, frame, frames)?;
        let mut results = Vec::with_capacity(self.objects.len());
        let mut encode = Vec::new(); // (object index, step, prompted)
        for index in 0..self.objects.len() {
            let object = &self.objects[index];
            if !which(object) {
                continue;
            }
            let has_new = self.new_inputs.contains(&object.id);
            if !has_new && let Some(state) = object.cond_state(frame) {
                results.push(ObjectFrame {
                    object_id: object.id,
                    low_res: state.low_res.clone().ok_or_else(|| {
                        Sam2Error::Readback("conditioning output without its mask".into())
                    })?,
                    object_score: state.object_score,
                });
                continue;
            }
            let mut initial = false;
            let mut input = None;
            if has_new {
                initial = !object.tracked.contains(&frame);
                if initial {
                    reverse = false;
                }
                input = self.objects[index].pending.remove(&frame);
                if input.is_some() {
                    let id = self.objects[index].id;
                    self.new_inputs.retain(|&o| o != id);
                }
            }
            let prompted = input.is_some();
            let memory = if initial {
                None
            } else {
                Some(self.memory_read(model, index, frame, reverse)?)
            };
            let step = model.track_step(&features, input, memory)?;
            let object_score = scalar(&step.object_score)?;
            let object = &mut self.objects[index];
            object.store(
                frame,
                FrameState {
                    memory: None,
                    pointer: step.object_pointer.clone(),
                    object_score,
                    low_res: initial.then(|| step.low_res.clone()),
                },
                initial,
            );
            if !initial {
                object.tracked.insert(frame);
            }
            results.push(ObjectFrame {
                object_id: object.id,
                low_res: step.low_res.clone(),
                object_score,
            });
            encode.push((index, step, prompted));
        }
        self.encode_memories(model, &features, frame, encode)?;
        self.forget(model, frame);
        Ok(FrameResult {
            frame,
            objects: results,
        })
    }

    /// The frame's encoding, from the one-frame cache or the encoder.
    fn features(
        &mut self,
        model: &Sam2VideoModel,
        frame: usize,
        frames: &mut FrameSource,
    ) -> Result<FrameFeatures, Sam2Error> {
        if let Some((cached, features)) = &self.cached
            && *cached == frame
        {
            return Ok(features.clone());
        }
        let [height, width] = self.original;
        let rgb = frames(frame)?;
        if rgb.len() != width * height * 3 {
            return Err(Sam2Error::Image(format!(
                "frame {frame}: {} bytes for a {width}×{height} RGB frame",
                rgb.len()
            )));
        }
        let features = model.encode_frame(&rgb, width, height);
        self.cached = Some((frame, features.clone()));
        Ok(features)
    }

    /// `_batch_encode_memories`.
    fn encode_memories(
        &mut self,
        model: &Sam2VideoModel,
        features: &FrameFeatures,
        frame: usize,
        steps: Vec<(usize, ObjectStep, bool)>,
    ) -> Result<(), Sam2Error> {
        if steps.is_empty() || model.config().video.num_maskmem == 0 {
            return Ok(());
        }
        let from_prompts = steps.iter().any(|s| s.2);
        let high_res = Tensor::cat(steps.iter().map(|s| s.1.high_res.clone()).collect(), 0);
        let scores = Tensor::cat(steps.iter().map(|s| s.1.object_score.clone()).collect(), 0);
        let memories = model.encode_memories(features, high_res, scores, from_prompts)?;
        for ((index, _, _), memory) in steps.into_iter().zip(memories) {
            if let Some(state) = self.objects[index].state_mut(frame) {
                state.memory = Some(memory);
            }
        }
        Ok(())
    }

    /// What object `index` reads on `frame` (`_gather_memory_frame_outputs`,
    /// `_get_object_pointers`).
    fn memory_read(
        &self,
        model: &Sam2VideoModel,
        index: usize,
        frame: usize,
        reverse: bool,
    ) -> Result<MemoryRead, Sam2Error> {
        let v = &model.config().video;
        if v.num_maskmem == 0 {
            return Ok(MemoryRead::default());
        }
        let object = &self.objects[index];
        if object.cond.is_empty() {
            return Err(Sam2Error::Prompt(format!(
                "object {} has no prompted frame to track from",
                object.id
            )));
        }
        let (selected, unselected) = select_closest(&object.cond, frame, v.max_cond_frame_num);
        let mut read = MemoryRead::default();
        let mut push_memory = |state: &FrameState, offset: usize| {
            if let Some(memory) = &state.memory {
                read.spatial.push((model.memory_tensor(memory), offset));
            }
        };
        for &i in &selected {
            push_memory(&object.cond[i].1, 0);
        }
        let farthest = match self.ablation {
            Some(Ablation::AllPastMemories) => self.num_frames.unwrap_or(frame + 1),
            _ => v.num_maskmem,
        };
        for distance in (1..farthest).rev() {
            let Some(previous) = step(frame, distance, reverse) else {
                continue;
            };
            let offset = distance.min(v.num_maskmem - 1);
            let state = object.non_cond.get(&previous).or_else(|| {
                unselected
                    .iter()
                    .map(|&i| &object.cond[i])
                    .find(|(f, _)| *f == previous)
                    .map(|(_, s)| s)
            });
            if let Some(state) = state {
                push_memory(state, offset);
            }
        }
        read.max_pointers = match self.num_frames {
            Some(n) => n.min(v.max_object_pointers_in_encoder),
            None => v.max_object_pointers_in_encoder,
        };
        if self.ablation == Some(Ablation::NoObjectPointers) {
            return Ok(read);
        }
        let sign = if reverse { -1 } else { 1 };
        for (f, state) in &object.cond {
            let eligible = if reverse { *f >= frame } else { *f <= frame };
            if eligible {
                let offset = (frame as i64 - *f as i64) * sign;
                read.pointers.push((state.pointer.clone(), offset));
            }
        }
        for distance in 1..read.max_pointers {
            let Some(reference) = step(frame, distance, reverse) else {
                break;
            };
            if self.num_frames.is_some_and(|n| reference >= n) {
                break;
            }
            if let Some(state) = object.non_cond.get(&reference) {
                read.pointers.push((state.pointer.clone(), distance as i64));
            }
        }
        Ok(read)
    }

    /// Drops what no later frame can read (see the module docs): tracked
    /// frames farther than the memory and pointer windows from `frame` and
    /// from every conditioning frame.
    fn forget(&mut self, model: &Sam2VideoModel, frame: usize) {
        if self.ablation == Some(Ablation::AllPastMemories) {
            return;
        }
        let v = &model.config().video;
        let window = v
            .num_maskmem
            .saturating_sub(1)
            .max(v.max_object_pointers_in_encoder.saturating_sub(1));
        let anchors: BTreeSet<usize> = self
            .objects
            .iter()
            .flat_map(|o| o.cond.iter().map(|(f, _)| *f))
            .chain([frame])
            .collect();
        let near = |f: usize| anchors.iter().any(|&a| f.abs_diff(a) <= window);
        for object in &mut self.objects {
            object.non_cond.retain(|&f, _| near(f));
        }
    }
}

/// `frame ∓ distance` (minus going forward), if that is a frame.
fn step(frame: usize, distance: usize, reverse: bool) -> Option<usize> {
    if reverse {
        Some(frame + distance)
    } else {
        frame.checked_sub(distance)
    }
}

/// `_select_closest_cond_frames`: indices into `cond` of the conditioning
/// frames read (all, or the closest before, the closest at-or-after, then the
/// nearest others up to `max`), and of those not read.
fn select_closest(
    cond: &[(usize, FrameState)],
    frame: usize,
    max: i64,
) -> (Vec<usize>, Vec<usize>) {
    let all: Vec<usize> = (0..cond.len()).collect();
    if max == -1 || cond.len() <= max as usize {
        return (all, Vec::new());
    }
    let mut selected = Vec::new();
    let before = all
        .iter()
        .copied()
        .filter(|&i| cond[i].0 < frame)
        .max_by_key(|&i| cond[i].0);
    let after = all
        .iter()
        .copied()
        .filter(|&i| cond[i].0 >= frame)
        .min_by_key(|&i| cond[i].0);
    selected.extend(before);
    selected.extend(after);
    let mut rest: Vec<usize> = all
        .iter()
        .copied()
        .filter(|i| !selected.contains(i))
        .collect();
    rest.sort_by_key(|&i| cond[i].0.abs_diff(frame));
    // `sorted(...)[:max - len(selected)]`: with a limit of 1 and frames on both
    // sides the count is −1, and Python's slice then keeps all but the farthest.
    let remaining = max - selected.len() as i64;
    let keep = if remaining >= 0 {
        (remaining as usize).min(rest.len())
    } else {
        rest.len().saturating_sub(remaining.unsigned_abs() as usize)
    };
    selected.extend(rest.into_iter().take(keep));
    let unselected = all.into_iter().filter(|i| !selected.contains(i)).collect();
    (selected, unselected)
}

/// The one value of a `[1, 1]` tensor.
fn scalar(t: &Tensor<2>) -> Result<f32, Sam2Error> {
    t.clone()
        .into_data()
        .try_into_vec::<f32>()
        .map_err(|e| Sam2Error::Readback(format!("{e:?}")))?
        .first()
        .copied()
        .ok_or_else(|| Sam2Error::Readback("empty object score".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    /// `_select_closest_cond_frames` on the cases the fixture script recorded
    /// from the reference (`cond_select.json`): which conditioning frames a
    /// frame reads when `max_cond_frame_num` limits them, in the reference's order.
    #[test]
    fn closest_conditioning_frames_are_the_references() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../models/fixtures/sam2-video-tiny/cond_select.json"
        );
        let cases: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).expect("cond_select.json"))
                .expect("JSON");
        let frames = |v: &serde_json::Value| -> Vec<usize> {
            v.as_array()
                .expect("list")
                .iter()
                .map(|f| f.as_u64().expect("frame") as usize)
                .collect()
        };
        let pointer = Tensor::<2>::zeros([1, 1], &Device::flex());
        for case in cases.as_array().expect("cases") {
            let cond: Vec<(usize, FrameState)> = frames(&case["cond_frames"])
                .into_iter()
                .map(|f| {
                    let state = FrameState {
                        memory: None,
                        pointer: pointer.clone(),
                        object_score: 0.0,
                        low_res: None,
                    };
                    (f, state)
                })
                .collect();
            let frame = case["frame"].as_u64().expect("frame") as usize;
            let max = case["max_cond_frame_num"].as_i64().expect("max");
            let (selected, unselected) = select_closest(&cond, frame, max);
            let as_frames =
                |indices: Vec<usize>| indices.into_iter().map(|i| cond[i].0).collect::<Vec<_>>();
            assert_eq!(as_frames(selected), frames(&case["selected"]), "{case}");
            let mut unselected = as_frames(unselected);
            unselected.sort_unstable();
            let mut want = frames(&case["unselected"]);
            want.sort_unstable();
            assert_eq!(unselected, want, "{case}");
        }
    }
}
