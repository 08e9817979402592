//! The CLIP transformer encoder both OWLv2 towers run
//! (`<tower>.encoder.layers.i`): pre-norm layers of multi-head self-attention
//! and a quick-GELU MLP, each around a residual.
//!
//! Papers: Radford et al., "Learning Transferable Visual Models From Natural
//! Language Supervision" (CLIP), 2021; Minderer et al., "Scaling
//! Open-Vocabulary Object Detection", 2023. Reference: transformers v5.23.0
//! `models/owlv2/modeling_owlv2.py` (`Owlv2Attention`, `Owlv2MLP`,
//! `Owlv2EncoderLayer`, `Owlv2Encoder`).

use burn::tensor::Tensor;

use super::config::{Owlv2TextConfig, Owlv2VisionConfig};
use crate::models::checkpoint::Loader;
use crate::models::kernels::{add, attention, quick_gelu};
use crate::models::layers::{LayerNorm, Linear, attend, merge_heads, split_heads};

/// The widths of one tower's encoder.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EncoderShape {
    pub(crate) hidden: usize,
    pub(crate) intermediate: usize,
    pub(crate) heads: usize,
    pub(crate) layers: usize,
    pub(crate) eps: f64,
}

impl From<&Owlv2TextConfig> for EncoderShape {
    fn from(c: &Owlv2TextConfig) -> Self {
        let widths = (c.hidden_size, c.intermediate_size, c.num_attention_heads);
        EncoderShape::new(widths, c.num_hidden_layers, c.layer_norm_eps)
    }
}

impl From<&Owlv2VisionConfig> for EncoderShape {
    fn from(c: &Owlv2VisionConfig) -> Self {
        let widths = (c.hidden_size, c.intermediate_size, c.num_attention_heads);
        EncoderShape::new(widths, c.num_hidden_layers, c.layer_norm_eps)
    }
}

impl EncoderShape {
    /// `(hidden, intermediate, heads)` widths, `layers` deep.
    fn new((hidden, intermediate, heads): (usize, usize, usize), layers: usize, eps: f64) -> Self {
        EncoderShape {
            hidden,
            intermediate,
            heads,
            layers,
            eps,
        }
    }
}

/// `Owlv2EncoderLayer`.
#[derive(Debug, Clone)]
struct Layer {
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    out_proj: Linear,
    layer_norm1: LayerNorm,
    fc1: Linear,
    fc2: Linear,
    layer_norm2: LayerNorm,
    heads: usize,
}

impl Layer {
    fn load(l: &mut Loader, prefix: &str, s: EncoderShape) -> Self {
        let (h, f) = (s.hidden, s.intermediate);
        let attn = |name: &str| format!("{prefix}.self_attn.{name}");
        Layer {
            q_proj: Linear::load(l, &attn("q_proj"), h, h),
            k_proj: Linear::load(l, &attn("k_proj"), h, h),
            v_proj: Linear::load(l, &attn("v_proj"), h, h),
            out_proj: Linear::load(l, &attn("out_proj"), h, h),
            layer_norm1: LayerNorm::load(l, &format!("{prefix}.layer_norm1"), h, s.eps),
            fc1: Linear::load(l, &format!("{prefix}.mlp.fc1"), h, f),
            fc2: Linear::load(l, &format!("{prefix}.mlp.fc2"), f, h),
            layer_norm2: LayerNorm::load(l, &format!("{prefix}.layer_norm2"), h, s.eps),
            heads: s.heads,
        }
    }

    /// `[B, L, C]` → `[B, L, C]`; `bias` `[B, 1, L, L]` is added to the
    /// attention scores (the text tower's causal mask).
    fn forward(&self, x: Tensor<3>, bias: Option<&Tensor<4>>) -> Tensor<3> {
        let normed = self.layer_norm1.forward(x.clone());
        let q = split_heads(self.q_proj.forward(normed.clone()), self.heads);
        let k = split_heads(self.k_proj.forward(normed.clone()), self.heads);
        let v = split_heads(self.v_proj.forward(normed), self.heads);
        let context = match bias {
            Some(bias) => attend(q, k, v, Some(bias.clone())),
            None => attention(q, k, v),
        }; // [B, H, L, d]
        let x = add(x, self.out_proj.forward(merge_heads(context)));
        let hidden = quick_gelu(self.fc1.forward(self.layer_norm2.forward(x.clone())));
        add(x, self.fc2.forward(hidden))
    }
}

/// `Owlv2Encoder`: the layers in order.
#[derive(Debug, Clone)]
pub(crate) struct Encoder {
    layers: Vec<Layer>,
}

impl Encoder {
    pub(crate) fn load(l: &mut Loader, prefix: &str, shape: EncoderShape) -> Self {
        Encoder {
            layers: (0..shape.layers)
                .map(|i| Layer::load(l, &format!("{prefix}.layers.{i}"), shape))
                .collect(),
        }
    }

    /// `[B, L, C]` → `[B, L, C]`, with an optional additive attention bias
    /// `[B, 1, L, L]`.
    pub(crate) fn forward(&self, mut x: Tensor<3>, bias: Option<&Tensor<4>>) -> Tensor<3> {
        for layer in &self.layers {
            x = layer.forward(x, bias);
        }
        x
    }
}
