//! A decoded video frame: the unit every pipeline stage consumes.

use image::RgbImage;

/// One decoded frame of a clip.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Position of the frame in its clip, from 0.
    pub index: usize,
    /// Capture time in microseconds (nuScenes timestamps are µs since the epoch;
    /// video and image folders count from 0).
    pub timestamp_us: i64,
    /// The pixels, 8-bit RGB.
    pub rgb: RgbImage,
}
