//! SAM 2 configuration: the sub-configs of a transformers `Sam2Config`, with the
//! named presets of the four SAM 2.1 checkpoints.
//!
//! Paper: Ravi et al., "SAM 2: Segment Anything in Images and Videos", 2024.
//! Reference: transformers `models/sam2/configuration_sam2.py` (v5.23.0). Field
//! names and defaults are the reference's, so a checkpoint's `config.json`
//! deserialises straight into [`Sam2Config`] (missing fields take the defaults,
//! which are the sam2.1-hiera-tiny values, exactly as in the reference).

use serde::{Deserialize, Deserializer};

use super::Sam2Error;
use crate::limits::{MAX_MODEL_INPUT_SIDE, check_config_integers};

/// A size given either as one integer (square) or as `[height, width]`.
fn pair<'de, D: Deserializer<'de>>(d: D) -> Result<[usize; 2], D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrTwo {
        One(usize),
        Two([usize; 2]),
    }
    Ok(match OneOrTwo::deserialize(d)? {
        OneOrTwo::One(v) => [v, v],
        OneOrTwo::Two(v) => v,
    })
}

/// The Hiera backbone (`vision_config.backbone_config`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct HieraConfig {
    /// Channels of the patch embedding, i.e. of the first stage.
    pub hidden_size: usize,
    /// Channels of the input image (3, RGB).
    pub num_channels: usize,
    /// Input resolution `[height, width]` the model is trained at (1024²).
    #[serde(deserialize_with = "pair")]
    pub image_size: [usize; 2],
    /// Kernel of the patch-embedding convolution.
    #[serde(deserialize_with = "pair")]
    pub patch_kernel_size: [usize; 2],
    /// Stride of the patch-embedding convolution (the first stage's downsampling).
    #[serde(deserialize_with = "pair")]
    pub patch_stride: [usize; 2],
    /// Zero padding of the patch-embedding convolution.
    #[serde(deserialize_with = "pair")]
    pub patch_padding: [usize; 2],
    /// Max-pool stride of the query pooling at a stage transition.
    #[serde(deserialize_with = "pair")]
    pub query_stride: [usize; 2],
    /// Size `[h, w]` of the learned background position embedding, resized
    /// bicubically to the first stage's grid.
    pub window_positional_embedding_background_size: [usize; 2],
    /// How many stage transitions (from the second stage on) pool their queries.
    pub num_query_pool_stages: usize,
    /// Blocks in each of the four stages.
    pub blocks_per_stage: Vec<usize>,
    /// Channels of each stage.
    pub embed_dim_per_stage: Vec<usize>,
    /// Attention heads of each stage.
    pub num_attention_heads_per_stage: Vec<usize>,
    /// Attention window (in tokens per side) of each stage; also the tile of
    /// the windowed position embedding (first stage).
    pub window_size_per_stage: Vec<usize>,
    /// Indices (over all blocks) of the blocks with global attention.
    pub global_attention_blocks: Vec<usize>,
    /// MLP hidden width as a multiple of the block width.
    pub mlp_ratio: f64,
    /// Activation of the block MLPs (only `gelu` exists in the checkpoints).
    pub hidden_act: String,
    /// Epsilon of the block layer norms.
    pub layer_norm_eps: f64,
}

impl Default for HieraConfig {
    fn default() -> Self {
        HieraConfig {
            hidden_size: 96,
            num_channels: 3,
            image_size: [1024, 1024],
            patch_kernel_size: [7, 7],
            patch_stride: [4, 4],
            patch_padding: [3, 3],
            query_stride: [2, 2],
            window_positional_embedding_background_size: [7, 7],
            num_query_pool_stages: 3,
            blocks_per_stage: vec![1, 2, 7, 2],
            embed_dim_per_stage: vec![96, 192, 384, 768],
            num_attention_heads_per_stage: vec![1, 2, 4, 8],
            window_size_per_stage: vec![8, 4, 14, 7],
            global_attention_blocks: vec![5, 7, 9],
            mlp_ratio: 4.0,
            hidden_act: "gelu".into(),
            layer_norm_eps: 1e-6,
        }
    }
}

/// The vision encoder: backbone plus FPN neck (`vision_config`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct VisionConfig {
    /// The Hiera backbone.
    #[serde(rename = "backbone_config")]
    pub backbone: HieraConfig,
    /// Backbone channels from the deepest stage to the shallowest (the neck's
    /// lateral convolutions, in that order).
    pub backbone_channel_list: Vec<usize>,
    /// `[h, w]` of the FPN levels the decoder uses, highest resolution first.
    pub backbone_feature_sizes: Vec<[usize; 2]>,
    /// Channels of every FPN level (and of the image embedding).
    pub fpn_hidden_size: usize,
    /// Kernel of the lateral convolutions.
    pub fpn_kernel_size: usize,
    /// Stride of the lateral convolutions.
    pub fpn_stride: usize,
    /// Padding of the lateral convolutions.
    pub fpn_padding: usize,
    /// Backbone levels (0 = shallowest) that receive the upsampled top-down path.
    pub fpn_top_down_levels: Vec<usize>,
    /// How many FPN levels, from the lowest resolution up, the model keeps.
    pub num_feature_levels: usize,
}

impl Default for VisionConfig {
    fn default() -> Self {
        VisionConfig {
            backbone: HieraConfig::default(),
            backbone_channel_list: vec![768, 384, 192, 96],
            backbone_feature_sizes: vec![[256, 256], [128, 128], [64, 64]],
            fpn_hidden_size: 256,
            fpn_kernel_size: 1,
            fpn_stride: 1,
            fpn_padding: 0,
            fpn_top_down_levels: vec![2, 3],
            num_feature_levels: 3,
        }
    }
}

/// The prompt encoder (`prompt_encoder_config`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct PromptEncoderConfig {
    /// Channels of the prompt tokens (equals the FPN width).
    pub hidden_size: usize,
    /// Side of the square model input, in pixels; prompts are normalised by it.
    pub image_size: usize,
    /// Pixels per image-embedding cell (`image_size / patch_size` cells a side).
    pub patch_size: usize,
    /// Channels of the mask-input embedding's second convolution.
    pub mask_input_channels: usize,
    /// Learned point embeddings: negative, positive, box top-left, box bottom-right.
    pub num_point_embeddings: usize,
    /// Activation of the mask-input embedding (`gelu`).
    pub hidden_act: String,
    /// Epsilon of the mask-input embedding's layer norms.
    pub layer_norm_eps: f64,
    /// Scale of the random Fourier features (their init only; the buffer is loaded).
    pub scale: f64,
}

impl Default for PromptEncoderConfig {
    fn default() -> Self {
        PromptEncoderConfig {
            hidden_size: 256,
            image_size: 1024,
            patch_size: 16,
            mask_input_channels: 16,
            num_point_embeddings: 4,
            hidden_act: "gelu".into(),
            layer_norm_eps: 1e-6,
            scale: 1.0,
        }
    }
}

/// The two-way-transformer mask decoder (`mask_decoder_config`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct MaskDecoderConfig {
    /// Channels of tokens and image embedding.
    pub hidden_size: usize,
    /// Activation of the upscaling path (`gelu`).
    pub hidden_act: String,
    /// Hidden width of the two-way blocks' MLPs.
    pub mlp_dim: usize,
    /// Two-way attention blocks (also the layer count of their MLPs, as in the reference).
    pub num_hidden_layers: usize,
    /// Attention heads of every decoder attention.
    pub num_attention_heads: usize,
    /// Channel reduction of the token↔image cross attentions.
    pub attention_downsample_rate: usize,
    /// Masks output in multimask mode (there is one more mask token: the single-mask one).
    pub num_multimask_outputs: usize,
    /// Layers of the IoU prediction head.
    pub iou_head_depth: usize,
    /// Hidden width of the IoU prediction head.
    pub iou_head_hidden_dim: usize,
    /// In single-mask mode, fall back to the best multimask output when the
    /// single mask is unstable (inference only, as in the reference).
    pub dynamic_multimask_via_stability: bool,
    /// Logit offset of the stability score's two thresholds.
    pub dynamic_multimask_stability_delta: f64,
    /// Stability score below which the single mask is replaced.
    pub dynamic_multimask_stability_thresh: f64,
}

impl Default for MaskDecoderConfig {
    fn default() -> Self {
        MaskDecoderConfig {
            hidden_size: 256,
            hidden_act: "gelu".into(),
            mlp_dim: 2048,
            num_hidden_layers: 2,
            num_attention_heads: 8,
            attention_downsample_rate: 2,
            num_multimask_outputs: 3,
            iou_head_depth: 3,
            iou_head_hidden_dim: 256,
            dynamic_multimask_via_stability: true,
            dynamic_multimask_stability_delta: 0.05,
            dynamic_multimask_stability_thresh: 0.98,
        }
    }
}

/// A whole SAM 2 image model, as in a checkpoint's `config.json`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct Sam2Config {
    /// Backbone and neck.
    #[serde(rename = "vision_config")]
    pub vision: VisionConfig,
    /// Prompt encoder.
    #[serde(rename = "prompt_encoder_config")]
    pub prompt_encoder: PromptEncoderConfig,
    /// Mask decoder.
    #[serde(rename = "mask_decoder_config")]
    pub mask_decoder: MaskDecoderConfig,
}

impl Default for Sam2Config {
    fn default() -> Self {
        Sam2Config::tiny()
    }
}

impl Sam2Config {
    /// `facebook/sam2.1-hiera-tiny` (38.9 M parameters with the video parts; 31.4 M image).
    pub fn tiny() -> Self {
        Sam2Config {
            vision: VisionConfig::default(),
            prompt_encoder: PromptEncoderConfig::default(),
            mask_decoder: MaskDecoderConfig::default(),
        }
    }

    /// `facebook/sam2.1-hiera-small`: tiny with stages [1, 2, 11, 2].
    pub fn small() -> Self {
        Self::with_backbone(
            96,
            [1, 2, 11, 2],
            [1, 2, 4, 8],
            [8, 4, 14, 7],
            [7, 10, 13],
            [7, 7],
        )
    }

    /// `facebook/sam2.1-hiera-base-plus`: width 112, stages [2, 3, 16, 3].
    pub fn base_plus() -> Self {
        Self::with_backbone(
            112,
            [2, 3, 16, 3],
            [2, 4, 8, 16],
            [8, 4, 14, 7],
            [12, 16, 20],
            [14, 14],
        )
    }

    /// `facebook/sam2.1-hiera-large`: width 144, stages [2, 6, 36, 4].
    pub fn large() -> Self {
        Self::with_backbone(
            144,
            [2, 6, 36, 4],
            [2, 4, 8, 16],
            [8, 4, 16, 8],
            [23, 33, 43],
            [7, 7],
        )
    }

    /// A preset by name: `tiny`, `small`, `base-plus` (or `base_plus`), `large`.
    pub fn preset(name: &str) -> Option<Self> {
        match name {
            "tiny" => Some(Self::tiny()),
            "small" => Some(Self::small()),
            "base-plus" | "base_plus" => Some(Self::base_plus()),
            "large" => Some(Self::large()),
            _ => None,
        }
    }

    fn with_backbone(
        width: usize,
        blocks: [usize; 4],
        heads: [usize; 4],
        windows: [usize; 4],
        global: [usize; 3],
        background: [usize; 2],
    ) -> Self {
        let dims: Vec<usize> = (0..4).map(|i| width << i).collect();
        let mut config = Self::tiny();
        config.vision.backbone = HieraConfig {
            hidden_size: width,
            window_positional_embedding_background_size: background,
            blocks_per_stage: blocks.to_vec(),
            embed_dim_per_stage: dims.clone(),
            num_attention_heads_per_stage: heads.to_vec(),
            window_size_per_stage: windows.to_vec(),
            global_attention_blocks: global.to_vec(),
            ..HieraConfig::default()
        };
        config.vision.backbone_channel_list = dims.into_iter().rev().collect();
        config
    }

    /// Parses a transformers `config.json` (`model_type` `sam2` or `sam2_video`;
    /// the video model's extra fields are ignored) and checks it.
    pub fn from_json(json: &str) -> Result<Self, Sam2Error> {
        let value: serde_json::Value = serde_json::from_str(json)
            .map_err(|e| Sam2Error::Config(format!("not a valid config: {e}")))?;
        match value.get("model_type").and_then(|v| v.as_str()) {
            Some("sam2" | "sam2_video") => {}
            Some(other) => {
                return Err(Sam2Error::Config(format!(
                    "model_type is '{other}', expected 'sam2' or 'sam2_video'"
                )));
            }
            None => return Err(Sam2Error::Config("model_type is missing".into())),
        }
        check_config_integers(&value).map_err(Sam2Error::Config)?;
        let config: Sam2Config =
            serde_json::from_value(value).map_err(|e| Sam2Error::Config(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks the invariants the port relies on.
    pub fn validate(&self) -> Result<(), Sam2Error> {
        let b = &self.vision.backbone;
        let err = |m: String| Err(Sam2Error::Config(m));
        let stages = b.blocks_per_stage.len();
        if stages == 0
            || b.embed_dim_per_stage.len() != stages
            || b.num_attention_heads_per_stage.len() != stages
            || b.window_size_per_stage.len() != stages
        {
            return err(format!(
                "backbone_config: blocks_per_stage, embed_dim_per_stage, num_attention_heads_per_stage \
                 and window_size_per_stage must have one entry per stage (got {}, {}, {}, {})",
                stages,
                b.embed_dim_per_stage.len(),
                b.num_attention_heads_per_stage.len(),
                b.window_size_per_stage.len()
            ));
        }
        if b.embed_dim_per_stage[0] != b.hidden_size {
            return err(format!(
                "backbone_config: embed_dim_per_stage[0] = {} differs from hidden_size = {}",
                b.embed_dim_per_stage[0], b.hidden_size
            ));
        }
        if b.patch_stride.contains(&0)
            || b.patch_kernel_size.contains(&0)
            || (0..2).any(|i| b.image_size[i] + 2 * b.patch_padding[i] < b.patch_kernel_size[i])
        {
            return err(format!(
                "backbone_config: patch_kernel_size {:?} with patch_stride {:?} and patch_padding {:?} \
                 does not fit image_size {:?}",
                b.patch_kernel_size, b.patch_stride, b.patch_padding, b.image_size
            ));
        }
        if b.query_stride[0] != b.query_stride[1] {
            return err(format!(
                "backbone_config: query_stride {:?} must be square",
                b.query_stride
            ));
        }
        for (name, act) in [
            ("backbone_config.hidden_act", &b.hidden_act),
            (
                "prompt_encoder_config.hidden_act",
                &self.prompt_encoder.hidden_act,
            ),
            (
                "mask_decoder_config.hidden_act",
                &self.mask_decoder.hidden_act,
            ),
        ] {
            if act != "gelu" {
                return err(format!("{name} is '{act}', only 'gelu' is supported"));
            }
        }
        let v = &self.vision;
        if v.backbone_channel_list.len() != stages {
            return err(format!(
                "backbone_channel_list has {} entries for {} stages",
                v.backbone_channel_list.len(),
                stages
            ));
        }
        if v.num_feature_levels != 3 || v.backbone_feature_sizes.len() != 3 {
            return err(format!(
                "num_feature_levels = {} with {} backbone_feature_sizes: the mask decoder needs exactly 3 levels",
                v.num_feature_levels,
                v.backbone_feature_sizes.len()
            ));
        }
        let pe = &self.prompt_encoder;
        let md = &self.mask_decoder;
        if pe.hidden_size != v.fpn_hidden_size || md.hidden_size != v.fpn_hidden_size {
            return err(format!(
                "fpn_hidden_size {}, prompt encoder hidden_size {} and mask decoder hidden_size {} must agree",
                v.fpn_hidden_size, pe.hidden_size, md.hidden_size
            ));
        }
        if pe.image_size > MAX_MODEL_INPUT_SIDE {
            return err(format!(
                "prompt_encoder_config: image_size {} is over the limit of {MAX_MODEL_INPUT_SIDE}",
                pe.image_size
            ));
        }
        if pe.patch_size == 0 || !pe.image_size.is_multiple_of(pe.patch_size) {
            return err(format!(
                "prompt_encoder_config: image_size {} is not a multiple of patch_size {}",
                pe.image_size, pe.patch_size
            ));
        }
        let grid = pe.image_size / pe.patch_size;
        if v.backbone_feature_sizes[2] != [grid, grid] {
            return err(format!(
                "backbone_feature_sizes[2] = {:?} differs from the prompt encoder's {grid}×{grid} embedding grid",
                v.backbone_feature_sizes[2]
            ));
        }
        if md.num_attention_heads == 0
            || md.attention_downsample_rate == 0
            || !md
                .hidden_size
                .is_multiple_of(md.attention_downsample_rate * md.num_attention_heads)
        {
            return err(format!(
                "mask_decoder_config: hidden_size {} must split into {} heads after downsampling by {}",
                md.hidden_size, md.num_attention_heads, md.attention_downsample_rate
            ));
        }
        Ok(())
    }

    /// Side of the square model input in pixels (1024 for the checkpoints).
    pub fn image_size(&self) -> usize {
        self.prompt_encoder.image_size
    }

    /// Side of the low-resolution mask logits (256 for the checkpoints).
    pub fn mask_size(&self) -> usize {
        4 * self.prompt_encoder.image_size / self.prompt_encoder.patch_size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid() {
        for name in ["tiny", "small", "base-plus", "large"] {
            let config = Sam2Config::preset(name).expect("preset exists");
            config.validate().expect("preset validates");
        }
        assert_eq!(
            Sam2Config::large().vision.backbone_channel_list,
            vec![1152, 576, 288, 144]
        );
    }

    #[test]
    fn json_defaults_are_tiny_and_scalars_widen() {
        let json =
            r#"{"model_type": "sam2", "vision_config": {"backbone_config": {"image_size": 1024}}}"#;
        assert_eq!(
            Sam2Config::from_json(json).expect("parses"),
            Sam2Config::tiny()
        );
        let bad = r#"{"model_type": "sam"}"#;
        assert!(Sam2Config::from_json(bad).is_err());
    }

    #[test]
    fn a_patch_embedding_that_does_not_fit_is_an_error_naming_it() {
        for json in [
            r#"{"model_type": "sam2", "vision_config": {"backbone_config": {"patch_stride": [0, 4]}}}"#,
            r#"{"model_type": "sam2", "vision_config": {"backbone_config":
                {"image_size": [4, 4], "patch_padding": [0, 0]}}}"#,
        ] {
            let error = Sam2Config::from_json(json)
                .expect_err("refused")
                .to_string();
            assert!(error.contains("patch_kernel_size"), "{error}");
        }
    }
}
