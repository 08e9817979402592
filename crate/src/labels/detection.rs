//! What an open-vocabulary detector (Grounding DINO, OWLv2) returns for one
//! image, whichever of them ran:
//!
//! - [`DetectionReport`]: the labelled boxes with the text the detector
//!   read, the JSON `autolabel detect` prints and the page receives;
//! - [`PhraseHit`]: a candidate box with the probability of each phrase,
//!   for callers that apply their own per-class thresholds (the pipeline);
//! - [`check_threshold`] / [`check_nms_iou`]: the range checks both
//!   detectors' options share.

use serde::ser::{Serialize, SerializeStruct, Serializer};

/// One detection with its label.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LabelledBox {
    /// `[x0, y0, x1, y1]` in original-image pixels.
    #[serde(rename = "box")]
    pub box_xyxy: [f32; 4],
    pub score: f32,
    /// Grounding DINO: the prompt's tokens above the text threshold, decoded
    /// as `tokenizer.decode` does (`"car"`, `"traffic light"`, `"cat
    /// [SEP]"`); OWLv2: the query that found it.
    pub label: String,
}

/// The text a detector read.
#[derive(Debug, Clone, PartialEq)]
pub enum DetectorText {
    /// Grounding DINO: the normalised caption (`"car . truck ."`) and its
    /// phrases.
    Caption {
        prompt: String,
        phrases: Vec<String>,
    },
    /// OWLv2: one query per class, as given (image-guided detection: the
    /// query image's label).
    Queries(Vec<String>),
}

/// The detections of one image. Serialised as `{prompt, phrases, width,
/// height, detections}` (Grounding DINO) or `{queries, width, height,
/// detections}` (OWLv2).
#[derive(Debug, Clone, PartialEq)]
pub struct DetectionReport {
    pub text: DetectorText,
    pub width: usize,
    pub height: usize,
    pub detections: Vec<LabelledBox>,
}

impl Serialize for DetectionReport {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = match &self.text {
            DetectorText::Caption { prompt, phrases } => {
                let mut out = serializer.serialize_struct("DetectionReport", 5)?;
                out.serialize_field("prompt", prompt)?;
                out.serialize_field("phrases", phrases)?;
                out
            }
            DetectorText::Queries(queries) => {
                let mut out = serializer.serialize_struct("DetectionReport", 4)?;
                out.serialize_field("queries", queries)?;
                out
            }
        };
        out.serialize_field("width", &self.width)?;
        out.serialize_field("height", &self.height)?;
        out.serialize_field("detections", &self.detections)?;
        out.end()
    }
}

/// A candidate box (a Grounding DINO query, an OWLv2 patch) above the
/// detector's box threshold, with the probability of each phrase: what a
/// caller with per-class thresholds needs instead of one label.
#[derive(Debug, Clone, PartialEq)]
pub struct PhraseHit {
    /// The detector's score: Grounding DINO's best token probability, OWLv2's
    /// best query probability.
    pub score: f32,
    /// `[x0, y0, x1, y1]` in original-image pixels.
    pub box_xyxy: [f32; 4],
    /// Per phrase (Grounding DINO: the highest probability of its tokens;
    /// OWLv2: its query's probability).
    pub phrase_probs: Vec<f32>,
}

/// A detection option out of its range.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OptionError {
    #[error("{name} {value}: must be a probability in [0, 1]")]
    Threshold { name: &'static str, value: f32 },
    #[error("NMS IoU {0}: must be in (0, 1]")]
    NmsIou(f32),
}

/// Refuses a threshold (named `name` in the error) outside `[0, 1]`.
pub fn check_threshold(name: &'static str, value: f32) -> Result<(), OptionError> {
    if (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(OptionError::Threshold { name, value })
    }
}

/// Refuses an NMS IoU outside `(0, 1]` (`None`, no NMS, is fine).
pub fn check_nms_iou(iou: Option<f32>) -> Result<(), OptionError> {
    match iou {
        Some(iou) if !(iou > 0.0 && iou <= 1.0) => Err(OptionError::NmsIou(iou)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(text: DetectorText) -> DetectionReport {
        DetectionReport {
            text,
            width: 4,
            height: 3,
            detections: vec![LabelledBox {
                box_xyxy: [0.0, 1.0, 2.0, 3.0],
                score: 0.5,
                label: "car".into(),
            }],
        }
    }

    #[test]
    fn each_detector_reports_its_own_text() {
        let caption = report(DetectorText::Caption {
            prompt: "car .".into(),
            phrases: vec!["car".into()],
        });
        assert_eq!(
            serde_json::to_string(&caption).unwrap(),
            r#"{"prompt":"car .","phrases":["car"],"width":4,"height":3,"detections":[{"box":[0.0,1.0,2.0,3.0],"score":0.5,"label":"car"}]}"#
        );
        let queries = report(DetectorText::Queries(vec!["car".into()]));
        assert_eq!(
            serde_json::to_string(&queries).unwrap(),
            r#"{"queries":["car"],"width":4,"height":3,"detections":[{"box":[0.0,1.0,2.0,3.0],"score":0.5,"label":"car"}]}"#
        );
    }

    #[test]
    fn options_out_of_range_are_named() {
        assert_eq!(check_threshold("box threshold", 1.0), Ok(()));
        let err = check_threshold("box threshold", 1.5).unwrap_err();
        assert_eq!(
            err.to_string(),
            "box threshold 1.5: must be a probability in [0, 1]"
        );
        assert!(check_threshold("threshold", f32::NAN).is_err());
        assert_eq!(check_nms_iou(None), Ok(()));
        assert_eq!(check_nms_iou(Some(1.0)), Ok(()));
        for bad in [0.0, 1.5, f32::NAN] {
            let err = check_nms_iou(Some(bad)).unwrap_err();
            assert_eq!(err.to_string(), format!("NMS IoU {bad}: must be in (0, 1]"));
        }
    }
}
