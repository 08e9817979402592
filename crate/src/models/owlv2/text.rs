//! The CLIP text tower (`owlv2.text_model`) and the text projection: token
//! and position embeddings, the transformer encoder under a causal mask, a
//! final norm; each query's feature is the one at its end token
//! (`<|endoftext|>`, the largest id), projected and L2-normalised.
//!
//! Papers: Radford et al., CLIP, 2021; Minderer et al., "Scaling
//! Open-Vocabulary Object Detection", 2023. Reference: transformers v5.23.0
//! `models/owlv2/modeling_owlv2.py` (`Owlv2TextEmbeddings`,
//! `Owlv2TextTransformer`, the `text_embeds` of `Owlv2Model.forward`).
//!
//! The reference also masks the padding after the end token; under the
//! causal mask no token before the end token sees it, and only the end
//! token's feature is used, so the causal mask alone gives the same output.

use burn::tensor::module::embedding;
use burn::tensor::{Int, Tensor, TensorData};

use super::config::Owlv2TextConfig;
use super::encoder::{Encoder, EncoderShape};
use crate::models::checkpoint::Loader;
use crate::models::layers::{LayerNorm, Linear};

/// `Owlv2TextTransformer` with `owlv2.text_projection`.
#[derive(Debug, Clone)]
pub struct TextTower {
    /// `[V, C]`.
    token_embedding: Tensor<2>,
    /// `[T_max, C]`.
    position_embedding: Tensor<2>,
    encoder: Encoder,
    final_layer_norm: LayerNorm,
    text_projection: Linear,
}

/// The text tower's outputs for `Q` queries.
#[derive(Debug, Clone)]
pub struct TextOutput {
    /// The final-normed feature of each query's end token, `[Q, C]`.
    pub pooled: Tensor<2>,
    /// Projected and L2-normalised, `[Q, D]`: the queries of the class head.
    pub embeds: Tensor<2>,
}

impl TextTower {
    pub(crate) fn load(
        l: &mut Loader,
        prefix: &str,
        c: &Owlv2TextConfig,
        projection_dim: usize,
    ) -> Self {
        let d = c.hidden_size;
        let e = format!("{prefix}.text_model.embeddings");
        TextTower {
            token_embedding: l.tensor(&format!("{e}.token_embedding.weight"), [c.vocab_size, d]),
            position_embedding: l.tensor(
                &format!("{e}.position_embedding.weight"),
                [c.max_position_embeddings, d],
            ),
            encoder: Encoder::load(
                l,
                &format!("{prefix}.text_model.encoder"),
                EncoderShape::from(c),
            ),
            final_layer_norm: LayerNorm::load(
                l,
                &format!("{prefix}.text_model.final_layer_norm"),
                d,
                c.layer_norm_eps,
            ),
            text_projection: Linear::load_no_bias(
                l,
                &format!("{prefix}.text_projection"),
                d,
                projection_dim,
            ),
        }
    }

    /// Token ids, `Q` queries of `T` tokens each (row-major, checked by the
    /// caller against the vocabulary and the context) → the pooled and
    /// projected query features.
    pub fn forward(&self, ids: &[i64], queries: usize) -> TextOutput {
        let device = self.token_embedding.device();
        let t = ids.len() / queries.max(1);
        let d = self.token_embedding.dims()[1];
        let tokens =
            Tensor::<2, Int>::from_data(TensorData::new(ids.to_vec(), [queries, t]), &device);
        let x = embedding(self.token_embedding.clone(), tokens)
            + self
                .position_embedding
                .clone()
                .narrow(0, 0, t)
                .unsqueeze::<3>(); // [Q, T, C]
        let x = self.encoder.forward(x, Some(&causal_bias(t, &device)));
        let x = self.final_layer_norm.forward(x); // [Q, T, C]
        let ends: Vec<i64> = ids
            .chunks_exact(t)
            .enumerate()
            .map(|(q, row)| (q * t + first_argmax(row)) as i64)
            .collect();
        let ends = Tensor::<1, Int>::from_data(TensorData::new(ends, [queries]), &device);
        let pooled = x.reshape([queries * t, d]).select(0, ends); // [Q, C]
        let projected = self.text_projection.forward(pooled.clone()); // [Q, D]
        let norm = projected.clone().powi_scalar(2).sum_dim(1).sqrt();
        TextOutput {
            pooled,
            embeds: projected / norm,
        }
    }
}

/// `[1, 1, T, T]`: 0 on and below the diagonal, the most negative f32 above
/// (as `create_causal_mask` builds it).
fn causal_bias(t: usize, device: &burn::tensor::Device) -> Tensor<4> {
    let values: Vec<f32> = (0..t * t)
        .map(|i| if i % t > i / t { f32::MIN } else { 0.0 })
        .collect();
    Tensor::from_data(TensorData::new(values, [1, 1, t, t]), device)
}

/// The index of the first largest id (`torch.argmax`).
fn first_argmax(row: &[i64]) -> usize {
    row.iter()
        .enumerate()
        .fold(
            (0, i64::MIN),
            |best, (i, &id)| if id > best.1 { (i, id) } else { best },
        )
        .0
}
