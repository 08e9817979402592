//! The prediction heads: the contrastive class head (dot products of query
//! and text features, `-inf` where there is no real token) and the box MLP.
//!
//! Paper: Liu et al., "Grounding DINO", 2023 (Sec. 3.4, contrastive
//! classification). Reference: transformers
//! `models/grounding_dino/modeling_grounding_dino.py`
//! (`GroundingDinoContrastiveEmbedding`, `GroundingDinoMLPPredictionHead`).

use burn::tensor::activation::relu;
use burn::tensor::{Bool, Tensor};

use super::layers::Linear;
use crate::models::checkpoint::Loader;

/// `GroundingDinoMLPPredictionHead`: `layers.i` linear layers with ReLU
/// between them.
#[derive(Debug, Clone)]
pub struct MlpHead {
    layers: Vec<Linear>,
}

impl MlpHead {
    pub(crate) fn load(
        l: &mut Loader,
        prefix: &str,
        [d_in, hidden, d_out]: [usize; 3],
        num_layers: usize,
    ) -> Self {
        let dims: Vec<usize> = std::iter::once(d_in)
            .chain(std::iter::repeat_n(hidden, num_layers - 1))
            .chain(std::iter::once(d_out))
            .collect();
        MlpHead {
            layers: dims
                .windows(2)
                .enumerate()
                .map(|(i, w)| Linear::load(l, &format!("{prefix}.layers.{i}"), w[0], w[1]))
                .collect(),
        }
    }

    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let last = self.layers.len() - 1;
        self.layers.iter().enumerate().fold(x, |x, (i, layer)| {
            let y = layer.forward(x);
            if i < last { relu(y) } else { y }
        })
    }
}

/// Queries `[B, Q, C]` against text `[B, T, C]`: dot products, `-inf` at
/// padded tokens (`padding` `[B, 1, T]`, true = pad), `[B, Q, T]`.
pub fn text_similarity(queries: Tensor<3>, text: Tensor<3>, padding: Tensor<3, Bool>) -> Tensor<3> {
    let [b, q, _] = queries.dims();
    let t = text.dims()[1];
    queries
        .matmul(text.swap_dims(1, 2))
        .mask_fill(padding.expand([b, q, t]), f32::NEG_INFINITY)
}

/// `GroundingDinoContrastiveEmbedding`: [`text_similarity`] padded with
/// `-inf` to `max_text_len` tokens, `[B, Q, max_text_len]`.
pub fn contrastive_logits(
    queries: Tensor<3>,
    text: Tensor<3>,
    padding: Tensor<3, Bool>,
    max_text_len: usize,
) -> Tensor<3> {
    let logits = text_similarity(queries, text, padding);
    let [b, q, t] = logits.dims();
    if max_text_len > t {
        let pad = Tensor::full(
            [b, q, max_text_len - t],
            f32::NEG_INFINITY,
            &logits.device(),
        );
        Tensor::cat(vec![logits, pad], 2)
    } else {
        logits
    }
}
