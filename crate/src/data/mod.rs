//! Inputs: nuScenes datasets, clips of frames, the synthetic demo scene and the
//! mapping from nuScenes categories to prompt classes.

pub mod classes;
pub mod clip;
pub mod frame;
pub mod image_file;
pub mod mp4;
pub mod nuscenes;
pub mod synthetic;
#[cfg(feature = "native")]
pub mod video;
pub mod yuv;
