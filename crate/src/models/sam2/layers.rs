//! The building blocks SAM 2's sub-networks share: convolutions and the
//! `Sam2FeedForward` MLP, each loaded from its checkpoint keys
//! (`<prefix>.weight`, `<prefix>.bias`), and the linear and layer norm every
//! port shares (`models/layers.rs`).
//!
//! Paper: Ravi et al., "SAM 2", 2024. Reference: transformers
//! `models/sam2/modeling_sam2.py` (`Sam2FeedForward`, `Sam2LayerNorm`) and the
//! PyTorch `nn.Conv2d` / `nn.ConvTranspose2d` it uses.

use burn::tensor::Tensor;
use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::module::{conv_transpose2d, conv2d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};

use crate::models::checkpoint::Loader;
use crate::models::kernels::{contiguous, gelu, linear, on_cpu_f32, patches_on_cpu};
pub(crate) use crate::models::layers::{LayerNorm, Linear};

/// `nn.Conv2d` with a square kernel.
#[derive(Debug, Clone)]
pub(crate) struct Conv2d {
    weight: Tensor<4>,
    bias: Tensor<1>,
    stride: [usize; 2],
    padding: [usize; 2],
    groups: usize,
}

impl Conv2d {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn load(
        l: &mut Loader,
        prefix: &str,
        c_in: usize,
        c_out: usize,
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
    ) -> Self {
        Conv2d {
            weight: l.tensor(
                &format!("{prefix}.weight"),
                [c_out, c_in, kernel[0], kernel[1]],
            ),
            bias: l.tensor(&format!("{prefix}.bias"), [c_out]),
            stride,
            padding,
            groups: 1,
        }
    }

    /// `nn.Conv2d(c, c, kernel, padding=padding, groups=c)`: one filter per channel.
    pub(crate) fn load_depthwise(
        l: &mut Loader,
        prefix: &str,
        channels: usize,
        kernel: usize,
        padding: usize,
    ) -> Self {
        Conv2d {
            weight: l.tensor(&format!("{prefix}.weight"), [channels, 1, kernel, kernel]),
            bias: l.tensor(&format!("{prefix}.bias"), [channels]),
            stride: [1, 1],
            padding: [padding; 2],
            groups: channels,
        }
    }

    /// Channels-last `[B, H, W, C_in]` → channels-first `[B, C_out, H', W']`.
    pub(crate) fn forward_channels_last(&self, x: Tensor<4>) -> Tensor<4> {
        if self.is_pointwise() {
            return self.pointwise(x).permute([0, 3, 1, 2]);
        }
        self.forward(x.permute([0, 3, 1, 2]))
    }

    /// `[B, C_in, H, W]` → `[B, C_out, H', W']` (laid out so).
    pub(crate) fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        if self.is_pointwise() {
            let out = self.pointwise(x.permute([0, 2, 3, 1])); // [B, H, W, C_out]
            return contiguous(out.permute([0, 3, 1, 2]));
        }
        conv2d(
            x,
            self.weight.clone(),
            Some(self.bias.clone()),
            ConvOptions::new(self.stride, self.padding, [1, 1], self.groups),
        )
    }

    /// Channels-first `[B, C_in, H, W]` → channels-last `[B, H', W', C_out]`.
    /// On the CPU one GEMM of the image's patches (`im2col`) with the
    /// flattened kernel, written in the layout the caller reads.
    pub(crate) fn forward_to_channels_last(&self, x: Tensor<4>) -> Tensor<4> {
        if !on_cpu_f32(&x) || self.groups != 1 {
            return self.forward(x).permute([0, 2, 3, 1]);
        }
        let [c_out, c_in, kh, kw] = self.weight.dims();
        let weight = self
            .weight
            .clone()
            .reshape([c_out, c_in * kh * kw])
            .transpose();
        let patches = patches_on_cpu(x, [kh, kw], self.stride, self.padding);
        linear(patches, weight, Some(self.bias.clone()))
    }

    /// A 1×1 kernel with stride 1 and no padding: a linear map of each
    /// pixel's channels.
    fn is_pointwise(&self) -> bool {
        let [_, _, kh, kw] = self.weight.dims();
        [kh, kw] == [1, 1] && self.stride == [1, 1] && self.padding == [0, 0] && self.groups == 1
    }

    /// The pointwise convolution of a channels-last `[B, H, W, C_in]` map (any
    /// strides) as one GEMM → `[B, H, W, C_out]`.
    fn pointwise(&self, x: Tensor<4>) -> Tensor<4> {
        let [c_out, c_in, _, _] = self.weight.dims();
        let weight = self.weight.clone().reshape([c_out, c_in]).transpose();
        linear(x, weight, Some(self.bias.clone()))
    }
}

/// `nn.ConvTranspose2d(c_in, c_out, kernel_size=2, stride=2)`.
#[derive(Debug, Clone)]
pub(crate) struct ConvTranspose2x2 {
    weight: Tensor<4>,
    bias: Tensor<1>,
}

impl ConvTranspose2x2 {
    pub(crate) fn load(l: &mut Loader, prefix: &str, c_in: usize, c_out: usize) -> Self {
        ConvTranspose2x2 {
            weight: l.tensor(&format!("{prefix}.weight"), [c_in, c_out, 2, 2]),
            bias: l.tensor(&format!("{prefix}.bias"), [c_out]),
        }
    }

    /// `[B, C_in, H, W]` → `[B, C_out, 2H, 2W]`.
    pub(crate) fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        conv_transpose2d(
            x,
            self.weight.clone(),
            Some(self.bias.clone()),
            ConvTransposeOptions::new([2, 2], [0, 0], [0, 0], [1, 1], 1),
        )
    }
}

/// Activation of a [`FeedForward`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Activation {
    Relu,
    Gelu,
}

impl Activation {
    pub(crate) fn apply<const D: usize>(self, x: Tensor<D>) -> Tensor<D> {
        match self {
            Activation::Relu => relu(x),
            Activation::Gelu => gelu(x),
        }
    }
}

/// `Sam2FeedForward`: `proj_in`, `num_layers - 2` hidden `layers.i`, `proj_out`,
/// the activation after every layer but the last, optionally a sigmoid.
#[derive(Debug, Clone)]
pub(crate) struct FeedForward {
    proj_in: Linear,
    layers: Vec<Linear>,
    proj_out: Linear,
    activation: Activation,
    sigmoid_output: bool,
}

impl FeedForward {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn load(
        l: &mut Loader,
        prefix: &str,
        d_in: usize,
        hidden: usize,
        d_out: usize,
        num_layers: usize,
        activation: Activation,
        sigmoid_output: bool,
    ) -> Self {
        FeedForward {
            proj_in: Linear::load(l, &format!("{prefix}.proj_in"), d_in, hidden),
            layers: (0..num_layers.saturating_sub(2))
                .map(|i| Linear::load(l, &format!("{prefix}.layers.{i}"), hidden, hidden))
                .collect(),
            proj_out: Linear::load(l, &format!("{prefix}.proj_out"), hidden, d_out),
            activation,
            sigmoid_output,
        }
    }

    /// The widest intermediate, per input row.
    pub(crate) fn hidden(&self) -> usize {
        self.proj_in.d_out()
    }

    pub(crate) fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let mut x = self.activation.apply(self.proj_in.forward(x));
        for layer in &self.layers {
            x = self.activation.apply(layer.forward(x));
        }
        let x = self.proj_out.forward(x);
        if self.sigmoid_output { sigmoid(x) } else { x }
    }
}

/// The normalised sine position encoding of an `h × w` grid (DETR's, as
/// `Sam2SinePositionEmbedding(num_position_features, normalize=True)`):
/// `[1, 2F, h, w]`, the `F` y channels first, then the `F` x channels, each
/// alternating sin and cos. Computed in f32 on the host as the reference does.
pub(crate) fn sine_position_embedding(
    h: usize,
    w: usize,
    features: usize,
    device: &burn::tensor::Device,
) -> Tensor<4> {
    const TEMPERATURE: f32 = 10_000.0;
    const EPS: f32 = 1e-6;
    let scale = 2.0 * std::f32::consts::PI;
    let dim_t: Vec<f32> = (0..features)
        .map(|i| TEMPERATURE.powf(2.0 * (i / 2) as f32 / features as f32))
        .collect();
    let encode = |position: f32, i: usize| {
        let v = position / dim_t[i];
        if i.is_multiple_of(2) {
            v.sin()
        } else {
            v.cos()
        }
    };
    let mut out = vec![0.0f32; 2 * features * h * w];
    for y in 0..h {
        let ye = (y + 1) as f32 / (h as f32 + EPS) * scale;
        for x in 0..w {
            let xe = (x + 1) as f32 / (w as f32 + EPS) * scale;
            for i in 0..features {
                out[(i * h + y) * w + x] = encode(ye, i);
                out[((features + i) * h + y) * w + x] = encode(xe, i);
            }
        }
    }
    Tensor::from_data(
        burn::tensor::TensorData::new(out, [1, 2 * features, h, w]),
        device,
    )
}
