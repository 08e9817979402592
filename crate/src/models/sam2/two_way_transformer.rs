//! The two-way transformer of the mask decoder (`mask_decoder.transformer.*`):
//! prompt tokens and image embedding attend to each other, block by block.
//!
//! Paper: Ravi et al., "SAM 2", 2024 (decoder from Kirillov et al., "Segment
//! Anything", 2023). Reference: transformers `models/sam2/modeling_sam2.py`
//! (`Sam2Attention`, `Sam2TwoWayAttentionBlock`, `Sam2TwoWayTransformer`).

use burn::tensor::Tensor;

use super::config::MaskDecoderConfig;
use super::layers::{Activation, FeedForward, LayerNorm, Linear};
use crate::models::checkpoint::Loader;
use crate::models::kernels::{attention, contiguous};

/// `nn.LayerNorm`'s default epsilon, which the decoder's norms keep.
const DECODER_LAYER_NORM_EPS: f64 = 1e-5;

/// `Sam2Attention`: multi-head attention whose inner width is `C / downsample`.
#[derive(Debug, Clone)]
struct Attention {
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    o_proj: Linear,
    heads: usize,
}

impl Attention {
    fn load(l: &mut Loader, prefix: &str, c: &MaskDecoderConfig, downsample: usize) -> Self {
        let inner = c.hidden_size / downsample;
        let h = c.hidden_size;
        Attention {
            q_proj: Linear::load(l, &format!("{prefix}.q_proj"), h, inner),
            k_proj: Linear::load(l, &format!("{prefix}.k_proj"), h, inner),
            v_proj: Linear::load(l, &format!("{prefix}.v_proj"), h, inner),
            o_proj: Linear::load(l, &format!("{prefix}.o_proj"), inner, h),
            heads: c.num_attention_heads,
        }
    }

    /// `q [P, Lq, C]`, `k`, `v [P, Lk, C]` → `[P, Lq, C]`.
    fn forward(&self, q: Tensor<3>, k: Tensor<3>, v: Tensor<3>) -> Tensor<3> {
        let split = |x: Tensor<3>| {
            let [p, len, inner] = x.dims();
            x.reshape([p, len, self.heads, inner / self.heads])
                .swap_dims(1, 2)
        };
        let q = split(self.q_proj.forward(q));
        let k = split(self.k_proj.forward(k));
        let v = split(self.v_proj.forward(v));
        let out = attention(q, k, v); // [P, nH, Lq, d]
        let [p, heads, len, d] = out.dims();
        self.o_proj
            .forward(out.swap_dims(1, 2).reshape([p, len, heads * d]))
    }
}

/// `Sam2TwoWayAttentionBlock` (`layers.i`).
#[derive(Debug, Clone)]
struct TwoWayBlock {
    self_attn: Attention,
    layer_norm1: LayerNorm,
    cross_attn_token_to_image: Attention,
    layer_norm2: LayerNorm,
    mlp: FeedForward,
    layer_norm3: LayerNorm,
    layer_norm4: LayerNorm,
    cross_attn_image_to_token: Attention,
    skip_first_layer_pe: bool,
}

impl TwoWayBlock {
    fn load(
        l: &mut Loader,
        prefix: &str,
        c: &MaskDecoderConfig,
        skip_first_layer_pe: bool,
    ) -> Self {
        let h = c.hidden_size;
        let ln = |l: &mut Loader, name: &str| {
            LayerNorm::load(l, &format!("{prefix}.{name}"), h, DECODER_LAYER_NORM_EPS)
        };
        TwoWayBlock {
            self_attn: Attention::load(l, &format!("{prefix}.self_attn"), c, 1),
            layer_norm1: ln(l, "layer_norm1"),
            cross_attn_token_to_image: Attention::load(
                l,
                &format!("{prefix}.cross_attn_token_to_image"),
                c,
                c.attention_downsample_rate,
            ),
            layer_norm2: ln(l, "layer_norm2"),
            mlp: FeedForward::load(
                l,
                &format!("{prefix}.mlp"),
                h,
                c.mlp_dim,
                h,
                c.num_hidden_layers,
                Activation::Relu,
                false,
            ),
            layer_norm3: ln(l, "layer_norm3"),
            layer_norm4: ln(l, "layer_norm4"),
            cross_attn_image_to_token: Attention::load(
                l,
                &format!("{prefix}.cross_attn_image_to_token"),
                c,
                c.attention_downsample_rate,
            ),
            skip_first_layer_pe,
        }
    }

    /// Tokens `[P, N, C]`, image `[P, HW, C]` with their position encodings.
    fn forward(
        &self,
        queries: Tensor<3>,
        keys: Tensor<3>,
        query_pe: &Tensor<3>,
        key_pe: &Tensor<3>,
    ) -> (Tensor<3>, Tensor<3>) {
        let queries = if self.skip_first_layer_pe {
            self.self_attn
                .forward(queries.clone(), queries.clone(), queries)
        } else {
            let q = queries.clone() + query_pe.clone();
            queries.clone() + self.self_attn.forward(q.clone(), q, queries)
        };
        let queries = self.layer_norm1.forward(queries);

        let q = queries.clone() + query_pe.clone();
        let k = keys.clone() + key_pe.clone();
        let queries = queries + self.cross_attn_token_to_image.forward(q, k, keys.clone());
        let queries = self.layer_norm2.forward(queries);

        let queries = queries.clone() + self.mlp.forward(queries);
        let queries = self.layer_norm3.forward(queries);

        let q = queries.clone() + query_pe.clone();
        let k = keys.clone() + key_pe.clone();
        let keys = keys
            + self
                .cross_attn_image_to_token
                .forward(k, q, queries.clone());
        let keys = self.layer_norm4.forward(keys);
        (queries, keys)
    }
}

/// `Sam2TwoWayTransformer`.
#[derive(Debug, Clone)]
pub(crate) struct TwoWayTransformer {
    layers: Vec<TwoWayBlock>,
    final_attn_token_to_image: Attention,
    layer_norm_final_attn: LayerNorm,
}

impl TwoWayTransformer {
    pub(crate) fn load(l: &mut Loader, prefix: &str, c: &MaskDecoderConfig) -> Self {
        TwoWayTransformer {
            layers: (0..c.num_hidden_layers)
                .map(|i| TwoWayBlock::load(l, &format!("{prefix}.layers.{i}"), c, i == 0))
                .collect(),
            final_attn_token_to_image: Attention::load(
                l,
                &format!("{prefix}.final_attn_token_to_image"),
                c,
                c.attention_downsample_rate,
            ),
            layer_norm_final_attn: LayerNorm::load(
                l,
                &format!("{prefix}.layer_norm_final_attn"),
                c.hidden_size,
                DECODER_LAYER_NORM_EPS,
            ),
        }
    }

    /// Tokens `[P, N, C]`, image `[P, C, h, w]` and its encoding `[P, C, h, w]`
    /// → (tokens `[P, N, C]`, image `[P, hw, C]`).
    pub(crate) fn forward(
        &self,
        tokens: Tensor<3>,
        image: Tensor<4>,
        image_pe: Tensor<4>,
    ) -> (Tensor<3>, Tensor<3>) {
        // Every block adds to both: one copy each instead of strided adds.
        let flat = |x: Tensor<4>| contiguous(x.flatten::<3>(2, 3).swap_dims(1, 2)); // [P, hw, C]
        let keys = flat(image);
        let key_pe = flat(image_pe);
        let mut queries = tokens.clone();
        let mut keys = keys;
        for layer in &self.layers {
            (queries, keys) = layer.forward(queries, keys, &tokens, &key_pe);
        }
        let q = queries.clone() + tokens;
        let k = keys.clone() + key_pe;
        let queries = queries + self.final_attn_token_to_image.forward(q, k, keys.clone());
        (self.layer_norm_final_attn.forward(queries), keys)
    }
}
