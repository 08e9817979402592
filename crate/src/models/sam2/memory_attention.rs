//! The memory attention (`memory_attention.*`): the current frame's image
//! features attend to themselves and then to the memory bank — the spatial
//! memories of earlier frames and the object-pointer tokens — with axial
//! rotary position encodings on the queries and on the spatial keys (not on the
//! pointer tokens).
//!
//! Paper: Ravi et al., "SAM 2", 2024 (§4, "Memory attention"); RoPE: Su et al.,
//! "RoFormer", 2021, in its 2-D axial form. Reference: transformers v5.23.0
//! `models/sam2_video/modeling_sam2_video.py` (`Sam2VideoMemoryAttention`,
//! `Sam2VideoMemoryAttentionLayer`, `Sam2VideoRoPEAttention`,
//! `Sam2VideoVisionRotaryEmbedding`, `apply_rotary_pos_emb_2d`).
//!
//! The attention itself is [`crate::models::kernels::attention`], which never
//! holds the whole score matrix (at steady state a 1024² frame reads ~28k
//! keys: a full f32 matrix would be 449 MiB per layer). The cross-attention
//! mixes the 64-channel memories first and projects the result to the head's
//! width after, which gives the same values with a quarter of the second
//! GEMM's work.

use burn::tensor::{Device, Tensor, TensorData};

use super::layers::{Activation, LayerNorm, Linear};
use super::video_config::{MEMORY_CHANNELS, VideoConfig};
use crate::models::checkpoint::Loader;
use crate::models::kernels::attention;

/// `nn.LayerNorm`'s default epsilon, which the memory attention keeps.
const LAYER_NORM_EPS: f64 = 1e-5;

/// Weight of the current frame's position encoding added to its features.
const POSITION_WEIGHT: f32 = 0.1;

/// The rotary angles of the embedding grid, `[1, 1, h·w, head_dim]` each.
#[derive(Debug, Clone)]
struct Rotary {
    cos: Tensor<4>,
    sin: Tensor<4>,
}

impl Rotary {
    /// Token `n = y·w + x` gets angle `x·θ_i` on channel pairs `i < d/4` and
    /// `y·θ_i` on the next `d/4`, each angle repeated for its (even, odd) pair.
    fn new(c: &VideoConfig, head_dim: usize, device: &Device) -> Self {
        let [w, h] = c.memory_attention_rope_feat_sizes;
        let spatial = head_dim / 2;
        let theta = c.rope_parameters.rope_theta as f32;
        let inv_freq: Vec<f32> = (0..spatial)
            .step_by(2)
            .map(|i| 1.0 / theta.powf(i as f32 / spatial as f32))
            .collect();
        let quarter = inv_freq.len();
        let (mut cos, mut sin) = (Vec::new(), Vec::new());
        for y in 0..h {
            for x in 0..w {
                for axis in [x as f32, y as f32] {
                    for f in &inv_freq {
                        let angle = axis * f;
                        cos.extend([angle.cos(); 2]);
                        sin.extend([angle.sin(); 2]);
                    }
                }
            }
        }
        debug_assert_eq!(cos.len(), h * w * 4 * quarter);
        let shape = [1, 1, h * w, head_dim];
        Rotary {
            cos: Tensor::from_data(TensorData::new(cos, shape), device),
            sin: Tensor::from_data(TensorData::new(sin, shape), device),
        }
    }

    /// `x · cos + rotate_pairwise(x) · sin` over `[B, H, L, d]` where `L` is a
    /// whole number of grids (the angles repeat per grid, as the reference's
    /// `repeat_freqs_k`).
    fn apply(&self, x: Tensor<4>) -> Tensor<4> {
        let [b, heads, l, d] = x.dims();
        let grid = self.cos.dims()[2];
        let repeats = l / grid;
        let (cos, sin) = if repeats == 1 {
            (self.cos.clone(), self.sin.clone())
        } else {
            (
                self.cos.clone().repeat_dim(2, repeats),
                self.sin.clone().repeat_dim(2, repeats),
            )
        };
        let pairs = x.clone().reshape([b, heads, l, d / 2, 2]);
        let even = pairs.clone().narrow(4, 0, 1);
        let odd = pairs.narrow(4, 1, 1);
        let rotated = Tensor::cat(vec![odd.neg(), even], 4).reshape([b, heads, l, d]);
        x * cos + rotated * sin
    }
}

/// `Sam2VideoRoPEAttention`.
#[derive(Debug, Clone)]
struct RopeAttention {
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    o_proj: Linear,
    heads: usize,
}

impl RopeAttention {
    fn load(l: &mut Loader, prefix: &str, c: &VideoConfig, kv_in: usize) -> Self {
        let hidden = c.memory_attention_hidden_size;
        let internal = hidden / c.memory_attention_downsample_rate;
        RopeAttention {
            q_proj: Linear::load(l, &format!("{prefix}.q_proj"), hidden, internal),
            k_proj: Linear::load(l, &format!("{prefix}.k_proj"), kv_in, internal),
            v_proj: Linear::load(l, &format!("{prefix}.v_proj"), kv_in, internal),
            o_proj: Linear::load(l, &format!("{prefix}.o_proj"), internal, hidden),
            heads: c.memory_attention_num_attention_heads,
        }
    }

    /// `[B, L, C] → [B, H, L, d]`.
    fn split(&self, x: Tensor<3>) -> Tensor<4> {
        let [b, l, c] = x.dims();
        x.reshape([b, l, self.heads, c / self.heads])
            .swap_dims(1, 2)
    }

    /// Queries `[B, Lq, C]`, keys `[B, Lk, Ck]`, values `[B, Lk, Ck]`; the
    /// last `unrotated` keys get no rotary encoding.
    fn forward(
        &self,
        query: Tensor<3>,
        key: Tensor<3>,
        value: Tensor<3>,
        rotary: &Rotary,
        unrotated: usize,
    ) -> Tensor<3> {
        let q = rotary.apply(self.split(self.q_proj.forward(query)));
        let k = rotate_keys(self.split(self.k_proj.forward(key)), rotary, unrotated);
        let head_dim = q.dims()[3];
        let out = if self.v_proj.d_in() < head_dim {
            self.attend_then_project_values(q, k, value)
        } else {
            let out = attention(q, k, self.split(self.v_proj.forward(value))); // [B, H, Lq, d]
            let [b, heads, l_q, d] = out.dims();
            out.swap_dims(1, 2).reshape([b, l_q, heads * d])
        };
        self.o_proj.forward(out)
    }

    /// `softmax(q kᵀ) (x W_vᵀ + b_v)` as `(softmax(q kᵀ) x) W_vᵀ + b_v` per
    /// head (each softmax row sums to 1): the same values, with the second
    /// GEMM over the memories' 64 channels instead of the head's 256. Queries
    /// and keys `[B, H, L, d]`, values `[B, Lk, Ck]` → `[B, Lq, H·d]`.
    fn attend_then_project_values(
        &self,
        q: Tensor<4>,
        k: Tensor<4>,
        value: Tensor<3>,
    ) -> Tensor<3> {
        let d = q.dims()[3];
        let value = value.unsqueeze_dim::<4>(1); // [B, 1, Lk, Ck]
        let heads = (0..self.heads)
            .map(|h| {
                let mixed = attention(
                    q.clone().narrow(1, h, 1),
                    k.clone().narrow(1, h, 1),
                    value.clone(),
                );
                self.v_proj
                    .outputs(h * d, d)
                    .forward(mixed.squeeze_dim::<3>(1))
            })
            .collect();
        Tensor::cat(heads, 2)
    }
}

/// Keys `[B, H, Lk, d]` with the rotary encoding on all but the last
/// `unrotated` (the object pointers).
fn rotate_keys(k: Tensor<4>, rotary: &Rotary, unrotated: usize) -> Tensor<4> {
    let l_k = k.dims()[2];
    let rotated = l_k - unrotated;
    if unrotated == 0 {
        rotary.apply(k)
    } else if rotated == 0 {
        k
    } else {
        let spatial = rotary.apply(k.clone().narrow(2, 0, rotated));
        Tensor::cat(vec![spatial, k.narrow(2, rotated, unrotated)], 2)
    }
}

/// `Sam2VideoMemoryAttentionLayer`: self-attention, cross-attention to the
/// memories, MLP; each pre-normed with a residual.
#[derive(Debug, Clone)]
struct MemoryAttentionLayer {
    self_attn: RopeAttention,
    cross_attn_image: RopeAttention,
    linear1: Linear,
    linear2: Linear,
    layer_norm1: LayerNorm,
    layer_norm2: LayerNorm,
    layer_norm3: LayerNorm,
    activation: Activation,
}

impl MemoryAttentionLayer {
    fn load(l: &mut Loader, prefix: &str, c: &VideoConfig) -> Self {
        let hidden = c.memory_attention_hidden_size;
        let ff = c.memory_attention_feed_forward_hidden_size;
        let norm = |l: &mut Loader, i| {
            LayerNorm::load(
                l,
                &format!("{prefix}.layer_norm{i}"),
                hidden,
                LAYER_NORM_EPS,
            )
        };
        MemoryAttentionLayer {
            self_attn: RopeAttention::load(l, &format!("{prefix}.self_attn"), c, hidden),
            cross_attn_image: RopeAttention::load(
                l,
                &format!("{prefix}.cross_attn_image"),
                c,
                MEMORY_CHANNELS,
            ),
            linear1: Linear::load(l, &format!("{prefix}.linear1"), hidden, ff),
            linear2: Linear::load(l, &format!("{prefix}.linear2"), ff, hidden),
            layer_norm1: norm(l, 1),
            layer_norm2: norm(l, 2),
            layer_norm3: norm(l, 3),
            activation: if c.memory_attention_feed_forward_hidden_act == "gelu" {
                Activation::Gelu
            } else {
                Activation::Relu
            },
        }
    }

    fn forward(&self, x: Tensor<3>, memory: &Memory, rotary: &Rotary) -> Tensor<3> {
        let q = self.layer_norm1.forward(x.clone());
        let x = x + self.self_attn.forward(q.clone(), q.clone(), q, rotary, 0);
        let q = self.layer_norm2.forward(x.clone());
        let x = x + self.cross_attn_image.forward(
            q,
            memory.keys.clone(),
            memory.values.clone(),
            rotary,
            memory.pointer_tokens,
        );
        let q = self.layer_norm3.forward(x.clone());
        x.clone()
            + self
                .linear2
                .forward(self.activation.apply(self.linear1.forward(q)))
    }
}

/// The memory bank one frame reads, as key and value inputs.
struct Memory {
    /// Memories plus their position encodings, `[1, M, 64]`.
    keys: Tensor<3>,
    /// Memories, `[1, M, 64]`.
    values: Tensor<3>,
    /// How many of the last tokens are object pointers (no rotary encoding).
    pointer_tokens: usize,
}

/// `Sam2VideoMemoryAttention`.
#[derive(Debug, Clone)]
pub(crate) struct MemoryAttention {
    layers: Vec<MemoryAttentionLayer>,
    layer_norm: LayerNorm,
    rotary: Rotary,
}

impl MemoryAttention {
    pub(crate) fn load(l: &mut Loader, prefix: &str, c: &VideoConfig) -> Self {
        let hidden = c.memory_attention_hidden_size;
        let head_dim =
            hidden / c.memory_attention_downsample_rate / c.memory_attention_num_attention_heads;
        MemoryAttention {
            layers: (0..c.memory_attention_num_layers)
                .map(|i| MemoryAttentionLayer::load(l, &format!("{prefix}.layers.{i}"), c))
                .collect(),
            layer_norm: LayerNorm::load(l, &format!("{prefix}.layer_norm"), hidden, LAYER_NORM_EPS),
            rotary: Rotary::new(c, head_dim, l.device()),
        }
    }

    /// The current frame's features `[1, hw, C]` and their position encoding
    /// `[1, hw, C]` conditioned on `memory [1, M, 64]` (with position encodings
    /// `memory_pos`; the last `pointer_tokens` rows are object pointers) →
    /// `[1, hw, C]`.
    pub(crate) fn forward(
        &self,
        current: Tensor<3>,
        current_pos: Tensor<3>,
        memory: Tensor<3>,
        memory_pos: Tensor<3>,
        pointer_tokens: usize,
    ) -> Tensor<3> {
        let memory = Memory {
            keys: memory.clone() + memory_pos,
            values: memory,
            pointer_tokens,
        };
        let mut x = current + current_pos * POSITION_WEIGHT;
        for layer in &self.layers {
            x = layer.forward(x, &memory, &self.rotary);
        }
        self.layer_norm.forward(x)
    }
}
