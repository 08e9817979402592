//! OWLv2 open-vocabulary object detection, ported by hand to Burn.
//!
//! Paper: Minderer et al., "Scaling Open-Vocabulary Object Detection",
//! NeurIPS 2023 (OWL-ST; architecture of OWL-ViT, Minderer et al., "Simple
//! Open-Vocabulary Object Detection with Vision Transformers", ECCV 2022).
//! Reference: Hugging Face transformers v5.23.0,
//! `models/owlv2/modeling_owlv2.py` (`Owlv2ForObjectDetection`),
//! `image_processing_owlv2.py` and `processing_owlv2.py`.
//!
//! Modules mirror the checkpoint: [`vision`] is `owlv2.vision_model` (CLIP
//! ViT), [`text`] `owlv2.text_model` with `owlv2.text_projection`, both on
//! the CLIP transformer of [`encoder`]; [`heads`] holds `box_head` (with the
//! grid box bias), `class_head` and `objectness_head`; [`weights`] names the
//! keys the detector leaves unread, [`config`] reads `config.json`.
//! [`preprocess`] is `Owlv2ImageProcessor`, [`postprocess`]
//! `post_process_object_detection`; queries are tokenised by
//! [`crate::text::clip`]; [`detector`] runs the whole chain from a query
//! list and RGB pixels.
//!
//! Every patch of the `grid × grid` feature map is a candidate: its feature
//! (the patch token times the class token, layer-normed) gives one box, one
//! objectness logit and one logit per query. [`Owlv2::image_guided`] is
//! `image_guided_detection`: the query is the class embedding of the most
//! object-like patch of a query image instead of a text.

pub mod config;
pub mod detector;
mod encoder;
pub mod heads;
pub mod postprocess;
pub mod preprocess;
pub mod text;
pub mod vision;
mod weights;

use burn::tensor::{Device, Int, Tensor, TensorData, Transaction};

pub use crate::models::checkpoint::WeightProblems;
pub use config::{Owlv2Config, Owlv2TextConfig, Owlv2VisionConfig};
pub use detector::{DetectOptions, Detector};
pub use postprocess::Detection;
pub use text::TextOutput;

use crate::models::checkpoint::Loader;
use crate::models::kernels::on_pool;
use crate::models::layers::LayerNorm;
use heads::{ClassHead, MlpHead, box_bias, predict_boxes};
use text::TextTower;
use vision::VisionTower;

/// Everything that can go wrong loading or running OWLv2.
#[derive(Debug, thiserror::Error)]
pub enum Owlv2Error {
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
        source: Box<Owlv2Error>,
    },
    #[error("input: {0}")]
    Input(String),
    /// A threshold or NMS IoU out of its range.
    #[error("input: {0}")]
    Options(#[from] crate::labels::detection::OptionError),
    #[error("queries: {0}")]
    Queries(#[from] crate::text::clip::QueryError),
    #[error("tokenizer: {0}")]
    Tokenizer(#[from] crate::text::clip::ClipTokenizerError),
    #[error("reading a tensor back from the device: {0}")]
    Readback(String),
    /// The model computed NaN or Inf: broken weights or input; never passed
    /// on as `null` scores or "no detections".
    #[error("the model's {0} hold NaN or Inf values: the checkpoint or the image is broken")]
    NonFinite(&'static str),
}

/// Every stage's output for `B` images and `Q` queries.
#[derive(Debug, Clone)]
pub struct Outputs {
    /// The vision encoder's last hidden state `[B, 1 + P, C_v]`, before the
    /// post-norm.
    pub vision_last_hidden_state: Tensor<3>,
    /// The queries' pooled features `[Q, C_t]` and embeddings `[Q, D]`.
    pub text: TextOutput,
    /// The feature map `[B, grid, grid, C_v]` (`image_embeds`).
    pub image_embeds: Tensor<4>,
    /// Per-patch class embeddings, normalised, `[B, P, D]`.
    pub class_embeds: Tensor<3>,
    /// `[B, P, Q]`.
    pub logits: Tensor<3>,
    /// `[B, P]`.
    pub objectness_logits: Tensor<2>,
    /// `(cx, cy, w, h)` in `[0, 1]` of the padded square, `[B, P, 4]`.
    pub pred_boxes: Tensor<3>,
}

/// `image_guided_detection`'s outputs for `B` images and one query image.
#[derive(Debug, Clone)]
pub struct ImageGuidedOutputs {
    /// `[B, P, 1]`: each patch against the query.
    pub logits: Tensor<3>,
    /// Per-patch class embeddings of the images, normalised, `[B, P, D]`.
    pub class_embeds: Tensor<3>,
    /// The images' boxes, `[B, P, 4]`.
    pub target_pred_boxes: Tensor<3>,
    /// The query image's boxes, `[Bq, P, 4]`.
    pub query_pred_boxes: Tensor<3>,
    /// The query image's patch the query was taken from, `[Bq, 1]`.
    pub query_box_index: Tensor<2, Int>,
}

/// `Owlv2ForObjectDetection`.
#[derive(Debug, Clone)]
pub struct Owlv2 {
    config: Owlv2Config,
    vision: VisionTower,
    text: TextTower,
    /// `layer_norm`: the feature map's norm.
    layer_norm: LayerNorm,
    class_head: ClassHead,
    box_head: MlpHead,
    objectness_head: MlpHead,
    /// `[P, 4]`; `None` in the deliberately wrong variant.
    box_bias: Option<Tensor<2>>,
    device: Device,
}

impl Owlv2 {
    /// Builds the model from a config and the bytes of a transformers-format
    /// `model.safetensors`. Fails listing every missing, mismatched or
    /// unexpected key.
    pub fn from_safetensors(
        config: Owlv2Config,
        bytes: &[u8],
        device: &Device,
    ) -> Result<Self, Owlv2Error> {
        config.validate()?;
        let mut l =
            Loader::new(bytes, device, weights::ignorable).map_err(Owlv2Error::Safetensors)?;
        let (v, t) = (&config.vision, &config.text);
        let width = v.hidden_size;
        let vision = VisionTower::load(&mut l, "owlv2.vision_model", v);
        let text = TextTower::load(&mut l, "owlv2", t, config.projection_dim);
        let layer_norm = LayerNorm::load(&mut l, "layer_norm", width, v.layer_norm_eps);
        let class_head = ClassHead::load(&mut l, "class_head", width, t.hidden_size);
        let box_head = MlpHead::load(&mut l, "box_head", width, 4);
        let objectness_head = MlpHead::load(&mut l, "objectness_head", width, 1);
        l.finish().map_err(Owlv2Error::Weights)?;
        Ok(Owlv2 {
            box_bias: Some(box_bias(v.grid(), device)),
            config,
            vision,
            text,
            layer_norm,
            class_head,
            box_head,
            objectness_head,
            device: device.clone(),
        })
    }

    /// Loads `config.json` and `model.safetensors` of a Hugging Face model
    /// directory, e.g. a download of `google/owlv2-base-patch16-ensemble`;
    /// errors name the file.
    #[cfg(feature = "native")]
    pub fn from_dir(dir: &std::path::Path, device: &Device) -> Result<Self, Owlv2Error> {
        let config = Owlv2Config::from_json(&read_text(dir, "config.json")?)
            .map_err(in_file(dir, "config.json"))?;
        let weights = read(dir, "model.safetensors")?;
        Self::from_safetensors(config, &weights, device).map_err(in_file(dir, "model.safetensors"))
    }

    /// The configuration the model was built with.
    pub fn config(&self) -> &Owlv2Config {
        &self.config
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// A copy that leaves out the grid box bias (boxes become the sigmoid of
    /// the box head alone): the deliberately wrong variant the parity tests
    /// must reject.
    pub fn without_box_bias(mut self) -> Self {
        self.box_bias = None;
        self
    }

    /// Runs the model on normalised pixels `[B, 3, S, S]` (`S` the config's
    /// `image_size`, see [`preprocess`]) and `Q` tokenised queries of one
    /// length (see [`crate::text::clip::ClipTokenizer::encode_queries`]),
    /// the same for every image.
    pub fn forward(&self, pixels: Tensor<4>, queries: &[Vec<i64>]) -> Result<Outputs, Owlv2Error> {
        let ids = self.check_queries(queries)?;
        let (vision_last_hidden_state, features) = self.image_embedder(pixels)?; // [B, P, C]
        let q = queries.len();
        let text = self.text.forward(&ids, q); // [Q, D]
        let [b, p, c] = features.dims();
        let d = text.embeds.dims()[1];
        let queries = text.embeds.clone().reshape([1, q, d]).repeat_dim(0, b); // [B, Q, D]
        let class = self.class_head.forward(features.clone(), queries);
        let objectness_logits = self
            .objectness_head
            .forward(features.clone())
            .reshape([b, p]);
        let pred_boxes = predict_boxes(&self.box_head, features.clone(), self.box_bias.as_ref());
        let grid = self.config.vision.grid();
        Ok(Outputs {
            vision_last_hidden_state,
            text,
            image_embeds: features.reshape([b, grid, grid, c]),
            class_embeds: class.class_embeds,
            logits: class.logits,
            objectness_logits,
            pred_boxes,
        })
    }

    /// `image_guided_detection`: the query image's most object-like patch
    /// (highest objectness) gives its class embedding as the one query for
    /// the images `[B, 3, S, S]`; `query_pixels` is `[1, 3, S, S]` or one per
    /// image.
    pub fn image_guided(
        &self,
        pixels: Tensor<4>,
        query_pixels: Tensor<4>,
    ) -> Result<ImageGuidedOutputs, Owlv2Error> {
        let b = pixels.dims()[0];
        let bq = query_pixels.dims()[0];
        if bq != 1 && bq != b {
            return Err(Owlv2Error::Input(format!(
                "{bq} query images for {b} images: give one, or one per image"
            )));
        }
        let (_, query_features) = self.image_embedder(query_pixels)?; // [Bq, P, C]
        let (_, features) = self.image_embedder(pixels)?; // [B, P, C]
        let embeds = self.class_head.embed(query_features.clone()); // [Bq, P, D]
        let [_, p, d] = embeds.dims();
        let objectness = self.objectness_head.forward(query_features.clone()); // [Bq, P, 1]
        let query_box_index = objectness.reshape([bq, p]).argmax(1); // [Bq, 1]
        let index = query_box_index
            .clone()
            .unsqueeze_dim::<3>(2)
            .repeat_dim(2, d);
        let query = embeds.gather(1, index).repeat_dim(0, b / bq); // [B, 1, D]
        let class = self.class_head.forward(features.clone(), query);
        Ok(ImageGuidedOutputs {
            logits: class.logits,
            class_embeds: class.class_embeds,
            target_pred_boxes: predict_boxes(&self.box_head, features, self.box_bias.as_ref()),
            query_pred_boxes: predict_boxes(&self.box_head, query_features, self.box_bias.as_ref()),
            query_box_index,
        })
    }

    /// The vision tower's last hidden state `[B, 1 + P, C]` and the feature
    /// map's patches `[B, P, C]` of normalised pixels `[B, 3, S, S]`.
    fn image_embedder(&self, pixels: Tensor<4>) -> Result<(Tensor<3>, Tensor<3>), Owlv2Error> {
        let [b, channels, h, w] = pixels.dims();
        let v = &self.config.vision;
        if channels != v.num_channels || h != v.image_size || w != v.image_size || b == 0 {
            return Err(Owlv2Error::Input(format!(
                "pixels {:?}: expected [B, {}, {}, {}]",
                pixels.dims(),
                v.num_channels,
                v.image_size,
                v.image_size
            )));
        }
        let hidden = self.vision.forward(pixels); // [B, 1 + P, C]
        Ok((hidden.clone(), self.feature_map(hidden)))
    }

    /// The post-normed patch tokens times the post-normed class token,
    /// layer-normed, `[B, P, C]`.
    fn feature_map(&self, hidden: Tensor<3>) -> Tensor<3> {
        let tokens = hidden.dims()[1];
        let normed = self.vision.post_layernorm.forward(hidden);
        let class = normed.clone().narrow(1, 0, 1); // [B, 1, C]
        let patches = normed.narrow(1, 1, tokens - 1); // [B, P, C]
        self.layer_norm.forward(patches * class)
    }

    /// The queries as one row-major `[Q, T]` id list, refusing an empty list,
    /// rows of different lengths, a row longer than the text context and ids
    /// outside the vocabulary.
    fn check_queries(&self, queries: &[Vec<i64>]) -> Result<Vec<i64>, Owlv2Error> {
        let t = &self.config.text;
        let bad = |m: String| Err(Owlv2Error::Input(m));
        let Some(first) = queries.first() else {
            return bad("no queries: give at least one text query".into());
        };
        let len = first.len();
        if len == 0 || len > t.max_position_embeddings {
            return bad(format!(
                "queries of {len} tokens: the text context holds 1 to {}",
                t.max_position_embeddings
            ));
        }
        let mut ids = Vec::with_capacity(queries.len() * len);
        for (i, query) in queries.iter().enumerate() {
            if query.len() != len {
                return bad(format!(
                    "query {i} has {} tokens, query 0 has {len}: pad them to one length",
                    query.len()
                ));
            }
            if let Some(id) = query
                .iter()
                .find(|&&id| id < 0 || id as usize >= t.vocab_size)
            {
                return bad(format!(
                    "query {i}: token id {id} outside the vocabulary of {}",
                    t.vocab_size
                ));
            }
            ids.extend_from_slice(query);
        }
        Ok(ids)
    }

    /// Detects the queries in one preprocessed image `[1, 3, S, S]` whose
    /// original size is `[height, width]`: `post_process_object_detection`
    /// at `threshold`. Reads back synchronously (native backends); in the
    /// browser use [`Owlv2::raw_async`].
    pub fn detect(
        &self,
        pixels: Tensor<4>,
        queries: &[Vec<i64>],
        original_hw: [usize; 2],
        threshold: f32,
    ) -> Result<Vec<Detection>, Owlv2Error> {
        let raw = self.raw(pixels, queries)?;
        Ok(postprocess::detections(raw.view(), threshold, original_hw))
    }

    /// The last outputs of one image read back to the host: logits `[P, Q]`
    /// and boxes `[P, 4]`; synchronous readback.
    pub fn raw(&self, pixels: Tensor<4>, queries: &[Vec<i64>]) -> Result<HostOutputs, Owlv2Error> {
        let data = self
            .prediction(pixels, queries)?
            .try_execute()
            .map_err(readback)?;
        HostOutputs::new(data, queries.len())
    }

    /// [`Owlv2::raw`] with an asynchronous readback: what WebGPU in a
    /// browser needs. The forward pass runs inside rayon's pool
    /// ([`on_pool`]: the page's threaded CPU build).
    pub async fn raw_async(
        &self,
        pixels: Tensor<4>,
        queries: &[Vec<i64>],
    ) -> Result<HostOutputs, Owlv2Error> {
        let data = on_pool(|| self.prediction(pixels, queries))?
            .execute_async()
            .await
            .map_err(readback)?;
        HostOutputs::new(data, queries.len())
    }

    /// [`Owlv2::image_guided`] on one image and one query image, its logits
    /// `[P, 1]` and boxes read back to the host; synchronous readback.
    pub fn raw_guided(
        &self,
        pixels: Tensor<4>,
        query_pixels: Tensor<4>,
    ) -> Result<HostOutputs, Owlv2Error> {
        if pixels.dims()[0] != 1 {
            return Err(Owlv2Error::Input(format!(
                "pixels {:?}: one image at a time",
                pixels.dims()
            )));
        }
        let out = self.image_guided(pixels, query_pixels)?;
        let data = Transaction::default()
            .register(out.logits)
            .register(out.target_pred_boxes)
            .try_execute()
            .map_err(readback)?;
        HostOutputs::new(data, 1)
    }

    /// The forward pass of one image, its logits and boxes registered for one
    /// readback.
    fn prediction(
        &self,
        pixels: Tensor<4>,
        queries: &[Vec<i64>],
    ) -> Result<Transaction, Owlv2Error> {
        if pixels.dims()[0] != 1 {
            return Err(Owlv2Error::Input(format!(
                "pixels {:?}: one image at a time",
                pixels.dims()
            )));
        }
        let out = self.forward(pixels, queries)?;
        Ok(Transaction::default()
            .register(out.logits)
            .register(out.pred_boxes))
    }
}

/// One image's logits and boxes on the host.
#[derive(Debug, Clone, PartialEq)]
pub struct HostOutputs {
    /// `[P, Q]`, row-major.
    pub logits: Vec<f32>,
    /// `[P, 4]` `(cx, cy, w, h)`, row-major.
    pub boxes: Vec<f32>,
    pub queries: usize,
}

impl HostOutputs {
    fn new(data: Vec<TensorData>, queries: usize) -> Result<Self, Owlv2Error> {
        let mut values = data
            .into_iter()
            .map(|d| d.try_into_vec::<f32>().map_err(readback));
        let mut next = || {
            values
                .next()
                .unwrap_or_else(|| Err(readback("missing output")))
        };
        let (logits, boxes) = (next()?, next()?);
        if logits.iter().any(|v| !v.is_finite()) {
            return Err(Owlv2Error::NonFinite("logits"));
        }
        if boxes.iter().any(|v| !v.is_finite()) {
            return Err(Owlv2Error::NonFinite("boxes"));
        }
        Ok(HostOutputs {
            logits,
            boxes,
            queries,
        })
    }

    /// As [`postprocess::RawOutputs`].
    pub fn view(&self) -> postprocess::RawOutputs<'_> {
        postprocess::RawOutputs {
            logits: &self.logits,
            boxes: &self.boxes,
            queries: self.queries,
        }
    }
}

fn readback(e: impl std::fmt::Debug) -> Owlv2Error {
    Owlv2Error::Readback(format!("{e:?}"))
}

/// The bytes of `dir/name`; the error names the file.
#[cfg(feature = "native")]
fn read(dir: &std::path::Path, name: &str) -> Result<Vec<u8>, Owlv2Error> {
    let path = dir.join(name);
    std::fs::read(&path).map_err(|source| Owlv2Error::Io {
        path: path.display().to_string(),
        source,
    })
}

/// The text of `dir/name` (lossy UTF-8); the error names the file.
#[cfg(feature = "native")]
fn read_text(dir: &std::path::Path, name: &str) -> Result<String, Owlv2Error> {
    Ok(String::from_utf8_lossy(&read(dir, name)?).into_owned())
}

/// Wraps an error as one of `dir/name`.
#[cfg(feature = "native")]
fn in_file(dir: &std::path::Path, name: &str) -> impl FnOnce(Owlv2Error) -> Owlv2Error {
    let path = dir.join(name).display().to_string();
    move |e| Owlv2Error::InFile {
        path,
        source: Box::new(e),
    }
}
