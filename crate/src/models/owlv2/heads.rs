//! OWLv2's per-patch heads on the image feature map: the box head (an MLP
//! whose `(cx, cy, w, h)` logits are offset by the grid box bias, so each
//! patch predicts a box around itself), the class head (per-patch class
//! embeddings compared with the normalised queries, with a learned per-patch
//! logit shift and scale) and the objectness head (the box head's MLP with
//! one output).
//!
//! Paper: Minderer et al., "Scaling Open-Vocabulary Object Detection",
//! NeurIPS 2023 (OWL-ST; heads of Minderer et al., "Simple Open-Vocabulary
//! Object Detection with Vision Transformers", ECCV 2022). Reference:
//! transformers v5.23.0 `models/owlv2/modeling_owlv2.py`
//! (`Owlv2BoxPredictionHead`, `Owlv2ClassPredictionHead`,
//! `Owlv2ForObjectDetection.compute_box_bias`, `box_predictor`,
//! `objectness_predictor`).

use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Tensor, TensorData};

use crate::models::checkpoint::Loader;
use crate::models::kernels::gelu;
use crate::models::layers::Linear;

/// `Owlv2BoxPredictionHead`: `dense0`, GELU, `dense1`, GELU, `dense2`.
#[derive(Debug, Clone)]
pub(crate) struct MlpHead {
    dense0: Linear,
    dense1: Linear,
    dense2: Linear,
}

impl MlpHead {
    pub(crate) fn load(l: &mut Loader, prefix: &str, width: usize, out: usize) -> Self {
        MlpHead {
            dense0: Linear::load(l, &format!("{prefix}.dense0"), width, width),
            dense1: Linear::load(l, &format!("{prefix}.dense1"), width, width),
            dense2: Linear::load(l, &format!("{prefix}.dense2"), width, out),
        }
    }

    /// `[B, P, C]` → `[B, P, out]`.
    pub(crate) fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let x = gelu(self.dense0.forward(x));
        let x = gelu(self.dense1.forward(x));
        self.dense2.forward(x)
    }
}

/// `compute_box_bias` for a `grid × grid` feature map, `[P, 4]` row-major
/// over the patches (row by row): the inverse sigmoid of each patch's
/// bottom-right corner `((x + 1) / grid, (y + 1) / grid)` and of the patch
/// size `1 / grid`, each as `ln(v + 1e-4) − ln(1 − v + 1e-4)` in f32.
pub(crate) fn box_bias(grid: usize, device: &Device) -> Tensor<2> {
    let logit = |v: f32| (v + 1e-4).ln() - (-v + 1e-4).ln_1p();
    let size = logit(1.0 / grid as f32);
    let mut values = Vec::with_capacity(grid * grid * 4);
    for row in 0..grid {
        for col in 0..grid {
            let corner = |i: usize| ((i + 1) as f32 / grid as f32).clamp(0.0, 1.0);
            values.extend([logit(corner(col)), logit(corner(row)), size, size]);
        }
    }
    Tensor::from_data(TensorData::new(values, [grid * grid, 4]), device)
}

/// `box_predictor`: features `[B, P, C]` → boxes `(cx, cy, w, h)` `[B, P, 4]`
/// in `[0, 1]` of the padded square; `bias` from [`box_bias`] (`None`: the
/// deliberately wrong variant without it).
pub(crate) fn predict_boxes(
    head: &MlpHead,
    features: Tensor<3>,
    bias: Option<&Tensor<2>>,
) -> Tensor<3> {
    let logits = head.forward(features);
    match bias {
        Some(bias) => sigmoid(logits + bias.clone().unsqueeze::<3>()),
        None => sigmoid(logits),
    }
}

/// `Owlv2ClassPredictionHead`.
#[derive(Debug, Clone)]
pub(crate) struct ClassHead {
    dense0: Linear,
    logit_shift: Linear,
    logit_scale: Linear,
}

/// The class head's outputs.
pub(crate) struct ClassOutput {
    /// `[B, P, Q]`.
    pub(crate) logits: Tensor<3>,
    /// Per-patch class embeddings, L2-normalised, `[B, P, D]`.
    pub(crate) class_embeds: Tensor<3>,
}

impl ClassHead {
    pub(crate) fn load(l: &mut Loader, prefix: &str, width: usize, query_dim: usize) -> Self {
        ClassHead {
            dense0: Linear::load(l, &format!("{prefix}.dense0"), width, query_dim),
            logit_shift: Linear::load(l, &format!("{prefix}.logit_shift"), width, 1),
            logit_scale: Linear::load(l, &format!("{prefix}.logit_scale"), width, 1),
        }
    }

    /// The per-patch class embeddings `[B, P, D]`, not normalised: what
    /// image-guided detection takes its query from.
    pub(crate) fn embed(&self, features: Tensor<3>) -> Tensor<3> {
        self.dense0.forward(features)
    }

    /// Features `[B, P, C]` and queries `[B, Q, D]` →
    /// `(cos(patch, query) + shift) · (elu(scale) + 1)`, `[B, P, Q]`.
    pub(crate) fn forward(&self, features: Tensor<3>, queries: Tensor<3>) -> ClassOutput {
        let class_embeds = normalize(self.embed(features.clone()));
        let queries = normalize(queries);
        let cosine = class_embeds.clone().matmul(queries.swap_dims(1, 2)); // [B, P, Q]
        let shift = self.logit_shift.forward(features.clone()); // [B, P, 1]
        let scale = elu(self.logit_scale.forward(features)) + 1.0;
        ClassOutput {
            logits: (cosine + shift) * scale,
            class_embeds,
        }
    }
}

/// `x / (‖x‖ + 1e-6)` over the last dimension.
fn normalize(x: Tensor<3>) -> Tensor<3> {
    let norm = x.clone().powi_scalar(2).sum_dim(2).sqrt();
    x / (norm + 1e-6)
}

/// `nn.ELU()`: `x` where positive, `eˣ − 1` elsewhere.
fn elu(x: Tensor<3>) -> Tensor<3> {
    x.clone().clamp_min(0.0) + (x.clamp_max(0.0).exp() - 1.0)
}
