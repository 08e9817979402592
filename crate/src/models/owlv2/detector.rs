//! Open-vocabulary detection end to end, as transformers' OWLv2 usage runs
//! it: a list of text queries tokenised by CLIP's BPE and padded to the text
//! context ([`crate::text::clip`]), the processor's pad-to-square, resize and
//! normalisation ([`super::preprocess`]), the model and
//! `post_process_object_detection` ([`super::postprocess`]); each detection
//! is labelled with its query.
//!
//! Paper: Minderer et al., "Scaling Open-Vocabulary Object Detection", 2023.
//! Reference: transformers v5.23.0 `Owlv2Processor` and the usage of the
//! `Owlv2ForObjectDetection` docstring (threshold 0.1, the post-processor's
//! default). Optional per-query NMS is ours (the reference keeps every patch
//! above the threshold).

use burn::tensor::{Device, Tensor, TensorData};

use super::postprocess::{self, Detection};
use super::preprocess::ProcessorConfig;
use super::{HostOutputs, Owlv2, Owlv2Config, Owlv2Error};
use crate::labels::boxes::{greedy_nms, iou_f32};
use crate::labels::detection::{
    DetectionReport, DetectorText, LabelledBox, OptionError, PhraseHit, check_nms_iou,
    check_threshold,
};
use crate::text::clip::ClipTokenizer;

/// The score threshold of `post_process_object_detection` and of the
/// documented usage.
pub const DEFAULT_THRESHOLD: f32 = 0.1;
/// The NMS IoU of `post_process_image_guided_detection`.
pub const DEFAULT_GUIDED_NMS_IOU: f32 = 0.3;

/// How detections are filtered.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectOptions {
    /// A patch is kept when its best query's probability exceeds this.
    pub threshold: f32,
    /// Per-query NMS at this IoU; `None` keeps every patch above the
    /// threshold, as the reference does.
    pub nms_iou: Option<f32>,
}

impl Default for DetectOptions {
    fn default() -> Self {
        DetectOptions {
            threshold: DEFAULT_THRESHOLD,
            nms_iou: None,
        }
    }
}

impl DetectOptions {
    /// Refuses a threshold outside `[0, 1]` and an IoU outside `(0, 1]`.
    pub fn validate(&self) -> Result<(), OptionError> {
        check_threshold("threshold", self.threshold)?;
        check_nms_iou(self.nms_iou)
    }
}

/// OWLv2 with its tokenizer and image processor settings.
#[derive(Debug, Clone)]
pub struct Detector {
    model: Owlv2,
    tokenizer: ClipTokenizer,
    processor: ProcessorConfig,
}

impl Detector {
    /// A detector with the processor resizing to the model's input size.
    pub fn new(model: Owlv2, tokenizer: ClipTokenizer) -> Self {
        let processor = ProcessorConfig::square(model.config().vision.image_size);
        Detector {
            model,
            tokenizer,
            processor,
        }
    }

    /// The same detector with other processor settings; refuses an output
    /// size other than the model's input.
    pub fn with_processor(self, processor: ProcessorConfig) -> Result<Self, Owlv2Error> {
        let side = self.model.config().vision.image_size;
        let out = processor.output_size([side, side]);
        if processor.do_resize && out != [side, side] {
            return Err(Owlv2Error::Config(format!(
                "the processor resizes to {}×{}, the model reads {side}×{side}",
                out[1], out[0]
            )));
        }
        Ok(Detector { processor, ..self })
    }

    /// Loads a Hugging Face model directory: `config.json`,
    /// `model.safetensors`, `vocab.json` + `merges.txt` (else the embedded
    /// CLIP vocabulary) and `preprocessor_config.json` (else the processor
    /// resizing to the model's input size).
    #[cfg(feature = "native")]
    pub fn from_dir(dir: &std::path::Path, device: &Device) -> Result<Self, Owlv2Error> {
        let tokenizer = if dir.join("vocab.json").is_file() {
            ClipTokenizer::from_model_dir(dir)?
        } else {
            ClipTokenizer::owlv2()
        };
        let model = Owlv2::from_dir(dir, device)?;
        let detector = Detector::new(model, tokenizer);
        let path = dir.join("preprocessor_config.json");
        match std::fs::read_to_string(&path) {
            Ok(json) => {
                let in_file = |e: String| Owlv2Error::InFile {
                    path: path.display().to_string(),
                    source: Box::new(Owlv2Error::Config(e)),
                };
                let processor = ProcessorConfig::from_json(&json).map_err(in_file)?;
                detector
                    .with_processor(processor)
                    .map_err(|e| Owlv2Error::InFile {
                        path: path.display().to_string(),
                        source: Box::new(e),
                    })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(detector),
            Err(source) => Err(Owlv2Error::Io {
                path: path.display().to_string(),
                source,
            }),
        }
    }

    /// A checkpoint held in memory: `config.json` text and
    /// `model.safetensors` bytes, with the embedded CLIP vocabulary and the
    /// processor resizing to the model's input size (the published
    /// `preprocessor_config.json` values).
    pub fn from_bytes(
        config_json: &str,
        weights: &[u8],
        device: &Device,
    ) -> Result<Self, Owlv2Error> {
        let config = Owlv2Config::from_json(config_json)?;
        let model = Owlv2::from_safetensors(config, weights, device)?;
        Ok(Detector::new(model, ClipTokenizer::owlv2()))
    }

    pub fn model(&self) -> &Owlv2 {
        &self.model
    }

    pub fn tokenizer(&self) -> &ClipTokenizer {
        &self.tokenizer
    }

    /// Tokenises the queries, each padded to the text context; refuses an
    /// empty list and a query longer than the context.
    pub fn encode<S: AsRef<str>>(&self, queries: &[S]) -> Result<Vec<Vec<i64>>, Owlv2Error> {
        let context = self.model.config().text.max_position_embeddings;
        Ok(self.tokenizer.encode_queries(queries, context)?)
    }

    /// The processor's pixels `[1, 3, S, S]` of an interleaved RGB image
    /// (`width × height`, row-major).
    pub fn pixels(&self, rgb: &[u8], width: usize, height: usize) -> Result<Tensor<4>, Owlv2Error> {
        if width == 0 || height == 0 || rgb.len() != width * height * 3 {
            return Err(Owlv2Error::Input(format!(
                "{} bytes for a {width}×{height} RGB image (expected {})",
                rgb.len(),
                width * height * 3
            )));
        }
        let [h, w] = self.processor.output_size([height, width]);
        let values = self.processor.preprocess_rgb(rgb, width, height);
        Ok(Tensor::from_data(
            TensorData::new(values, [1, 3, h, w]),
            self.model.device(),
        ))
    }

    /// Detects the queries in an RGB image; synchronous readback (native
    /// backends).
    pub fn detect<S: AsRef<str>>(
        &self,
        rgb: &[u8],
        width: usize,
        height: usize,
        queries: &[S],
        options: DetectOptions,
    ) -> Result<DetectionReport, Owlv2Error> {
        let (pixels, ids) = self.inputs(rgb, width, height, queries, options)?;
        let raw = self.model.raw(pixels, &ids)?;
        Ok(report(queries, &raw, [height, width], options))
    }

    /// [`Detector::detect`] with an asynchronous readback (WebGPU in a
    /// browser).
    pub async fn detect_async<S: AsRef<str>>(
        &self,
        rgb: &[u8],
        width: usize,
        height: usize,
        queries: &[S],
        options: DetectOptions,
    ) -> Result<DetectionReport, Owlv2Error> {
        let (pixels, ids) = self.inputs(rgb, width, height, queries, options)?;
        let raw = self.model.raw_async(pixels, &ids).await?;
        Ok(report(queries, &raw, [height, width], options))
    }

    /// Checks the options, then the processor's pixels and the query ids.
    fn inputs<S: AsRef<str>>(
        &self,
        rgb: &[u8],
        width: usize,
        height: usize,
        queries: &[S],
        options: DetectOptions,
    ) -> Result<(Tensor<4>, Vec<Vec<i64>>), Owlv2Error> {
        options.validate()?;
        let ids = self.encode(queries)?;
        Ok((self.pixels(rgb, width, height)?, ids))
    }

    /// Image-guided detection: finds what the query image shows (its most
    /// object-like patch) in an RGB image, post-processed as
    /// `post_process_image_guided_detection` (NMS at `options.nms_iou`, none
    /// when `None`; scores are the reference's display alphas, 1 for the best
    /// match); every detection is labelled `label`. Synchronous readback.
    pub fn detect_by_example(
        &self,
        rgb: &[u8],
        [width, height]: [usize; 2],
        query_rgb: &[u8],
        [query_width, query_height]: [usize; 2],
        label: &str,
        options: DetectOptions,
    ) -> Result<DetectionReport, Owlv2Error> {
        options.validate()?;
        let pixels = self.pixels(rgb, width, height)?;
        let query = self.pixels(query_rgb, query_width, query_height)?;
        let raw = self.model.raw_guided(pixels, query)?;
        let nms = options.nms_iou.unwrap_or(1.0);
        let found = postprocess::image_guided_detections(
            &raw.logits,
            &raw.boxes,
            options.threshold,
            nms,
            [height, width],
        );
        Ok(labelled(&[label], found, [height, width]))
    }

    /// Every patch whose best query probability exceeds `threshold`, with
    /// the probability of each encoded query (synchronous readback): for
    /// callers that apply their own per-query thresholds.
    pub fn detect_queries(
        &self,
        rgb: &[u8],
        width: usize,
        height: usize,
        encoded: &[Vec<i64>],
        threshold: f32,
    ) -> Result<Vec<PhraseHit>, Owlv2Error> {
        let pixels = self.pixels(rgb, width, height)?;
        let raw = self.model.raw(pixels, encoded)?;
        Ok(postprocess::patch_hits(
            raw.view(),
            threshold,
            [height, width],
        ))
    }
}

/// `post_process_object_detection`, NMS if asked, each detection labelled
/// with its query.
fn report<S: AsRef<str>>(
    queries: &[S],
    raw: &HostOutputs,
    [height, width]: [usize; 2],
    options: DetectOptions,
) -> DetectionReport {
    let found = postprocess::detections(raw.view(), options.threshold, [height, width]);
    let found: Vec<Detection> = match options.nms_iou {
        Some(iou) => greedy_nms(
            found,
            |d| d.score,
            |kept, d| kept.label == d.label && iou_f32(&kept.box_xyxy, &d.box_xyxy) > iou,
        ),
        None => found,
    };
    labelled(queries, found, [height, width])
}

/// The report of detections labelled with their queries.
fn labelled<S: AsRef<str>>(
    queries: &[S],
    found: Vec<Detection>,
    [height, width]: [usize; 2],
) -> DetectionReport {
    let queries: Vec<String> = queries.iter().map(|q| q.as_ref().to_string()).collect();
    let detections = found
        .into_iter()
        .map(|d| LabelledBox {
            box_xyxy: d.box_xyxy,
            score: d.score,
            label: queries[d.label].clone(),
        })
        .collect();
    DetectionReport {
        text: DetectorText::Queries(queries),
        width,
        height,
        detections,
    }
}
