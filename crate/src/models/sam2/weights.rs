//! Reading a transformers-format `model.safetensors` into the SAM 2 modules.
//!
//! Paper: Ravi et al., "SAM 2", 2024. Reference: the key names of transformers'
//! `models/sam2/modeling_sam2.py` (`Sam2Model.state_dict()`), which are the names
//! of the official `facebook/sam2.1-hiera-*` files. Every module asks the
//! [`Loader`] for its tensors by their checkpoint key and expected shape; the
//! loader converts F32/F16/BF16 to f32, and collects every missing key, shape or
//! dtype mismatch and unused key, so one error lists all that is wrong.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use burn::tensor::{Device, Tensor, TensorData, bf16, f16};
use safetensors::{Dtype, SafeTensors};

use super::Sam2Error;

/// Keys of the video model (`Sam2VideoModel`) that the image model does not
/// use; the official checkpoints hold both. Mirrors
/// `Sam2PreTrainedModel._keys_to_ignore_on_load_unexpected`.
const VIDEO_ONLY_PREFIXES: &[&str] = &[
    "memory_",
    "mask_downsample",
    "object_pointer_proj",
    "temporal_positional_encoding_projection_layer",
    "no_memory_positional_encoding",
    "no_object_pointer",
    "occlusion_spatial_embedding_parameter",
];

/// What is wrong with a checkpoint, all at once.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WeightProblems {
    /// Keys the model needs that the file lacks.
    pub missing: Vec<String>,
    /// Keys in the file the model does not use (video-only keys excluded).
    pub unexpected: Vec<String>,
    /// `key 'x' expected [a, b], got [c, d]` and unsupported dtypes.
    pub mismatched: Vec<String>,
}

impl WeightProblems {
    fn is_empty(&self) -> bool {
        self.missing.is_empty() && self.unexpected.is_empty() && self.mismatched.is_empty()
    }
}

impl fmt::Display for WeightProblems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 20;
        let mut first = true;
        for (label, list) in [
            ("mismatched", &self.mismatched),
            ("missing", &self.missing),
            ("unexpected", &self.unexpected),
        ] {
            if list.is_empty() {
                continue;
            }
            if !first {
                write!(f, "; ")?;
            }
            first = false;
            write!(f, "{} {label}: ", list.len())?;
            for (i, item) in list.iter().take(SHOWN).enumerate() {
                if i > 0 {
                    write!(f, ", ")?;
                }
                if label == "mismatched" {
                    write!(f, "{item}")?;
                } else {
                    write!(f, "'{item}'")?;
                }
            }
            if list.len() > SHOWN {
                write!(f, ", … ({} more)", list.len() - SHOWN)?;
            }
        }
        Ok(())
    }
}

/// Hands out checkpoint tensors by key, checking shapes.
pub(crate) struct Loader<'a> {
    file: SafeTensors<'a>,
    device: Device,
    used: BTreeSet<String>,
    problems: WeightProblems,
}

impl<'a> Loader<'a> {
    /// Parses the safetensors header of `bytes`.
    pub(crate) fn new(bytes: &'a [u8], device: &Device) -> Result<Self, Sam2Error> {
        let file =
            SafeTensors::deserialize(bytes).map_err(|e| Sam2Error::Safetensors(e.to_string()))?;
        Ok(Loader {
            file,
            device: device.clone(),
            used: BTreeSet::new(),
            problems: WeightProblems::default(),
        })
    }

    /// The tensor stored under `key`, which must have shape `shape`. A missing
    /// or mismatched tensor is recorded and replaced by zeros so loading goes on
    /// and every problem is reported together by [`Loader::finish`].
    pub(crate) fn tensor<const D: usize>(&mut self, key: &str, shape: [usize; D]) -> Tensor<D> {
        match self.read(key, &shape) {
            Ok(values) => Tensor::from_data(TensorData::new(values, shape), &self.device),
            Err(problem) => {
                match problem {
                    Problem::Missing => self.problems.missing.push(key.to_string()),
                    Problem::Mismatch(m) => self.problems.mismatched.push(m),
                }
                Tensor::zeros(shape, &self.device)
            }
        }
    }

    fn read(&mut self, key: &str, shape: &[usize]) -> Result<Vec<f32>, Problem> {
        let view = self.file.tensor(key).map_err(|_| Problem::Missing)?;
        self.used.insert(key.to_string());
        if view.shape() != shape {
            return Err(Problem::Mismatch(format!(
                "key '{key}' expected {shape:?}, got {:?}",
                view.shape()
            )));
        }
        let bytes = view.data();
        let values = match view.dtype() {
            Dtype::F32 => bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            Dtype::F16 => bytes
                .chunks_exact(2)
                .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            Dtype::BF16 => bytes
                .chunks_exact(2)
                .map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            other => {
                return Err(Problem::Mismatch(format!(
                    "key '{key}' has dtype {other:?}, expected F32, F16 or BF16"
                )));
            }
        };
        Ok(values)
    }

    /// Fails with every problem met, and every key of the file that no module
    /// asked for (the video model's keys excepted).
    pub(crate) fn finish(mut self) -> Result<(), Sam2Error> {
        let mut unexpected: Vec<String> = self
            .file
            .names()
            .into_iter()
            .filter(|k| !self.used.contains(*k))
            .filter(|k| !VIDEO_ONLY_PREFIXES.iter().any(|p| k.starts_with(p)))
            .map(str::to_string)
            .collect();
        unexpected.sort();
        self.problems.unexpected = unexpected;
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(Sam2Error::Weights(self.problems))
        }
    }
}

/// Tensors on the host by key: `(shape, values)`.
pub type HostTensors = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// Every tensor of a safetensors file as `(shape, f32 values)`, by key — for
/// fixtures and tools (F32, F16, BF16, U8, I32 and I64 are converted).
pub fn read_all_f32(bytes: &[u8]) -> Result<HostTensors, Sam2Error> {
    let file =
        SafeTensors::deserialize(bytes).map_err(|e| Sam2Error::Safetensors(e.to_string()))?;
    let mut out = BTreeMap::new();
    for (name, view) in file.tensors() {
        let b = view.data();
        let values: Vec<f32> = match view.dtype() {
            Dtype::F32 => b
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            Dtype::F16 => b
                .chunks_exact(2)
                .map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            Dtype::BF16 => b
                .chunks_exact(2)
                .map(|c| bf16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            Dtype::U8 => b.iter().map(|&v| f32::from(v)).collect(),
            Dtype::I32 => b
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f32)
                .collect(),
            Dtype::I64 => b
                .chunks_exact(8)
                .map(|c| {
                    i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32
                })
                .collect(),
            other => {
                return Err(Sam2Error::Safetensors(format!(
                    "key '{name}': unsupported dtype {other:?}"
                )));
            }
        };
        out.insert(name, (view.shape().to_vec(), values));
    }
    Ok(out)
}

enum Problem {
    Missing,
    Mismatch(String),
}
