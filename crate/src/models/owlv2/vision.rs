//! The CLIP ViT vision tower (`owlv2.vision_model`): non-overlapping patches
//! embedded by a strided convolution, a class token, learned absolute
//! position embeddings, a pre-norm, the transformer encoder; the post-norm
//! is applied to every token by the detector (not only to the class token as
//! in CLIP's pooled output).
//!
//! Papers: Dosovitskiy et al., "An Image is Worth 16x16 Words", 2021;
//! Radford et al., CLIP, 2021; Minderer et al., "Scaling Open-Vocabulary
//! Object Detection", 2023. Reference: transformers v5.23.0
//! `models/owlv2/modeling_owlv2.py` (`Owlv2VisionEmbeddings`,
//! `Owlv2VisionTransformer`), without `interpolate_pos_encoding`: the input
//! is the configured `image_size` square.

use burn::tensor::Tensor;

use super::config::Owlv2VisionConfig;
use super::encoder::{Encoder, EncoderShape};
use crate::models::checkpoint::Loader;
use crate::models::kernels::linear;
use crate::models::layers::LayerNorm;

/// `Owlv2VisionTransformer`.
#[derive(Debug, Clone)]
pub struct VisionTower {
    /// `[C]`.
    class_embedding: Tensor<1>,
    /// The convolution's `[C, 3, p, p]` weight flattened and transposed,
    /// `[3·p·p, C]`, so the patch embedding is one GEMM.
    patch_embedding: Tensor<2>,
    /// `[1 + P, C]`.
    position_embedding: Tensor<2>,
    pre_layernorm: LayerNorm,
    encoder: Encoder,
    pub(crate) post_layernorm: LayerNorm,
    patch_size: usize,
}

impl VisionTower {
    pub(crate) fn load(l: &mut Loader, prefix: &str, c: &Owlv2VisionConfig) -> Self {
        let (d, p) = (c.hidden_size, c.patch_size);
        let e = format!("{prefix}.embeddings");
        let grid = c.grid();
        let patch = l.tensor(
            &format!("{e}.patch_embedding.weight"),
            [d, c.num_channels, p, p],
        );
        VisionTower {
            class_embedding: l.tensor(&format!("{e}.class_embedding"), [d]),
            patch_embedding: patch.reshape([d, c.num_channels * p * p]).transpose(),
            position_embedding: l.tensor(
                &format!("{e}.position_embedding.weight"),
                [1 + grid * grid, d],
            ),
            pre_layernorm: LayerNorm::load(
                l,
                &format!("{prefix}.pre_layernorm"),
                d,
                c.layer_norm_eps,
            ),
            encoder: Encoder::load(l, &format!("{prefix}.encoder"), EncoderShape::from(c)),
            post_layernorm: LayerNorm::load(
                l,
                &format!("{prefix}.post_layernorm"),
                d,
                c.layer_norm_eps,
            ),
            patch_size: p,
        }
    }

    /// Normalised pixels `[B, 3, S, S]` → the encoder's last hidden state
    /// `[B, 1 + P, C]` (class token first, then the patches row by row),
    /// before the post-norm.
    pub fn forward(&self, pixels: Tensor<4>) -> Tensor<3> {
        let [b, channels, h, w] = pixels.dims();
        let p = self.patch_size;
        let (gh, gw) = (h / p, w / p);
        let d = self.class_embedding.dims()[0];
        let patches = pixels
            .reshape([b, channels, gh, p, gw, p])
            .permute([0, 2, 4, 1, 3, 5])
            .reshape([b, gh * gw, channels * p * p]); // [B, P, 3·p·p]
        let patches = linear(patches, self.patch_embedding.clone(), None); // [B, P, C]
        let class = self
            .class_embedding
            .clone()
            .reshape([1, 1, d])
            .repeat_dim(0, b);
        let tokens = Tensor::cat(vec![class, patches], 1); // [B, 1 + P, C]
        let tokens = tokens + self.position_embedding.clone().unsqueeze::<3>();
        self.encoder
            .forward(self.pre_layernorm.forward(tokens), None)
    }
}
