//! Grounding DINO configuration: a transformers `GroundingDinoConfig` with its
//! Swin (`backbone_config`) and BERT (`text_config`) sub-configs, and the named
//! presets of the two official checkpoints.
//!
//! Paper: Liu et al., "Grounding DINO: Marrying DINO with Grounded
//! Pre-Training for Open-Set Object Detection", 2023. Reference: transformers
//! v5.23.0 `models/grounding_dino/configuration_grounding_dino.py`,
//! `models/swin/configuration_swin.py` and `models/bert/configuration_bert.py`.
//! Field names and defaults are the reference's, so a checkpoint's
//! `config.json` deserialises straight into [`GroundingDinoConfig`]; missing
//! fields take the defaults, which are the grounding-dino-tiny values.

use serde::Deserialize;

use super::GroundingDinoError;
use crate::limits::check_config_integers;

/// The Swin Transformer backbone (`backbone_config`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct SwinConfig {
    /// Channels of the patch embedding, i.e. of the first stage; each later
    /// stage doubles them.
    pub embed_dim: usize,
    /// Blocks in each stage; odd blocks (1, 3, …) use shifted windows.
    pub depths: Vec<usize>,
    /// Attention heads of each stage.
    pub num_heads: Vec<usize>,
    /// Side of the square attention window, in tokens.
    pub window_size: usize,
    /// MLP hidden width as a multiple of the block width.
    pub mlp_ratio: f64,
    /// Side of the square patches of the patch embedding (its stride).
    pub patch_size: usize,
    /// Channels of the input image (3, RGB).
    pub num_channels: usize,
    /// Whether the query/key/value projections have a bias.
    pub qkv_bias: bool,
    /// Epsilon of the block layer norms.
    pub layer_norm_eps: f64,
    /// Activation of the block MLPs (only `gelu` is supported).
    pub hidden_act: String,
    /// Absolute position embeddings (not used by Grounding DINO; must be false).
    pub use_absolute_embeddings: bool,
    /// Stages whose output feeds the detector (1 = first stage), ascending.
    pub out_indices: Vec<usize>,
}

impl Default for SwinConfig {
    fn default() -> Self {
        SwinConfig {
            embed_dim: 96,
            depths: vec![2, 2, 6, 2],
            num_heads: vec![3, 6, 12, 24],
            window_size: 7,
            mlp_ratio: 4.0,
            patch_size: 4,
            num_channels: 3,
            qkv_bias: true,
            layer_norm_eps: 1e-5,
            hidden_act: "gelu".into(),
            use_absolute_embeddings: false,
            out_indices: vec![2, 3, 4],
        }
    }
}

impl SwinConfig {
    /// Channels of stage `i` (0-based).
    pub fn stage_dim(&self, i: usize) -> usize {
        self.embed_dim << i
    }

    /// Channels of each output feature map, in `out_indices` order.
    pub fn out_channels(&self) -> Vec<usize> {
        self.out_indices
            .iter()
            .map(|&i| self.stage_dim(i - 1))
            .collect()
    }
}

/// The BERT text encoder (`text_config`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct BertConfig {
    /// Size of the WordPiece vocabulary (rows of the word embedding).
    pub vocab_size: usize,
    /// Width of the token features.
    pub hidden_size: usize,
    /// Transformer layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer.
    pub num_attention_heads: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// Activation of the feed-forward layer (only `gelu` is supported).
    pub hidden_act: String,
    /// Rows of the position embedding: the longest position id + 1.
    pub max_position_embeddings: usize,
    /// Rows of the token-type embedding.
    pub type_vocab_size: usize,
    /// Epsilon of the layer norms.
    pub layer_norm_eps: f64,
}

impl Default for BertConfig {
    fn default() -> Self {
        BertConfig {
            vocab_size: 30522,
            hidden_size: 768,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            intermediate_size: 3072,
            hidden_act: "gelu".into(),
            max_position_embeddings: 512,
            type_vocab_size: 2,
            layer_norm_eps: 1e-12,
        }
    }
}

/// `GroundingDinoConfig`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct GroundingDinoConfig {
    /// The image backbone.
    #[serde(rename = "backbone_config")]
    pub backbone: SwinConfig,
    /// The text backbone.
    #[serde(rename = "text_config")]
    pub text: BertConfig,
    /// Object queries: boxes predicted per image (top-k of the encoder's proposals).
    pub num_queries: usize,
    /// Feature-enhancer layers.
    pub encoder_layers: usize,
    /// Feed-forward width of the encoder's deformable layer; half of it is the
    /// width of the text enhancer's feed-forward and of the fusion attention.
    pub encoder_ffn_dim: usize,
    /// Heads of the encoder's deformable attention; half of them in the text
    /// enhancer and the fusion attention.
    pub encoder_attention_heads: usize,
    /// Decoder layers.
    pub decoder_layers: usize,
    /// Feed-forward width of the decoder layers.
    pub decoder_ffn_dim: usize,
    /// Heads of every decoder attention.
    pub decoder_attention_heads: usize,
    /// Activation of the encoder and decoder feed-forward layers (`relu`).
    pub activation_function: String,
    /// Width of the transformer (vision and text features alike).
    pub d_model: usize,
    /// Image position embedding (only `sine` is supported).
    pub position_embedding_type: String,
    /// Multi-scale levels: the backbone outputs, then stride-2 convolutions.
    pub num_feature_levels: usize,
    /// Sampling points per level and head in the encoder's deformable attention.
    pub encoder_n_points: usize,
    /// Sampling points per level and head in the decoder's deformable attention.
    pub decoder_n_points: usize,
    /// Two-stage query selection from the encoder output (must be true).
    pub two_stage: bool,
    /// Longest prompt in tokens; the logits are padded to it with `-inf`.
    pub max_text_len: usize,
    /// Decoder queries start from a learned embedding (must be true).
    pub embedding_init_target: bool,
    /// Coordinates per reference point (4: a box).
    pub query_dim: usize,
    /// One box head shared by every decoder layer (must be true).
    pub decoder_bbox_embed_share: bool,
    /// The encoder proposals share the decoder's box head (must be false).
    pub two_stage_bbox_embed_share: bool,
    /// Temperature of the image sine position embedding.
    pub positional_embedding_temperature: f64,
    /// Epsilon of the encoder and decoder layer norms.
    pub layer_norm_eps: f64,
}

impl Default for GroundingDinoConfig {
    fn default() -> Self {
        GroundingDinoConfig {
            backbone: SwinConfig::default(),
            text: BertConfig::default(),
            num_queries: 900,
            encoder_layers: 6,
            encoder_ffn_dim: 2048,
            encoder_attention_heads: 8,
            decoder_layers: 6,
            decoder_ffn_dim: 2048,
            decoder_attention_heads: 8,
            activation_function: "relu".into(),
            d_model: 256,
            position_embedding_type: "sine".into(),
            num_feature_levels: 4,
            encoder_n_points: 4,
            decoder_n_points: 4,
            two_stage: true,
            max_text_len: 256,
            embedding_init_target: true,
            query_dim: 4,
            decoder_bbox_embed_share: true,
            two_stage_bbox_embed_share: false,
            positional_embedding_temperature: 20.0,
            layer_norm_eps: 1e-5,
        }
    }
}

/// Groups of the `GroupNorm` after each input projection.
pub(crate) const GROUP_NORM_GROUPS: usize = 32;

impl GroundingDinoConfig {
    /// `IDEA-Research/grounding-dino-tiny`: Swin-T (window 7), BERT-base.
    pub fn tiny() -> Self {
        GroundingDinoConfig::default()
    }

    /// `IDEA-Research/grounding-dino-base`: Swin-B (window 12, 384 px
    /// pre-training), BERT-base.
    pub fn base() -> Self {
        GroundingDinoConfig {
            backbone: SwinConfig {
                embed_dim: 128,
                depths: vec![2, 2, 18, 2],
                num_heads: vec![4, 8, 16, 32],
                window_size: 12,
                ..SwinConfig::default()
            },
            ..GroundingDinoConfig::default()
        }
    }

    /// Parses a checkpoint's `config.json` and checks it is a variant this
    /// port implements.
    pub fn from_json(json: &str) -> Result<Self, GroundingDinoError> {
        let bad =
            |e: serde_json::Error| GroundingDinoError::Config(format!("not a valid config: {e}"));
        let value: serde_json::Value = serde_json::from_str(json).map_err(bad)?;
        if let Some(other) = value
            .get("model_type")
            .and_then(|v| v.as_str())
            .filter(|&t| t != "grounding-dino")
        {
            return Err(GroundingDinoError::Config(format!(
                "model_type '{other}' is not 'grounding-dino': a checkpoint of another model"
            )));
        }
        check_config_integers(&value).map_err(GroundingDinoError::Config)?;
        let config: GroundingDinoConfig = serde_json::from_value(value).map_err(bad)?;
        config.validate()?;
        Ok(config)
    }

    /// Fails on values the port does not implement or that cannot build a model.
    pub fn validate(&self) -> Result<(), GroundingDinoError> {
        let fail = |m: String| Err(GroundingDinoError::Config(m));
        let b = &self.backbone;
        let t = &self.text;
        if b.depths.is_empty() || b.depths.len() != b.num_heads.len() {
            return fail(format!(
                "backbone depths {:?} and num_heads {:?} differ in length",
                b.depths, b.num_heads
            ));
        }
        if b.out_indices.is_empty()
            || !b.out_indices.windows(2).all(|w| w[0] < w[1])
            || b.out_indices[0] == 0
            || b.out_indices[b.out_indices.len() - 1] > b.depths.len()
        {
            return fail(format!(
                "backbone out_indices {:?} must ascend within 1..={}",
                b.out_indices,
                b.depths.len()
            ));
        }
        for (i, &h) in b.num_heads.iter().enumerate() {
            if h == 0 || !b.stage_dim(i).is_multiple_of(h) {
                return fail(format!(
                    "backbone stage {i}: {} channels not divisible by {h} heads",
                    b.stage_dim(i)
                ));
            }
        }
        if b.window_size == 0 || b.patch_size == 0 {
            return fail("backbone window_size and patch_size must be positive".into());
        }
        if b.use_absolute_embeddings {
            return fail("backbone use_absolute_embeddings is not supported".into());
        }
        if b.hidden_act != "gelu" || t.hidden_act != "gelu" {
            return fail(format!(
                "activations backbone '{}', text '{}': only gelu is supported",
                b.hidden_act, t.hidden_act
            ));
        }
        if t.num_attention_heads == 0 || !t.hidden_size.is_multiple_of(t.num_attention_heads) {
            return fail(format!(
                "text hidden_size {} not divisible by {} heads",
                t.hidden_size, t.num_attention_heads
            ));
        }
        let d = self.d_model;
        let heads_ok = |h: usize, width: usize| h > 0 && width.is_multiple_of(h);
        if !heads_ok(self.encoder_attention_heads, d)
            || !heads_ok(self.decoder_attention_heads, d)
            || !heads_ok(self.encoder_attention_heads / 2, d)
            || !heads_ok(self.encoder_attention_heads / 2, self.encoder_ffn_dim / 2)
        {
            return fail(format!(
                "d_model {d} / encoder_ffn_dim {} not divisible by the attention heads ({}, {})",
                self.encoder_ffn_dim, self.encoder_attention_heads, self.decoder_attention_heads
            ));
        }
        if !d.is_multiple_of(GROUP_NORM_GROUPS) {
            return fail(format!(
                "d_model {d} must be a multiple of {GROUP_NORM_GROUPS}"
            ));
        }
        if self.num_feature_levels < b.out_indices.len() {
            return fail(format!(
                "num_feature_levels {} is fewer than the {} backbone outputs",
                self.num_feature_levels,
                b.out_indices.len()
            ));
        }
        let unsupported = [
            (!self.two_stage, "two_stage = false"),
            (!self.embedding_init_target, "embedding_init_target = false"),
            (self.query_dim != 4, "query_dim other than 4"),
            (
                !self.decoder_bbox_embed_share,
                "decoder_bbox_embed_share = false",
            ),
            (
                self.two_stage_bbox_embed_share,
                "two_stage_bbox_embed_share = true",
            ),
            (
                self.position_embedding_type != "sine",
                "position_embedding_type other than sine",
            ),
            (
                self.activation_function != "relu",
                "activation_function other than relu",
            ),
        ];
        if let Some((_, what)) = unsupported.iter().find(|(bad, _)| *bad) {
            return fail(format!("{what} is not supported"));
        }
        if self.num_queries == 0 || self.max_text_len == 0 || self.decoder_layers == 0 {
            return fail("num_queries, max_text_len and decoder_layers must be positive".into());
        }
        Ok(())
    }
}
