//! The FPN neck (`vision_encoder.neck.*`): 1×1 lateral convolutions of the
//! backbone stages and a nearest-neighbour top-down path into the chosen levels.
//!
//! Paper: Ravi et al., "SAM 2", 2024 (image encoder: Hiera + FPN). Reference:
//! transformers `models/sam2/modeling_sam2.py` (`Sam2VisionNeck`,
//! `Sam2VisionModel.forward`). The neck's sine position encodings feed only the
//! video model's memory attention, so the image port does not compute them.

use burn::tensor::Tensor;
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};

use super::config::VisionConfig;
use super::layers::Conv2d;
use crate::models::checkpoint::Loader;

/// `Sam2VisionNeck`.
#[derive(Debug, Clone)]
pub(crate) struct Neck {
    /// `convs.j` projects backbone stage `n - j` (deepest first).
    convs: Vec<Conv2d>,
    top_down_levels: Vec<usize>,
    num_feature_levels: usize,
}

impl Neck {
    pub(crate) fn load(l: &mut Loader, prefix: &str, c: &VisionConfig) -> Self {
        let k = c.fpn_kernel_size;
        let convs = c
            .backbone_channel_list
            .iter()
            .enumerate()
            .map(|(j, &c_in)| {
                Conv2d::load(
                    l,
                    &format!("{prefix}.convs.{j}"),
                    c_in,
                    c.fpn_hidden_size,
                    [k, k],
                    [c.fpn_stride; 2],
                    [c.fpn_padding; 2],
                )
            })
            .collect();
        Neck {
            convs,
            top_down_levels: c.fpn_top_down_levels.clone(),
            num_feature_levels: c.num_feature_levels,
        }
    }

    /// Backbone stages `[B, H_s, W_s, C_s]` (shallowest first) → the kept FPN
    /// levels `[B, C, H_l, W_l]`, highest resolution first.
    pub(crate) fn forward(&self, stages: Vec<Tensor<4>>) -> Vec<Tensor<4>> {
        let n = self.convs.len() - 1;
        let mut levels = Vec::with_capacity(self.convs.len());
        let mut previous: Option<Tensor<4>> = None;
        for (i, stage) in stages.into_iter().enumerate().rev() {
            let lateral = self.convs[n - i].forward_channels_last(stage); // [B, C, H, W]
            let features = match previous {
                Some(prev) if self.top_down_levels.contains(&i) && i != n => {
                    let [_, _, h, w] = prev.dims();
                    let up = interpolate(
                        prev,
                        InterpolateOptions::new(InterpolateMode::Nearest)
                            .with_output_size([2 * h, 2 * w]),
                    );
                    lateral + up
                }
                _ => lateral,
            };
            levels.push(features.clone());
            previous = Some(features);
        }
        // levels run deepest first; keep the last `num_feature_levels`, shallowest first.
        levels
            .into_iter()
            .rev()
            .take(self.num_feature_levels)
            .collect()
    }
}
