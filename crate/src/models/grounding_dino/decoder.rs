//! Language-guided query selection and the cross-modality decoder: the
//! encoder's image tokens are scored against the text, the top-k become the
//! initial reference boxes (two-stage proposals), and each decoder layer runs
//! query self-attention, text cross-attention and deformable image
//! cross-attention, then refines the boxes with the shared box head.
//!
//! Paper: Liu et al., "Grounding DINO", 2023 (Sec. 3.2 query selection,
//! Sec. 3.3 cross-modality decoder); Zhu et al., "Deformable DETR", 2021
//! (iterative box refinement). Reference: transformers
//! `models/grounding_dino/modeling_grounding_dino.py`
//! (`GroundingDinoModel.generate_encoder_output_proposals` and the two-stage
//! branch of `GroundingDinoModel.forward`, `GroundingDinoDecoder`,
//! `GroundingDinoDecoderLayer`). Top-k is Burn's `topk_with_indices`: no sort,
//! no readback.

use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::{Bool, Device, Int, Tensor, TensorData};

use super::config::GroundingDinoConfig;
use super::deformable_attention::{DeformableAttention, Reference};
use super::heads::{MlpHead, text_similarity};
use super::layers::{LayerNorm, Linear, MultiheadAttention, sine_embedding};
use crate::models::checkpoint::Loader;

/// `torch.special.logit(x, eps)`: `ln(x / (1 - x))` of `x` clamped to `[eps, 1 - eps]`.
pub(crate) fn inverse_sigmoid<const D: usize>(x: Tensor<D>, eps: f64) -> Tensor<D> {
    let x = x.clamp(eps, 1.0 - eps);
    (x.clone() / (x.neg() + 1.0)).log()
}

/// The encoder's per-token proposals, `generate_encoder_output_proposals` for
/// unpadded images: a box of side `0.05 · 2^level` at each cell centre, as
/// logits, and whether it lies inside `(0.01, 0.99)`.
struct Proposals {
    /// `[1, S, 4]` inverse-sigmoid boxes (0 where invalid).
    logits: Tensor<3>,
    /// `[1, S, 4]` 1 where the proposal is valid, else 0 (repeated per coordinate).
    valid: Tensor<3>,
}

fn proposals(shapes: &[[usize; 2]], device: &Device) -> Proposals {
    let mut logits = Vec::new();
    let mut valid = Vec::new();
    for (level, &[h, w]) in shapes.iter().enumerate() {
        let side = 0.05f32 * 2f32.powi(level as i32);
        for y in 0..h {
            for x in 0..w {
                let b = [
                    (x as f32 + 0.5) / w as f32,
                    (y as f32 + 0.5) / h as f32,
                    side,
                    side,
                ];
                let ok = b.iter().all(|&v| v > 0.01 && v < 0.99);
                for v in b {
                    logits.push(if ok { (v / (1.0 - v)).ln() } else { 0.0 });
                    valid.push(if ok { 1.0f32 } else { 0.0 });
                }
            }
        }
    }
    let s = logits.len() / 4;
    Proposals {
        logits: Tensor::from_data(TensorData::new(logits, [1, s, 4]), device),
        valid: Tensor::from_data(TensorData::new(valid, [1, s, 4]), device),
    }
}

/// The two-stage query selection (`enc_output`, `enc_output_norm`,
/// `encoder_output_bbox_embed`, `query_position_embeddings`).
#[derive(Debug, Clone)]
pub struct QuerySelection {
    enc_output: Linear,
    enc_output_norm: LayerNorm,
    bbox_embed: MlpHead,
    /// `[Q, C]` initial decoder queries.
    query_embeddings: Tensor<2>,
}

/// What the query selection hands the decoder.
#[derive(Debug, Clone)]
pub struct Selected {
    /// Indices of the chosen image tokens, best first, `[B, Q]`.
    pub indices: Tensor<2, Int>,
    /// Initial reference boxes `(cx, cy, w, h)`, `[B, Q, 4]`.
    pub reference: Tensor<3>,
    /// Initial queries, `[B, Q, C]`.
    pub target: Tensor<3>,
}

impl QuerySelection {
    pub(crate) fn load(l: &mut Loader, prefix: &str, c: &GroundingDinoConfig) -> Self {
        let d = c.d_model;
        QuerySelection {
            enc_output: Linear::load(l, &format!("{prefix}.enc_output"), d, d),
            enc_output_norm: LayerNorm::load(
                l,
                &format!("{prefix}.enc_output_norm"),
                d,
                c.layer_norm_eps,
            ),
            bbox_embed: MlpHead::load(
                l,
                &format!("{prefix}.encoder_output_bbox_embed"),
                [d, d, 4],
                3,
            ),
            query_embeddings: l.tensor(
                &format!("{prefix}.query_position_embeddings.weight"),
                [c.num_queries, d],
            ),
        }
    }

    /// Encoder memory `[B, S, C]`, text memory `[B, T, C]`, text padding `[B, 1, T]`.
    pub fn forward(
        &self,
        memory: Tensor<3>,
        text: Tensor<3>,
        padding: Tensor<3, Bool>,
        shapes: &[[usize; 2]],
    ) -> Selected {
        let [b, _, _] = memory.dims();
        let [q, d] = self.query_embeddings.dims();
        let device = memory.device();
        let p = proposals(shapes, &device);
        let valid_token = p.valid.clone().narrow(2, 0, 1); // [1, S, 1]
        let object_query = self
            .enc_output_norm
            .forward(self.enc_output.forward(memory * valid_token));
        // The reference pads the scores to max_text_len with -inf first: no
        // effect on the maximum.
        let class = text_similarity(object_query.clone(), text, padding); // [B, S, T]
        let best = class.max_dim(2).squeeze_dim::<2>(2); // [B, S]
        let (_, indices) = best.topk_with_indices(q, 1); // [B, Q]
        let gather = |t: Tensor<3>| {
            let index = indices.clone().unsqueeze_dim::<3>(2).repeat_dim(2, 4);
            t.gather(1, index)
        };
        let coords = self.bbox_embed.forward(object_query) + p.logits;
        let valid = gather(p.valid.repeat_dim(0, b));
        let boxes = sigmoid(gather(coords));
        // Invalid proposals are `+inf` logits in the reference: sigmoid → 1.
        let reference = boxes * valid.clone() + (valid.neg() + 1.0);
        let target = self
            .query_embeddings
            .clone()
            .reshape([1, q, d])
            .repeat_dim(0, b);
        Selected {
            indices,
            reference,
            target,
        }
    }
}

/// `GroundingDinoDecoderLayer`.
#[derive(Debug, Clone)]
struct DecoderLayer {
    self_attn: MultiheadAttention,
    self_attn_layer_norm: LayerNorm,
    encoder_attn_text: MultiheadAttention,
    encoder_attn_text_layer_norm: LayerNorm,
    encoder_attn: DeformableAttention,
    encoder_attn_layer_norm: LayerNorm,
    fc1: Linear,
    fc2: Linear,
    final_layer_norm: LayerNorm,
}

impl DecoderLayer {
    fn load(l: &mut Loader, prefix: &str, c: &GroundingDinoConfig) -> Self {
        let (d, h, eps) = (c.d_model, c.decoder_attention_heads, c.layer_norm_eps);
        let ln =
            |l: &mut Loader, name: &str| LayerNorm::load(l, &format!("{prefix}.{name}"), d, eps);
        DecoderLayer {
            self_attn: MultiheadAttention::load(l, &format!("{prefix}.self_attn"), d, h),
            self_attn_layer_norm: ln(l, "self_attn_layer_norm"),
            encoder_attn_text: MultiheadAttention::load(
                l,
                &format!("{prefix}.encoder_attn_text"),
                d,
                h,
            ),
            encoder_attn_text_layer_norm: ln(l, "encoder_attn_text_layer_norm"),
            encoder_attn: DeformableAttention::load(
                l,
                &format!("{prefix}.encoder_attn"),
                d,
                h,
                c.num_feature_levels,
                c.decoder_n_points,
            ),
            encoder_attn_layer_norm: ln(l, "encoder_attn_layer_norm"),
            fc1: Linear::load(l, &format!("{prefix}.fc1"), d, c.decoder_ffn_dim),
            fc2: Linear::load(l, &format!("{prefix}.fc2"), c.decoder_ffn_dim, d),
            final_layer_norm: ln(l, "final_layer_norm"),
        }
    }

    /// Queries `[B, Q, C]` with their position `[B, Q, C]` → `[B, Q, C]`.
    fn forward(
        &self,
        x: Tensor<3>,
        position: Tensor<3>,
        reference: &Reference,
        memory: &Memory,
    ) -> Tensor<3> {
        let qk = x.clone() + position.clone();
        let attended = self.self_attn.forward(qk.clone(), qk, x.clone(), None);
        let x = self.self_attn_layer_norm.forward(x + attended);
        let attended = self.encoder_attn_text.forward(
            x.clone() + position.clone(),
            memory.text.clone(),
            memory.text.clone(),
            Some(memory.text_bias.clone()),
        );
        let x = self.encoder_attn_text_layer_norm.forward(x + attended);
        let attended = self.encoder_attn.forward(
            x.clone() + position,
            memory.vision.clone(),
            reference,
            &memory.shapes,
        );
        let x = self.encoder_attn_layer_norm.forward(x + attended);
        let ffn = self.fc2.forward(relu(self.fc1.forward(x.clone())));
        self.final_layer_norm.forward(x + ffn)
    }
}

/// The encoder output the decoder attends to.
#[derive(Debug, Clone)]
pub struct Memory {
    /// Image tokens `[B, S, C]`.
    pub vision: Tensor<3>,
    /// `(h, w)` of each level.
    pub shapes: Vec<[usize; 2]>,
    /// Text tokens `[B, T, C]`.
    pub text: Tensor<3>,
    /// Padding bias over text keys, `[B, 1, 1, T]`.
    pub text_bias: Tensor<4>,
}

/// Every decoder layer's output.
#[derive(Debug, Clone)]
pub struct DecoderOutput {
    /// Layer outputs after the final layer norm, `[B, Q, C]` each.
    pub hidden: Vec<Tensor<3>>,
    /// Refined reference boxes after each layer, `[B, Q, 4]` each.
    pub references: Vec<Tensor<3>>,
}

/// `GroundingDinoDecoder`.
#[derive(Debug, Clone)]
pub struct Decoder {
    layers: Vec<DecoderLayer>,
    layer_norm: LayerNorm,
    reference_points_head: MlpHead,
    levels: usize,
    d_model: usize,
}

impl Decoder {
    pub(crate) fn load(l: &mut Loader, prefix: &str, c: &GroundingDinoConfig) -> Self {
        let d = c.d_model;
        Decoder {
            layers: (0..c.decoder_layers)
                .map(|i| DecoderLayer::load(l, &format!("{prefix}.layers.{i}"), c))
                .collect(),
            layer_norm: LayerNorm::load(l, &format!("{prefix}.layer_norm"), d, c.layer_norm_eps),
            reference_points_head: MlpHead::load(
                l,
                &format!("{prefix}.reference_points_head"),
                [c.query_dim / 2 * d, d, d],
                2,
            ),
            levels: c.num_feature_levels,
            d_model: d,
        }
    }

    /// A copy whose deformable attention samples with `align_corners` set.
    pub(crate) fn with_align_corners(mut self, align_corners: bool) -> Self {
        for layer in &mut self.layers {
            layer.encoder_attn = layer.encoder_attn.clone().with_align_corners(align_corners);
        }
        self
    }

    /// Queries `target` `[B, Q, C]` from reference boxes `[B, Q, 4]`; `bbox_head`
    /// refines the boxes after every layer.
    pub fn forward(
        &self,
        target: Tensor<3>,
        reference: Tensor<3>,
        memory: &Memory,
        bbox_head: &MlpHead,
    ) -> DecoderOutput {
        let [b, q, _] = target.dims();
        let mut x = target;
        let mut reference = reference;
        let mut out = DecoderOutput {
            hidden: Vec::with_capacity(self.layers.len()),
            references: Vec::with_capacity(self.layers.len()),
        };
        for layer in &self.layers {
            let per_level = Reference::Boxes(
                reference
                    .clone()
                    .reshape([b, q, 1, 4])
                    .repeat_dim(2, self.levels),
            );
            let position = self
                .reference_points_head
                .forward(sine_embedding(reference.clone(), self.d_model / 2));
            x = layer.forward(x, position, &per_level, memory);
            let delta = bbox_head.forward(x.clone());
            reference = sigmoid(delta + inverse_sigmoid(reference, 1e-5));
            out.hidden.push(self.layer_norm.forward(x.clone()));
            out.references.push(reference.clone());
        }
        out
    }
}
