//! The Hiera image encoder backbone (`vision_encoder.backbone.*`): patch
//! embedding, absolute + windowed position embedding, and multi-scale blocks
//! with window or global attention and query pooling at stage transitions.
//!
//! Papers: Ravi et al., "SAM 2", 2024; Ryali et al., "Hiera", 2023; Bolya et al.,
//! "Window Attention is Bugged", 2023 (the windowed position embedding).
//! Reference: transformers `models/sam2/modeling_sam2.py` (`Sam2HieraDetModel`,
//! `Sam2MultiScaleBlock`, `Sam2MultiScaleAttention`, `window_partition`).

use burn::tensor::Tensor;

use super::config::HieraConfig;
use super::layers::{Activation, Conv2d, FeedForward, LayerNorm, Linear};
use crate::limits::in_row_blocks;
use crate::models::checkpoint::Loader;
use crate::models::kernels::{
    add, attention, contiguous, conv_output_size, max_pool_channels_last,
};
use crate::models::resample::bicubic_resize;

/// `Sam2MultiScaleAttention`: the checkpoint's fused `qkv` projection, run as
/// three (the fused output is 144 MiB at the first stage transition of a
/// 1024² tiny encoder, over WebGPU's buffer limit), optional max-pooled queries.
#[derive(Debug, Clone)]
struct MultiScaleAttention {
    /// `[q, k, v]`, each `C_in → C_out`.
    qkv: [Linear; 3],
    proj: Linear,
    heads: usize,
    query_stride: Option<usize>,
}

impl MultiScaleAttention {
    /// `[B, H, W, C]` → `[B, H', W', C_out]` (H' = H / stride with query pooling).
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [b, h, w, c_in] = x.dims();
        let c_out = self.proj.d_out();
        let head_dim = c_out / self.heads;
        // One copy of a window partition's view, shared by the three projections.
        let x = x.reshape([b * h * w, c_in]);
        let [mut q, k, v] = self.qkv.each_ref().map(|p| {
            p.forward(x.clone())
                .reshape([b, h * w, self.heads, head_dim])
        }); // [B, HW, nH, d]
        let (mut h_out, mut w_out) = (h, w);
        if let Some(stride) = self.query_stride {
            // `do_pool`.
            let pooled = max_pool_channels_last(q.reshape([b, h, w, c_out]), stride); // [B, H', W', C_out]
            [_, h_out, w_out, _] = pooled.dims();
            q = pooled.reshape([b, h_out * w_out, self.heads, head_dim]);
        }
        let [q, k, v] = [q, k, v].map(|t| t.swap_dims(1, 2)); // [B, nH, HW, d]
        // Global attention at 64² tokens scores 256 MiB at once: run in query blocks.
        let out = attention(q, k, v); // [B, nH, H'W', d]
        let out = out.swap_dims(1, 2).reshape([b, h_out, w_out, c_out]);
        self.proj.forward(out)
    }
}

/// `window_partition`: `[B, H, W, C]` → `[B · nWin, ws, ws, C]`, zero-padding H and W
/// up to multiples of `ws`.
fn window_partition(x: Tensor<4>, ws: usize) -> Tensor<4> {
    let [b, h, w, c] = x.dims();
    let (ph, pw) = (h.div_ceil(ws) * ws, w.div_ceil(ws) * ws);
    let mut x = x;
    if pw > w {
        let zeros = Tensor::zeros([b, h, pw - w, c], &x.device());
        x = Tensor::cat(vec![x, zeros], 2);
    }
    if ph > h {
        let zeros = Tensor::zeros([b, ph - h, pw, c], &x.device());
        x = Tensor::cat(vec![x, zeros], 1);
    }
    let (nh, nw) = (ph / ws, pw / ws);
    x.reshape([b, nh, ws, nw, ws, c])
        .permute([0, 1, 3, 2, 4, 5])
        .reshape([b * nh * nw, ws, ws, c])
}

/// `window_unpartition`: the inverse of [`window_partition`] for an `hw` grid,
/// cropping the padding.
fn window_unpartition(windows: Tensor<4>, ws: usize, hw: [usize; 2]) -> Tensor<4> {
    let [n, _, _, c] = windows.dims();
    let (nh, nw) = (hw[0].div_ceil(ws), hw[1].div_ceil(ws));
    let b = n / (nh * nw);
    let x = windows
        .reshape([b, nh, nw, ws, ws, c])
        .permute([0, 1, 3, 2, 4, 5])
        .reshape([b, nh * ws, nw * ws, c]);
    if [nh * ws, nw * ws] == hw {
        x
    } else {
        x.slice([0..b, 0..hw[0], 0..hw[1], 0..c])
    }
}

/// `Sam2MultiScaleBlock` (`blocks.i`).
#[derive(Debug, Clone)]
struct MultiScaleBlock {
    layer_norm1: LayerNorm,
    attn: MultiScaleAttention,
    layer_norm2: LayerNorm,
    mlp: FeedForward,
    /// Present when the block widens the channels (first block of a stage).
    proj: Option<Linear>,
    /// 0 = global attention.
    window_size: usize,
}

impl MultiScaleBlock {
    /// `[B, H, W, C_in]` → `[B, H', W', C_out]`.
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [_, h, w, _] = x.dims();
        let normed = self.layer_norm1.forward(x.clone());
        let residual = match (&self.proj, self.attn.query_stride) {
            (Some(proj), Some(stride)) => {
                max_pool_channels_last(proj.forward(normed.clone()), stride)
            }
            (Some(proj), None) => proj.forward(normed.clone()),
            (None, _) => x,
        };
        let attn_out = if self.window_size > 0 {
            let out = self
                .attn
                .forward(window_partition(normed, self.window_size));
            // Query pooling shrinks the windows and the grid alike.
            let (ws, hw) = match self.attn.query_stride {
                Some(stride) => {
                    let [_, rh, rw, _] = residual.dims();
                    (self.window_size / stride, [rh, rw])
                }
                None => (self.window_size, [h, w]),
            };
            window_unpartition(out, ws, hw)
        } else {
            self.attn.forward(normed)
        };
        let x = add(residual, attn_out);
        let mlp_out = in_row_blocks(
            self.layer_norm2.forward(x.clone()),
            1,
            self.mlp.hidden(),
            |t| self.mlp.forward(t),
        );
        add(x, mlp_out)
    }
}

/// `Sam2HieraDetModel`.
#[derive(Debug, Clone)]
pub(crate) struct Hiera {
    patch_embed: Conv2d,
    /// `[1, C, bh, bw]`, resized bicubically to the token grid.
    pos_embed: Tensor<4>,
    /// `[1, C, w0, w0]`, tiled over the token grid.
    pos_embed_window: Tensor<4>,
    /// `[1, H, W, C]`: the position embedding of the configured image
    /// size's token grid, computed once at load (it depends on the weights
    /// alone; every image the predictor encodes is resized to that size).
    grid_position_embedding: Tensor<4>,
    blocks: Vec<MultiScaleBlock>,
    /// Index of each stage's last block.
    stage_ends: Vec<usize>,
}

impl Hiera {
    pub(crate) fn load(l: &mut Loader, prefix: &str, c: &HieraConfig) -> Self {
        let patch_embed = Conv2d::load(
            l,
            &format!("{prefix}.patch_embed.projection"),
            c.num_channels,
            c.hidden_size,
            c.patch_kernel_size,
            c.patch_stride,
            c.patch_padding,
        );
        let [bh, bw] = c.window_positional_embedding_background_size;
        let pos_embed = l.tensor(&format!("{prefix}.pos_embed"), [1, c.hidden_size, bh, bw]);
        let w0 = c.window_size_per_stage[0];
        let pos_embed_window = l.tensor(
            &format!("{prefix}.pos_embed_window"),
            [1, c.hidden_size, w0, w0],
        );

        let mut blocks = Vec::new();
        let mut stage_ends = Vec::new();
        let mut total = 0;
        for (stage, &count) in c.blocks_per_stage.iter().enumerate() {
            for block in 0..count {
                let first_of_later_stage = stage > 0 && block == 0;
                let dim = if first_of_later_stage {
                    c.embed_dim_per_stage[stage - 1]
                } else {
                    c.embed_dim_per_stage[stage]
                };
                let dim_out = c.embed_dim_per_stage[stage];
                let window = if c.global_attention_blocks.contains(&total) {
                    0
                } else if first_of_later_stage {
                    c.window_size_per_stage[stage - 1]
                } else {
                    c.window_size_per_stage[stage]
                };
                let query_stride = (first_of_later_stage && stage <= c.num_query_pool_stages)
                    .then_some(c.query_stride[0]);
                let p = format!("{prefix}.blocks.{total}");
                let hidden = (dim_out as f64 * c.mlp_ratio) as usize;
                blocks.push(MultiScaleBlock {
                    layer_norm1: LayerNorm::load(
                        l,
                        &format!("{p}.layer_norm1"),
                        dim,
                        c.layer_norm_eps,
                    ),
                    attn: MultiScaleAttention {
                        qkv: Linear::load_split(l, &format!("{p}.attn.qkv"), dim, dim_out),
                        proj: Linear::load(l, &format!("{p}.attn.proj"), dim_out, dim_out),
                        heads: c.num_attention_heads_per_stage[stage],
                        query_stride,
                    },
                    layer_norm2: LayerNorm::load(
                        l,
                        &format!("{p}.layer_norm2"),
                        dim_out,
                        c.layer_norm_eps,
                    ),
                    mlp: FeedForward::load(
                        l,
                        &format!("{p}.mlp"),
                        dim_out,
                        hidden,
                        dim_out,
                        2,
                        Activation::Gelu,
                        false,
                    ),
                    proj: (dim != dim_out)
                        .then(|| Linear::load(l, &format!("{p}.proj"), dim, dim_out)),
                    window_size: window,
                });
                total += 1;
            }
            stage_ends.push(total - 1);
        }
        let grid = conv_output_size(
            c.image_size,
            c.patch_kernel_size,
            c.patch_stride,
            c.patch_padding,
        );
        let grid_position_embedding =
            contiguous(position_embedding(&pos_embed, &pos_embed_window, grid));
        Hiera {
            patch_embed,
            pos_embed,
            pos_embed_window,
            grid_position_embedding,
            blocks,
            stage_ends,
        }
    }

    /// `[B, 3, H, W]` pixels → each stage's output `[B, H_s, W_s, C_s]`, shallowest first.
    pub(crate) fn forward(&self, pixels: Tensor<4>) -> Vec<Tensor<4>> {
        let x = self.patch_embed.forward_to_channels_last(pixels); // [B, H/4, W/4, C]
        let [_, h, w, _] = x.dims();
        let position = if self.grid_position_embedding.dims()[1..3] == [h, w] {
            self.grid_position_embedding.clone()
        } else {
            position_embedding(&self.pos_embed, &self.pos_embed_window, [h, w])
        };
        let mut x = add(x, position);
        let mut stages = Vec::with_capacity(self.stage_ends.len());
        for (i, block) in self.blocks.iter().enumerate() {
            x = block.forward(x);
            if self.stage_ends.contains(&i) {
                stages.push(x.clone());
            }
        }
        stages
    }
}

/// `_get_pos_embed`: `[1, H, W, C]` for an `H × W` token grid, from the
/// background embedding `[1, C, bh, bw]` (resized bicubically) and the
/// window embedding `[1, C, w0, w0]` (tiled).
fn position_embedding(background: &Tensor<4>, window: &Tensor<4>, [h, w]: [usize; 2]) -> Tensor<4> {
    let resized = bicubic_resize(background.clone(), [h, w]); // [1, C, H, W]
    let [_, _, wh, ww] = window.dims();
    let tiled = window.clone().repeat(&[1, 1, h / wh, w / ww]);
    (resized + tiled).permute([0, 2, 3, 1])
}
