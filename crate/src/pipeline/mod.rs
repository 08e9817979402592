//! The pipeline: the one place where the stages meet.
//!
//! ```text
//! clip ─ sampling ─▶ detect ─▶ segment ─▶ track ─▶ evaluate ─▶ analyse ─▶ outputs
//!                    Grounding DINO  SAM 2      ids      greedy P/R, AP   failure examples
//!                                              └────────────▶ review (QA queue) ──┘
//! ```
//!
//! Each stage is a plain function over serde data: it takes the previous
//! stage's output and its own settings, returns its own output, never reaches
//! back into an earlier stage and never touches files or the DOM. The CLI's
//! `autolabel run` (and the page) do the I/O around them: they save each
//! stage's output, reload it on a resumed run, and report progress. Model
//! stages work one frame at a time ([`detect::detect_frame`],
//! [`segment::segment_frame`]) so that a caller can checkpoint, show progress
//! and keep memory flat in the clip's length.
//!
//! A person's review ([`review`]: the QA queue's accept / delete / fix) is
//! applied to the tracks before the outputs; the evaluation and the report
//! stay the automatic labels'.
//!
//! A frame that does not decode is skipped and reported, not the end of a
//! run ([`skipped`]).
//!
//! Frame `i` is the clip's `i`-th frame ([`crate::data::clip::Clip`]; for a
//! nuScenes scene its position in the camera chain, sweeps counted), the
//! `image_id` of every output and of `autolabel eval`.

pub mod analyse;
pub mod batch;
pub mod detect;
pub mod evaluate;
pub mod gt_masks;
pub mod input;
pub mod ontology;
pub mod outputs;
pub mod propagate;
pub mod review;
pub mod run;
pub mod sampling;
pub mod segment;
pub mod skipped;
pub mod track;

pub use detect::anneal;
pub use detect::{DetectOutput, Detected, FrameDetections};
pub use ontology::{Caption, Ontology, OntologyError};
pub use sampling::{Sampled, Sampling, SamplingError};
pub use segment::{FrameMasks, MaskedObject, SegmentOutput};
pub use skipped::SkippedFrame;
pub use track::{FrameTracks, TrackOutput, TrackedObject};

use crate::data::clip::ClipError;
use crate::export::archive::ArchiveError;
use crate::export::coco::CocoError;
use crate::labels::rle::RleError;
use crate::models::grounding_dino::GroundingDinoError;
use crate::models::owlv2::Owlv2Error;
use crate::models::sam2::Sam2Error;

/// What a stage can fail with.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Clip(#[from] ClipError),
    #[error("detector: {0}")]
    Detector(#[from] GroundingDinoError),
    #[error("detector: {0}")]
    Owlv2(#[from] Owlv2Error),
    /// A detector directory whose `config.json` is unreadable or names
    /// another model.
    #[error("{path}: {message}")]
    DetectorConfig { path: String, message: String },
    #[error("segmenter: {0}")]
    Segmenter(#[from] Sam2Error),
    #[error(transparent)]
    Ontology(#[from] OntologyError),
    #[error(transparent)]
    Sampling(#[from] SamplingError),
    #[error("annealing: {0}")]
    Anneal(#[from] anneal::AnnealError),
    #[error("frame {frame}: {message}")]
    Frame { frame: usize, message: String },
    #[error("image {image_id}: {message}")]
    Image { image_id: i64, message: String },
    #[error(transparent)]
    Coco(#[from] CocoError),
    #[error(transparent)]
    Rle(#[from] RleError),
    #[error(transparent)]
    Archive(#[from] ArchiveError),
}
