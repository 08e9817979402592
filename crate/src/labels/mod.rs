//! The label types every stage shares — a leaf: it imports nothing else of the
//! crate. Models produce them, evaluation compares them, export writes them.
//!
//! - [`boxes`]: boxes `[x0, y0, x1, y1]` in image pixels (and COCO's `[x, y, w, h]`);
//! - [`detection`]: a detector's labelled boxes for one image and its
//!   per-phrase candidates;
//! - [`mask`]: binary masks at image resolution;
//! - [`rle`]: COCO run-length encoding, bit for bit as pycocotools;
//! - [`polygon`]: COCO polygons traced from masks;
//! - [`prompt`]: boxes and points that ask a segmenter for one object.

pub mod boxes;
pub mod detection;
pub mod mask;
pub mod polygon;
pub mod prompt;
pub mod rle;

pub use boxes::{Box2, Xywh};
pub use detection::{DetectionReport, DetectorText, LabelledBox, PhraseHit};
pub use mask::Mask;
pub use prompt::Prompt;
pub use rle::Rle;
