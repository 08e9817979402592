//! The building blocks Grounding DINO's sub-networks share: group norm,
//! convolution, scaled dot-product attention with an additive
//! bias, `GroundingDinoMultiheadAttention`, and the sinusoidal embeddings of
//! coordinates — each loaded from its checkpoint keys — and the linear and
//! layer norm every port shares (`models/layers.rs`).
//!
//! Paper: Liu et al., "Grounding DINO", 2023. Reference: transformers
//! `models/grounding_dino/modeling_grounding_dino.py`
//! (`GroundingDinoMultiheadAttention`, `encode_sinusoidal_position_embedding`)
//! and the PyTorch `nn.GroupNorm` / `nn.Conv2d` it uses.

use std::f64::consts::PI;

use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Tensor, TensorData};

use crate::models::checkpoint::Loader;
pub(crate) use crate::models::layers::{LayerNorm, Linear, attend, merge_heads, split_heads};

/// `nn.GroupNorm(groups, channels)` on `[B, C, H, W]` (eps 1e-5).
#[derive(Debug, Clone)]
pub(crate) struct GroupNorm {
    gamma: Tensor<1>,
    beta: Tensor<1>,
    groups: usize,
}

impl GroupNorm {
    pub(crate) fn load(l: &mut Loader, prefix: &str, channels: usize, groups: usize) -> Self {
        GroupNorm {
            gamma: l.tensor(&format!("{prefix}.weight"), [channels]),
            beta: l.tensor(&format!("{prefix}.bias"), [channels]),
            groups,
        }
    }

    pub(crate) fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [b, c, h, w] = x.dims();
        let grouped = x.reshape([b, self.groups, (c / self.groups) * h * w]);
        let (var, mean) = grouped.clone().var_mean_bias(2);
        let normed = (grouped - mean) / (var + 1e-5).sqrt();
        let normed = normed.reshape([b, c, h, w]);
        normed * self.gamma.clone().reshape([1, c, 1, 1]) + self.beta.clone().reshape([1, c, 1, 1])
    }
}

/// `nn.Conv2d` with a square kernel.
#[derive(Debug, Clone)]
pub(crate) struct Conv2d {
    weight: Tensor<4>,
    bias: Tensor<1>,
    stride: usize,
    padding: usize,
}

impl Conv2d {
    /// `kernel`, `stride` and `padding` are the same along both axes.
    pub(crate) fn load(
        l: &mut Loader,
        prefix: &str,
        [c_in, c_out]: [usize; 2],
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> Self {
        Conv2d {
            weight: l.tensor(&format!("{prefix}.weight"), [c_out, c_in, kernel, kernel]),
            bias: l.tensor(&format!("{prefix}.bias"), [c_out]),
            stride,
            padding,
        }
    }

    /// `[B, C_in, H, W]` → `[B, C_out, H', W']`.
    pub(crate) fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        conv2d(
            x,
            self.weight.clone(),
            Some(self.bias.clone()),
            ConvOptions::new([self.stride; 2], [self.padding; 2], [1, 1], 1),
        )
    }
}

/// `GroundingDinoMultiheadAttention`: `query`, `key`, `value`, `out_proj`.
#[derive(Debug, Clone)]
pub(crate) struct MultiheadAttention {
    query: Linear,
    key: Linear,
    value: Linear,
    out_proj: Linear,
    heads: usize,
}

impl MultiheadAttention {
    pub(crate) fn load(l: &mut Loader, prefix: &str, dim: usize, heads: usize) -> Self {
        MultiheadAttention {
            query: Linear::load(l, &format!("{prefix}.query"), dim, dim),
            key: Linear::load(l, &format!("{prefix}.key"), dim, dim),
            value: Linear::load(l, &format!("{prefix}.value"), dim, dim),
            out_proj: Linear::load(l, &format!("{prefix}.out_proj"), dim, dim),
            heads,
        }
    }

    /// `[B, L_q, C]` queries against `[B, L_k, C]` keys and values; `bias`
    /// broadcasts to `[B, H, L_q, L_k]`. Returns `[B, L_q, C]`.
    pub(crate) fn forward(
        &self,
        queries: Tensor<3>,
        keys: Tensor<3>,
        values: Tensor<3>,
        bias: Option<Tensor<4>>,
    ) -> Tensor<3> {
        let q = split_heads(self.query.forward(queries), self.heads);
        let k = split_heads(self.key.forward(keys), self.heads);
        let v = split_heads(self.value.forward(values), self.heads);
        self.out_proj.forward(merge_heads(attend(q, k, v, bias)))
    }
}

/// `encode_sinusoidal_position_embedding` on the host: each of the `n`
/// coordinates becomes `feats` interleaved `sin`/`cos` features of
/// `coord · 2π / temperature^(2⌊i/2⌋/feats)`; with two or more coordinates the
/// first two embeddings swap places (`[y, x, …]`). `coords` is `[rows, n]`
/// row-major; returns `[rows, n · feats]`.
pub(crate) fn sine_embedding_host(coords: &[f32], n: usize, feats: usize) -> Vec<f32> {
    let dim_t: Vec<f32> = (0..feats)
        .map(|i| 10000f32.powf((2 * (i / 2)) as f32 / feats as f32))
        .collect();
    let mut out = Vec::with_capacity(coords.len() * feats);
    for row in coords.chunks_exact(n) {
        let order: Vec<usize> = if n >= 2 {
            [1, 0].into_iter().chain(2..n).collect()
        } else {
            (0..n).collect()
        };
        for c in order {
            let scaled = row[c] * (2.0 * PI) as f32;
            for (i, t) in dim_t.iter().enumerate() {
                let e = scaled / t;
                out.push(if i % 2 == 0 { e.sin() } else { e.cos() });
            }
        }
    }
    out
}

/// [`sine_embedding_host`] on the device for `[B, Q, n]` coordinates:
/// `[B, Q, n · feats]`.
pub(crate) fn sine_embedding(coords: Tensor<3>, feats: usize) -> Tensor<3> {
    let [b, q, n] = coords.dims();
    let device = coords.device();
    let inv_dim_t: Vec<f32> = (0..feats)
        .map(|i| (2.0 * PI) as f32 / 10000f32.powf((2 * (i / 2)) as f32 / feats as f32))
        .collect();
    let inv = Tensor::<1>::from_data(TensorData::new(inv_dim_t, [feats]), &device);
    let parity: Vec<f32> = (0..feats).map(|i| (i % 2) as f32).collect();
    let odd =
        Tensor::<1>::from_data(TensorData::new(parity, [feats]), &device).reshape([1, 1, 1, feats]);
    let e = coords.reshape([b, q, n, 1]) * inv.reshape([1, 1, 1, feats]); // [B, Q, n, feats]
    let mixed = e.clone().sin() * (odd.clone().neg() + 1.0) + e.cos() * odd;
    let per_coord: Vec<Tensor<3>> = (0..n)
        .map(|c| mixed.clone().narrow(2, c, 1).reshape([b, q, feats]))
        .collect();
    let mut order = per_coord;
    if n >= 2 {
        order.swap(0, 1);
    }
    Tensor::cat(order, 2)
}
