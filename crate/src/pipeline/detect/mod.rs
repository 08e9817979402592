//! Stage 1, detect: open-vocabulary boxes for the ontology's classes on the
//! detection frames, with Grounding DINO or OWLv2 ([`DetectorModel`], picked
//! by the checkpoint's `model_type`).
//!
//! Grounding DINO reads one caption of every class's phrases; OWLv2 reads
//! each phrase as a query of its own. Each candidate (a Grounding DINO query,
//! an OWLv2 patch) above the lowest box threshold gets the class of its most
//! probable phrase and is kept when its score passes that class's box
//! threshold and — for Grounding DINO, whose phrase probability is a token
//! probability apart from the box score — the phrase's probability its text
//! threshold (an OWLv2 score is its query's probability: the box threshold
//! alone applies). Boxes are clipped to the image (a box left without area is
//! dropped), then per-class greedy NMS removes duplicates.
//!
//! With [`DetectSettings::anneal`] each frame is detected by iterative
//! confidence annealing instead ([`anneal`]): passes at falling thresholds
//! for the classes still without labels, each label marked with its pass.

pub mod anneal;
pub mod prompted;

use serde::{Deserialize, Serialize};

use self::anneal::{AnnealSettings, OntologyPasses, PassRecord};
use super::PipelineError;
use super::ontology::{Caption, Ontology};
use super::skipped::SkippedFrame;
use crate::data::frame::Frame;
use crate::labels::boxes::{self, area};
use crate::labels::{Box2, PhraseHit};
use crate::models::grounding_dino::{self, GroundingDinoError};
use crate::models::owlv2;
use crate::text::EncodedPrompt;

/// The open-vocabulary detector of the stage (boxed: the models are large).
#[derive(Debug, Clone)]
pub enum DetectorModel {
    GroundingDino(Box<grounding_dino::Detector>),
    Owlv2(Box<owlv2::Detector>),
}

impl DetectorModel {
    /// Loads a Hugging Face model directory as the detector its
    /// `config.json` names: `model_type` `grounding-dino` or `owlv2`.
    #[cfg(feature = "native")]
    pub fn from_dir(
        dir: &std::path::Path,
        device: &burn::tensor::Device,
    ) -> Result<Self, PipelineError> {
        let path = dir.join("config.json");
        let bad = |message: String| PipelineError::DetectorConfig {
            path: path.display().to_string(),
            message,
        };
        let json = std::fs::read_to_string(&path).map_err(|e| bad(e.to_string()))?;
        match detector_type(&json).map_err(bad)? {
            DetectorType::GroundingDino => {
                let (detector, _) = grounding_dino::Detector::from_dir(dir, device)?;
                Ok(DetectorModel::GroundingDino(Box::new(detector)))
            }
            DetectorType::Owlv2 => {
                let detector = owlv2::Detector::from_dir(dir, device)?;
                Ok(DetectorModel::Owlv2(Box::new(detector)))
            }
        }
    }

    /// A checkpoint held in memory (the page): `config.json` text and
    /// `model.safetensors` bytes, as the detector `model_type` names.
    pub fn from_bytes(
        config_json: &str,
        weights: &[u8],
        device: &burn::tensor::Device,
    ) -> Result<Self, PipelineError> {
        let bad = |message: String| PipelineError::DetectorConfig {
            path: "config.json".into(),
            message,
        };
        Ok(match detector_type(config_json).map_err(bad)? {
            DetectorType::GroundingDino => DetectorModel::GroundingDino(Box::new(
                grounding_dino::Detector::from_bytes(config_json, weights, device)?,
            )),
            DetectorType::Owlv2 => DetectorModel::Owlv2(Box::new(owlv2::Detector::from_bytes(
                config_json,
                weights,
                device,
            )?)),
        })
    }

    /// `grounding-dino` or `owlv2`, as `config.json` names it.
    pub fn model_type(&self) -> &'static str {
        match self {
            DetectorModel::GroundingDino(_) => "grounding-dino",
            DetectorModel::Owlv2(_) => "owlv2",
        }
    }
}

/// The detectors a `config.json` can name.
enum DetectorType {
    GroundingDino,
    Owlv2,
}

/// Which detector a `config.json` text describes, by its `model_type`.
fn detector_type(config_json: &str) -> Result<DetectorType, String> {
    let value: serde_json::Value =
        serde_json::from_str(config_json).map_err(|e| format!("not a valid config: {e}"))?;
    match value.get("model_type").and_then(|v| v.as_str()) {
        Some("grounding-dino") => Ok(DetectorType::GroundingDino),
        Some("owlv2") => Ok(DetectorType::Owlv2),
        Some(other) => Err(format!(
            "model_type '{other}' is not a detector: expected 'grounding-dino' or 'owlv2'"
        )),
        None => Err("no model_type: expected 'grounding-dino' or 'owlv2'".into()),
    }
}

/// The text side of a run, encoded once.
enum Encoded<'a> {
    /// The caption, for Grounding DINO.
    Caption(&'a grounding_dino::Detector, EncodedPrompt),
    /// One query per caption phrase, for OWLv2.
    Queries(&'a owlv2::Detector, Vec<Vec<i64>>),
}

/// Settings of the detect stage besides the ontology.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectSettings {
    /// Per-class NMS at this box IoU (`None`: keep every query, as the
    /// reference does). 0.8 is Grounded-SAM-2's setting.
    pub nms_iou: Option<f64>,
    /// Iterative confidence annealing instead of one pass at the ontology's
    /// box thresholds (`None`: one pass). Not written when `None`, so runs
    /// made before it keep their resume keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anneal: Option<AnnealSettings>,
}

impl Default for DetectSettings {
    fn default() -> Self {
        DetectSettings {
            nms_iou: Some(0.8),
            anneal: None,
        }
    }
}

/// One detected object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detected {
    /// `[x0, y0, x1, y1]`, image pixels.
    #[serde(rename = "box")]
    pub bbox: Box2,
    pub score: f64,
    /// The ontology class.
    pub class: String,
    /// The phrase of the caption that found it.
    pub phrase: String,
    /// With annealing: the pass that found it (absent without).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anneal: Option<AnnealPass>,
}

/// The annealing pass that produced a label.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AnnealPass {
    /// From 0.
    pub pass: usize,
    /// The box threshold of that pass.
    pub threshold: f64,
}

/// The detections of one frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameDetections {
    /// Clip index.
    pub frame: usize,
    pub width: u32,
    pub height: u32,
    pub detections: Vec<Detected>,
    /// With annealing: what each pass asked for and found (absent without).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub passes: Vec<PassRecord>,
}

/// `detections.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectOutput {
    /// The caption the detector read.
    pub caption: String,
    pub frames: Vec<FrameDetections>,
    /// Detection frames that did not decode, in order (none in `frames`).
    #[serde(default)]
    pub skipped: Vec<SkippedFrame>,
}

/// A detector ready for a run: the model and the encoded caption.
pub struct FrameDetector<'a> {
    detector: &'a DetectorModel,
    encoded: Encoded<'a>,
    caption: Caption,
    ontology: &'a Ontology,
    settings: DetectSettings,
}

impl<'a> FrameDetector<'a> {
    /// Encodes the ontology's caption (Grounding DINO) or its phrases as
    /// queries (OWLv2) for `detector`.
    pub fn new(
        detector: &'a DetectorModel,
        ontology: &'a Ontology,
        caption: Caption,
        settings: DetectSettings,
    ) -> Result<Self, PipelineError> {
        let encoded = match detector {
            DetectorModel::GroundingDino(d) => Encoded::Caption(d, encode_caption(d, &caption)?),
            DetectorModel::Owlv2(d) => {
                let queries: Vec<&str> =
                    caption.phrases.iter().map(|p| p.phrase.as_str()).collect();
                Encoded::Queries(d, d.encode(&queries)?)
            }
        };
        if let Some(anneal) = &settings.anneal {
            anneal.check()?;
        }
        Ok(FrameDetector {
            detector,
            encoded,
            caption,
            ontology,
            settings,
        })
    }

    /// The detections of one frame: one pass, or annealed passes.
    pub fn detect(&self, frame: &Frame) -> Result<FrameDetections, PipelineError> {
        match &self.settings.anneal {
            None => self.detect_once(frame),
            Some(anneal) => self.detect_annealed(frame, anneal),
        }
    }

    /// Annealed passes over the ontology's classes.
    fn detect_annealed(
        &self,
        frame: &Frame,
        settings: &AnnealSettings,
    ) -> Result<FrameDetections, PipelineError> {
        let mut passes = OntologyPasses {
            detector: self.detector,
            ontology: self.ontology,
            frame,
            settings: DetectSettings {
                anneal: None,
                ..self.settings.clone()
            },
        };
        let classes: Vec<String> = self
            .ontology
            .classes
            .iter()
            .map(|c| c.name.clone())
            .collect();
        let annealed = anneal::anneal(&mut passes, &classes, settings)?;
        let (width, height) = frame.rgb.dimensions();
        Ok(FrameDetections {
            frame: frame.index,
            width,
            height,
            detections: annealed.labels,
            passes: annealed.passes,
        })
    }

    /// One pass, each class at its ontology thresholds.
    fn detect_once(&self, frame: &Frame) -> Result<FrameDetections, PipelineError> {
        let (width, height) = frame.rgb.dimensions();
        let (rgb, w, h) = (frame.rgb.as_raw(), width as usize, height as usize);
        let threshold = self.ontology.min_box_threshold();
        let (hits, scoring) = match &self.encoded {
            Encoded::Caption(d, encoded) => (
                d.detect_phrases(rgb, w, h, encoded, threshold)?,
                Scoring::BoxAndText,
            ),
            Encoded::Queries(d, queries) => (
                d.detect_queries(rgb, w, h, queries, threshold)?,
                Scoring::BoxOnly,
            ),
        };
        let found = classify(
            &hits,
            scoring,
            &self.caption,
            self.ontology,
            [width, height],
        );
        let detections = match self.settings.nms_iou {
            Some(iou) => nms_per_class(found, iou),
            None => found,
        };
        Ok(FrameDetections {
            frame: frame.index,
            width,
            height,
            detections,
            passes: Vec::new(),
        })
    }
}

/// Grounding DINO's caption, checked to read as the ontology's phrases.
fn encode_caption(
    detector: &grounding_dino::Detector,
    caption: &Caption,
) -> Result<EncodedPrompt, PipelineError> {
    let encoded = detector.encode(&caption.text)?;
    if encoded.phrase_tokens.len() != caption.phrases.len() {
        return Err(PipelineError::Detector(GroundingDinoError::Input(format!(
            "the caption {:?} reads as {} phrases, the ontology has {}",
            caption.text,
            encoded.phrase_tokens.len(),
            caption.phrases.len()
        ))));
    }
    Ok(encoded)
}

/// Which of a class's thresholds a hit must pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scoring {
    /// The box threshold on the score and the text threshold on the best
    /// phrase's probability (Grounding DINO).
    BoxAndText,
    /// The box threshold on the score, which is the best phrase's
    /// probability (OWLv2).
    BoxOnly,
}

/// Classes and per-class thresholds applied to a frame's hits
/// (`[width, height]` of the frame, to clip boxes to).
pub fn classify(
    hits: &[PhraseHit],
    scoring: Scoring,
    caption: &Caption,
    ontology: &Ontology,
    [width, height]: [u32; 2],
) -> Vec<Detected> {
    hits.iter()
        .filter_map(|hit| {
            let (p, &prob) = hit
                .phrase_probs
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))?;
            let phrase = caption.phrases.get(p)?;
            let class = ontology.classes.get(phrase.class)?;
            let text_ok = scoring == Scoring::BoxOnly || prob > class.text_threshold;
            let keep = hit.score > class.box_threshold && text_ok;
            let b = boxes::from_f32(hit.box_xyxy);
            let (w, h) = (f64::from(width), f64::from(height));
            let bbox = [
                b[0].clamp(0.0, w),
                b[1].clamp(0.0, h),
                b[2].clamp(0.0, w),
                b[3].clamp(0.0, h),
            ];
            (keep && area(bbox) > 0.0).then(|| Detected {
                bbox,
                score: f64::from(hit.score),
                class: class.name.clone(),
                phrase: phrase.phrase.clone(),
                anneal: None,
            })
        })
        .collect()
}

/// Greedy NMS within each class, highest score first; survivors keep their
/// order.
pub fn nms_per_class(detections: Vec<Detected>, iou_threshold: f64) -> Vec<Detected> {
    let keep = nms_keep(&detections, iou_threshold);
    detections
        .into_iter()
        .zip(keep)
        .filter_map(|(d, k)| k.then_some(d))
        .collect()
}

/// Which detections greedy NMS within each class keeps.
pub fn nms_keep(detections: &[Detected], iou_threshold: f64) -> Vec<bool> {
    let mut order: Vec<usize> = (0..detections.len()).collect();
    order.sort_by(|&a, &b| detections[b].score.total_cmp(&detections[a].score));
    let mut keep = vec![false; detections.len()];
    let mut kept: Vec<usize> = Vec::new();
    for i in order {
        let d = &detections[i];
        let suppressed = kept.iter().any(|&k| {
            let o = &detections[k];
            o.class == d.class && box_iou(o.bbox, d.bbox) > iou_threshold
        });
        if !suppressed {
            kept.push(i);
            keep[i] = true;
        }
    }
    keep
}

/// Plain intersection over union of two boxes (0 when both are empty).
pub fn box_iou(a: Box2, b: Box2) -> f64 {
    let inter = boxes::intersection(a, b);
    let union = area(a) + area(b) - inter;
    if union > 0.0 { inter / union } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::ontology::CaptionPhrase;

    fn caption() -> Caption {
        let phrase = |p: &str, class| CaptionPhrase {
            phrase: p.into(),
            class,
        };
        Caption {
            text: "car . van . pedestrian .".into(),
            phrases: vec![phrase("car", 0), phrase("van", 0), phrase("pedestrian", 1)],
        }
    }

    fn ontology() -> Ontology {
        let mut o = Ontology::seed();
        o.classes = vec![o.classes[0].clone(), o.classes[3].clone()];
        o.classes[0].phrases = vec!["car".into(), "van".into()];
        o.classes[1].box_threshold = 0.6;
        o
    }

    fn hit(score: f32, probs: [f32; 3], b: [f32; 4]) -> PhraseHit {
        PhraseHit {
            score,
            box_xyxy: b,
            phrase_probs: probs.to_vec(),
        }
    }

    #[test]
    fn each_class_applies_its_own_thresholds() {
        let hits = [
            hit(0.5, [0.1, 0.5, 0.2], [0.0, 0.0, 10.0, 10.0]), // van → car, kept
            hit(0.5, [0.1, 0.2, 0.5], [0.0, 0.0, 10.0, 10.0]), // pedestrian below 0.6
            hit(0.7, [0.1, 0.2, 0.7], [-5.0, 2.0, 30.0, 12.0]), // pedestrian, clipped
            hit(0.5, [0.5, 0.1, 0.1], [25.0, 0.0, 40.0, 10.0]), // outside: no area
        ];
        let got = classify(
            &hits,
            Scoring::BoxAndText,
            &caption(),
            &ontology(),
            [20, 20],
        );
        assert_eq!(got.len(), 2);
        assert_eq!(
            (got[0].class.as_str(), got[0].phrase.as_str()),
            ("car", "van")
        );
        assert_eq!(got[1].class, "pedestrian");
        assert_eq!(got[1].bbox, [0.0, 2.0, 20.0, 12.0]);
    }

    #[test]
    fn nms_is_per_class() {
        let det = |score, class: &str, x: f64| Detected {
            bbox: [x, 0.0, x + 10.0, 10.0],
            score,
            class: class.into(),
            phrase: class.into(),
            anneal: None,
        };
        let dets = vec![
            det(0.5, "car", 0.0),
            det(0.9, "car", 1.0),
            det(0.4, "bus", 1.0),
            det(0.3, "car", 50.0),
        ];
        let kept = nms_per_class(dets.clone(), 0.5);
        assert_eq!(
            kept,
            vec![dets[1].clone(), dets[2].clone(), dets[3].clone()]
        );
    }
}
