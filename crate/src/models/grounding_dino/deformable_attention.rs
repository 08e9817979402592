//! Multi-scale deformable attention: every query samples a few points per
//! head and feature level around its reference point (bilinearly, zeros
//! outside the map, `align_corners = false`) and mixes them with softmax
//! weights predicted from the query.
//!
//! Papers: Zhu et al., "Deformable DETR: Deformable Transformers for
//! End-to-End Object Detection", 2021; Liu et al., "Grounding DINO", 2023.
//! Reference: transformers `models/grounding_dino/modeling_grounding_dino.py`
//! (`GroundingDinoMultiscaleDeformableAttention` and the pure-PyTorch
//! `MultiScaleDeformableAttention`). The sampling is Burn's `grid_sample_2d`,
//! which runs on every backend (WebGPU included) without reading back.

use burn::tensor::Tensor;
use burn::tensor::ops::{GridSampleOptions, GridSamplePaddingMode, InterpolateMode};

use super::layers::Linear;
use super::weights::Loader;
use crate::models::kernels::softmax_last;

/// Where the queries sample: points (encoder) or boxes (decoder), one per level.
#[derive(Debug, Clone)]
pub enum Reference {
    /// `[B, Q, L, 2]` normalised `(x, y)`; offsets are in pixels of each level.
    Points(Tensor<4>),
    /// `[B, Q, L, 4]` normalised `(cx, cy, w, h)`; offsets are relative to the
    /// box half-size divided by the number of points.
    Boxes(Tensor<4>),
}

/// `GroundingDinoMultiscaleDeformableAttention`.
#[derive(Debug, Clone)]
pub struct DeformableAttention {
    sampling_offsets: Linear,
    attention_weights: Linear,
    value_proj: Linear,
    output_proj: Linear,
    heads: usize,
    levels: usize,
    points: usize,
    align_corners: bool,
}

impl DeformableAttention {
    pub(crate) fn load(
        l: &mut Loader,
        prefix: &str,
        d_model: usize,
        heads: usize,
        levels: usize,
        points: usize,
    ) -> Self {
        let samples = heads * levels * points;
        DeformableAttention {
            sampling_offsets: Linear::load(
                l,
                &format!("{prefix}.sampling_offsets"),
                d_model,
                samples * 2,
            ),
            attention_weights: Linear::load(
                l,
                &format!("{prefix}.attention_weights"),
                d_model,
                samples,
            ),
            value_proj: Linear::load(l, &format!("{prefix}.value_proj"), d_model, d_model),
            output_proj: Linear::load(l, &format!("{prefix}.output_proj"), d_model, d_model),
            heads,
            levels,
            points,
            align_corners: false,
        }
    }

    /// Samples with `align_corners = true` instead: a deliberately wrong
    /// variant, for tests that must notice it.
    pub fn with_align_corners(mut self, align_corners: bool) -> Self {
        self.align_corners = align_corners;
        self
    }

    /// Queries `[B, Q, C]` (position embedding already added) attend to the
    /// flattened levels `value` `[B, S, C]` of sizes `shapes` (`(h, w)`,
    /// row-major, concatenated). Returns `[B, Q, C]`.
    pub fn forward(
        &self,
        queries: Tensor<3>,
        value: Tensor<3>,
        reference: &Reference,
        shapes: &[[usize; 2]],
    ) -> Tensor<3> {
        let [b, q, c] = queries.dims();
        let (h, lv, p) = (self.heads, self.levels, self.points);
        let d = c / h;
        let value = self.value_proj.forward(value); // [B, S, C]
        let offsets = self
            .sampling_offsets
            .forward(queries.clone())
            .reshape([b, q, h, lv, p, 2]);
        let weights = self
            .attention_weights
            .forward(queries)
            .reshape([b, q, h, lv * p]);
        let weights = softmax_last(weights); // [B, Q, H, L·P]
        let locations = self.locations(offsets, reference, shapes); // [B, Q, H, L, P, 2]
        let grids = locations * 2.0 - 1.0;
        let options = GridSampleOptions::new(InterpolateMode::Bilinear)
            .with_padding_mode(GridSamplePaddingMode::Zeros)
            .with_align_corners(self.align_corners);
        let weights = weights.swap_dims(1, 2).reshape([b * h, 1, q, lv * p]);
        // Level by level, so no buffer holds every level's samples
        // ([B·H, d, Q, L·P] is 364 MB at 800×1333, more than a wgpu buffer may hold).
        let mut start = 0;
        let mut out = Tensor::<3>::zeros([b * h, d, q], &value.device());
        for (level, &[hl, wl]) in shapes.iter().enumerate() {
            let v = value
                .clone()
                .narrow(1, start, hl * wl)
                .reshape([b, hl * wl, h, d])
                .permute([0, 2, 3, 1])
                .reshape([b * h, d, hl, wl]);
            let grid = grids
                .clone()
                .narrow(3, level, 1)
                .reshape([b, q, h, p, 2])
                .swap_dims(1, 2)
                .reshape([b * h, q, p, 2]);
            let sampled = v.grid_sample_2d(grid, options.clone()); // [B·H, d, Q, P]
            let weighted = (sampled * weights.clone().narrow(3, level * p, p))
                .sum_dim(3)
                .reshape([b * h, d, q]);
            out = out + weighted;
            start += hl * wl;
        }
        let out = out.reshape([b, h * d, q]);
        self.output_proj.forward(out.swap_dims(1, 2))
    }

    /// Normalised sampling locations `[B, Q, H, L, P, 2]` from the offsets.
    fn locations(
        &self,
        offsets: Tensor<6>,
        reference: &Reference,
        shapes: &[[usize; 2]],
    ) -> Tensor<6> {
        let [b, q, _, lv, _, _] = offsets.dims();
        match reference {
            Reference::Points(points) => {
                let wh: Vec<f32> = shapes
                    .iter()
                    .flat_map(|&[h, w]| [w as f32, h as f32])
                    .collect();
                let normaliser = Tensor::<1>::from_data(
                    burn::tensor::TensorData::new(wh, [lv * 2]),
                    &offsets.device(),
                )
                .reshape([1, 1, 1, lv, 1, 2]);
                points.clone().reshape([b, q, 1, lv, 1, 2]) + offsets / normaliser
            }
            Reference::Boxes(boxes) => {
                let boxes = boxes.clone().reshape([b, q, 1, lv, 1, 4]);
                let centre = boxes.clone().narrow(5, 0, 2);
                let size = boxes.narrow(5, 2, 2);
                centre + offsets / self.points as f64 * size * 0.5
            }
        }
    }
}
