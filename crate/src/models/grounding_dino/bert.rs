//! The BERT text encoder (`model.text_backbone.*`) and Grounding DINO's
//! phrase-wise attention: tokens attend only within their own phrase (the
//! tokens up to and including the next `[CLS]`, `[SEP]`, `.` or `?`), and
//! position ids restart at 0 after every such delimiter.
//!
//! Papers: Devlin et al., "BERT", 2019; Liu et al., "Grounding DINO", 2023
//! (sub-sentence level text features). Reference: transformers
//! `models/bert/modeling_bert.py` (`BertModel` without pooler) and
//! `models/grounding_dino/modeling_grounding_dino.py`
//! (`generate_masks_with_special_tokens_and_transfer_map`, `SPECIAL_TOKENS`).

use crate::models::kernels::gelu;
use burn::tensor::module::embedding;
use burn::tensor::{Int, Tensor};

use super::config::BertConfig;
use super::layers::{LayerNorm, Linear, attend, merge_heads, split_heads};
use crate::models::checkpoint::Loader;

/// Delimiters of the phrases: `[CLS]`, `[SEP]`, `.`, `?` (bert-base-uncased ids).
pub const SPECIAL_TOKENS: [i64; 4] = [101, 102, 1012, 1029];

/// `generate_masks_with_special_tokens_and_transfer_map` for one sequence:
/// the `[T, T]` row-major self-attention mask (true = may attend) and the
/// position ids.
///
/// A token belongs to the block that ends at the next delimiter at or after
/// it; tokens of the same block attend to each other unless the block ends at
/// position 0, at the last position or nowhere (then only to themselves).
/// Position ids count from 0 after the previous delimiter inside valid
/// blocks and are 0 elsewhere.
pub fn phrase_attention(input_ids: &[i64]) -> (Vec<bool>, Vec<i64>) {
    let n = input_ids.len();
    let special: Vec<bool> = input_ids
        .iter()
        .map(|id| SPECIAL_TOKENS.contains(id))
        .collect();
    let mut next = vec![n; n];
    let mut upcoming = n;
    for i in (0..n).rev() {
        if special[i] {
            upcoming = i;
        }
        next[i] = upcoming;
    }
    let valid: Vec<bool> = next
        .iter()
        .map(|&s| s != 0 && s + 1 != n && s != n)
        .collect();
    let mut mask = vec![false; n * n];
    for i in 0..n {
        for j in 0..n {
            mask[i * n + j] = i == j || (next[i] == next[j] && valid[j]);
        }
    }
    let mut positions = vec![0i64; n];
    let mut previous: i64 = -1;
    for i in 0..n {
        if valid[i] {
            positions[i] = (i as i64 - previous - 1).max(0);
        }
        if special[i] {
            previous = i as i64;
        }
    }
    (mask, positions)
}

/// `BertLayer` (`encoder.layer.i`).
#[derive(Debug, Clone)]
struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    attention_output: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
    heads: usize,
}

impl Layer {
    fn load(l: &mut Loader, prefix: &str, c: &BertConfig) -> Self {
        let (h, f, eps) = (c.hidden_size, c.intermediate_size, c.layer_norm_eps);
        Layer {
            query: Linear::load(l, &format!("{prefix}.attention.self.query"), h, h),
            key: Linear::load(l, &format!("{prefix}.attention.self.key"), h, h),
            value: Linear::load(l, &format!("{prefix}.attention.self.value"), h, h),
            attention_output: Linear::load(l, &format!("{prefix}.attention.output.dense"), h, h),
            attention_norm: LayerNorm::load(
                l,
                &format!("{prefix}.attention.output.LayerNorm"),
                h,
                eps,
            ),
            intermediate: Linear::load(l, &format!("{prefix}.intermediate.dense"), h, f),
            output: Linear::load(l, &format!("{prefix}.output.dense"), f, h),
            output_norm: LayerNorm::load(l, &format!("{prefix}.output.LayerNorm"), h, eps),
            heads: c.num_attention_heads,
        }
    }

    /// `[B, T, H]` with the additive mask bias `[B, 1, T, T]` → `[B, T, H]`.
    fn forward(&self, x: Tensor<3>, bias: Tensor<4>) -> Tensor<3> {
        let q = split_heads(self.query.forward(x.clone()), self.heads);
        let k = split_heads(self.key.forward(x.clone()), self.heads);
        let v = split_heads(self.value.forward(x.clone()), self.heads);
        let context = merge_heads(attend(q, k, v, Some(bias)));
        let x = self
            .attention_norm
            .forward(self.attention_output.forward(context) + x);
        let hidden = gelu(self.intermediate.forward(x.clone()));
        self.output_norm.forward(self.output.forward(hidden) + x)
    }
}

/// `BertModel` without pooler.
#[derive(Debug, Clone)]
pub struct Bert {
    word_embeddings: Tensor<2>,
    position_embeddings: Tensor<2>,
    token_type_embeddings: Tensor<2>,
    embeddings_norm: LayerNorm,
    layers: Vec<Layer>,
}

impl Bert {
    pub(crate) fn load(l: &mut Loader, prefix: &str, c: &BertConfig) -> Self {
        let h = c.hidden_size;
        let e = format!("{prefix}.embeddings");
        Bert {
            word_embeddings: l.tensor(&format!("{e}.word_embeddings.weight"), [c.vocab_size, h]),
            position_embeddings: l.tensor(
                &format!("{e}.position_embeddings.weight"),
                [c.max_position_embeddings, h],
            ),
            token_type_embeddings: l.tensor(
                &format!("{e}.token_type_embeddings.weight"),
                [c.type_vocab_size, h],
            ),
            embeddings_norm: LayerNorm::load(l, &format!("{e}.LayerNorm"), h, c.layer_norm_eps),
            layers: (0..c.num_hidden_layers)
                .map(|i| Layer::load(l, &format!("{prefix}.encoder.layer.{i}"), c))
                .collect(),
        }
    }

    /// Token ids, token types and position ids `[B, T]` with the self-attention
    /// bias `[B, 1, T, T]` (0 = attend) → token features `[B, T, H]`.
    pub fn forward(
        &self,
        input_ids: Tensor<2, Int>,
        token_type_ids: Tensor<2, Int>,
        position_ids: Tensor<2, Int>,
        bias: Tensor<4>,
    ) -> Tensor<3> {
        let x = embedding(self.word_embeddings.clone(), input_ids)
            + embedding(self.token_type_embeddings.clone(), token_type_ids)
            + embedding(self.position_embeddings.clone(), position_ids);
        let mut x = self.embeddings_norm.forward(x);
        for layer in &self.layers {
            x = layer.forward(x, bias.clone());
        }
        x
    }
}
