//! One detection with a class-list prompt (`"car, truck"`), by whichever
//! detector the checkpoint is: what `autolabel detect --prompt` prints and
//! what the page's Detect panel shows, from the same code. Grounding DINO
//! reads the phrases as one caption (transformers'
//! `post_process_grounded_object_detection`), OWLv2 as one query each
//! (`post_process_object_detection`); a threshold left out is the model's
//! documented default.

use super::DetectorModel;
use crate::labels::detection::DetectionReport;
use crate::models::grounding_dino::detector::{DEFAULT_BOX_THRESHOLD, DEFAULT_TEXT_THRESHOLD};
use crate::models::grounding_dino::{self, GroundingDinoError, Thresholds};
use crate::models::owlv2::{self, Owlv2Error};
use crate::text::{Prompt, PromptError};

/// Thresholds of a prompted detection; `None`: the model's default
/// (Grounding DINO 0.4 / 0.3, OWLv2 0.1).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PromptOptions {
    /// A detection is kept when its score exceeds this.
    pub box_threshold: Option<f32>,
    /// Grounding DINO only: a prompt token joins a label above this.
    pub text_threshold: Option<f32>,
    /// Per-label NMS at this IoU (off when `None`).
    pub nms_iou: Option<f32>,
}

/// Why a prompted detection did not run.
#[derive(Debug, thiserror::Error)]
pub enum PromptDetectError {
    #[error(transparent)]
    Prompt(#[from] PromptError),
    #[error(transparent)]
    GroundingDino(#[from] GroundingDinoError),
    #[error(transparent)]
    Owlv2(#[from] Owlv2Error),
    #[error(
        "the text threshold applies to Grounding DINO only; OWLv2 scores each query (use the box threshold)"
    )]
    TextThresholdForOwlv2,
}

/// A prompted detection with its options checked and filled in.
enum Prepared<'a> {
    GroundingDino(&'a grounding_dino::Detector, grounding_dino::DetectOptions),
    Owlv2(&'a owlv2::Detector, Vec<String>, owlv2::DetectOptions),
}

impl DetectorModel {
    /// Detects the phrases of `prompt` in an interleaved RGB image
    /// (`width × height`); boxes in its pixels. Synchronous readback (native
    /// backends).
    pub fn detect_prompt(
        &self,
        rgb: &[u8],
        [width, height]: [usize; 2],
        prompt: &str,
        options: PromptOptions,
    ) -> Result<DetectionReport, PromptDetectError> {
        Ok(match self.prepare(prompt, options)? {
            Prepared::GroundingDino(d, o) => d.detect(rgb, width, height, prompt, o)?,
            Prepared::Owlv2(d, queries, o) => d.detect(rgb, width, height, &queries, o)?,
        })
    }

    /// [`DetectorModel::detect_prompt`] with an asynchronous readback
    /// (WebGPU in a browser).
    pub async fn detect_prompt_async(
        &self,
        rgb: &[u8],
        [width, height]: [usize; 2],
        prompt: &str,
        options: PromptOptions,
    ) -> Result<DetectionReport, PromptDetectError> {
        Ok(match self.prepare(prompt, options)? {
            Prepared::GroundingDino(d, o) => d.detect_async(rgb, width, height, prompt, o).await?,
            Prepared::Owlv2(d, queries, o) => {
                d.detect_async(rgb, width, height, &queries, o).await?
            }
        })
    }

    fn prepare(
        &self,
        prompt: &str,
        options: PromptOptions,
    ) -> Result<Prepared<'_>, PromptDetectError> {
        Ok(match self {
            DetectorModel::GroundingDino(d) => Prepared::GroundingDino(
                d,
                grounding_dino::DetectOptions {
                    thresholds: Thresholds {
                        box_threshold: options.box_threshold.unwrap_or(DEFAULT_BOX_THRESHOLD),
                        text_threshold: options.text_threshold.unwrap_or(DEFAULT_TEXT_THRESHOLD),
                    },
                    nms_iou: options.nms_iou,
                },
            ),
            DetectorModel::Owlv2(_) if options.text_threshold.is_some() => {
                return Err(PromptDetectError::TextThresholdForOwlv2);
            }
            DetectorModel::Owlv2(d) => Prepared::Owlv2(
                d,
                Prompt::parse(prompt)?.phrases,
                owlv2::DetectOptions {
                    threshold: options
                        .box_threshold
                        .unwrap_or(owlv2::detector::DEFAULT_THRESHOLD),
                    nms_iou: options.nms_iou,
                },
            ),
        })
    }
}
