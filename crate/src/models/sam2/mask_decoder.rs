//! The mask decoder (`mask_decoder.*`): output tokens (object score, IoU, 1 + 3
//! masks) through the two-way transformer, an upscaling path fed by the
//! high-resolution backbone features, hypernetwork MLPs, the IoU and
//! object-score heads, and the dynamic multimask selection by stability.
//!
//! Paper: Ravi et al., "SAM 2", 2024 (§4 and appendix: high-resolution features,
//! occlusion/object-score head, dynamic multimask). Reference: transformers
//! `models/sam2/modeling_sam2.py` (`Sam2MaskDecoder`,
//! `_dynamic_multimask_via_stability`, `_get_stability_scores`).

use crate::models::kernels::gelu;
use burn::tensor::{Int, Tensor};

use super::config::MaskDecoderConfig;
use super::layers::{Activation, Conv2d, ConvTranspose2x2, FeedForward, LayerNorm};
use super::two_way_transformer::TwoWayTransformer;
use crate::models::checkpoint::Loader;

/// `Sam2LayerNorm`'s default epsilon, which the upscaling norm keeps.
const UPSCALE_LAYER_NORM_EPS: f64 = 1e-6;

/// What the decoder returns for `P` prompt sets.
#[derive(Debug, Clone)]
pub struct DecoderOutput {
    /// Low-resolution mask logits `[P, M, 4h, 4w]` (M = 3 multimask, else 1).
    pub masks: Tensor<4>,
    /// Predicted IoU of each mask, `[P, M]`.
    pub iou_scores: Tensor<2>,
    /// Object-presence logit, `[P, 1]`.
    pub object_score_logits: Tensor<2>,
    /// The transformer's output for the mask tokens of the returned slice,
    /// `[P, M, C]` (token 0 alone when one mask is returned, even where the
    /// dynamic multimask picked another mask): what the video model turns
    /// into object pointers.
    pub mask_tokens: Tensor<3>,
}

/// `Sam2MaskDecoder`.
#[derive(Debug, Clone)]
pub(crate) struct MaskDecoder {
    /// `[1, C]`.
    iou_token: Tensor<2>,
    /// `[1 + multimask, C]`.
    mask_tokens: Tensor<2>,
    /// `[1, C]`.
    obj_score_token: Tensor<2>,
    transformer: TwoWayTransformer,
    upscale_conv1: ConvTranspose2x2,
    upscale_conv2: ConvTranspose2x2,
    upscale_layer_norm: LayerNorm,
    output_hypernetworks_mlps: Vec<FeedForward>,
    iou_prediction_head: FeedForward,
    pred_obj_score_head: FeedForward,
    /// Projection of FPN level 0 (`conv_s0`), applied once per image.
    pub(crate) conv_s0: Conv2d,
    /// Projection of FPN level 1 (`conv_s1`), applied once per image.
    pub(crate) conv_s1: Conv2d,
    dynamic_multimask_via_stability: bool,
    stability_delta: f32,
    stability_thresh: f32,
}

impl MaskDecoder {
    pub(crate) fn load(l: &mut Loader, prefix: &str, c: &MaskDecoderConfig) -> Self {
        let h = c.hidden_size;
        let tokens = c.num_multimask_outputs + 1;
        MaskDecoder {
            iou_token: l.tensor(&format!("{prefix}.iou_token.weight"), [1, h]),
            mask_tokens: l.tensor(&format!("{prefix}.mask_tokens.weight"), [tokens, h]),
            obj_score_token: l.tensor(&format!("{prefix}.obj_score_token.weight"), [1, h]),
            transformer: TwoWayTransformer::load(l, &format!("{prefix}.transformer"), c),
            upscale_conv1: ConvTranspose2x2::load(l, &format!("{prefix}.upscale_conv1"), h, h / 4),
            upscale_conv2: ConvTranspose2x2::load(
                l,
                &format!("{prefix}.upscale_conv2"),
                h / 4,
                h / 8,
            ),
            upscale_layer_norm: LayerNorm::load(
                l,
                &format!("{prefix}.upscale_layer_norm"),
                h / 4,
                UPSCALE_LAYER_NORM_EPS,
            ),
            output_hypernetworks_mlps: (0..tokens)
                .map(|i| {
                    FeedForward::load(
                        l,
                        &format!("{prefix}.output_hypernetworks_mlps.{i}"),
                        h,
                        h,
                        h / 8,
                        3,
                        Activation::Relu,
                        false,
                    )
                })
                .collect(),
            iou_prediction_head: FeedForward::load(
                l,
                &format!("{prefix}.iou_prediction_head"),
                h,
                c.iou_head_hidden_dim,
                tokens,
                c.iou_head_depth,
                Activation::Relu,
                true,
            ),
            pred_obj_score_head: FeedForward::load(
                l,
                &format!("{prefix}.pred_obj_score_head"),
                h,
                h,
                1,
                3,
                Activation::Relu,
                false,
            ),
            conv_s0: Conv2d::load(
                l,
                &format!("{prefix}.conv_s0"),
                h,
                h / 8,
                [1, 1],
                [1, 1],
                [0, 0],
            ),
            conv_s1: Conv2d::load(
                l,
                &format!("{prefix}.conv_s1"),
                h,
                h / 4,
                [1, 1],
                [1, 1],
                [0, 0],
            ),
            dynamic_multimask_via_stability: c.dynamic_multimask_via_stability,
            stability_delta: c.dynamic_multimask_stability_delta as f32,
            stability_thresh: c.dynamic_multimask_stability_thresh as f32,
        }
    }

    /// Decodes `P` prompt sets against one image.
    ///
    /// `image [1, C, h, w]` (with the no-memory embedding), `image_pe [1, C, h, w]`,
    /// `sparse [P, N, C]`, `dense [1 or P, C, h, w]`, high-resolution features
    /// `feat_s0 [1, C/8, 4h, 4w]` and `feat_s1 [1, C/4, 2h, 2w]`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn forward(
        &self,
        image: Tensor<4>,
        image_pe: Tensor<4>,
        sparse: Tensor<3>,
        dense: Tensor<4>,
        feat_s0: Tensor<4>,
        feat_s1: Tensor<4>,
        multimask_output: bool,
    ) -> DecoderOutput {
        let [p, _, c] = sparse.dims();
        let [_, _, h, w] = image.dims();
        let n_masks = self.mask_tokens.dims()[0];
        let output_tokens = Tensor::cat(
            vec![
                self.obj_score_token.clone(),
                self.iou_token.clone(),
                self.mask_tokens.clone(),
            ],
            0,
        )
        .unsqueeze::<3>()
        .repeat_dim(0, p); // [P, 2 + n_masks, C]
        let tokens = Tensor::cat(vec![output_tokens, sparse], 1); // [P, N', C]

        let src = (image + dense).expand([p, c, h, w]); // [P, C, h, w]
        let pos = image_pe.expand([p, c, h, w]);
        let (tokens, keys) = self.transformer.forward(tokens, src, pos); // [P, N', C], [P, hw, C]
        let token = |i: usize| tokens.clone().narrow(1, i, 1).reshape([p, c]);

        let image = keys.swap_dims(1, 2).reshape([p, c, h, w]);
        let up = self.upscale_conv1.forward(image) + feat_s1; // [P, C/4, 2h, 2w]
        let up = gelu(self.upscale_layer_norm.forward_channels_first(up));
        let up = gelu(self.upscale_conv2.forward(up) + feat_s0); // [P, C/8, 4h, 4w]
        let [_, c8, uh, uw] = up.dims();

        let hyper: Vec<Tensor<2>> = self
            .output_hypernetworks_mlps
            .iter()
            .enumerate()
            .map(|(i, mlp)| mlp.forward(token(2 + i)))
            .collect(); // each [P, C/8]
        let hyper = Tensor::stack::<3>(hyper, 1); // [P, n_masks, C/8]
        let masks = hyper
            .matmul(up.reshape([p, c8, uh * uw]))
            .reshape([p, n_masks, uh, uw]);

        let iou = self.iou_prediction_head.forward(token(1)); // [P, n_masks]
        let object_score_logits = self.pred_obj_score_head.forward(token(0)); // [P, 1]

        let (masks, iou_scores, mask_tokens) = if multimask_output {
            (
                masks.narrow(1, 1, n_masks - 1),
                iou.narrow(1, 1, n_masks - 1),
                tokens.narrow(1, 3, n_masks - 1),
            )
        } else if self.dynamic_multimask_via_stability {
            let (masks, iou) = self.dynamic_multimask(masks, iou);
            (masks, iou, tokens.narrow(1, 2, 1))
        } else {
            (
                masks.narrow(1, 0, 1),
                iou.narrow(1, 0, 1),
                tokens.narrow(1, 2, 1),
            )
        };
        DecoderOutput {
            masks,
            iou_scores,
            object_score_logits,
            mask_tokens,
        }
    }

    /// Keeps the single-mask output where it is stable, else the multimask
    /// output with the highest predicted IoU. `[P, 1+K, H, W]`, `[P, 1+K]` →
    /// `[P, 1, H, W]`, `[P, 1]`.
    fn dynamic_multimask(&self, masks: Tensor<4>, iou: Tensor<2>) -> (Tensor<4>, Tensor<2>) {
        let [p, n, h, w] = masks.dims();
        let multi_masks = masks.clone().narrow(1, 1, n - 1);
        let multi_iou = iou.clone().narrow(1, 1, n - 1);
        let best: Tensor<2, Int> = multi_iou.clone().argmax(1); // [P, 1]
        let best_masks = multi_masks
            .reshape([p, n - 1, h * w])
            .gather(1, best.clone().unsqueeze_dim::<3>(2).repeat_dim(2, h * w))
            .reshape([p, 1, h, w]);
        let best_iou = multi_iou.gather(1, best);

        let single = masks.narrow(1, 0, 1);
        let single_iou = iou.narrow(1, 0, 1);
        let flat = single.clone().reshape([p, h * w]);
        let area_i = flat
            .clone()
            .greater_elem(self.stability_delta)
            .float()
            .sum_dim(1);
        let area_u = flat.greater_elem(-self.stability_delta).float().sum_dim(1); // [P, 1]
        let ratio = area_i / area_u.clone();
        let stability = ratio.mask_fill(area_u.lower_equal_elem(0.0), 1.0);
        let stable = stability.greater_equal_elem(self.stability_thresh); // [P, 1]

        let masks = best_masks.mask_where(
            stable.clone().reshape([p, 1, 1, 1]).expand([p, 1, h, w]),
            single,
        );
        let iou = best_iou.mask_where(stable, single_iou);
        (masks, iou)
    }
}
