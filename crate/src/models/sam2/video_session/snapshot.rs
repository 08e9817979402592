//! A [`VideoSession`] saved to bytes and read back, so that a propagation
//! killed part-way continues from its last save with outputs identical to an
//! uninterrupted run (`autolabel run` resumes its track stage this way).
//!
//! The bytes are a safetensors file: per object and stored frame the bf16
//! memory, the pointer and (conditioning frames) the low-resolution mask, all
//! exact; the header's metadata holds the rest of the session as JSON
//! (`session`) and the caller's own state (`caller`). Only what later frames
//! read is saved — the same bounded state the session keeps — so a save is a
//! few MiB per object at 1024², whatever the clip's length. The one-frame
//! encoding cache is not saved: the next frame is a new one.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use burn::tensor::{Device, Tensor, TensorData, bf16};
use safetensors::{Dtype, SafeTensors, tensor::TensorView};
use serde::{Deserialize, Serialize};

use super::{FrameState, TrackedObject, VideoSession};
use crate::models::sam2::Sam2Error;

/// The session's plain fields.
#[derive(Serialize, Deserialize)]
struct SessionHeader {
    num_frames: Option<usize>,
    original: [usize; 2],
    objects: Vec<ObjectHeader>,
}

#[derive(Serialize, Deserialize)]
struct ObjectHeader {
    id: u32,
    cond: Vec<StateHeader>,
    non_cond: Vec<StateHeader>,
    tracked: BTreeSet<usize>,
}

/// One stored frame; its tensors are named by [`Slot`].
#[derive(Serialize, Deserialize)]
struct StateHeader {
    frame: usize,
    object_score: f32,
    memory: bool,
    low_res: bool,
}

const SESSION: &str = "session";
const CALLER: &str = "caller";

/// Where one stored frame's tensors are: `objects.{object}.{kind}.{slot}.{part}`.
struct Slot<'a> {
    object: usize,
    kind: &'a str,
    slot: usize,
}

impl Slot<'_> {
    fn name(&self, part: &str) -> String {
        format!("objects.{}.{}.{}.{part}", self.object, self.kind, self.slot)
    }
}

fn snapshot_error(e: impl std::fmt::Display) -> Sam2Error {
    Sam2Error::Snapshot(e.to_string())
}

/// A tensor's bytes ready for the file.
struct Owned {
    dtype: Dtype,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl Owned {
    fn f32<const D: usize>(tensor: &Tensor<D>) -> Result<Self, Sam2Error> {
        let shape = tensor.dims().to_vec();
        let values = tensor
            .clone()
            .into_data()
            .try_into_vec::<f32>()
            .map_err(|e| Sam2Error::Readback(format!("{e:?}")))?;
        let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        Ok(Owned {
            dtype: Dtype::F32,
            shape,
            bytes,
        })
    }

    fn bf16(values: &[bf16]) -> Self {
        Owned {
            dtype: Dtype::BF16,
            shape: vec![values.len()],
            bytes: values
                .iter()
                .flat_map(|v| v.to_bits().to_le_bytes())
                .collect(),
        }
    }

    fn view(&self) -> Result<TensorView<'_>, Sam2Error> {
        TensorView::new(self.dtype, self.shape.clone(), &self.bytes).map_err(snapshot_error)
    }
}

impl VideoSession {
    /// The session as bytes, with `caller` (the caller's own state, e.g. its
    /// tracks as JSON) kept beside it. Only between frames: a prompt queued
    /// and not yet run is refused.
    pub fn save(&self, caller: &str) -> Result<Vec<u8>, Sam2Error> {
        if !self.new_inputs.is_empty() || self.objects.iter().any(|o| !o.pending.is_empty()) {
            return Err(Sam2Error::Snapshot(
                "a prompt is waiting to be run: save between frames".into(),
            ));
        }
        let mut tensors = Vec::new();
        let objects = self
            .objects
            .iter()
            .enumerate()
            .map(|(i, object)| object_header(i, object, &mut tensors))
            .collect::<Result<_, _>>()?;
        let header = SessionHeader {
            num_frames: self.num_frames,
            original: self.original,
            objects,
        };
        let metadata = HashMap::from([
            (
                SESSION.to_string(),
                serde_json::to_string(&header).map_err(snapshot_error)?,
            ),
            (CALLER.to_string(), caller.to_string()),
        ]);
        let views = tensors
            .iter()
            .map(|(name, owned)| Ok((name.clone(), owned.view()?)))
            .collect::<Result<Vec<_>, Sam2Error>>()?;
        safetensors::serialize(views, Some(metadata)).map_err(snapshot_error)
    }

    /// A session [`save`](Self::save)d before, with its tensors on `device`,
    /// and the caller's state saved with it.
    pub fn load(bytes: &[u8], device: &Device) -> Result<(Self, String), Sam2Error> {
        let (_, metadata) = SafeTensors::read_metadata(bytes).map_err(snapshot_error)?;
        let fields = metadata.metadata().as_ref();
        let field = |key: &str| {
            fields
                .and_then(|m| m.get(key))
                .ok_or_else(|| Sam2Error::Snapshot(format!("no '{key}' in the header")))
        };
        let header: SessionHeader =
            serde_json::from_str(field(SESSION)?).map_err(snapshot_error)?;
        let caller = field(CALLER)?.clone();
        let file = SafeTensors::deserialize(bytes).map_err(snapshot_error)?;
        let objects = header
            .objects
            .into_iter()
            .enumerate()
            .map(|(i, object)| read_object(&file, i, object, device))
            .collect::<Result<_, _>>()?;
        let session = VideoSession {
            num_frames: header.num_frames,
            original: header.original,
            objects,
            new_inputs: Vec::new(),
            cached: None,
            ablation: None,
        };
        Ok((session, caller))
    }
}

fn object_header(
    index: usize,
    object: &TrackedObject,
    tensors: &mut Vec<(String, Owned)>,
) -> Result<ObjectHeader, Sam2Error> {
    let mut states = |kind: &str, frames: Vec<(usize, &FrameState)>| {
        frames
            .into_iter()
            .enumerate()
            .map(|(slot, (frame, state))| {
                let at = Slot {
                    object: index,
                    kind,
                    slot,
                };
                state_header(frame, state, &at, tensors)
            })
            .collect::<Result<Vec<_>, Sam2Error>>()
    };
    let cond = states("cond", object.cond.iter().map(|(f, s)| (*f, s)).collect())?;
    let non_cond = states(
        "non_cond",
        object.non_cond.iter().map(|(f, s)| (*f, s)).collect(),
    )?;
    Ok(ObjectHeader {
        id: object.id,
        cond,
        non_cond,
        tracked: object.tracked.clone(),
    })
}

fn state_header(
    frame: usize,
    state: &FrameState,
    at: &Slot,
    tensors: &mut Vec<(String, Owned)>,
) -> Result<StateHeader, Sam2Error> {
    if !state.object_score.is_finite() {
        return Err(Sam2Error::NonFinite("object scores"));
    }
    tensors.push((at.name("pointer"), Owned::f32(&state.pointer)?));
    if let Some(memory) = &state.memory {
        tensors.push((at.name("memory"), Owned::bf16(memory)));
    }
    if let Some(low_res) = &state.low_res {
        tensors.push((at.name("low_res"), Owned::f32(low_res)?));
    }
    Ok(StateHeader {
        frame,
        object_score: state.object_score,
        memory: state.memory.is_some(),
        low_res: state.low_res.is_some(),
    })
}

fn read_object(
    file: &SafeTensors,
    index: usize,
    header: ObjectHeader,
    device: &Device,
) -> Result<TrackedObject, Sam2Error> {
    let states = |kind: &str, headers: Vec<StateHeader>| {
        headers
            .into_iter()
            .enumerate()
            .map(|(slot, h)| {
                let at = Slot {
                    object: index,
                    kind,
                    slot,
                };
                Ok((h.frame, read_state(file, &h, &at, device)?))
            })
            .collect::<Result<Vec<_>, Sam2Error>>()
    };
    let cond = states("cond", header.cond)?;
    let non_cond: BTreeMap<usize, FrameState> =
        states("non_cond", header.non_cond)?.into_iter().collect();
    Ok(TrackedObject {
        id: header.id,
        cond,
        non_cond,
        pending: BTreeMap::new(),
        tracked: header.tracked,
    })
}

fn read_state(
    file: &SafeTensors,
    header: &StateHeader,
    at: &Slot,
    device: &Device,
) -> Result<FrameState, Sam2Error> {
    let memory = header
        .memory
        .then(|| read_bf16(file, &at.name("memory")))
        .transpose()?;
    let low_res = header
        .low_res
        .then(|| read_f32::<4>(file, &at.name("low_res"), device))
        .transpose()?;
    Ok(FrameState {
        memory,
        pointer: read_f32::<2>(file, &at.name("pointer"), device)?,
        object_score: header.object_score,
        low_res,
    })
}

fn view<'a>(file: &'a SafeTensors, name: &str, dtype: Dtype) -> Result<TensorView<'a>, Sam2Error> {
    let view = file.tensor(name).map_err(snapshot_error)?;
    if view.dtype() != dtype {
        return Err(Sam2Error::Snapshot(format!(
            "{name} is {:?}, expected {dtype:?}",
            view.dtype()
        )));
    }
    Ok(view)
}

fn read_bf16(file: &SafeTensors, name: &str) -> Result<Vec<bf16>, Sam2Error> {
    let view = view(file, name, Dtype::BF16)?;
    Ok(view
        .data()
        .chunks_exact(2)
        .map(|b| bf16::from_bits(u16::from_le_bytes([b[0], b[1]])))
        .collect())
}

fn read_f32<const D: usize>(
    file: &SafeTensors,
    name: &str,
    device: &Device,
) -> Result<Tensor<D>, Sam2Error> {
    let view = view(file, name, Dtype::F32)?;
    if view.shape().len() != D {
        return Err(Sam2Error::Snapshot(format!(
            "{name} has {} dimensions, expected {D}",
            view.shape().len()
        )));
    }
    let values: Vec<f32> = view
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Ok(Tensor::from_data(
        TensorData::new(values, view.shape().to_vec()),
        device,
    ))
}
