//! The prompt encoder (`prompt_encoder.*`, plus `shared_image_embedding.*`):
//! random-Fourier position encoding of points and box corners, learned point
//! embeddings by label, padding points, and the mask-input embedding.
//!
//! Paper: Ravi et al., "SAM 2", 2024 (prompt encoder as in Kirillov et al.,
//! "Segment Anything", 2023). Reference: transformers
//! `models/sam2/modeling_sam2.py` (`Sam2PositionalEmbedding`, `Sam2MaskEmbedding`,
//! `Sam2PromptEncoder`, `Sam2Model.get_image_wide_positional_embeddings`).

use std::f32::consts::PI;

use burn::tensor::{Device, Tensor, TensorData};

use super::config::PromptEncoderConfig;
use super::layers::{Conv2d, LayerNorm};
use crate::models::checkpoint::Loader;
use crate::models::kernels::gelu;

/// Label of a padding point: it contributes a zero token.
pub const LABEL_PAD: i32 = -10;
/// Label of a "not a point" token (appended after points when there is no box).
pub const LABEL_NOT_A_POINT: i32 = -1;

/// `Sam2PositionalEmbedding`: `[.., 2]` coordinates in [0, 1] → `[.., C]`.
#[derive(Debug, Clone)]
pub(crate) struct PositionalEmbedding {
    /// `[2, C / 2]` Gaussian projection.
    matrix: Tensor<2>,
}

impl PositionalEmbedding {
    pub(crate) fn load(l: &mut Loader, prefix: &str, hidden: usize) -> Self {
        PositionalEmbedding {
            matrix: l.tensor(&format!("{prefix}.positional_embedding"), [2, hidden / 2]),
        }
    }

    /// `[N, K, 2]` normalised coordinates → `[N, K, C]`.
    pub(crate) fn forward(&self, coords: Tensor<3>) -> Tensor<3> {
        let [n, _, _] = coords.dims();
        let projected =
            (coords * 2.0 - 1.0).matmul(self.matrix.clone().unsqueeze::<3>().repeat_dim(0, n));
        let projected = projected * (2.0 * PI);
        Tensor::cat(vec![projected.clone().sin(), projected.cos()], 2)
    }

    /// The dense positional encoding of an `h × w` grid of cell centres, `[1, C, h, w]`.
    pub(crate) fn grid(&self, h: usize, w: usize, device: &Device) -> Tensor<4> {
        let mut xy = Vec::with_capacity(h * w * 2);
        for y in 0..h {
            for x in 0..w {
                xy.push((x as f32 + 1.0 - 0.5) / w as f32);
                xy.push((y as f32 + 1.0 - 0.5) / h as f32);
            }
        }
        let coords = Tensor::<3>::from_data(TensorData::new(xy, [1, h * w, 2]), device);
        let c = self.matrix.dims()[1] * 2;
        self.forward(coords)
            .reshape([1, h, w, c])
            .permute([0, 3, 1, 2])
    }
}

/// `Sam2MaskEmbedding`: `[B, 1, 4h, 4w]` mask logits → `[B, C, h, w]`.
#[derive(Debug, Clone)]
struct MaskEmbedding {
    conv1: Conv2d,
    layer_norm1: LayerNorm,
    conv2: Conv2d,
    layer_norm2: LayerNorm,
    conv3: Conv2d,
}

impl MaskEmbedding {
    fn load(l: &mut Loader, prefix: &str, c: &PromptEncoderConfig) -> Self {
        let quarter = c.mask_input_channels / 4;
        let eps = c.layer_norm_eps;
        MaskEmbedding {
            conv1: Conv2d::load(
                l,
                &format!("{prefix}.conv1"),
                1,
                quarter,
                [2, 2],
                [2, 2],
                [0, 0],
            ),
            layer_norm1: LayerNorm::load(l, &format!("{prefix}.layer_norm1"), quarter, eps),
            conv2: Conv2d::load(
                l,
                &format!("{prefix}.conv2"),
                quarter,
                c.mask_input_channels,
                [2, 2],
                [2, 2],
                [0, 0],
            ),
            layer_norm2: LayerNorm::load(l, &format!("{prefix}.layer_norm2"), quarter * 4, eps),
            conv3: Conv2d::load(
                l,
                &format!("{prefix}.conv3"),
                c.mask_input_channels,
                c.hidden_size,
                [1, 1],
                [1, 1],
                [0, 0],
            ),
        }
    }

    fn forward(&self, masks: Tensor<4>) -> Tensor<4> {
        let x = self
            .layer_norm1
            .forward_channels_first(self.conv1.forward(masks));
        let x = gelu(x);
        let x = self
            .layer_norm2
            .forward_channels_first(self.conv2.forward(x));
        let x = gelu(x);
        self.conv3.forward(x)
    }
}

/// One prompt set's tokens before embedding, in model-input pixels (1024 scale).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PromptTokens {
    /// Points `(x, y)` with labels (1 positive, 0 negative, -10 padding).
    pub points: Vec<([f32; 2], i32)>,
    /// A box `[x0, y0, x1, y1]`.
    pub bbox: Option<[f32; 4]>,
}

/// `Sam2PromptEncoder`.
#[derive(Debug, Clone)]
pub(crate) struct PromptEncoder {
    shared_embedding: PositionalEmbedding,
    mask_embed: MaskEmbedding,
    /// `[1, C]`.
    no_mask_embed: Tensor<2>,
    /// `[4, C]`: negative, positive, box top-left, box bottom-right.
    point_embed: Tensor<2>,
    /// `[1, C]`.
    not_a_point_embed: Tensor<2>,
    image_size: usize,
    grid: usize,
    hidden: usize,
}

impl PromptEncoder {
    pub(crate) fn load(l: &mut Loader, prefix: &str, c: &PromptEncoderConfig) -> Self {
        let h = c.hidden_size;
        PromptEncoder {
            shared_embedding: PositionalEmbedding::load(
                l,
                &format!("{prefix}.shared_embedding"),
                h,
            ),
            mask_embed: MaskEmbedding::load(l, &format!("{prefix}.mask_embed"), c),
            no_mask_embed: l.tensor(&format!("{prefix}.no_mask_embed.weight"), [1, h]),
            point_embed: l.tensor(
                &format!("{prefix}.point_embed.weight"),
                [c.num_point_embeddings, h],
            ),
            not_a_point_embed: l.tensor(&format!("{prefix}.not_a_point_embed.weight"), [1, h]),
            image_size: c.image_size,
            grid: c.image_size / c.patch_size,
            hidden: h,
        }
    }

    /// Sparse embeddings of `P` prompt sets, `[P, N, C]`. Every set must have
    /// the same number of points and all or none a box (pad with
    /// [`LABEL_PAD`] points); sets without a box get a "not a point" token
    /// appended, as in the reference.
    pub(crate) fn embed_sparse(&self, prompts: &[PromptTokens], device: &Device) -> Tensor<3> {
        let p = prompts.len();
        let with_box = prompts.first().is_some_and(|s| s.bbox.is_some());
        let n_points = prompts.first().map_or(0, |s| s.points.len());
        // Token layout per set: points, then either the padding token or the box's 3 tokens.
        let mut coords = Vec::new();
        let mut labels = Vec::new();
        let norm = self.image_size as f32;
        for set in prompts {
            for &([x, y], label) in &set.points {
                coords.extend([(x + 0.5) / norm, (y + 0.5) / norm]);
                labels.push(label);
            }
            match set.bbox {
                Some([x0, y0, x1, y1]) => {
                    coords.extend([(x0 + 0.5) / norm, (y0 + 0.5) / norm]);
                    coords.extend([(x1 + 0.5) / norm, (y1 + 0.5) / norm]);
                    coords.extend([0.0, 0.0]);
                    labels.extend([2, 3, LABEL_NOT_A_POINT]);
                }
                None => {
                    coords.extend([0.0, 0.0]);
                    labels.push(LABEL_NOT_A_POINT);
                }
            }
        }
        let n = n_points + if with_box { 3 } else { 1 };
        let coords = Tensor::<3>::from_data(TensorData::new(coords, [p, n, 2]), device);
        let fourier = self.shared_embedding.forward(coords); // [P, N, C]

        // Per token: keep the Fourier part unless padding / not-a-point, then add
        // the label's learned embedding (or the not-a-point one).
        let kinds = self.point_embed.dims()[0];
        let mut keep = Vec::with_capacity(p * n);
        let mut one_hot = vec![0.0f32; p * n * (kinds + 1)];
        for (t, &label) in labels.iter().enumerate() {
            keep.push(if label == LABEL_PAD || label == LABEL_NOT_A_POINT {
                0.0
            } else {
                1.0
            });
            if label == LABEL_NOT_A_POINT {
                one_hot[t * (kinds + 1) + kinds] = 1.0;
            } else if label >= 0 {
                one_hot[t * (kinds + 1) + label as usize] = 1.0;
            }
        }
        let keep = Tensor::<3>::from_data(TensorData::new(keep, [p, n, 1]), device);
        let one_hot = Tensor::<3>::from_data(TensorData::new(one_hot, [p, n, kinds + 1]), device);
        let table = Tensor::cat(
            vec![self.point_embed.clone(), self.not_a_point_embed.clone()],
            0,
        )
        .unsqueeze::<3>()
        .repeat_dim(0, p); // [P, kinds + 1, C]
        fourier * keep + one_hot.matmul(table)
    }

    /// Dense embeddings `[M, C, h, w]`: of `M` mask inputs `[M, 1, 4h, 4w]`, or the
    /// learned "no mask" embedding (`M` = 1).
    pub(crate) fn embed_dense(&self, masks: Option<Tensor<4>>) -> Tensor<4> {
        match masks {
            Some(m) => self.mask_embed.forward(m),
            None => self
                .no_mask_embed
                .clone()
                .reshape([1, self.hidden, 1, 1])
                .repeat(&[1, 1, self.grid, self.grid]),
        }
    }

    /// Label index bound: labels must lie in `-10`, `-1` or `0..kinds`.
    pub(crate) fn num_point_embeddings(&self) -> usize {
        self.point_embed.dims()[0]
    }

    /// Side of the mask input (`4 × grid`).
    pub(crate) fn mask_input_size(&self) -> usize {
        4 * self.grid
    }
}
