//! The feature enhancer (`model.encoder.layers.i`): per layer, bi-directional
//! image↔text cross-attention fusion, phrase-masked text self-attention, and
//! multi-scale deformable self-attention over the image features.
//!
//! Paper: Liu et al., "Grounding DINO", 2023 (Sec. 3.1, feature enhancer).
//! Reference: transformers `models/grounding_dino/modeling_grounding_dino.py`
//! (`GroundingDinoEncoder`, `GroundingDinoEncoderLayer`,
//! `GroundingDinoFusionLayer`, `GroundingDinoBiMultiHeadAttention`,
//! `GroundingDinoTextEnhancerLayer`, `GroundingDinoDeformableLayer`).

use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor, TensorData};

use super::config::GroundingDinoConfig;
use super::deformable_attention::{DeformableAttention, Reference};
use super::layers::{LayerNorm, Linear, MultiheadAttention, merge_heads, split_heads};
use crate::limits::in_row_blocks;
use crate::models::checkpoint::Loader;
use crate::models::kernels::softmax_last;

/// `GroundingDinoBiMultiHeadAttention` inside its `GroundingDinoFusionLayer`.
#[derive(Debug, Clone)]
struct FusionLayer {
    layer_norm_vision: LayerNorm,
    layer_norm_text: LayerNorm,
    vision_proj: Linear,
    text_proj: Linear,
    values_vision_proj: Linear,
    values_text_proj: Linear,
    out_vision_proj: Linear,
    out_text_proj: Linear,
    /// Layer scales `[C]`.
    vision_param: Tensor<1>,
    text_param: Tensor<1>,
    heads: usize,
}

impl FusionLayer {
    fn load(l: &mut Loader, prefix: &str, c: &GroundingDinoConfig) -> Self {
        let (d, e, eps) = (c.d_model, c.encoder_ffn_dim / 2, c.layer_norm_eps);
        let a = format!("{prefix}.attn");
        FusionLayer {
            layer_norm_vision: LayerNorm::load(l, &format!("{prefix}.layer_norm_vision"), d, eps),
            layer_norm_text: LayerNorm::load(l, &format!("{prefix}.layer_norm_text"), d, eps),
            vision_proj: Linear::load(l, &format!("{a}.vision_proj"), d, e),
            text_proj: Linear::load(l, &format!("{a}.text_proj"), d, e),
            values_vision_proj: Linear::load(l, &format!("{a}.values_vision_proj"), d, e),
            values_text_proj: Linear::load(l, &format!("{a}.values_text_proj"), d, e),
            out_vision_proj: Linear::load(l, &format!("{a}.out_vision_proj"), e, d),
            out_text_proj: Linear::load(l, &format!("{a}.out_text_proj"), e, d),
            vision_param: l.tensor(&format!("{prefix}.vision_param"), [d]),
            text_param: l.tensor(&format!("{prefix}.text_param"), [d]),
            heads: c.encoder_attention_heads / 2,
        }
    }

    /// Vision `[B, S, C]` and text `[B, T, C]` attend to each other; padded
    /// text tokens (`text_bias` `[B, 1, 1, T]`) are hidden from the image.
    fn forward(
        &self,
        vision: Tensor<3>,
        text: Tensor<3>,
        text_bias: Tensor<4>,
    ) -> (Tensor<3>, Tensor<3>) {
        let vision = self.layer_norm_vision.forward(vision);
        let text = self.layer_norm_text.forward(text);
        let q = split_heads(self.vision_proj.forward(vision.clone()), self.heads); // [B, H, S, e]
        let k = split_heads(self.text_proj.forward(text.clone()), self.heads); // [B, H, T, e]
        let vv = split_heads(self.values_vision_proj.forward(vision.clone()), self.heads);
        let vt = split_heads(self.values_text_proj.forward(text.clone()), self.heads);
        let head_dim = q.dims()[3];
        let scores = (q / (head_dim as f64).sqrt()).matmul(k.swap_dims(2, 3)); // [B, H, S, T]
        let to_text = softmax_last(scores.clone() + text_bias);
        let to_vision = softmax_last(scores.swap_dims(2, 3)); // [B, H, T, S]
        let delta_v = self
            .out_vision_proj
            .forward(merge_heads(to_text.matmul(vt)));
        let delta_t = self
            .out_text_proj
            .forward(merge_heads(to_vision.matmul(vv)));
        let [_, _, d] = vision.dims();
        let vision = vision + self.vision_param.clone().reshape([1, 1, d]) * delta_v;
        let text = text + self.text_param.clone().reshape([1, 1, d]) * delta_t;
        (vision, text)
    }
}

/// `GroundingDinoTextEnhancerLayer`.
#[derive(Debug, Clone)]
struct TextEnhancerLayer {
    self_attn: MultiheadAttention,
    layer_norm_before: LayerNorm,
    fc1: Linear,
    fc2: Linear,
    layer_norm_after: LayerNorm,
}

impl TextEnhancerLayer {
    fn load(l: &mut Loader, prefix: &str, c: &GroundingDinoConfig) -> Self {
        let (d, f, eps) = (c.d_model, c.encoder_ffn_dim / 2, c.layer_norm_eps);
        TextEnhancerLayer {
            self_attn: MultiheadAttention::load(
                l,
                &format!("{prefix}.self_attn"),
                d,
                c.encoder_attention_heads / 2,
            ),
            layer_norm_before: LayerNorm::load(l, &format!("{prefix}.layer_norm_before"), d, eps),
            fc1: Linear::load(l, &format!("{prefix}.fc1"), d, f),
            fc2: Linear::load(l, &format!("{prefix}.fc2"), f, d),
            layer_norm_after: LayerNorm::load(l, &format!("{prefix}.layer_norm_after"), d, eps),
        }
    }

    /// Text `[B, T, C]` with its position embedding and the phrase mask bias `[B, 1, T, T]`.
    fn forward(&self, text: Tensor<3>, position: Tensor<3>, phrase_bias: Tensor<4>) -> Tensor<3> {
        let qk = text.clone() + position;
        let attended = self
            .self_attn
            .forward(qk.clone(), qk, text.clone(), Some(phrase_bias));
        let text = self.layer_norm_before.forward(text + attended);
        let ffn = self.fc2.forward(relu(self.fc1.forward(text.clone())));
        self.layer_norm_after.forward(text + ffn)
    }
}

/// `GroundingDinoDeformableLayer`.
#[derive(Debug, Clone)]
struct DeformableLayer {
    self_attn: DeformableAttention,
    self_attn_layer_norm: LayerNorm,
    fc1: Linear,
    fc2: Linear,
    ffn_dim: usize,
    final_layer_norm: LayerNorm,
}

impl DeformableLayer {
    fn load(l: &mut Loader, prefix: &str, c: &GroundingDinoConfig) -> Self {
        let (d, eps) = (c.d_model, c.layer_norm_eps);
        DeformableLayer {
            self_attn: DeformableAttention::load(
                l,
                &format!("{prefix}.self_attn"),
                d,
                c.encoder_attention_heads,
                c.num_feature_levels,
                c.encoder_n_points,
            ),
            self_attn_layer_norm: LayerNorm::load(
                l,
                &format!("{prefix}.self_attn_layer_norm"),
                d,
                eps,
            ),
            fc1: Linear::load(l, &format!("{prefix}.fc1"), d, c.encoder_ffn_dim),
            fc2: Linear::load(l, &format!("{prefix}.fc2"), c.encoder_ffn_dim, d),
            ffn_dim: c.encoder_ffn_dim,
            final_layer_norm: LayerNorm::load(l, &format!("{prefix}.final_layer_norm"), d, eps),
        }
    }

    fn forward(
        &self,
        vision: Tensor<3>,
        position: Tensor<3>,
        reference: &Reference,
        shapes: &[[usize; 2]],
    ) -> Tensor<3> {
        let attended =
            self.self_attn
                .forward(vision.clone() + position, vision.clone(), reference, shapes);
        let vision = self.self_attn_layer_norm.forward(vision + attended);
        // The hidden [B, N, 2048] is 182 MB at 800×1333: over WebGPU's buffer limit.
        let ffn = in_row_blocks(vision.clone(), 1, self.ffn_dim, |t| {
            self.fc2.forward(relu(self.fc1.forward(t)))
        });
        self.final_layer_norm.forward(vision + ffn)
    }
}

/// `GroundingDinoEncoderLayer`.
#[derive(Debug, Clone)]
struct EncoderLayer {
    fusion: FusionLayer,
    text_enhancer: TextEnhancerLayer,
    deformable: DeformableLayer,
}

/// Everything the encoder layers read besides the features they update.
#[derive(Debug, Clone)]
pub struct EncoderContext {
    /// Sine + level embedding of the image tokens, `[B, S, C]`.
    pub vision_position: Tensor<3>,
    /// Encoder reference points, `[B, S, L, 2]`.
    pub reference: Reference,
    /// `(h, w)` of each level.
    pub shapes: Vec<[usize; 2]>,
    /// Sine embedding of the phrase position ids, `[B, T, C]`.
    pub text_position: Tensor<3>,
    /// Phrase self-attention bias, `[B, 1, T, T]`.
    pub phrase_bias: Tensor<4>,
    /// Padding bias over text keys, `[B, 1, 1, T]`.
    pub text_bias: Tensor<4>,
}

/// `GroundingDinoEncoder`.
#[derive(Debug, Clone)]
pub struct Encoder {
    layers: Vec<EncoderLayer>,
}

impl Encoder {
    pub(crate) fn load(l: &mut Loader, prefix: &str, c: &GroundingDinoConfig) -> Self {
        Encoder {
            layers: (0..c.encoder_layers)
                .map(|i| {
                    let p = format!("{prefix}.layers.{i}");
                    EncoderLayer {
                        fusion: FusionLayer::load(l, &format!("{p}.fusion_layer"), c),
                        text_enhancer: TextEnhancerLayer::load(
                            l,
                            &format!("{p}.text_enhancer_layer"),
                            c,
                        ),
                        deformable: DeformableLayer::load(l, &format!("{p}.deformable_layer"), c),
                    }
                })
                .collect(),
        }
    }

    /// A copy whose deformable attention samples with `align_corners` set.
    pub(crate) fn with_align_corners(mut self, align_corners: bool) -> Self {
        for layer in &mut self.layers {
            layer.deformable.self_attn = layer
                .deformable
                .self_attn
                .clone()
                .with_align_corners(align_corners);
        }
        self
    }

    /// Image tokens `[B, S, C]` and text tokens `[B, T, C]` → both enhanced.
    pub fn forward(
        &self,
        vision: Tensor<3>,
        text: Tensor<3>,
        ctx: &EncoderContext,
    ) -> (Tensor<3>, Tensor<3>) {
        let (mut vision, mut text) = (vision, text);
        for layer in &self.layers {
            let (v, t) = layer.fusion.forward(vision, text, ctx.text_bias.clone());
            text =
                layer
                    .text_enhancer
                    .forward(t, ctx.text_position.clone(), ctx.phrase_bias.clone());
            vision = layer.deformable.forward(
                v,
                ctx.vision_position.clone(),
                &ctx.reference,
                &ctx.shapes,
            );
        }
        (vision, text)
    }
}

/// `GroundingDinoEncoder.get_reference_points` for unpadded images: the centre
/// of every cell of every level, repeated for each level, `[B, S, L, 2]`.
pub(crate) fn reference_points(shapes: &[[usize; 2]], batch: usize, device: &Device) -> Tensor<4> {
    let levels = shapes.len();
    let mut centres = Vec::new();
    for &[h, w] in shapes {
        for y in 0..h {
            for x in 0..w {
                let point = [(x as f32 + 0.5) / w as f32, (y as f32 + 0.5) / h as f32];
                for _ in 0..levels {
                    centres.extend(point);
                }
            }
        }
    }
    let s = centres.len() / (2 * levels);
    let one = Tensor::<4>::from_data(TensorData::new(centres, [1, s, levels, 2]), device);
    one.repeat_dim(0, batch)
}
