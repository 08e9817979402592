//! Reading a transformers-format `model.safetensors` into a model port, as
//! published: every module asks the [`Loader`] for its tensors by checkpoint
//! key and expected shape; the loader converts F32/F16/BF16 to f32 and
//! collects every missing key, shape or dtype mismatch, tensor holding NaN or
//! ±Inf (such weights would give `null` scores and empty masks, silently)
//! and unused key, so one error lists all that is wrong. Each model's `weights.rs` names the keys a
//! published file may hold that the model does not use (its `ignorable`
//! predicate, mirroring the reference's `_keys_to_ignore_on_load_*`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use burn::tensor::{Device, Tensor, TensorData, bf16, f16};
use safetensors::{Dtype, SafeTensors};

/// What is wrong with a checkpoint, all at once.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WeightProblems {
    /// Keys the model needs that the file lacks.
    pub missing: Vec<String>,
    /// Keys in the file the model does not use (ignorable keys excluded).
    pub unexpected: Vec<String>,
    /// `key 'x' expected [a, b], got [c, d]` and unsupported dtypes.
    pub mismatched: Vec<String>,
    /// `key 'x' holds 3 NaN/Inf values (first at element 17)`.
    pub non_finite: Vec<String>,
}

impl WeightProblems {
    fn is_empty(&self) -> bool {
        self.missing.is_empty()
            && self.unexpected.is_empty()
            && self.mismatched.is_empty()
            && self.non_finite.is_empty()
    }
}

impl fmt::Display for WeightProblems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 20;
        let lists = [
            ("mismatched", &self.mismatched, false),
            ("not finite", &self.non_finite, false),
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

/// Hands out checkpoint tensors by key, checking shapes.
pub(crate) struct Loader<'a> {
    file: SafeTensors<'a>,
    device: Device,
    /// Keys the model may leave unread without them being "unexpected".
    ignorable: fn(&str) -> bool,
    used: BTreeSet<String>,
    problems: WeightProblems,
}

impl<'a> Loader<'a> {
    /// Parses the safetensors header of `bytes`; the error is the parser's message.
    pub(crate) fn new(
        bytes: &'a [u8],
        device: &Device,
        ignorable: fn(&str) -> bool,
    ) -> Result<Self, String> {
        let file = SafeTensors::deserialize(bytes).map_err(|e| e.to_string())?;
        Ok(Loader {
            file,
            device: device.clone(),
            ignorable,
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
        let values = self.host(key, &shape);
        Tensor::from_data(TensorData::new(values, shape), &self.device)
    }

    /// Like [`Loader::tensor`], as host values (for tables indexed on the host).
    pub(crate) fn host(&mut self, key: &str, shape: &[usize]) -> Vec<f32> {
        match self.read(key, shape) {
            Ok(values) => values,
            Err(problem) => {
                match problem {
                    Problem::Missing => self.problems.missing.push(key.to_string()),
                    Problem::Mismatch(m) => self.problems.mismatched.push(m),
                    Problem::NonFinite(m) => self.problems.non_finite.push(m),
                }
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
        let values = float_values(view.dtype(), view.data()).ok_or_else(|| {
            Problem::Mismatch(format!(
                "key '{key}' has dtype {:?}, expected F32, F16 or BF16",
                view.dtype()
            ))
        })?;
        match non_finite(&values) {
            Some((count, first)) => Err(Problem::NonFinite(format!(
                "key '{key}' holds {count} NaN/Inf value(s) (first at element {first})"
            ))),
            None => Ok(values),
        }
    }

    /// Fails with every problem met, and every key of the file that no module
    /// asked for (the ignorable keys excepted).
    pub(crate) fn finish(mut self) -> Result<(), WeightProblems> {
        let mut unexpected: Vec<String> = self
            .file
            .names()
            .into_iter()
            .filter(|k| !self.used.contains(*k) && !(self.ignorable)(k))
            .map(str::to_string)
            .collect();
        unexpected.sort();
        self.problems.unexpected = unexpected;
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(self.problems)
        }
    }
}

enum Problem {
    Missing,
    Mismatch(String),
    NonFinite(String),
}

/// How many values are NaN or ±Inf, and the first one's index; `None` if all
/// are finite.
fn non_finite(values: &[f32]) -> Option<(usize, usize)> {
    let first = values.iter().position(|v| !v.is_finite())?;
    let count = values[first..].iter().filter(|v| !v.is_finite()).count();
    Some((count, first))
}

/// Little-endian F32, F16 or BF16 values as f32; `None` for other dtypes.
fn float_values(dtype: Dtype, bytes: &[u8]) -> Option<Vec<f32>> {
    Some(match dtype {
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
        _ => return None,
    })
}

/// Tensors on the host by key: `(shape, values)`.
pub type HostTensors = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// Every tensor of a safetensors file as `(shape, f32 values)`, by key — for
/// fixtures and tools (F32, F16, BF16, U8, I32 and I64 are converted).
pub fn read_all_f32(bytes: &[u8]) -> Result<HostTensors, String> {
    let file = SafeTensors::deserialize(bytes).map_err(|e| e.to_string())?;
    let mut out = BTreeMap::new();
    for (name, view) in file.tensors() {
        let b = view.data();
        let values: Vec<f32> = match view.dtype() {
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
            other => float_values(other, b)
                .ok_or_else(|| format!("key '{name}': unsupported dtype {other:?}"))?,
        };
        out.insert(name, (view.shape().to_vec(), values));
    }
    Ok(out)
}

/// A copy of a safetensors checkpoint with its F32 tensors stored as F16
/// (round to nearest even; magnitudes below 2⁻²⁴ flush to zero): about half
/// the bytes, for the page's browser cache. A tensor holding a finite value
/// beyond F16's ±65504 stays F32, as do other dtypes; the metadata is kept.
/// The [`Loader`] reads the copy as it reads the original, widening F16 to
/// f32.
pub fn half_precision_copy(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let file =
        SafeTensors::deserialize(bytes).map_err(|e| format!("not a safetensors file: {e}"))?;
    let (_, metadata) = SafeTensors::read_metadata(bytes).map_err(|e| e.to_string())?;
    let tensors: Vec<_> = file
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let half = (view.dtype() == Dtype::F32)
                .then(|| f16_bytes(view.data()))
                .flatten();
            (name, view, half)
        })
        .collect();
    let views = tensors.iter().map(|(name, view, half)| {
        let (dtype, data) = match half {
            Some(half) => (Dtype::F16, half.as_slice()),
            None => (view.dtype(), view.data()),
        };
        let view = safetensors::tensor::TensorView::new(dtype, view.shape().to_vec(), data)
            .expect("the original's shape with its own dtype's byte count");
        (name.as_str(), view)
    });
    safetensors::serialize(views, metadata.metadata().clone()).map_err(|e| e.to_string())
}

/// Little-endian F32 bytes as F16 bytes, if every finite value stays finite.
fn f16_bytes(f32_bytes: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(f32_bytes.len() / 2);
    for b in f32_bytes.chunks_exact(4) {
        let value = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        let half = f16::from_f32(value);
        if value.is_finite() && !half.is_finite() {
            return None;
        }
        out.extend_from_slice(&half.to_le_bytes());
    }
    Some(out)
}
