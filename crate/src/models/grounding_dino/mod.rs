//! Grounding DINO open-set object detection, ported by hand to Burn.
//!
//! Paper: Liu et al., "Grounding DINO: Marrying DINO with Grounded
//! Pre-Training for Open-Set Object Detection", 2023. Reference: Hugging Face
//! transformers v5.23.0, `models/grounding_dino/modeling_grounding_dino.py`
//! (`GroundingDinoForObjectDetection`), `image_processing_grounding_dino.py`
//! and `processing_grounding_dino.py`.
//!
//! Modules mirror the checkpoint: [`swin`] is `model.backbone.conv_encoder.model`,
//! [`bert`] `model.text_backbone`, [`encoder`] `model.encoder` (feature
//! enhancer), [`decoder`] the query selection (`model.enc_output*`,
//! `model.encoder_output_bbox_embed`, `model.query_position_embeddings`) and
//! `model.decoder`, [`heads`] `bbox_embed` and the contrastive class head,
//! [`deformable_attention`] the multi-scale deformable attention both use;
//! [`weights`] reads the official `model.safetensors` by its on-disk keys,
//! [`config`] its `config.json`. [`preprocess`] is `GroundingDinoImageProcessor`,
//! [`postprocess`] `post_process_grounded_object_detection`. Prompts arrive
//! tokenised (bert-base-uncased WordPiece ids, as the processor makes them);
//! [`detector`] runs the whole chain from a class list and RGB pixels.
//!
//! Images of one batch share their size: there is no padding, so the pixel
//! mask is all ones and every valid ratio 1.

pub mod bert;
pub mod config;
pub mod decoder;
pub mod deformable_attention;
pub mod detector;
pub mod encoder;
pub mod heads;
mod layers;
pub mod postprocess;
pub mod preprocess;
pub mod swin;
mod weights;

use burn::tensor::activation::sigmoid;
use burn::tensor::{Bool, Device, Int, Tensor, TensorData, Transaction};

use crate::models::kernels::on_pool;

pub use crate::models::checkpoint::WeightProblems;
pub use config::GroundingDinoConfig;
pub use detector::{DetectOptions, Detector, VocabSource};
pub use postprocess::{Detection, Thresholds};

use crate::models::checkpoint::Loader;
use bert::Bert;
use decoder::{Decoder, DecoderOutput, Memory, QuerySelection, Selected, inverse_sigmoid};
use deformable_attention::Reference;
use encoder::{Encoder, EncoderContext};
use heads::{MlpHead, contrastive_logits};
use layers::{Conv2d, GroupNorm, Linear, sine_embedding_host};
use swin::Swin;

/// Everything that can go wrong loading or running Grounding DINO.
#[derive(Debug, thiserror::Error)]
pub enum GroundingDinoError {
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
        source: Box<GroundingDinoError>,
    },
    #[error("input: {0}")]
    Input(String),
    /// A threshold or NMS IoU out of its range.
    #[error("input: {0}")]
    Options(#[from] crate::labels::detection::OptionError),
    #[error(transparent)]
    Prompt(#[from] crate::text::PromptError),
    #[error("tokenizer: {0}")]
    Tokenizer(#[from] crate::text::TokenizerError),
    #[error("reading a tensor back from the device: {0}")]
    Readback(String),
    /// The model computed NaN (or an infinite box): broken weights or input;
    /// never passed on as `null` scores or "no detections".
    #[error("the model's {0} hold NaN or Inf values: the checkpoint or the image is broken")]
    NonFinite(&'static str),
}

/// A tokenised prompt, as `GroundingDinoProcessor` returns it: bert-base-uncased
/// ids with `[CLS]`/`[SEP]`, phrases ending in `.`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Prompt {
    pub input_ids: Vec<i64>,
    /// 1 for real tokens, 0 for padding.
    pub attention_mask: Vec<i64>,
    pub token_type_ids: Vec<i64>,
}

/// Every stage's output for a batch, `B` images × one prompt each.
#[derive(Debug, Clone)]
pub struct Outputs {
    /// The backbone's output stages, `[B, C_s, H_s, W_s]`, shallowest first.
    pub backbone: Vec<Tensor<4>>,
    /// BERT's last hidden state, `[B, T, H_text]`.
    pub text_backbone: Tensor<3>,
    /// Projected text features, `[B, T, C]`.
    pub text_features: Tensor<3>,
    /// Projected, flattened image levels, `[B, S, C]`.
    pub vision_features: Tensor<3>,
    /// Their sine + level position embedding, `[B, S, C]`.
    pub vision_position: Tensor<3>,
    /// Encoder (feature enhancer) output: image tokens `[B, S, C]`.
    pub encoder_vision: Tensor<3>,
    /// Encoder output: text tokens `[B, T, C]`.
    pub encoder_text: Tensor<3>,
    /// Query selection: chosen tokens, initial boxes and queries.
    pub selected: Selected,
    /// Every decoder layer's normalised output and refined boxes.
    pub decoder: DecoderOutput,
    /// Class logits of every decoder layer, `[B, Q, max_text_len]`, `-inf`
    /// where there is no real token; the last is the prediction.
    pub logits: Vec<Tensor<3>>,
    /// Boxes `(cx, cy, w, h)` of every decoder layer, `[B, Q, 4]`.
    pub boxes: Vec<Tensor<3>>,
}

/// The host side of a text batch: tensors and biases built from the ids.
struct TextBatch {
    input_ids: Tensor<2, Int>,
    token_type_ids: Tensor<2, Int>,
    position_ids: Tensor<2, Int>,
    /// `[B, 1, T, T]` phrase mask as an additive bias.
    phrase_bias: Tensor<4>,
    /// `[B, 1, 1, T]` padding as an additive bias.
    text_bias: Tensor<4>,
    /// `[B, 1, T]` true at padding.
    padding: Tensor<3, Bool>,
    /// `[B, T, C]` sine embedding of the position ids.
    position_embedding: Tensor<3>,
}

/// The image side of a batch, flattened for the encoder.
struct ImageTokens {
    /// Swin output stages, `[B, C_s, H_s, W_s]`.
    backbone: Vec<Tensor<4>>,
    /// Projected levels as tokens, `[B, S, C]`.
    features: Tensor<3>,
    /// Sine + level embedding, `[B, S, C]`.
    position: Tensor<3>,
    /// `(h, w)` of each level.
    shapes: Vec<[usize; 2]>,
}

/// `GroundingDinoForObjectDetection`.
#[derive(Debug, Clone)]
pub struct GroundingDino {
    config: GroundingDinoConfig,
    backbone: Swin,
    text_backbone: Bert,
    text_projection: Linear,
    /// `input_proj_vision.l`: a convolution and a group norm per level.
    input_proj: Vec<(Conv2d, GroupNorm)>,
    /// `[L, C]`.
    level_embed: Tensor<2>,
    encoder: Encoder,
    query_selection: QuerySelection,
    decoder: Decoder,
    /// `bbox_embed.0`, shared by every decoder layer (tied on disk).
    bbox_embed: MlpHead,
    device: Device,
}

impl GroundingDino {
    /// Builds the model from a config and the bytes of a transformers-format
    /// `model.safetensors`. Fails listing every missing, mismatched or
    /// unexpected key.
    pub fn from_safetensors(
        config: GroundingDinoConfig,
        bytes: &[u8],
        device: &Device,
    ) -> Result<Self, GroundingDinoError> {
        config.validate()?;
        let mut l = Loader::new(bytes, device, weights::ignorable)
            .map_err(GroundingDinoError::Safetensors)?;
        let c = &config;
        let d = c.d_model;
        let backbone = Swin::load(&mut l, "model.backbone.conv_encoder.model", &c.backbone);
        let text_backbone = Bert::load(&mut l, "model.text_backbone", &c.text);
        let text_projection = Linear::load(&mut l, "model.text_projection", c.text.hidden_size, d);
        let input_proj = Self::load_input_proj(&mut l, c);
        let level_embed = l.tensor("model.level_embed", [c.num_feature_levels, d]);
        let encoder = Encoder::load(&mut l, "model.encoder", c);
        let query_selection = QuerySelection::load(&mut l, "model", c);
        let decoder = Decoder::load(&mut l, "model.decoder", c);
        let bbox_embed = MlpHead::load(&mut l, "bbox_embed.0", [d, d, 4], 3);
        l.finish().map_err(GroundingDinoError::Weights)?;
        Ok(GroundingDino {
            config,
            backbone,
            text_backbone,
            text_projection,
            input_proj,
            level_embed,
            encoder,
            query_selection,
            decoder,
            bbox_embed,
            device: device.clone(),
        })
    }

    fn load_input_proj(l: &mut Loader, c: &GroundingDinoConfig) -> Vec<(Conv2d, GroupNorm)> {
        let d = c.d_model;
        let channels = c.backbone.out_channels();
        let groups = config::GROUP_NORM_GROUPS;
        (0..c.num_feature_levels)
            .map(|level| {
                let prefix = format!("model.input_proj_vision.{level}");
                let conv = match channels.get(level) {
                    Some(&c_in) => Conv2d::load(l, &format!("{prefix}.0"), [c_in, d], 1, 1, 0),
                    None => {
                        let c_in = if level == channels.len() {
                            channels[level - 1]
                        } else {
                            d
                        };
                        Conv2d::load(l, &format!("{prefix}.0"), [c_in, d], 3, 2, 1)
                    }
                };
                (conv, GroupNorm::load(l, &format!("{prefix}.1"), d, groups))
            })
            .collect()
    }

    /// Loads a Hugging Face model directory (`config.json`, `model.safetensors`),
    /// e.g. a download of `IDEA-Research/grounding-dino-tiny`.
    #[cfg(feature = "native")]
    pub fn from_dir(dir: &std::path::Path, device: &Device) -> Result<Self, GroundingDinoError> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read(&path).map_err(|source| GroundingDinoError::Io {
                path: path.display().to_string(),
                source,
            })
        };
        let in_file = |name: &str| {
            let path = dir.join(name).display().to_string();
            move |e: GroundingDinoError| GroundingDinoError::InFile {
                path,
                source: Box::new(e),
            }
        };
        let config_bytes = read("config.json")?;
        let config = GroundingDinoConfig::from_json(&String::from_utf8_lossy(&config_bytes))
            .map_err(in_file("config.json"))?;
        let weights = read("model.safetensors")?;
        Self::from_safetensors(config, &weights, device).map_err(in_file("model.safetensors"))
    }

    /// The configuration the model was built with.
    pub fn config(&self) -> &GroundingDinoConfig {
        &self.config
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// A copy whose deformable attention samples with `align_corners` set to
    /// the given value (the reference uses `false`): the deliberately wrong
    /// variant the parity tests must reject.
    pub fn with_deformable_align_corners(mut self, align_corners: bool) -> Self {
        self.encoder = self.encoder.with_align_corners(align_corners);
        self.decoder = self.decoder.with_align_corners(align_corners);
        self
    }

    /// Runs the model on normalised pixels `[B, 3, H, W]` (see
    /// [`preprocess::preprocess`]) and one prompt per image (all of one length).
    pub fn forward(
        &self,
        pixels: Tensor<4>,
        prompts: &[Prompt],
    ) -> Result<Outputs, GroundingDinoError> {
        let [b, channels, _, _] = pixels.dims();
        if prompts.len() != b || channels != self.config.backbone.num_channels {
            return Err(GroundingDinoError::Input(format!(
                "pixels {:?} need {} channels and one prompt per image, got {} prompts",
                pixels.dims(),
                self.config.backbone.num_channels,
                prompts.len()
            )));
        }
        let text = self.text_batch(prompts)?;
        let text_backbone = self.text_backbone.forward(
            text.input_ids.clone(),
            text.token_type_ids.clone(),
            text.position_ids.clone(),
            text.phrase_bias.clone(),
        ); // [B, T, H_text]
        let text_features = self.text_projection.forward(text_backbone.clone()); // [B, T, C]

        let image = self.encode_image(pixels);
        let (backbone, vision_features, vision_position, shapes) =
            (image.backbone, image.features, image.position, image.shapes);

        let ctx = EncoderContext {
            vision_position: vision_position.clone(),
            reference: Reference::Points(encoder::reference_points(&shapes, b, &self.device)),
            shapes: shapes.clone(),
            text_position: text.position_embedding,
            phrase_bias: text.phrase_bias,
            text_bias: text.text_bias.clone(),
        };
        let (encoder_vision, encoder_text) =
            self.encoder
                .forward(vision_features.clone(), text_features.clone(), &ctx);

        let selected = self.query_selection.forward(
            encoder_vision.clone(),
            encoder_text.clone(),
            text.padding.clone(),
            &shapes,
        );
        let memory = Memory {
            vision: encoder_vision.clone(),
            shapes,
            text: encoder_text.clone(),
            text_bias: text.text_bias,
        };
        let decoder = self.decoder.forward(
            selected.target.clone(),
            selected.reference.clone(),
            &memory,
            &self.bbox_embed,
        );
        let (logits, boxes) = self.predict(&decoder, &selected, encoder_text.clone(), text.padding);
        Ok(Outputs {
            backbone,
            text_backbone,
            text_features,
            vision_features,
            vision_position,
            encoder_vision,
            encoder_text,
            selected,
            decoder,
            logits,
            boxes,
        })
    }

    /// The image side: Swin maps, their projected levels flattened to tokens
    /// `[B, S, C]` and the tokens' position embedding `[B, S, C]`.
    fn encode_image(&self, pixels: Tensor<4>) -> ImageTokens {
        let batch = pixels.dims()[0];
        let backbone = self.backbone.forward(pixels);
        let levels = self.project_levels(&backbone); // [B, C, h_l, w_l] each
        let shapes: Vec<[usize; 2]> = levels.iter().map(|t| [t.dims()[2], t.dims()[3]]).collect();
        let tokens = levels
            .into_iter()
            .map(|t| t.flatten::<3>(2, 3).swap_dims(1, 2))
            .collect();
        let position = self.vision_position(&shapes, batch);
        ImageTokens {
            backbone,
            features: Tensor::cat(tokens, 1),
            position,
            shapes,
        }
    }

    /// The detection head on every decoder layer: contrastive logits
    /// `[B, Q, max_text_len]` and boxes `[B, Q, 4]`, each layer's boxes
    /// refining the previous layer's references.
    fn predict(
        &self,
        decoder: &DecoderOutput,
        selected: &Selected,
        text: Tensor<3>,
        padding: Tensor<3, Bool>,
    ) -> (Vec<Tensor<3>>, Vec<Tensor<3>>) {
        let references = std::iter::once(&selected.reference).chain(&decoder.references);
        decoder
            .hidden
            .iter()
            .zip(references)
            .map(|(hidden, reference)| {
                let logits = contrastive_logits(
                    hidden.clone(),
                    text.clone(),
                    padding.clone(),
                    self.config.max_text_len,
                );
                let delta = self.bbox_embed.forward(hidden.clone());
                let boxes = sigmoid(delta + inverse_sigmoid(reference.clone(), 1e-5));
                (logits, boxes)
            })
            .unzip()
    }

    /// `input_proj_vision`: 1×1 convolutions of the backbone outputs, then
    /// stride-2 3×3 convolutions for the extra levels, each group-normed.
    fn project_levels(&self, backbone: &[Tensor<4>]) -> Vec<Tensor<4>> {
        let mut levels: Vec<Tensor<4>> = Vec::with_capacity(self.input_proj.len());
        for (level, (conv, norm)) in self.input_proj.iter().enumerate() {
            let source = match backbone.get(level) {
                Some(map) => map.clone(),
                None if level == backbone.len() => backbone[level - 1].clone(),
                None => levels[level - 1].clone(),
            };
            levels.push(norm.forward(conv.forward(source)));
        }
        levels
    }

    /// `GroundingDinoSinePositionEmbedding` of unpadded maps plus `level_embed`,
    /// flattened like the features, `[B, S, C]`.
    fn vision_position(&self, shapes: &[[usize; 2]], batch: usize) -> Tensor<3> {
        let d = self.config.d_model;
        let half = d / 2;
        let temperature = self.config.positional_embedding_temperature as f32;
        let dim_t: Vec<f32> = (0..half)
            .map(|k| temperature.powf((2 * (k / 2)) as f32 / half as f32))
            .collect();
        let embed = |v: f32, out: &mut Vec<f32>| {
            for (k, t) in dim_t.iter().enumerate() {
                let e = v / t;
                out.push(if k % 2 == 0 { e.sin() } else { e.cos() });
            }
        };
        let scale = 2.0 * std::f32::consts::PI;
        let mut levels = Vec::with_capacity(shapes.len());
        for (level, &[h, w]) in shapes.iter().enumerate() {
            let mut values = Vec::with_capacity(h * w * d);
            for y in 0..h {
                let y_embed = (y + 1) as f32 / (h as f32 + 1e-6) * scale;
                for x in 0..w {
                    let x_embed = (x + 1) as f32 / (w as f32 + 1e-6) * scale;
                    embed(y_embed, &mut values);
                    embed(x_embed, &mut values);
                }
            }
            let pos = Tensor::<2>::from_data(TensorData::new(values, [h * w, d]), &self.device);
            let level_embed = self.level_embed.clone().narrow(0, level, 1);
            levels.push(pos + level_embed);
        }
        let s: usize = shapes.iter().map(|[h, w]| h * w).sum();
        Tensor::cat(levels, 0)
            .reshape([1, s, d])
            .repeat_dim(0, batch)
    }

    /// Checks the prompts and builds the text tensors on the host: ids
    /// truncated to `max_text_len`, the phrase mask and position ids.
    fn text_batch(&self, prompts: &[Prompt]) -> Result<TextBatch, GroundingDinoError> {
        let c = &self.config;
        let bad = |m: String| Err(GroundingDinoError::Input(m));
        let full = prompts.first().map_or(0, |p| p.input_ids.len());
        let t = full.min(c.max_text_len);
        if t == 0 {
            return bad("no prompt or an empty one".into());
        }
        let (mut ids, mut types, mut positions) = (Vec::new(), Vec::new(), Vec::new());
        let (mut phrase, mut pad) = (Vec::new(), Vec::new());
        for (i, p) in prompts.iter().enumerate() {
            if p.input_ids.len() != full
                || p.attention_mask.len() != full
                || p.token_type_ids.len() != full
            {
                return bad(format!(
                    "prompt {i}: input_ids, attention_mask and token_type_ids must all have {full} tokens"
                ));
            }
            let p_ids = &p.input_ids[..t];
            if let Some(id) = p_ids
                .iter()
                .find(|&&id| id < 0 || id as usize >= c.text.vocab_size)
            {
                return bad(format!(
                    "prompt {i}: token id {id} outside the vocabulary of {}",
                    c.text.vocab_size
                ));
            }
            if let Some(tt) = p.token_type_ids[..t]
                .iter()
                .find(|&&v| v < 0 || v as usize >= c.text.type_vocab_size)
            {
                return bad(format!(
                    "prompt {i}: token type {tt} outside 0..{}",
                    c.text.type_vocab_size
                ));
            }
            // Masks and positions of the whole prompt, then truncated, as the
            // reference does.
            let (full_mask, full_pos) = bert::phrase_attention(&p.input_ids);
            let mask: Vec<bool> = full_mask
                .chunks_exact(full)
                .take(t)
                .flat_map(|row| row[..t].iter().copied())
                .collect();
            let pos = &full_pos[..t];
            if let Some(&max) = pos.iter().max()
                && max as usize >= c.text.max_position_embeddings
            {
                return bad(format!(
                    "prompt {i}: phrase longer than {} tokens",
                    c.text.max_position_embeddings
                ));
            }
            ids.extend_from_slice(p_ids);
            types.extend_from_slice(&p.token_type_ids[..t]);
            positions.extend_from_slice(pos);
            phrase.extend(
                mask.into_iter()
                    .map(|keep| if keep { 0.0f32 } else { f32::MIN }),
            );
            pad.extend(p.attention_mask[..t].iter().map(|&m| m == 0));
        }
        let b = prompts.len();
        let dev = &self.device;
        let int = |v: Vec<i64>| Tensor::<2, Int>::from_data(TensorData::new(v, [b, t]), dev);
        let pad_bias: Vec<f32> = pad
            .iter()
            .map(|&p| if p { f32::MIN } else { 0.0 })
            .collect();
        let position_f32: Vec<f32> = positions.iter().map(|&p| p as f32).collect();
        let position_embedding = sine_embedding_host(&position_f32, 1, c.d_model);
        Ok(TextBatch {
            input_ids: int(ids),
            token_type_ids: int(types),
            position_ids: int(positions),
            phrase_bias: Tensor::from_data(TensorData::new(phrase, [b, 1, t, t]), dev),
            text_bias: Tensor::from_data(TensorData::new(pad_bias, [b, 1, 1, t]), dev),
            padding: Tensor::from_data(TensorData::new(pad, [b, 1, t]), dev),
            position_embedding: Tensor::from_data(
                TensorData::new(position_embedding, [b, t, c.d_model]),
                dev,
            ),
        })
    }

    /// Detects the prompt's phrases in one preprocessed image `[1, 3, H, W]`
    /// whose original size is `[height, width]`. Reads the outputs back
    /// synchronously (native backends); in the browser use
    /// [`GroundingDino::detect_async`].
    pub fn detect(
        &self,
        pixels: Tensor<4>,
        prompt: &Prompt,
        original_hw: [usize; 2],
        thresholds: Thresholds,
    ) -> Result<Vec<Detection>, GroundingDinoError> {
        let data = self
            .prediction(pixels, prompt)?
            .try_execute()
            .map_err(readback)?;
        self.detections(data, prompt, original_hw, thresholds)
    }

    /// [`GroundingDino::detect`] with an asynchronous readback: what WebGPU
    /// in a browser needs (a synchronous read there cannot complete). The
    /// forward pass itself reads nothing back; it runs inside rayon's pool
    /// ([`on_pool`]: the page's threaded CPU build).
    pub async fn detect_async(
        &self,
        pixels: Tensor<4>,
        prompt: &Prompt,
        original_hw: [usize; 2],
        thresholds: Thresholds,
    ) -> Result<Vec<Detection>, GroundingDinoError> {
        let data = on_pool(|| self.prediction(pixels, prompt))?
            .execute_async()
            .await
            .map_err(readback)?;
        self.detections(data, prompt, original_hw, thresholds)
    }

    /// The forward pass of one image, its last layer's logits and boxes
    /// registered for one readback.
    fn prediction(
        &self,
        pixels: Tensor<4>,
        prompt: &Prompt,
    ) -> Result<Transaction, GroundingDinoError> {
        let mut out = self.forward(pixels, std::slice::from_ref(prompt))?;
        let (Some(logits), Some(boxes)) = (out.logits.pop(), out.boxes.pop()) else {
            return Err(GroundingDinoError::Config("no decoder layers".into()));
        };
        Ok(Transaction::default().register(logits).register(boxes))
    }

    /// Each query above `box_threshold` with its phrases' probabilities
    /// ([`postprocess::phrase_hits`]; `phrase_tokens` from
    /// [`crate::text::EncodedPrompt`]); synchronous readback.
    pub fn detect_phrases(
        &self,
        pixels: Tensor<4>,
        prompt: &Prompt,
        phrase_tokens: &[std::ops::Range<usize>],
        original_hw: [usize; 2],
        box_threshold: f32,
    ) -> Result<Vec<crate::labels::PhraseHit>, GroundingDinoError> {
        let data = self
            .prediction(pixels, prompt)?
            .try_execute()
            .map_err(readback)?;
        let (logits, boxes) = host_outputs(data)?;
        let raw = self.raw(&logits, &boxes);
        Ok(postprocess::phrase_hits(
            raw,
            phrase_tokens,
            box_threshold,
            original_hw,
        ))
    }

    /// [`postprocess::detections`] on the read-back logits and boxes.
    fn detections(
        &self,
        data: Vec<TensorData>,
        prompt: &Prompt,
        original_hw: [usize; 2],
        thresholds: Thresholds,
    ) -> Result<Vec<Detection>, GroundingDinoError> {
        let (logits, boxes) = host_outputs(data)?;
        Ok(postprocess::detections(
            self.raw(&logits, &boxes),
            &prompt.input_ids,
            thresholds,
            original_hw,
        ))
    }

    fn raw<'a>(&self, logits: &'a [f32], boxes: &'a [f32]) -> postprocess::RawOutputs<'a> {
        postprocess::RawOutputs {
            logits,
            boxes,
            max_text_len: self.config.max_text_len,
        }
    }
}

/// The read-back logits and boxes, as host values.
fn host_outputs(data: Vec<TensorData>) -> Result<(Vec<f32>, Vec<f32>), GroundingDinoError> {
    let mut values = data
        .into_iter()
        .map(|d| d.try_into_vec::<f32>().map_err(readback));
    let mut next = || {
        values
            .next()
            .unwrap_or_else(|| Err(readback("missing output")))
    };
    let (logits, boxes) = (next()?, next()?);
    // Logits are -inf at text positions past the prompt's tokens (as in the
    // reference); NaN anywhere, or a box that is not finite, is broken.
    if logits.iter().any(|v| v.is_nan()) {
        return Err(GroundingDinoError::NonFinite("logits"));
    }
    if boxes.iter().any(|v| !v.is_finite()) {
        return Err(GroundingDinoError::NonFinite("boxes"));
    }
    Ok((logits, boxes))
}

fn readback(e: impl std::fmt::Debug) -> GroundingDinoError {
    GroundingDinoError::Readback(format!("{e:?}"))
}

impl From<&crate::text::Encoding> for Prompt {
    /// One unpadded prompt: every token attended, token type 0.
    fn from(encoding: &crate::text::Encoding) -> Self {
        let n = encoding.ids.len();
        Prompt {
            input_ids: encoding.ids.iter().map(|&id| i64::from(id)).collect(),
            attention_mask: vec![1; n],
            token_type_ids: vec![0; n],
        }
    }
}
