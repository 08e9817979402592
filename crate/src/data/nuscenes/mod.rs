//! nuScenes datasets: the tables (`tables`), loading and validation (`db`), where
//! files come from (`source`) and the scene walk with projected 2D ground truth
//! (`ground_truth`).
//!
//! Reference: Caesar et al., "nuScenes: A multimodal dataset for autonomous
//! driving", CVPR 2020, and the `nuscenes-devkit` 1.2.0, whose
//! `scripts/export_2d_annotations_as_json.py` defines the 2D boxes reproduced here.

pub mod db;
pub mod ground_truth;
pub mod source;
pub mod tables;

pub use db::{NuScenes, NuScenesError};
pub use ground_truth::{CameraFrame, GroundTruthError, GtAnnotation, KeyframeGt};
pub use source::{DataSource, MemorySource, ReadError};

#[cfg(feature = "native")]
pub use source::DirSource;

/// The camera the pipeline labels.
pub const DEFAULT_CHANNEL: &str = "CAM_FRONT";
