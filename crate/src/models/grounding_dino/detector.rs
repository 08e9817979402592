//! Open-vocabulary detection end to end, as transformers' Grounding DINO
//! usage runs it: a user's class list normalised into the caption
//! ([`crate::text::prompt`]), bert-base-uncased WordPiece ids, the
//! processor's resize and normalisation ([`super::preprocess`]), the model,
//! `post_process_grounded_object_detection` ([`super::postprocess`]) and each
//! detection's label decoded from its tokens above the text threshold.
//!
//! Paper: Liu et al., "Grounding DINO", 2023. Reference: transformers
//! v5.23.0 `GroundingDinoProcessor` (`post_process_grounded_object_detection`,
//! `get_phrases_from_posmap`, then `batch_decode` of the label ids) and the
//! usage of the `GroundingDinoForObjectDetection` docstring (thresholds 0.4 /
//! 0.3). Optional per-label NMS ([`super::postprocess::nms_per_label`]) is
//! ours.
//!
//! Images of any size are accepted the way the processor takes them: a
//! 10×10 image is upscaled to 800×800 and its boxes come back in its own
//! pixels; an image so elongated that the processor would give it a side of
//! 0 px (e.g. 1×3000) is refused with an error naming both sizes.

use burn::tensor::Tensor;

use super::postprocess::{Detection, Thresholds, nms_per_label};
use super::preprocess::{self, ResizeTarget};
use super::{GroundingDino, GroundingDinoConfig, GroundingDinoError, Prompt};
use crate::labels::detection::{
    DetectionReport, DetectorText, LabelledBox, OptionError, PhraseHit, check_nms_iou,
    check_threshold,
};
use crate::text::{BertTokenizer, EncodedPrompt};

/// The box threshold of transformers' documented usage (the post-processor's
/// own default is 0.25, the original repository's demo uses 0.35).
pub const DEFAULT_BOX_THRESHOLD: f32 = 0.4;
/// The text threshold of transformers' documented usage (the post-processor's
/// default and the original demo use 0.25).
pub const DEFAULT_TEXT_THRESHOLD: f32 = 0.3;

/// How detections are filtered.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectOptions {
    pub thresholds: Thresholds,
    /// Per-label NMS at this IoU; `None` keeps every query above the box
    /// threshold, as the reference does.
    pub nms_iou: Option<f32>,
}

impl Default for DetectOptions {
    fn default() -> Self {
        DetectOptions {
            thresholds: Thresholds {
                box_threshold: DEFAULT_BOX_THRESHOLD,
                text_threshold: DEFAULT_TEXT_THRESHOLD,
            },
            nms_iou: None,
        }
    }
}

impl DetectOptions {
    /// Refuses thresholds outside `[0, 1]` and an IoU outside `(0, 1]`.
    pub fn validate(&self) -> Result<(), OptionError> {
        check_threshold("box threshold", self.thresholds.box_threshold)?;
        check_threshold("text threshold", self.thresholds.text_threshold)?;
        check_nms_iou(self.nms_iou)
    }
}

/// Where the tokenizer's vocabulary came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VocabSource {
    /// The model directory's `vocab.txt`.
    ModelDir,
    /// The embedded bert-base-uncased vocabulary.
    Embedded,
}

/// Grounding DINO with its tokenizer and image processor settings.
#[derive(Debug, Clone)]
pub struct Detector {
    model: GroundingDino,
    tokenizer: BertTokenizer,
    resize: ResizeTarget,
}

impl Detector {
    /// A detector with the processor's default resize (800 / 1333).
    pub fn new(model: GroundingDino, tokenizer: BertTokenizer) -> Self {
        Detector {
            model,
            tokenizer,
            resize: ResizeTarget::default(),
        }
    }

    /// The same detector resizing images to another target.
    pub fn with_resize(self, resize: ResizeTarget) -> Self {
        Detector { resize, ..self }
    }

    /// Loads a Hugging Face model directory: `config.json`,
    /// `model.safetensors`, `vocab.txt` (else the embedded bert-base-uncased
    /// vocabulary) and `preprocessor_config.json` (else the default resize).
    #[cfg(feature = "native")]
    pub fn from_dir(
        dir: &std::path::Path,
        device: &burn::tensor::Device,
    ) -> Result<(Self, VocabSource), GroundingDinoError> {
        let (tokenizer, source) = if dir.join("vocab.txt").is_file() {
            (BertTokenizer::from_model_dir(dir)?, VocabSource::ModelDir)
        } else {
            let tokenizer = BertTokenizer::from_vocab(crate::text::BERT_BASE_UNCASED_VOCAB)?;
            (tokenizer, VocabSource::Embedded)
        };
        let processor = dir.join("preprocessor_config.json");
        let resize = match std::fs::read_to_string(&processor) {
            Ok(json) => ResizeTarget::from_preprocessor_config(&json)
                .map_err(|e| GroundingDinoError::Config(format!("{}: {e}", dir.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => ResizeTarget::default(),
            Err(source) => {
                return Err(GroundingDinoError::Io {
                    path: processor.display().to_string(),
                    source,
                });
            }
        };
        let model = GroundingDino::from_dir(dir, device)?;
        Ok((Detector::new(model, tokenizer).with_resize(resize), source))
    }

    /// A checkpoint held in memory (what the page downloads or the user
    /// drops): `config.json` text and `model.safetensors` bytes, with the
    /// embedded bert-base-uncased vocabulary (every published checkpoint's)
    /// and the processor's default resize (800 / 1333, the published
    /// `preprocessor_config.json` values).
    pub fn from_bytes(
        config_json: &str,
        weights: &[u8],
        device: &burn::tensor::Device,
    ) -> Result<Self, GroundingDinoError> {
        let in_file = |path: &str| {
            let path = path.to_string();
            move |e| GroundingDinoError::InFile {
                path,
                source: Box::new(e),
            }
        };
        let config = GroundingDinoConfig::from_json(config_json).map_err(in_file("config.json"))?;
        let tokenizer = BertTokenizer::from_vocab(crate::text::BERT_BASE_UNCASED_VOCAB)?;
        let model = GroundingDino::from_safetensors(config, weights, device)
            .map_err(in_file("model.safetensors"))?;
        Ok(Detector::new(model, tokenizer))
    }

    pub fn model(&self) -> &GroundingDino {
        &self.model
    }

    /// Normalises and tokenizes a user prompt; refuses one longer than the
    /// model's `max_text_len`.
    pub fn encode(&self, raw: &str) -> Result<EncodedPrompt, GroundingDinoError> {
        let encoded = EncodedPrompt::new(&self.tokenizer, raw)?;
        let (tokens, max) = (encoded.encoding.ids.len(), self.model.config().max_text_len);
        if tokens > max {
            return Err(GroundingDinoError::Input(format!(
                "prompt too long: {tokens} tokens ([CLS] and [SEP] included), this model reads at most {max}"
            )));
        }
        Ok(encoded)
    }

    /// The processor's pixels `[1, 3, h, w]` of an interleaved RGB image
    /// (`width × height`, row-major).
    pub fn pixels(
        &self,
        rgb: &[u8],
        width: usize,
        height: usize,
    ) -> Result<Tensor<4>, GroundingDinoError> {
        if width == 0 || height == 0 || rgb.len() != width * height * 3 {
            return Err(GroundingDinoError::Input(format!(
                "{} bytes for a {width}×{height} RGB image (expected {})",
                rgb.len(),
                width * height * 3
            )));
        }
        let [h, w] = preprocess::resized_size([height, width], self.resize);
        if h == 0 || w == 0 {
            return Err(GroundingDinoError::Input(format!(
                "a {width}×{height} image is too elongated: the processor (shortest edge {}, longest {}) would resize it to {w}×{h}",
                self.resize.shortest_edge, self.resize.longest_edge
            )));
        }
        let device = self.model.device();
        Ok(preprocess::preprocess(
            rgb,
            width,
            height,
            self.resize,
            device,
        ))
    }

    /// Detects the prompt's phrases in an RGB image; synchronous readback
    /// (native backends).
    pub fn detect(
        &self,
        rgb: &[u8],
        width: usize,
        height: usize,
        raw_prompt: &str,
        options: DetectOptions,
    ) -> Result<DetectionReport, GroundingDinoError> {
        options.validate()?;
        let encoded = self.encode(raw_prompt)?;
        let pixels = self.pixels(rgb, width, height)?;
        let prompt = Prompt::from(&encoded.encoding);
        let found = self
            .model
            .detect(pixels, &prompt, [height, width], options.thresholds)?;
        Ok(self.report(encoded, found, [height, width], options))
    }

    /// Each query above `box_threshold` with the probability of each of the
    /// encoded prompt's phrases (synchronous readback): for callers that
    /// apply their own per-phrase thresholds.
    pub fn detect_phrases(
        &self,
        rgb: &[u8],
        width: usize,
        height: usize,
        encoded: &EncodedPrompt,
        box_threshold: f32,
    ) -> Result<Vec<PhraseHit>, GroundingDinoError> {
        let pixels = self.pixels(rgb, width, height)?;
        let prompt = Prompt::from(&encoded.encoding);
        self.model.detect_phrases(
            pixels,
            &prompt,
            &encoded.phrase_tokens,
            [height, width],
            box_threshold,
        )
    }

    /// [`Detector::detect`] with an asynchronous readback (WebGPU in a
    /// browser).
    pub async fn detect_async(
        &self,
        rgb: &[u8],
        width: usize,
        height: usize,
        raw_prompt: &str,
        options: DetectOptions,
    ) -> Result<DetectionReport, GroundingDinoError> {
        options.validate()?;
        let encoded = self.encode(raw_prompt)?;
        let pixels = self.pixels(rgb, width, height)?;
        let prompt = Prompt::from(&encoded.encoding);
        let found = self
            .model
            .detect_async(pixels, &prompt, [height, width], options.thresholds)
            .await?;
        Ok(self.report(encoded, found, [height, width], options))
    }

    /// NMS if asked, labels decoded.
    fn report(
        &self,
        encoded: EncodedPrompt,
        found: Vec<Detection>,
        [height, width]: [usize; 2],
        options: DetectOptions,
    ) -> DetectionReport {
        let found = match options.nms_iou {
            Some(iou) => nms_per_label(found, iou),
            None => found,
        };
        let detections = found
            .into_iter()
            .map(|d| {
                let ids: Vec<u32> = d.token_ids.iter().map(|&id| id as u32).collect();
                LabelledBox {
                    box_xyxy: d.box_xyxy,
                    score: d.score,
                    label: self.tokenizer.decode(&ids),
                }
            })
            .collect();
        DetectionReport {
            text: DetectorText::Caption {
                prompt: encoded.prompt.text,
                phrases: encoded.prompt.phrases,
            },
            width,
            height,
            detections,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../models/fixtures/grounding-dino-tiny"
    );

    fn fixture_file(name: &str) -> Vec<u8> {
        std::fs::read(format!("{FIXTURE}/{name}")).unwrap()
    }

    #[cfg(feature = "native")]
    #[test]
    fn from_bytes_detects_as_the_model_directory_does() {
        let device = burn::tensor::Device::flex();
        let config = String::from_utf8(fixture_file("config.json")).unwrap();
        let detector =
            Detector::from_bytes(&config, &fixture_file("model.safetensors"), &device).unwrap();
        let (from_dir, vocab) = Detector::from_dir(std::path::Path::new(FIXTURE), &device).unwrap();
        assert_eq!(vocab, VocabSource::Embedded);
        let (width, height) = (24, 16);
        let rgb: Vec<u8> = (0..width * height * 3)
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        let options = DetectOptions {
            thresholds: Thresholds {
                box_threshold: 0.5,
                text_threshold: 0.5,
            },
            nms_iou: None,
        };
        let prompt = "A cat, a remote control";
        let got = detector
            .detect(&rgb, width, height, prompt, options)
            .unwrap();
        let want = from_dir
            .detect(&rgb, width, height, prompt, options)
            .unwrap();
        assert!(
            matches!(&got.text, DetectorText::Caption { prompt, .. } if prompt == "a cat . a remote control ."),
            "{:?}",
            got.text
        );
        assert!(!got.detections.is_empty());
        assert_eq!(got, want);
    }

    #[test]
    fn from_bytes_names_what_is_wrong() {
        let device = burn::tensor::Device::flex();
        let config = String::from_utf8(fixture_file("config.json")).unwrap();
        let weights = fixture_file("model.safetensors");
        let other = config.replace("\"grounding-dino\"", "\"sam2\"");
        let err = Detector::from_bytes(&other, &weights, &device)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("config.json: "), "{err}");
        assert!(
            err.contains("model_type 'sam2' is not 'grounding-dino'"),
            "{err}"
        );
        let err =
            Detector::from_bytes(&config, &weights[..weights.len() / 2], &device).unwrap_err();
        assert!(err.to_string().starts_with("model.safetensors: "), "{err}");
        assert!(
            matches!(&err, GroundingDinoError::InFile { source, .. }
                if matches!(**source, GroundingDinoError::Safetensors(_))),
            "{err}"
        );
    }
}
