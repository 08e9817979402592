//! Reading a transformers-format `model.safetensors` into the Grounding DINO
//! modules.
//!
//! Paper: Liu et al., "Grounding DINO", 2023. Reference: the on-disk key names
//! of transformers' `GroundingDinoForObjectDetection.save_pretrained`
//! (`models/grounding_dino/modeling_grounding_dino.py`), which are the names of
//! the official `IDEA-Research/grounding-dino-*` files. They differ from the
//! in-memory names: the Swin backbone is written with its old names
//! (`attention.self.query`, `attention.output.dense`, `intermediate.dense`,
//! `output.dense`), and the tied box heads (`bbox_embed.1…`,
//! `model.decoder.bbox_embed.*`) are dropped, so every decoder layer's box
//! head is rebuilt from `bbox_embed.0`. Every module asks the [`Loader`] for
//! its tensors by key and expected shape; the loader converts F32/F16/BF16 to
//! f32 and collects every missing key, shape or dtype mismatch and unused key,
//! so one error lists all that is wrong.

use std::collections::BTreeSet;
use std::fmt;

use burn::tensor::{Device, Tensor, TensorData, bf16, f16};
use safetensors::{Dtype, SafeTensors};

use super::GroundingDinoError;

/// What is wrong with a checkpoint, all at once.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WeightProblems {
    /// Keys the model needs that the file lacks.
    pub missing: Vec<String>,
    /// Keys in the file the model does not use (known ignorable keys excluded).
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
        let lists = [
            ("mismatched", &self.mismatched, false),
            ("missing", &self.missing, true),
            ("unexpected", &self.unexpected, true),
        ];
        let mut first = true;
        for (label, list, quote) in lists {
            if list.is_empty() {
                continue;
            }
            if !first {
                write!(f, "; ")?;
            }
            first = false;
            write!(f, "{} {label}: ", list.len())?;
            for (i, item) in list.iter().take(SHOWN).enumerate() {
                let sep = if i > 0 { ", " } else { "" };
                if quote {
                    write!(f, "{sep}'{item}'")?;
                } else {
                    write!(f, "{sep}{item}")?;
                }
            }
            if list.len() > SHOWN {
                write!(f, ", … ({} more)", list.len() - SHOWN)?;
            }
        }
        Ok(())
    }
}

/// Keys a checkpoint may hold that the model does not need: the tied box-head
/// copies older files still carry, Swin's final `layernorm` (unused by the
/// backbone) and the relative-position index buffers, which are rebuilt from
/// the window size. Mirrors the reference's `_keys_to_ignore_on_load_*` and
/// `_tied_weights_keys`.
fn ignorable(key: &str) -> bool {
    let tied_copy = key
        .strip_prefix("bbox_embed.")
        .and_then(|rest| rest.split('.').next())
        .is_some_and(|layer| layer != "0");
    tied_copy
        || key.starts_with("model.decoder.bbox_embed.")
        || key.contains("swin.layernorm.")
        || key.ends_with("relative_position_index")
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
    pub(crate) fn new(bytes: &'a [u8], device: &Device) -> Result<Self, GroundingDinoError> {
        let file = SafeTensors::deserialize(bytes)
            .map_err(|e| GroundingDinoError::Safetensors(e.to_string()))?;
        Ok(Loader {
            file,
            device: device.clone(),
            used: BTreeSet::new(),
            problems: WeightProblems::default(),
        })
    }

    /// The device tensors are created on.
    pub(crate) fn device(&self) -> &Device {
        &self.device
    }

    /// The tensor stored under `key`, which must have shape `shape`. A missing
    /// or mismatched tensor is recorded and replaced by zeros so loading goes
    /// on and every problem is reported together by [`Loader::finish`].
    pub(crate) fn tensor<const D: usize>(&mut self, key: &str, shape: [usize; D]) -> Tensor<D> {
        match self.read(key, &shape) {
            Ok(values) => Tensor::from_data(TensorData::new(values, shape), &self.device),
            Err(Problem::Missing) => {
                self.problems.missing.push(key.to_string());
                Tensor::zeros(shape, &self.device)
            }
            Err(Problem::Mismatch(m)) => {
                self.problems.mismatched.push(m);
                Tensor::zeros(shape, &self.device)
            }
        }
    }

    /// Like [`Loader::tensor`], as host values (for tables indexed on the host).
    pub(crate) fn host(&mut self, key: &str, shape: &[usize]) -> Vec<f32> {
        match self.read(key, shape) {
            Ok(values) => values,
            Err(Problem::Missing) => {
                self.problems.missing.push(key.to_string());
                vec![0.0; shape.iter().product()]
            }
            Err(Problem::Mismatch(m)) => {
                self.problems.mismatched.push(m);
                vec![0.0; shape.iter().product()]
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
    /// asked for (the ignorable keys excepted).
    pub(crate) fn finish(mut self) -> Result<(), GroundingDinoError> {
        let mut unexpected: Vec<String> = self
            .file
            .names()
            .into_iter()
            .filter(|k| !self.used.contains(*k) && !ignorable(k))
            .map(str::to_string)
            .collect();
        unexpected.sort();
        self.problems.unexpected = unexpected;
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(GroundingDinoError::Weights(self.problems))
        }
    }
}

enum Problem {
    Missing,
    Mismatch(String),
}
