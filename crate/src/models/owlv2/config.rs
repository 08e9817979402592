//! OWLv2 configuration: a transformers `Owlv2Config` with its CLIP text
//! (`text_config`) and vision (`vision_config`) sub-configs, and the named
//! presets of the published checkpoints.
//!
//! Paper: Minderer et al., "Scaling Open-Vocabulary Object Detection",
//! NeurIPS 2023. Reference: transformers v5.23.0
//! `models/owlv2/configuration_owlv2.py`. Field names and defaults are the
//! reference's, so a checkpoint's `config.json` deserialises straight into
//! [`Owlv2Config`]; missing fields take the reference's defaults (the
//! base-patch16 widths, with the vision `image_size` of 768 the reference
//! defaults to — the published base `config.json` says 960).

use serde::Deserialize;

use super::Owlv2Error;
use crate::limits::check_config_integers;

/// The CLIP text tower (`text_config`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct Owlv2TextConfig {
    /// Size of the BPE vocabulary (rows of the token embedding).
    pub vocab_size: usize,
    /// Width of the token features.
    pub hidden_size: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// Transformer layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer.
    pub num_attention_heads: usize,
    /// The text context: rows of the position embedding, and the length every
    /// query is padded to (16 for every published checkpoint).
    pub max_position_embeddings: usize,
    /// Activation of the feed-forward layer (only `quick_gelu` is supported).
    pub hidden_act: String,
    /// Epsilon of the layer norms.
    pub layer_norm_eps: f64,
    /// Id of the padding token (`!`, 0).
    pub pad_token_id: i64,
    /// Id of `<|startoftext|>`.
    pub bos_token_id: i64,
    /// Id of `<|endoftext|>`, whose feature is the query embedding.
    pub eos_token_id: i64,
}

impl Default for Owlv2TextConfig {
    fn default() -> Self {
        Owlv2TextConfig {
            vocab_size: 49408,
            hidden_size: 512,
            intermediate_size: 2048,
            num_hidden_layers: 12,
            num_attention_heads: 8,
            max_position_embeddings: 16,
            hidden_act: "quick_gelu".into(),
            layer_norm_eps: 1e-5,
            pad_token_id: 0,
            bos_token_id: 49406,
            eos_token_id: 49407,
        }
    }
}

/// The CLIP ViT vision tower (`vision_config`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct Owlv2VisionConfig {
    /// Width of the patch tokens.
    pub hidden_size: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// Transformer layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer.
    pub num_attention_heads: usize,
    /// Channels of the input image (3, RGB).
    pub num_channels: usize,
    /// Side of the square input, in pixels (960 for base-patch16, 1008 for
    /// large-patch14): the processor resizes to it, the position embedding
    /// has one row per patch of it.
    pub image_size: usize,
    /// Side of the square patches (the patch embedding's stride).
    pub patch_size: usize,
    /// Activation of the feed-forward layer (only `quick_gelu` is supported).
    pub hidden_act: String,
    /// Epsilon of the layer norms.
    pub layer_norm_eps: f64,
}

impl Default for Owlv2VisionConfig {
    fn default() -> Self {
        Owlv2VisionConfig {
            hidden_size: 768,
            intermediate_size: 3072,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            num_channels: 3,
            image_size: 768,
            patch_size: 16,
            hidden_act: "quick_gelu".into(),
            layer_norm_eps: 1e-5,
        }
    }
}

impl Owlv2VisionConfig {
    /// Patches along each side of the input.
    pub fn grid(&self) -> usize {
        self.image_size / self.patch_size
    }
}

/// `Owlv2Config`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct Owlv2Config {
    #[serde(rename = "text_config")]
    pub text: Owlv2TextConfig,
    #[serde(rename = "vision_config")]
    pub vision: Owlv2VisionConfig,
    /// Width of the shared image–text embedding (the text projection's
    /// output, the class head's query width).
    pub projection_dim: usize,
}

impl Default for Owlv2Config {
    fn default() -> Self {
        Owlv2Config {
            text: Owlv2TextConfig::default(),
            vision: Owlv2VisionConfig::default(),
            projection_dim: 512,
        }
    }
}

impl Owlv2Config {
    /// `google/owlv2-base-patch16`, `-ensemble` and `-finetuned`: ViT-B/16 at
    /// 960², a 512-wide text tower.
    pub fn base_patch16() -> Self {
        Owlv2Config {
            vision: Owlv2VisionConfig {
                image_size: 960,
                ..Owlv2VisionConfig::default()
            },
            ..Owlv2Config::default()
        }
    }

    /// `google/owlv2-large-patch14`, `-ensemble` and `-finetuned`: ViT-L/14
    /// at 1008², a 768-wide text tower.
    pub fn large_patch14() -> Self {
        Owlv2Config {
            text: Owlv2TextConfig {
                hidden_size: 768,
                intermediate_size: 3072,
                num_attention_heads: 12,
                ..Owlv2TextConfig::default()
            },
            vision: Owlv2VisionConfig {
                hidden_size: 1024,
                intermediate_size: 4096,
                num_hidden_layers: 24,
                num_attention_heads: 16,
                image_size: 1008,
                patch_size: 14,
                ..Owlv2VisionConfig::default()
            },
            projection_dim: 768,
        }
    }

    /// Parses a checkpoint's `config.json`; refuses another `model_type` and
    /// sizes the port cannot run.
    pub fn from_json(json: &str) -> Result<Self, Owlv2Error> {
        let bad = |e: serde_json::Error| Owlv2Error::Config(format!("not a valid config: {e}"));
        let value: serde_json::Value = serde_json::from_str(json).map_err(bad)?;
        match value.get("model_type").and_then(|v| v.as_str()) {
            Some("owlv2") => {}
            Some(other) => {
                return Err(Owlv2Error::Config(format!(
                    "model_type '{other}' is not 'owlv2': a checkpoint of another model"
                )));
            }
            None => {
                return Err(Owlv2Error::Config(
                    "no model_type: not a transformers OWLv2 config".into(),
                ));
            }
        }
        check_config_integers(&value).map_err(Owlv2Error::Config)?;
        let config: Owlv2Config = serde_json::from_value(value).map_err(bad)?;
        config.validate()?;
        Ok(config)
    }

    /// Refuses sizes the port cannot run.
    pub fn validate(&self) -> Result<(), Owlv2Error> {
        let fail = |m: String| Err(Owlv2Error::Config(m));
        let (t, v) = (&self.text, &self.vision);
        for (tower, act) in [("text", &t.hidden_act), ("vision", &v.hidden_act)] {
            if act != "quick_gelu" {
                return fail(format!(
                    "{tower} hidden_act '{act}': only quick_gelu is supported"
                ));
            }
        }
        for (tower, width, heads) in [
            ("text", t.hidden_size, t.num_attention_heads),
            ("vision", v.hidden_size, v.num_attention_heads),
        ] {
            if width == 0 || heads == 0 || !width.is_multiple_of(heads) {
                return fail(format!(
                    "{tower} hidden_size {width} not divisible by {heads} heads"
                ));
            }
        }
        if v.patch_size == 0 || v.grid() == 0 || !v.image_size.is_multiple_of(v.patch_size) {
            return fail(format!(
                "vision image_size {} must be a positive multiple of patch_size {}",
                v.image_size, v.patch_size
            ));
        }
        if v.num_channels != 3 {
            return fail(format!(
                "vision num_channels {}: images are RGB",
                v.num_channels
            ));
        }
        if t.max_position_embeddings < 2 || t.vocab_size == 0 {
            return fail(format!(
                "text max_position_embeddings {} must hold at least the start and end tokens, vocab_size {} be positive",
                t.max_position_embeddings, t.vocab_size
            ));
        }
        // The class head maps patches to the text width and compares them with
        // the projected queries.
        if self.projection_dim != t.hidden_size {
            return fail(format!(
                "projection_dim {} must equal the text hidden_size {} (the class head compares them)",
                self.projection_dim, t.hidden_size
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_validate_and_match_the_published_sizes() {
        let base = Owlv2Config::base_patch16();
        base.validate().unwrap();
        assert_eq!(base.vision.grid(), 60);
        let large = Owlv2Config::large_patch14();
        large.validate().unwrap();
        assert_eq!(large.vision.grid(), 72);
    }

    #[test]
    fn from_json_reads_the_published_shape_and_refuses_others() {
        let json = r#"{"model_type": "owlv2", "projection_dim": 512,
            "text_config": {"hidden_size": 512}, "vision_config": {"image_size": 960}}"#;
        assert_eq!(
            Owlv2Config::from_json(json).unwrap(),
            Owlv2Config::base_patch16()
        );
        let other = Owlv2Config::from_json(r#"{"model_type": "grounding-dino"}"#).unwrap_err();
        assert!(
            other
                .to_string()
                .contains("model_type 'grounding-dino' is not 'owlv2'"),
            "{other}"
        );
        let odd = r#"{"model_type": "owlv2", "vision_config": {"image_size": 100}}"#;
        let err = Owlv2Config::from_json(odd).unwrap_err();
        assert!(err.to_string().contains("patch_size 16"), "{err}");
    }
}
