//! Multi-scale deformable attention: every query samples a few points per
//! head and feature level around its reference point (bilinearly, zeros
//! outside the map, `align_corners = false`) and mixes them with softmax
//! weights predicted from the query.
//!
//! Papers: Zhu et al., "Deformable DETR: Deformable Transformers for
//! End-to-End Object Detection", 2021; Liu et al., "Grounding DINO", 2023.
//! Reference: transformers `models/grounding_dino/modeling_grounding_dino.py`
//! (`GroundingDinoMultiscaleDeformableAttention` and the pure-PyTorch
//! `MultiScaleDeformableAttention`). On the GPU (WebGPU included) the sampling
//! is Burn's `grid_sample_2d`, with no readback; on the CPU it is a host kernel
//! laid out like the reference's CUDA kernel (`d`-contiguous value rows).

use burn::tensor::ops::{GridSampleOptions, GridSamplePaddingMode, InterpolateMode};
use burn::tensor::{Tensor, TensorData};

use super::layers::Linear;
use crate::models::checkpoint::Loader;
use crate::models::kernels::{for_each_row_block, on_cpu_f32, softmax_last};

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
        let tokens = value.dims()[1];
        let value = value.reshape([b, tokens, h, d]); // [B, S, H, d]
        let out = if on_cpu_f32(&value) {
            self.sample_on_host(value, locations, weights, shapes)
        } else {
            self.sample_with_grid(value, locations, weights, shapes)
        }; // [B, Q, H·d]
        self.output_proj.forward(out)
    }

    /// The sampling as `grid_sample_2d` per level (what the GPU runs).
    fn sample_with_grid(
        &self,
        value: Tensor<4>,
        locations: Tensor<6>,
        weights: Tensor<4>,
        shapes: &[[usize; 2]],
    ) -> Tensor<3> {
        let [b, _, h, d] = value.dims();
        let [_, q, _, _, p, _] = locations.dims();
        let grids = locations * 2.0 - 1.0;
        let options = GridSampleOptions::new(InterpolateMode::Bilinear)
            .with_padding_mode(GridSamplePaddingMode::Zeros)
            .with_align_corners(self.align_corners);
        let weights = weights
            .swap_dims(1, 2)
            .reshape([b * h, 1, q, self.levels * p]);
        // Level by level, so no buffer holds every level's samples
        // ([B·H, d, Q, L·P] is 364 MB at 800×1333, more than a wgpu buffer may hold).
        let mut start = 0;
        let mut out = Tensor::<3>::zeros([b * h, d, q], &value.device());
        for (level, &[hl, wl]) in shapes.iter().enumerate() {
            let v = value
                .clone()
                .narrow(1, start, hl * wl)
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
        out.reshape([b, h * d, q]).swap_dims(1, 2)
    }

    /// The same sampling on the host, as the reference's CUDA kernel does it:
    /// per query and head, the weighted sum of bilinear samples of `d`-long
    /// value rows (contiguous, unlike `grid_sample_2d`'s channel planes).
    fn sample_on_host(
        &self,
        value: Tensor<4>,
        locations: Tensor<6>,
        weights: Tensor<4>,
        shapes: &[[usize; 2]],
    ) -> Tensor<3> {
        let [b, s, h, d] = value.dims();
        let q = locations.dims()[1];
        let device = value.device();
        let [value, locations, weights] = [
            value.into_data(),
            locations.into_data(),
            weights.into_data(),
        ];
        let sampler = HostSampler {
            value: value.as_slice::<f32>().expect("f32 on the CPU"),
            locations: locations.as_slice::<f32>().expect("f32 on the CPU"),
            weights: weights.as_slice::<f32>().expect("f32 on the CPU"),
            levels: level_starts(shapes),
            tokens: s,
            queries: q,
            heads: h,
            head_dim: d,
            points: self.points,
            align_corners: self.align_corners,
        };
        let mut out = vec![0.0f32; b * q * h * d];
        for_each_row_block(&mut out, h * d, &|index, row| {
            sampler.query(index / q, index % q, row)
        });
        Tensor::from_data(TensorData::new(out, [b, q, h * d]), &device)
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

/// `(start token, height, width)` of each level in the flattened value.
fn level_starts(shapes: &[[usize; 2]]) -> Vec<(usize, usize, usize)> {
    let mut start = 0;
    shapes
        .iter()
        .map(|&[hl, wl]| {
            let level = (start, hl, wl);
            start += hl * wl;
            level
        })
        .collect()
}

/// Host views of [`DeformableAttention::sample_on_host`]'s inputs.
struct HostSampler<'a> {
    /// `[B, S, H, d]`.
    value: &'a [f32],
    /// `[B, Q, H, L, P, 2]`, normalised `(x, y)`.
    locations: &'a [f32],
    /// `[B, Q, H, L·P]`, softmax-normalised.
    weights: &'a [f32],
    levels: Vec<(usize, usize, usize)>,
    /// `S`, every level's tokens.
    tokens: usize,
    queries: usize,
    heads: usize,
    head_dim: usize,
    points: usize,
    align_corners: bool,
}

impl HostSampler<'_> {
    /// Writes query `qi` of batch `bi`, all heads, into `out` `[H·d]`.
    fn query(&self, bi: usize, qi: usize, out: &mut [f32]) {
        let (h, d, p, lv) = (self.heads, self.head_dim, self.points, self.levels.len());
        let row = (bi * self.queries + qi) * h;
        for head in 0..h {
            let acc = &mut out[head * d..(head + 1) * d];
            for (level, &(start, hl, wl)) in self.levels.iter().enumerate() {
                for point in 0..p {
                    let sample = ((row + head) * lv + level) * p + point;
                    let weight = self.weights[(row + head) * lv * p + level * p + point];
                    let (x, y) = (self.locations[2 * sample], self.locations[2 * sample + 1]);
                    let (x, y) = self.pixel(x, wl, y, hl);
                    self.add_bilinear(acc, weight, [x, y], [hl, wl], bi, start, head);
                }
            }
        }
    }

    /// `grid_sample`'s un-normalisation of a `[0, 1]` location to pixels.
    fn pixel(&self, x: f32, w: usize, y: f32, h: usize) -> (f32, f32) {
        if self.align_corners {
            (x * (w as f32 - 1.0), y * (h as f32 - 1.0))
        } else {
            (x * w as f32 - 0.5, y * h as f32 - 0.5)
        }
    }

    /// `acc += weight · value(x, y)`, bilinear, zero outside the map.
    #[allow(clippy::too_many_arguments)]
    fn add_bilinear(
        &self,
        acc: &mut [f32],
        weight: f32,
        [x, y]: [f32; 2],
        [h, w]: [usize; 2],
        bi: usize,
        start: usize,
        head: usize,
    ) {
        let (x0, y0) = (x.floor(), y.floor());
        let (fx, fy) = (x - x0, y - y0);
        let d = self.head_dim;
        for (dy, wy) in [(0.0, 1.0 - fy), (1.0, fy)] {
            for (dx, wx) in [(0.0, 1.0 - fx), (1.0, fx)] {
                let (cx, cy) = (x0 + dx, y0 + dy);
                if cx < 0.0 || cy < 0.0 || cx >= w as f32 || cy >= h as f32 {
                    continue;
                }
                let token = start + cy as usize * w + cx as usize;
                let at = ((bi * self.tokens + token) * self.heads + head) * d;
                let c = weight * wx * wy;
                for (a, &v) in acc.iter_mut().zip(&self.value[at..at + d]) {
                    *a += c * v;
                }
            }
        }
    }
}
