//! The memory encoder (`memory_encoder.*`): a frame's predicted mask,
//! downsampled to the embedding grid by strided convolutions, is added to the
//! frame's projected image features, fused by ConvNeXt blocks and projected to
//! the 64-channel memory the next frames attend to.
//!
//! Paper: Ravi et al., "SAM 2", 2024 (§4, "Memory encoder"). Reference:
//! transformers v5.23.0 `models/sam2_video/modeling_sam2_video.py`
//! (`Sam2VideoMemoryEncoder`, `Sam2VideoMaskDownSampler`,
//! `Sam2VideoMemoryFuser`, `Sam2VideoMemoryFuserCXBlock`).

use burn::tensor::Tensor;

use super::layers::{Conv2d, LayerNorm, Linear};
use super::video_config::{VideoConfig, downsampler_layers};
use crate::models::checkpoint::Loader;
use crate::models::kernels::gelu;

/// `Sam2VideoLayerNorm`'s epsilon in the downsampler and the fuser.
const LAYER_NORM_EPS: f64 = 1e-6;

/// `Sam2VideoMaskDownSampler`: `[B, 1, S, S]` → `[B, C, S/16, S/16]`.
#[derive(Debug, Clone)]
struct MaskDownSampler {
    /// Each a strided convolution, a channels-first layer norm and GELU.
    layers: Vec<(Conv2d, LayerNorm)>,
    final_conv: Conv2d,
}

impl MaskDownSampler {
    fn load(l: &mut Loader, prefix: &str, c: &VideoConfig) -> Self {
        let (k, s, p) = (
            c.mask_downsampler_kernel_size,
            c.mask_downsampler_stride,
            c.mask_downsampler_padding,
        );
        let n = downsampler_layers(c.mask_downsampler_total_stride, s).unwrap_or(0);
        let mut c_in = 1;
        let layers = (0..n)
            .map(|i| {
                let c_out = c_in * s * s;
                let layer = format!("{prefix}.layers.{i}");
                let conv = Conv2d::load(
                    l,
                    &format!("{layer}.conv"),
                    c_in,
                    c_out,
                    [k, k],
                    [s, s],
                    [p, p],
                );
                let norm =
                    LayerNorm::load(l, &format!("{layer}.layer_norm"), c_out, LAYER_NORM_EPS);
                c_in = c_out;
                (conv, norm)
            })
            .collect();
        let final_conv = Conv2d::load(
            l,
            &format!("{prefix}.final_conv"),
            c_in,
            c.mask_downsampler_embed_dim,
            [1, 1],
            [1, 1],
            [0, 0],
        );
        MaskDownSampler { layers, final_conv }
    }

    fn forward(&self, mut x: Tensor<4>) -> Tensor<4> {
        for (conv, norm) in &self.layers {
            x = gelu(norm.forward_channels_first(conv.forward(x)));
        }
        self.final_conv.forward(x)
    }
}

/// `Sam2VideoMemoryFuserCXBlock`: depthwise convolution, layer norm,
/// pointwise MLP, layer scale, residual.
#[derive(Debug, Clone)]
struct FuserBlock {
    depthwise_conv: Conv2d,
    layer_norm: LayerNorm,
    pointwise_conv1: Linear,
    pointwise_conv2: Linear,
    /// `[C]`.
    scale: Tensor<1>,
}

impl FuserBlock {
    fn load(l: &mut Loader, prefix: &str, c: &VideoConfig) -> Self {
        let (dim, hidden) = (c.memory_fuser_embed_dim, c.memory_fuser_intermediate_dim);
        FuserBlock {
            depthwise_conv: Conv2d::load_depthwise(
                l,
                &format!("{prefix}.depthwise_conv"),
                dim,
                c.memory_fuser_kernel_size,
                c.memory_fuser_padding,
            ),
            layer_norm: LayerNorm::load(l, &format!("{prefix}.layer_norm"), dim, LAYER_NORM_EPS),
            pointwise_conv1: Linear::load(l, &format!("{prefix}.pointwise_conv1"), dim, hidden),
            pointwise_conv2: Linear::load(l, &format!("{prefix}.pointwise_conv2"), hidden, dim),
            scale: l.tensor(&format!("{prefix}.scale"), [dim]),
        }
    }

    /// `[B, C, h, w]` → `[B, C, h, w]`.
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let y = self
            .layer_norm
            .forward_channels_first(self.depthwise_conv.forward(x.clone()));
        let y = y.permute([0, 2, 3, 1]); // [B, h, w, C]
        let y = self
            .pointwise_conv2
            .forward(gelu(self.pointwise_conv1.forward(y)));
        let y = y * self.scale.clone().reshape([1, 1, 1, -1]);
        x + y.permute([0, 3, 1, 2])
    }
}

/// `Sam2VideoMemoryEncoder`.
#[derive(Debug, Clone)]
pub(crate) struct MemoryEncoder {
    mask_downsampler: MaskDownSampler,
    feature_projection: Conv2d,
    memory_fuser: Vec<FuserBlock>,
    projection: Conv2d,
}

impl MemoryEncoder {
    pub(crate) fn load(l: &mut Loader, prefix: &str, c: &VideoConfig) -> Self {
        let hidden = c.memory_encoder_hidden_size;
        let pointwise = |l: &mut Loader, name: &str, c_out| {
            Conv2d::load(
                l,
                &format!("{prefix}.{name}"),
                hidden,
                c_out,
                [1, 1],
                [1, 1],
                [0, 0],
            )
        };
        MemoryEncoder {
            mask_downsampler: MaskDownSampler::load(l, &format!("{prefix}.mask_downsampler"), c),
            feature_projection: pointwise(l, "feature_projection", hidden),
            memory_fuser: (0..c.memory_fuser_num_layers)
                .map(|i| FuserBlock::load(l, &format!("{prefix}.memory_fuser.layers.{i}"), c))
                .collect(),
            projection: pointwise(l, "projection", c.memory_encoder_output_channels),
        }
    }

    /// Image features `[B, C, h, w]` (the top FPN level, without the
    /// no-memory embedding) and mask inputs `[B, 1, S, S]` (already scaled
    /// and biased) → memory features `[B, 64, h, w]`.
    pub(crate) fn forward(&self, features: Tensor<4>, masks: Tensor<4>) -> Tensor<4> {
        let masks = self.mask_downsampler.forward(masks); // [B, C, h, w]
        let mut x = self.feature_projection.forward(features) + masks;
        for block in &self.memory_fuser {
            x = block.forward(x);
        }
        self.projection.forward(x)
    }
}
