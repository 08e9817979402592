//! The building blocks every port shares, each loaded from its checkpoint
//! keys (`<prefix>.weight`, `<prefix>.bias`): PyTorch's `nn.Linear` and
//! `nn.LayerNorm`, on the fast CPU kernels of [`super::kernels`] where the
//! backend is the CPU, and scaled dot-product attention with an additive
//! bias over split heads.

use burn::tensor::Tensor;
use burn::tensor::module::layer_norm;

use super::checkpoint::Loader;
use super::kernels::{layer_norm_channels_first_on_cpu, linear, on_cpu_f32, softmax_last};

/// `nn.Linear`; the weight is kept transposed, `[in, out]`.
#[derive(Debug, Clone)]
pub(crate) struct Linear {
    weight: Tensor<2>,
    bias: Option<Tensor<1>>,
}

impl Linear {
    pub(crate) fn load(l: &mut Loader, prefix: &str, d_in: usize, d_out: usize) -> Self {
        let mut layer = Self::load_no_bias(l, prefix, d_in, d_out);
        layer.bias = Some(l.tensor(&format!("{prefix}.bias"), [d_out]));
        layer
    }

    /// `nn.Linear(bias=False)`.
    pub(crate) fn load_no_bias(l: &mut Loader, prefix: &str, d_in: usize, d_out: usize) -> Self {
        let weight = l.tensor(&format!("{prefix}.weight"), [d_out, d_in]);
        Linear {
            weight: weight.transpose(),
            bias: None,
        }
    }

    /// A fused projection (`qkv` is `[N · d_out, d_in]` on disk) as `N`
    /// separate ones, so no output holds all of them at once.
    pub(crate) fn load_split<const N: usize>(
        l: &mut Loader,
        prefix: &str,
        d_in: usize,
        d_out: usize,
    ) -> [Self; N] {
        let fused = Self::load(l, prefix, d_in, N * d_out);
        std::array::from_fn(|i| fused.outputs(i * d_out, d_out))
    }

    /// The layer computing only outputs `start..start + len` (views of this
    /// one's weights).
    pub(crate) fn outputs(&self, start: usize, len: usize) -> Self {
        Linear {
            weight: self.weight.clone().narrow(1, start, len),
            bias: self.bias.clone().map(|b| b.narrow(0, start, len)),
        }
    }

    /// Input features.
    pub(crate) fn d_in(&self) -> usize {
        self.weight.dims()[0]
    }

    /// Output features.
    pub(crate) fn d_out(&self) -> usize {
        self.weight.dims()[1]
    }

    pub(crate) fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        linear(x, self.weight.clone(), self.bias.clone())
    }
}

/// `nn.LayerNorm` over the last dimension.
#[derive(Debug, Clone)]
pub(crate) struct LayerNorm {
    gamma: Tensor<1>,
    beta: Tensor<1>,
    eps: f64,
}

impl LayerNorm {
    pub(crate) fn load(l: &mut Loader, prefix: &str, dim: usize, eps: f64) -> Self {
        LayerNorm {
            gamma: l.tensor(&format!("{prefix}.weight"), [dim]),
            beta: l.tensor(&format!("{prefix}.bias"), [dim]),
            eps,
        }
    }

    pub(crate) fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        layer_norm(x, self.gamma.clone(), Some(self.beta.clone()), self.eps)
    }

    /// Over dim 1 of `[B, C, H, W]` (`Sam2LayerNorm(data_format="channels_first")`).
    pub(crate) fn forward_channels_first(&self, x: Tensor<4>) -> Tensor<4> {
        if on_cpu_f32(&x) {
            let (gamma, beta) = (self.gamma.clone(), self.beta.clone());
            return layer_norm_channels_first_on_cpu(x, gamma, beta, self.eps);
        }
        self.forward(x.permute([0, 2, 3, 1])).permute([0, 3, 1, 2])
    }
}

/// Scaled dot-product attention over `[…, L, d]` heads: `softmax(q kᵀ / √d +
/// bias) v`. `bias` broadcasts against the scores `[…, L_q, L_k]`; masked
/// positions carry a large negative bias.
pub(crate) fn attend<const D: usize>(
    q: Tensor<D>,
    k: Tensor<D>,
    v: Tensor<D>,
    bias: Option<Tensor<D>>,
) -> Tensor<D> {
    let d = q.dims()[D - 1];
    let scores = q.matmul(k.swap_dims(D - 2, D - 1)) / (d as f64).sqrt();
    let scores = match bias {
        Some(bias) => scores + bias,
        None => scores,
    };
    softmax_last(scores).matmul(v)
}

/// `[B, L, H·d]` → `[B, H, L, d]`.
pub(crate) fn split_heads(x: Tensor<3>, heads: usize) -> Tensor<4> {
    let [b, l, c] = x.dims();
    x.reshape([b, l, heads, c / heads]).swap_dims(1, 2)
}

/// `[B, H, L, d]` → `[B, L, H·d]`.
pub(crate) fn merge_heads(x: Tensor<4>) -> Tensor<3> {
    let [b, h, l, d] = x.dims();
    x.swap_dims(1, 2).reshape([b, l, h * d])
}
