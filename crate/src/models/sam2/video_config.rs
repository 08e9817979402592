//! The video half of a SAM 2 `config.json` (`model_type` `sam2_video`): the
//! memory encoder, memory attention and tracking settings that sit at the top
//! level of the file beside the image model's `vision_config`,
//! `prompt_encoder_config` and `mask_decoder_config`.
//!
//! Paper: Ravi et al., "SAM 2", 2024 (§4: memory encoder, memory bank, memory
//! attention). Reference: transformers v5.23.0
//! `models/sam2_video/configuration_sam2_video.py` (`Sam2VideoConfig`); the
//! defaults below are its defaults, which are the published
//! `facebook/sam2.1-hiera-*` values.

use serde::Deserialize;

use super::Sam2Error;
use super::config::Sam2Config;

/// The width of a stored memory: the memory attention's cross-attention reads
/// 64-channel keys and values (hard-wired in the reference).
pub const MEMORY_CHANNELS: usize = 64;

/// `rope_parameters` of the memory attention.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct RopeParameters {
    /// Base of the rotary frequencies.
    pub rope_theta: f64,
    /// Only `axial` (the same frequencies for x and y) exists.
    pub rope_type: String,
}

impl Default for RopeParameters {
    fn default() -> Self {
        RopeParameters {
            rope_theta: 10_000.0,
            rope_type: "axial".into(),
        }
    }
}

/// `image_size` is written as one number or as `[h, w]`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum ImageSize {
    Square(usize),
    Sides([usize; 2]),
}

/// The tracking part of `Sam2VideoConfig`, every field as in `config.json`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct VideoConfig {
    /// Memories a frame reads: the conditioning frames plus the
    /// `num_maskmem - 1` frames before it (after it, tracking backward).
    /// 0 disables the memory (each frame is segmented on its own).
    pub num_maskmem: usize,
    /// Side of the model input (must equal the prompt encoder's).
    pub image_size: ImageSize,
    /// Scale applied to the mask probabilities before the memory encoder.
    pub sigmoid_scale_for_mem_enc: f64,
    /// Bias added after that scale.
    pub sigmoid_bias_for_mem_enc: f64,
    /// Adds `occlusion_spatial_embedding_parameter` to the memory of a frame
    /// where the object is predicted absent.
    pub enable_occlusion_spatial_embedding: bool,
    /// Whether the SAM head may output three masks at all.
    pub multimask_output_in_sam: bool,
    /// Fewest prompt points (box corners count as two) for three masks.
    pub multimask_min_pt_num: usize,
    /// Most prompt points for three masks.
    pub multimask_max_pt_num: usize,
    /// Three masks (best by predicted IoU) on tracked frames too.
    pub multimask_output_for_tracking: bool,
    /// Object pointers a frame reads: the conditioning frames' plus those of
    /// the last `max_object_pointers_in_encoder - 1` frames.
    pub max_object_pointers_in_encoder: usize,
    /// Conditioning frames a frame reads, the temporally closest; -1: all.
    pub max_cond_frame_num: i64,
    /// A projected 1-D sine encoding of each pointer's temporal offset.
    pub enable_temporal_pos_encoding_for_object_pointers: bool,
    /// Width of the memory attention (equals the FPN width).
    pub memory_attention_hidden_size: usize,
    /// Memory attention layers.
    pub memory_attention_num_layers: usize,
    /// Heads of each memory attention.
    pub memory_attention_num_attention_heads: usize,
    /// Internal width = hidden size / this.
    pub memory_attention_downsample_rate: usize,
    /// Width of the MLP of each memory attention layer.
    pub memory_attention_feed_forward_hidden_size: usize,
    /// Its activation (`relu` or `gelu`).
    pub memory_attention_feed_forward_hidden_act: String,
    /// The `[w, h]` grid the rotary positions are laid on (the embedding grid).
    pub memory_attention_rope_feat_sizes: [usize; 2],
    /// Rotary settings.
    pub rope_parameters: RopeParameters,
    /// Width of the memory encoder's fused features (equals the FPN width).
    pub memory_encoder_hidden_size: usize,
    /// Width of a stored memory ([`MEMORY_CHANNELS`]).
    pub memory_encoder_output_channels: usize,
    /// Output width of the mask downsampler (equals the memory encoder width).
    pub mask_downsampler_embed_dim: usize,
    /// Kernel of each mask downsampler convolution.
    pub mask_downsampler_kernel_size: usize,
    /// Stride of each mask downsampler convolution.
    pub mask_downsampler_stride: usize,
    /// Padding of each mask downsampler convolution.
    pub mask_downsampler_padding: usize,
    /// Total stride from the model input to the embedding grid.
    pub mask_downsampler_total_stride: usize,
    /// Activation of the mask downsampler (`gelu`).
    pub mask_downsampler_hidden_act: String,
    /// ConvNeXt blocks of the memory fuser.
    pub memory_fuser_num_layers: usize,
    /// Their width (equals the memory encoder width).
    pub memory_fuser_embed_dim: usize,
    /// Width of their pointwise MLP.
    pub memory_fuser_intermediate_dim: usize,
    /// Their depthwise kernel.
    pub memory_fuser_kernel_size: usize,
    /// Its padding.
    pub memory_fuser_padding: usize,
    /// Their activation (`gelu`).
    pub memory_fuser_hidden_act: String,
}

impl Default for VideoConfig {
    fn default() -> Self {
        VideoConfig {
            num_maskmem: 7,
            image_size: ImageSize::Square(1024),
            sigmoid_scale_for_mem_enc: 20.0,
            sigmoid_bias_for_mem_enc: -10.0,
            enable_occlusion_spatial_embedding: true,
            multimask_output_in_sam: true,
            multimask_min_pt_num: 0,
            multimask_max_pt_num: 1,
            multimask_output_for_tracking: true,
            max_object_pointers_in_encoder: 16,
            max_cond_frame_num: -1,
            enable_temporal_pos_encoding_for_object_pointers: true,
            memory_attention_hidden_size: 256,
            memory_attention_num_layers: 4,
            memory_attention_num_attention_heads: 1,
            memory_attention_downsample_rate: 1,
            memory_attention_feed_forward_hidden_size: 2048,
            memory_attention_feed_forward_hidden_act: "relu".into(),
            memory_attention_rope_feat_sizes: [64, 64],
            rope_parameters: RopeParameters::default(),
            memory_encoder_hidden_size: 256,
            memory_encoder_output_channels: MEMORY_CHANNELS,
            mask_downsampler_embed_dim: 256,
            mask_downsampler_kernel_size: 3,
            mask_downsampler_stride: 2,
            mask_downsampler_padding: 1,
            mask_downsampler_total_stride: 16,
            mask_downsampler_hidden_act: "gelu".into(),
            memory_fuser_num_layers: 2,
            memory_fuser_embed_dim: 256,
            memory_fuser_intermediate_dim: 1024,
            memory_fuser_kernel_size: 7,
            memory_fuser_padding: 3,
            memory_fuser_hidden_act: "gelu".into(),
        }
    }
}

/// A whole `Sam2VideoConfig`: the image model and the tracking parts.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sam2VideoConfig {
    pub image: Sam2Config,
    pub video: VideoConfig,
}

impl Sam2VideoConfig {
    /// `facebook/sam2.1-hiera-tiny`.
    pub fn tiny() -> Self {
        Sam2VideoConfig::default()
    }

    /// Parses a transformers `config.json` of `model_type` `sam2_video` (an
    /// image-only `sam2` file has no tracking modules) and checks it.
    pub fn from_json(json: &str) -> Result<Self, Sam2Error> {
        let value: serde_json::Value =
            serde_json::from_str(json).map_err(|e| Sam2Error::Config(format!("not JSON: {e}")))?;
        match value.get("model_type").and_then(|v| v.as_str()) {
            Some("sam2_video") => {}
            Some(other) => {
                return Err(Sam2Error::Config(format!(
                    "model_type is '{other}': the tracker needs a 'sam2_video' checkpoint \
                     (e.g. facebook/sam2.1-hiera-tiny), which holds the memory modules"
                )));
            }
            None => return Err(Sam2Error::Config("model_type is missing".into())),
        }
        let image = Sam2Config::from_json(json)?;
        let mut video: VideoConfig =
            serde_json::from_value(value.clone()).map_err(|e| Sam2Error::Config(e.to_string()))?;
        if value.get("rope_parameters").is_none()
            && let Some(theta) = value
                .get("memory_attention_rope_theta")
                .and_then(|v| v.as_f64())
        {
            video.rope_parameters.rope_theta = theta;
        }
        let config = Sam2VideoConfig { image, video };
        config.validate()?;
        Ok(config)
    }

    /// Checks the invariants the port relies on.
    pub fn validate(&self) -> Result<(), Sam2Error> {
        self.image.validate()?;
        let v = &self.video;
        let hidden = self.image.vision.fpn_hidden_size;
        let err = |m: String| Err(Sam2Error::Config(m));
        let side = match v.image_size {
            ImageSize::Square(s) => s,
            ImageSize::Sides([h, w]) if h == w => h,
            ImageSize::Sides(sides) => return err(format!("image_size {sides:?} is not square")),
        };
        if side != self.image.image_size() {
            return err(format!(
                "image_size {side} differs from the prompt encoder's {}",
                self.image.image_size()
            ));
        }
        if v.memory_encoder_output_channels != MEMORY_CHANNELS {
            return err(format!(
                "memory_encoder_output_channels is {}: the memory attention reads {MEMORY_CHANNELS} channels",
                v.memory_encoder_output_channels
            ));
        }
        for (name, width) in [
            (
                "memory_attention_hidden_size",
                v.memory_attention_hidden_size,
            ),
            ("memory_encoder_hidden_size", v.memory_encoder_hidden_size),
            ("mask_downsampler_embed_dim", v.mask_downsampler_embed_dim),
            ("memory_fuser_embed_dim", v.memory_fuser_embed_dim),
        ] {
            if width != hidden {
                return err(format!(
                    "{name} is {width}, expected fpn_hidden_size {hidden}"
                ));
            }
        }
        if !hidden.is_multiple_of(MEMORY_CHANNELS) {
            return err(format!(
                "fpn_hidden_size {hidden} is not a multiple of {MEMORY_CHANNELS}: object pointers are split into memory tokens"
            ));
        }
        let heads = v.memory_attention_num_attention_heads * v.memory_attention_downsample_rate;
        if heads == 0 || !hidden.is_multiple_of(heads) || !(hidden / heads).is_multiple_of(4) {
            return err(format!(
                "memory_attention_hidden_size {hidden} must split into {} heads after downsampling by {}, \
                 each a multiple of 4 wide (axial rotary pairs)",
                v.memory_attention_num_attention_heads, v.memory_attention_downsample_rate
            ));
        }
        let grid = self.image.vision.backbone_feature_sizes[2];
        if [
            v.memory_attention_rope_feat_sizes[1],
            v.memory_attention_rope_feat_sizes[0],
        ] != grid
        {
            return err(format!(
                "memory_attention_rope_feat_sizes {:?} do not match the {}×{} embedding grid",
                v.memory_attention_rope_feat_sizes, grid[1], grid[0]
            ));
        }
        if v.rope_parameters.rope_type != "axial" {
            return err(format!(
                "rope_parameters.rope_type is '{}', only 'axial' exists",
                v.rope_parameters.rope_type
            ));
        }
        let stride = v.mask_downsampler_stride;
        let layers = downsampler_layers(v.mask_downsampler_total_stride, stride);
        if layers.is_none_or(|n| stride.pow(n as u32) * grid[0] != side) {
            return err(format!(
                "mask_downsampler_total_stride {} with stride {stride} does not take {side} px to the {}-wide grid",
                v.mask_downsampler_total_stride, grid[0]
            ));
        }
        if v.max_object_pointers_in_encoder == 0 {
            return err("max_object_pointers_in_encoder must be at least 1".into());
        }
        if v.max_cond_frame_num == 0 || v.max_cond_frame_num < -1 {
            return err(format!(
                "max_cond_frame_num is {}, expected -1 (all) or at least 1",
                v.max_cond_frame_num
            ));
        }
        for (name, act) in [
            (
                "mask_downsampler_hidden_act",
                &v.mask_downsampler_hidden_act,
            ),
            ("memory_fuser_hidden_act", &v.memory_fuser_hidden_act),
        ] {
            if act != "gelu" {
                return err(format!("{name} is '{act}', only 'gelu' is supported"));
            }
        }
        let act = &v.memory_attention_feed_forward_hidden_act;
        if act != "relu" && act != "gelu" {
            return err(format!(
                "memory_attention_feed_forward_hidden_act is '{act}', expected 'relu' or 'gelu'"
            ));
        }
        Ok(())
    }
}

/// Convolutions of the mask downsampler: log_stride(total), if a whole number.
pub(crate) fn downsampler_layers(total: usize, stride: usize) -> Option<usize> {
    if stride < 2 || total == 0 {
        return None;
    }
    let mut n = 0;
    let mut t = 1;
    while t < total {
        t *= stride;
        n += 1;
    }
    (t == total).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_published_tiny_model() {
        let json = r#"{"model_type": "sam2_video"}"#;
        let c = Sam2VideoConfig::from_json(json).unwrap();
        assert_eq!(c, Sam2VideoConfig::tiny());
        assert_eq!(c.video.num_maskmem, 7);
        assert_eq!(downsampler_layers(16, 2), Some(4));
    }

    #[test]
    fn an_image_only_config_is_refused_with_the_reason() {
        let e = Sam2VideoConfig::from_json(r#"{"model_type": "sam2"}"#).unwrap_err();
        assert!(e.to_string().contains("sam2_video"), "{e}");
    }

    #[test]
    fn inconsistent_sizes_are_refused() {
        for (json, needle) in [
            (
                r#"{"model_type": "sam2_video", "memory_encoder_output_channels": 32}"#,
                "64",
            ),
            (
                r#"{"model_type": "sam2_video", "memory_attention_rope_feat_sizes": [32, 32]}"#,
                "rope_feat_sizes",
            ),
            (
                r#"{"model_type": "sam2_video", "mask_downsampler_total_stride": 12}"#,
                "total_stride",
            ),
            (
                r#"{"model_type": "sam2_video", "max_cond_frame_num": 0}"#,
                "max_cond_frame_num",
            ),
        ] {
            let e = Sam2VideoConfig::from_json(json).unwrap_err().to_string();
            assert!(e.contains(needle), "{json}: {e}");
        }
    }

    #[test]
    fn the_old_rope_theta_field_is_read() {
        let json = r#"{"model_type": "sam2_video", "memory_attention_rope_theta": 500.0}"#;
        let c = Sam2VideoConfig::from_json(json).unwrap();
        assert_eq!(c.video.rope_parameters.rope_theta, 500.0);
    }
}
