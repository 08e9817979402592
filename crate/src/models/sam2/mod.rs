//! SAM 2 image segmentation, ported by hand to Burn.
//!
//! Paper: Ravi et al., "SAM 2: Segment Anything in Images and Videos", 2024.
//! Reference: Hugging Face transformers v5.23.0, `models/sam2/modeling_sam2.py`
//! (`Sam2Model`), `image_processing_sam2.py` and `processing_sam2.py`.
//!
//! Modules mirror the checkpoint: [`hiera`] is `vision_encoder.backbone`,
//! [`fpn`] `vision_encoder.neck`, [`prompt_encoder`] `prompt_encoder` (and
//! `shared_image_embedding`), [`mask_decoder`] and [`two_way_transformer`]
//! `mask_decoder`; [`weights`] reads the official `model.safetensors` by those
//! keys, [`config`] its `config.json`. [`processing`] is the pre- and
//! post-processing of `Sam2ImageProcessor`, [`predictor`] the
//! `set_image` / `predict` interface of SAM 2's `SAM2ImagePredictor`.
//!
//! The video predictor (transformers' `Sam2VideoModel`, `models/sam2_video/`)
//! adds `memory_encoder.rs` (`memory_encoder`), `memory_attention.rs`
//! (`memory_attention`) and the pointer and temporal parts in [`video`], read
//! by [`video_config`]; [`video_session`] holds a tracked video's state.

pub mod config;
pub mod fpn;
pub mod hiera;
mod layers;
pub mod mask_decoder;
mod memory_attention;
mod memory_encoder;
pub mod predictor;
pub mod processing;
pub mod prompt_encoder;
pub mod two_way_transformer;
pub mod video;
pub mod video_config;
pub mod video_session;
mod weights;

use burn::tensor::{Device, Tensor};

pub use crate::models::checkpoint::WeightProblems;
pub use config::Sam2Config;
pub use mask_decoder::DecoderOutput;
pub use predictor::{Prediction, Prompt, Sam2ImagePredictor};
pub use prompt_encoder::PromptTokens;
pub use video::{FrameFeatures, Sam2VideoModel};
pub use video_config::Sam2VideoConfig;
pub use video_session::{FrameResult, ObjectFrame, StoredFrame, VideoPrompt, VideoSession};

use crate::models::checkpoint::Loader;
use fpn::Neck;
use hiera::Hiera;
use mask_decoder::MaskDecoder;
use prompt_encoder::{PositionalEmbedding, PromptEncoder};

/// Everything that can go wrong loading or running SAM 2.
#[derive(Debug, thiserror::Error)]
pub enum Sam2Error {
    #[error("config: {0}")]
    Config(String),
    #[error("weights: not a safetensors file: {0}")]
    Safetensors(String),
    #[error("weights: {0}")]
    Weights(WeightProblems),
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// What is wrong with a file of a model directory, naming the file.
    #[error("{path}: {source}")]
    InFile {
        path: String,
        #[source]
        source: Box<Sam2Error>,
    },
    #[error("prompt: {0}")]
    Prompt(String),
    #[error("image: {0}")]
    Image(String),
    #[error("reading a tensor back from the device: {0}")]
    Readback(String),
    /// A saved [`VideoSession`] that cannot be read back.
    #[error("saved tracking session: {0}")]
    Snapshot(String),
    #[error("predict called before set_image")]
    NoImage,
    /// The model computed NaN or Inf: broken weights or input; never passed
    /// on as `null` scores or empty masks.
    #[error("the model's {0} hold NaN or Inf values: the checkpoint or the image is broken")]
    NonFinite(&'static str),
}

/// Reads a Hugging Face model directory's `config.json` (parsed by `parse`)
/// and `model.safetensors` (given to `build`); every error names its file.
#[cfg(feature = "native")]
fn load_dir<C, M>(
    dir: &std::path::Path,
    parse: impl FnOnce(&str) -> Result<C, Sam2Error>,
    build: impl FnOnce(C, &[u8]) -> Result<M, Sam2Error>,
) -> Result<M, Sam2Error> {
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read(&path).map_err(|source| Sam2Error::Io {
            path: path.display().to_string(),
            source,
        })
    };
    let in_file = |name: &str| {
        let path = dir.join(name).display().to_string();
        move |e: Sam2Error| Sam2Error::InFile {
            path,
            source: Box::new(e),
        }
    };
    let config_bytes = read("config.json")?;
    let config = parse(&String::from_utf8_lossy(&config_bytes)).map_err(in_file("config.json"))?;
    let weights = read("model.safetensors")?;
    build(config, &weights).map_err(in_file("model.safetensors"))
}

/// The encoder's output for a batch of images, reused by every prompt.
#[derive(Debug, Clone)]
pub struct ImageFeatures {
    /// Lowest-resolution FPN level plus the no-memory embedding, `[B, C, h, w]`.
    pub image_embeddings: Tensor<4>,
    /// `conv_s0` of FPN level 0, `[B, C/8, 4h, 4w]`.
    pub high_res_s0: Tensor<4>,
    /// `conv_s1` of FPN level 1, `[B, C/4, 2h, 2w]`.
    pub high_res_s1: Tensor<4>,
}

/// `Sam2Model` for images: encoder, prompt encoder, mask decoder.
#[derive(Debug, Clone)]
pub struct Sam2Model {
    config: Sam2Config,
    backbone: Hiera,
    neck: Neck,
    prompt_encoder: PromptEncoder,
    mask_decoder: MaskDecoder,
    /// `[1, 1, C]`, added to the image embedding when there is no memory.
    no_memory_embedding: Tensor<3>,
    /// Dense positional encoding of the embedding grid, `[1, C, h, w]`.
    image_pe: Tensor<4>,
    device: Device,
}

impl Sam2Model {
    /// Builds the model from a config and the bytes of a transformers-format
    /// `model.safetensors`. Fails listing every missing, mismatched or
    /// unexpected key.
    pub fn from_safetensors(
        config: Sam2Config,
        bytes: &[u8],
        device: &Device,
    ) -> Result<Self, Sam2Error> {
        config.validate()?;
        let mut l =
            Loader::new(bytes, device, weights::ignorable).map_err(Sam2Error::Safetensors)?;
        let model = Self::load(&mut l, config, device);
        l.finish().map_err(Sam2Error::Weights)?;
        Ok(model)
    }

    /// Asks `l` for every tensor of the image model (the video model reads
    /// these beside its own).
    fn load(l: &mut Loader, config: Sam2Config, device: &Device) -> Self {
        let c = &config;
        let backbone = Hiera::load(l, "vision_encoder.backbone", &c.vision.backbone);
        let neck = Neck::load(l, "vision_encoder.neck", &c.vision);
        let prompt_encoder = PromptEncoder::load(l, "prompt_encoder", &c.prompt_encoder);
        let mask_decoder = MaskDecoder::load(l, "mask_decoder", &c.mask_decoder);
        let shared =
            PositionalEmbedding::load(l, "shared_image_embedding", c.prompt_encoder.hidden_size);
        let hidden = c.vision.fpn_hidden_size;
        let no_memory_embedding = l.tensor("no_memory_embedding", [1, 1, hidden]);
        let grid = c.prompt_encoder.image_size / c.prompt_encoder.patch_size;
        let image_pe = shared.grid(grid, grid, device);
        Sam2Model {
            config,
            backbone,
            neck,
            prompt_encoder,
            mask_decoder,
            no_memory_embedding,
            image_pe,
            device: device.clone(),
        }
    }

    /// Loads a Hugging Face model directory (`config.json`, `model.safetensors`),
    /// e.g. a download of `facebook/sam2.1-hiera-tiny`.
    #[cfg(feature = "native")]
    pub fn from_dir(dir: &std::path::Path, device: &Device) -> Result<Self, Sam2Error> {
        load_dir(dir, Sam2Config::from_json, |config, weights| {
            Self::from_safetensors(config, weights, device)
        })
    }

    /// The configuration the model was built with.
    pub fn config(&self) -> &Sam2Config {
        &self.config
    }

    /// Side of the low-resolution mask input the prompt encoder takes.
    pub fn mask_input_size(&self) -> usize {
        self.prompt_encoder.mask_input_size()
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Encodes normalised pixels `[B, 3, S, S]` (see [`processing::preprocess`]).
    pub fn image_features(&self, pixels: Tensor<4>) -> ImageFeatures {
        let mut features = self.backbone_features(pixels);
        let [_, c, _, _] = features.image_embeddings.dims();
        features.image_embeddings =
            features.image_embeddings + self.no_memory_embedding.clone().reshape([1, c, 1, 1]);
        features
    }

    /// [`Self::image_features`] without the no-memory embedding: the top FPN
    /// level as it is, which the video model conditions on its memories.
    fn backbone_features(&self, pixels: Tensor<4>) -> ImageFeatures {
        let stages = self.backbone.forward(pixels); // each [B, H_s, W_s, C_s]
        let mut levels = self.neck.forward(stages).into_iter(); // [B, C, H_l, W_l], high-res first
        let (Some(l0), Some(l1), Some(l2)) = (levels.next(), levels.next(), levels.next()) else {
            unreachable!("the config validation guarantees three FPN levels")
        };
        ImageFeatures {
            image_embeddings: l2,
            high_res_s0: self.mask_decoder.conv_s0.forward(l0),
            high_res_s1: self.mask_decoder.conv_s1.forward(l1),
        }
    }

    /// Decodes `P` prompt sets against image `index` of `features`. Prompt
    /// coordinates are in model-input pixels (see [`processing::scale_point`]);
    /// `mask_input` is `[1 or P, 1, 4h, 4w]` low-resolution logits.
    pub fn decode(
        &self,
        features: &ImageFeatures,
        index: usize,
        prompts: &[PromptTokens],
        mask_input: Option<Tensor<4>>,
        multimask_output: bool,
    ) -> Result<DecoderOutput, Sam2Error> {
        self.check_prompts(prompts)?;
        let batch = features.image_embeddings.dims()[0];
        if index >= batch {
            return Err(Sam2Error::Prompt(format!(
                "image index {index} out of range for {batch} encoded images"
            )));
        }
        if let Some(m) = &mask_input {
            let side = self.prompt_encoder.mask_input_size();
            let [n, ch, h, w] = m.dims();
            if (n != 1 && n != prompts.len()) || ch != 1 || h != side || w != side {
                return Err(Sam2Error::Prompt(format!(
                    "mask input has shape {:?}, expected [1 or {}, 1, {side}, {side}]",
                    m.dims(),
                    prompts.len()
                )));
            }
        }
        let pick = |t: &Tensor<4>| t.clone().narrow(0, index, 1);
        let sparse = self.prompt_encoder.embed_sparse(prompts, &self.device); // [P, N, C]
        let dense = self.prompt_encoder.embed_dense(mask_input); // [1 or P, C, h, w]
        Ok(self.mask_decoder.forward(
            pick(&features.image_embeddings),
            self.image_pe.clone(),
            sparse,
            dense,
            pick(&features.high_res_s0),
            pick(&features.high_res_s1),
            multimask_output,
        ))
    }

    fn check_prompts(&self, prompts: &[PromptTokens]) -> Result<(), Sam2Error> {
        let Some(first) = prompts.first() else {
            return Err(Sam2Error::Prompt("no prompt sets to decode".into()));
        };
        let kinds = self.prompt_encoder.num_point_embeddings() as i32;
        for (i, set) in prompts.iter().enumerate() {
            if set.points.len() != first.points.len() || set.bbox.is_some() != first.bbox.is_some()
            {
                return Err(Sam2Error::Prompt(format!(
                    "prompt set {i} has {} points and {} box, set 0 has {} and {}: pad points with label -10",
                    set.points.len(),
                    if set.bbox.is_some() { "a" } else { "no" },
                    first.points.len(),
                    if first.bbox.is_some() { "a" } else { "no" },
                )));
            }
            for &(xy, label) in &set.points {
                let known = label == prompt_encoder::LABEL_PAD
                    || label == prompt_encoder::LABEL_NOT_A_POINT
                    || (0..kinds).contains(&label);
                if !known {
                    return Err(Sam2Error::Prompt(format!(
                        "prompt set {i}: point label {label} is not 1 (object), 0 (background), -1 or -10 (padding)"
                    )));
                }
                if !xy.iter().all(|v| v.is_finite()) {
                    return Err(Sam2Error::Prompt(format!(
                        "prompt set {i}: point {xy:?} is not finite"
                    )));
                }
            }
            if let Some(b) = set.bbox
                && !b.iter().all(|v| v.is_finite())
            {
                return Err(Sam2Error::Prompt(format!(
                    "prompt set {i}: box {b:?} is not finite"
                )));
            }
        }
        Ok(())
    }
}
