//! The Swin Transformer image backbone
//! (`model.backbone.conv_encoder.model.*`): patch embedding, stages of window
//! attention blocks (every second block on cyclically shifted windows, with
//! the attention mask that keeps wrapped-around regions apart and a learned
//! relative position bias), patch merging between stages, and a layer norm on
//! each output stage.
//!
//! Papers: Liu et al., "Swin Transformer: Hierarchical Vision Transformer
//! using Shifted Windows", 2021; Liu et al., "Grounding DINO", 2023.
//! Reference: transformers `models/swin/modeling_swin.py` (`SwinBackbone`
//! with `always_partition=True`: windows are never shrunk to small inputs,
//! feature maps are taken before downsampling), under the old on-disk names
//! (`attention.self.query`, `intermediate.dense`, `output.dense`).

use crate::models::kernels::gelu;
use burn::tensor::{Device, Tensor, TensorData};

use super::config::SwinConfig;
use super::layers::{Conv2d, LayerNorm, Linear, attend, merge_heads, split_heads};
use crate::models::checkpoint::Loader;

/// Epsilon of the `nn.LayerNorm`s built without one (embedding, merging, outputs).
const TORCH_LN_EPS: f64 = 1e-5;

/// `SwinAttention` of one block, with its relative position bias resolved.
#[derive(Debug, Clone)]
struct WindowAttention {
    query: Linear,
    key: Linear,
    value: Linear,
    output: Linear,
    /// `[1, 1, H, N, N]` (N = window²), gathered from the bias table.
    bias: Tensor<5>,
    heads: usize,
}

impl WindowAttention {
    fn load(
        l: &mut Loader,
        prefix: &str,
        dim: usize,
        heads: usize,
        window: usize,
        qkv_bias: bool,
    ) -> Self {
        let proj = |l: &mut Loader, name: &str| {
            let key = format!("{prefix}.self.{name}");
            if qkv_bias {
                Linear::load(l, &key, dim, dim)
            } else {
                Linear::load_no_bias(l, &key, dim, dim)
            }
        };
        let query = proj(l, "query");
        let key = proj(l, "key");
        let value = proj(l, "value");
        let output = Linear::load(l, &format!("{prefix}.output.dense"), dim, dim);
        let side = 2 * window - 1;
        let table = l.host(
            &format!("{prefix}.self.relative_position_bias_table"),
            &[side * side, heads],
        );
        let bias = relative_position_bias(&table, window, heads, l.device());
        WindowAttention {
            query,
            key,
            value,
            output,
            bias,
            heads,
        }
    }

    /// `[B, nW, N, C]` windows, `mask` `[1, nW, 1, N, N]` → `[B, nW, N, C]`.
    fn forward(&self, x: Tensor<4>, mask: Option<Tensor<5>>) -> Tensor<4> {
        let [b, nw, n, c] = x.dims();
        let flat = x.reshape([b * nw, n, c]);
        let hd = c / self.heads;
        let to5 = |t: Tensor<3>| split_heads(t, self.heads).reshape([b, nw, self.heads, n, hd]);
        let q = to5(self.query.forward(flat.clone()));
        let k = to5(self.key.forward(flat.clone()));
        let v = to5(self.value.forward(flat));
        let bias = match mask {
            Some(mask) => self.bias.clone() + mask,
            None => self.bias.clone(),
        };
        let out = attend(q, k, v, Some(bias)); // [B, nW, H, N, d]
        let out = merge_heads(out.reshape([b * nw, self.heads, n, hd]));
        self.output.forward(out).reshape([b, nw, n, c])
    }
}

/// `SwinRelativePositionBias`: the table `[(2w-1)², H]` gathered by the
/// relative offsets of every pair of window positions, `[1, 1, H, N, N]`.
fn relative_position_bias(
    table: &[f32],
    window: usize,
    heads: usize,
    device: &Device,
) -> Tensor<5> {
    let n = window * window;
    let side = 2 * window - 1;
    let mut values = vec![0.0f32; heads * n * n];
    for i in 0..n {
        let (yi, xi) = (i / window, i % window);
        for j in 0..n {
            let (yj, xj) = (j / window, j % window);
            let index = (yi + window - 1 - yj) * side + (xi + window - 1 - xj);
            for h in 0..heads {
                values[(h * n + i) * n + j] = table[index * heads + h];
            }
        }
    }
    Tensor::from_data(TensorData::new(values, [1, 1, heads, n, n]), device)
}

/// `SwinLayer.get_attn_mask`: for a padded `hp × wp` grid cyclically shifted by
/// `shift`, −100 between positions of a window that come from different
/// regions, `[1, nW, 1, N, N]`.
fn shift_mask(hp: usize, wp: usize, window: usize, shift: usize, device: &Device) -> Tensor<5> {
    let region =
        |i: usize, len: usize| usize::from(i >= len - window) + usize::from(i >= len - shift);
    let (nh, nw) = (hp / window, wp / window);
    let n = window * window;
    let mut ids = Vec::with_capacity(nh * nw * n);
    for wy in 0..nh {
        for wx in 0..nw {
            for p in 0..n {
                let (y, x) = (wy * window + p / window, wx * window + p % window);
                ids.push(region(y, hp) * 3 + region(x, wp));
            }
        }
    }
    let mut values = Vec::with_capacity(nh * nw * n * n);
    for win in ids.chunks_exact(n) {
        for &a in win {
            values.extend(win.iter().map(|&b| if a == b { 0.0f32 } else { -100.0 }));
        }
    }
    Tensor::from_data(TensorData::new(values, [1, nh * nw, 1, n, n]), device)
}

/// Zero-pads `[B, H, W, C]` at the bottom and right to `[B, hp, wp, C]`.
fn pad_bottom_right(x: Tensor<4>, hp: usize, wp: usize) -> Tensor<4> {
    let [b, h, w, c] = x.dims();
    let mut x = x;
    if wp > w {
        let zeros = Tensor::zeros([b, h, wp - w, c], &x.device());
        x = Tensor::cat(vec![x, zeros], 2);
    }
    if hp > h {
        let zeros = Tensor::zeros([b, hp - h, wp, c], &x.device());
        x = Tensor::cat(vec![x, zeros], 1);
    }
    x
}

/// `window_partition`: `[B, H, W, C]` → `[B, nW, ws², C]`.
fn partition(x: Tensor<4>, ws: usize) -> Tensor<4> {
    let [b, h, w, c] = x.dims();
    let (nh, nw) = (h / ws, w / ws);
    x.reshape([b, nh, ws, nw, ws, c])
        .permute([0, 1, 3, 2, 4, 5])
        .reshape([b, nh * nw, ws * ws, c])
}

/// `window_reverse`: `[B, nW, ws², C]` → `[B, H, W, C]`.
fn unpartition(windows: Tensor<4>, ws: usize, h: usize, w: usize) -> Tensor<4> {
    let [b, _, _, c] = windows.dims();
    let (nh, nw) = (h / ws, w / ws);
    windows
        .reshape([b, nh, nw, ws, ws, c])
        .permute([0, 1, 3, 2, 4, 5])
        .reshape([b, h, w, c])
}

/// `SwinLayer` (`blocks.i`).
#[derive(Debug, Clone)]
struct Block {
    layernorm_before: LayerNorm,
    attention: WindowAttention,
    layernorm_after: LayerNorm,
    fc1: Linear,
    fc2: Linear,
    window: usize,
    shift: usize,
}

impl Block {
    fn load(
        l: &mut Loader,
        prefix: &str,
        c: &SwinConfig,
        dim: usize,
        heads: usize,
        shift: usize,
    ) -> Self {
        let hidden = (c.mlp_ratio * dim as f64) as usize;
        Block {
            layernorm_before: LayerNorm::load(
                l,
                &format!("{prefix}.layernorm_before"),
                dim,
                c.layer_norm_eps,
            ),
            attention: WindowAttention::load(
                l,
                &format!("{prefix}.attention"),
                dim,
                heads,
                c.window_size,
                c.qkv_bias,
            ),
            layernorm_after: LayerNorm::load(
                l,
                &format!("{prefix}.layernorm_after"),
                dim,
                c.layer_norm_eps,
            ),
            fc1: Linear::load(l, &format!("{prefix}.intermediate.dense"), dim, hidden),
            fc2: Linear::load(l, &format!("{prefix}.output.dense"), hidden, dim),
            window: c.window_size,
            shift,
        }
    }

    /// `[B, H, W, C]` → `[B, H, W, C]`.
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [_, h, w, _] = x.dims();
        let ws = self.window;
        let (hp, wp) = (h.div_ceil(ws) * ws, w.div_ceil(ws) * ws);
        let mut y = pad_bottom_right(self.layernorm_before.forward(x.clone()), hp, wp);
        let s = self.shift as i64;
        if s > 0 {
            y = y.roll(&[-s, -s], &[1, 2]);
        }
        let mask = (s > 0).then(|| shift_mask(hp, wp, ws, self.shift, &x.device()));
        let y = self.attention.forward(partition(y, ws), mask);
        let mut y = unpartition(y, ws, hp, wp);
        if s > 0 {
            y = y.roll(&[s, s], &[1, 2]);
        }
        let [b, _, _, c] = y.dims();
        let y = if hp > h || wp > w {
            y.slice([0..b, 0..h, 0..w, 0..c])
        } else {
            y
        };
        let x = x + y;
        let mlp = self.fc2.forward(gelu(
            self.fc1.forward(self.layernorm_after.forward(x.clone())),
        ));
        x + mlp
    }
}

/// `SwinPatchMerging` (`downsample`): 2×2 neighbourhoods concatenated,
/// normalised and projected, `[B, H, W, C]` → `[B, ⌈H/2⌉, ⌈W/2⌉, 2C]`.
#[derive(Debug, Clone)]
struct PatchMerging {
    norm: LayerNorm,
    reduction: Linear,
}

impl PatchMerging {
    fn load(l: &mut Loader, prefix: &str, dim: usize) -> Self {
        PatchMerging {
            norm: LayerNorm::load(l, &format!("{prefix}.norm"), 4 * dim, TORCH_LN_EPS),
            reduction: Linear::load_no_bias(l, &format!("{prefix}.reduction"), 4 * dim, 2 * dim),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [b, h, w, c] = x.dims();
        let x = pad_bottom_right(x, h.div_ceil(2) * 2, w.div_ceil(2) * 2);
        let (h2, w2) = (h.div_ceil(2), w.div_ceil(2));
        // [B, h2, row, w2, col, C] → [B, h2, w2, col, row, C]: the reference's
        // order x[0::2, 0::2], x[1::2, 0::2], x[0::2, 1::2], x[1::2, 1::2].
        let x = x
            .reshape([b, h2, 2, w2, 2, c])
            .permute([0, 1, 3, 4, 2, 5])
            .reshape([b, h2, w2, 4 * c]);
        self.reduction.forward(self.norm.forward(x))
    }
}

/// `SwinStage` (`encoder.layers.i`).
#[derive(Debug, Clone)]
struct Stage {
    blocks: Vec<Block>,
    downsample: Option<PatchMerging>,
}

/// `SwinBackbone`.
#[derive(Debug, Clone)]
pub struct Swin {
    projection: Conv2d,
    embed_norm: LayerNorm,
    stages: Vec<Stage>,
    /// `hidden_states_norms.stage{i}` for each output stage (0-based index).
    out_norms: Vec<(usize, LayerNorm)>,
    patch: usize,
}

impl Swin {
    pub(crate) fn load(l: &mut Loader, prefix: &str, c: &SwinConfig) -> Self {
        let projection = Conv2d::load(
            l,
            &format!("{prefix}.embeddings.patch_embeddings.projection"),
            [c.num_channels, c.embed_dim],
            c.patch_size,
            c.patch_size,
            0,
        );
        let embed_norm = LayerNorm::load(
            l,
            &format!("{prefix}.embeddings.norm"),
            c.embed_dim,
            TORCH_LN_EPS,
        );
        let last = c.depths.len() - 1;
        let stages = (0..c.depths.len())
            .map(|i| {
                let dim = c.stage_dim(i);
                let stage = format!("{prefix}.encoder.layers.{i}");
                let blocks = (0..c.depths[i])
                    .map(|j| {
                        let shift = if j % 2 == 1 { c.window_size / 2 } else { 0 };
                        Block::load(
                            l,
                            &format!("{stage}.blocks.{j}"),
                            c,
                            dim,
                            c.num_heads[i],
                            shift,
                        )
                    })
                    .collect();
                let downsample =
                    (i < last).then(|| PatchMerging::load(l, &format!("{stage}.downsample"), dim));
                Stage { blocks, downsample }
            })
            .collect();
        let out_norms = c
            .out_indices
            .iter()
            .map(|&s| {
                let key = format!("{prefix}.hidden_states_norms.stage{s}");
                (
                    s - 1,
                    LayerNorm::load(l, &key, c.stage_dim(s - 1), TORCH_LN_EPS),
                )
            })
            .collect();
        Swin {
            projection,
            embed_norm,
            stages,
            out_norms,
            patch: c.patch_size,
        }
    }

    /// Normalised pixels `[B, 3, H, W]` → the output stages' feature maps
    /// `[B, C_s, H_s, W_s]`, shallowest first.
    pub fn forward(&self, pixels: Tensor<4>) -> Vec<Tensor<4>> {
        let [_, _, h, w] = pixels.dims();
        let p = self.patch;
        let padded = pad_bottom_right(
            pixels.permute([0, 2, 3, 1]),
            h.div_ceil(p) * p,
            w.div_ceil(p) * p,
        )
        .permute([0, 3, 1, 2]);
        let x = self.projection.forward(padded).permute([0, 2, 3, 1]); // [B, H/4, W/4, C]
        let mut x = self.embed_norm.forward(x);
        let mut outputs = Vec::with_capacity(self.out_norms.len());
        for (i, stage) in self.stages.iter().enumerate() {
            for block in &stage.blocks {
                x = block.forward(x);
            }
            if let Some((_, norm)) = self.out_norms.iter().find(|(s, _)| *s == i) {
                outputs.push(norm.forward(x.clone()).permute([0, 3, 1, 2]));
            }
            if let Some(merge) = &stage.downsample {
                x = merge.forward(x);
            }
        }
        outputs
    }
}
