//! One abstraction over every kind of input clip: a nuScenes scene, a folder of
//! frames, the synthetic demo scene and (natively) an MP4 file. Frames are
//! listed up front but decoded lazily, one at a time: a `Clip` holds no decoded
//! pixels, so walking a long scene keeps memory flat.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use super::frame::Frame;
use super::image_file::decode_rgb;
use super::mp4::{Mp4Track, VideoError, VideoFrames};
use super::nuscenes::{CameraFrame, DataSource, NuScenes, NuScenesError, ReadError};
use super::synthetic::SyntheticScene;

/// What is known about a frame before decoding it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameInfo {
    pub index: usize,
    pub timestamp_us: i64,
    /// File name or dataset path, for display and export.
    pub name: String,
    /// For nuScenes scenes: whether the frame is an annotated keyframe.
    pub is_key_frame: bool,
}

impl FrameInfo {
    /// A video's frames (its first `max_frames`, all without), in
    /// presentation order, frame `i` named `FILE#i`.
    pub fn of_video(track: &Mp4Track, max_frames: Option<usize>) -> Vec<FrameInfo> {
        let count = max_frames.map_or(track.len(), |max| max.min(track.len()));
        (0..count)
            .zip(track.timestamps_us())
            .map(|(index, &timestamp_us)| FrameInfo {
                index,
                timestamp_us,
                name: format!("{}#{index}", track.path().display()),
                is_key_frame: false,
            })
            .collect()
    }

    /// A nuScenes camera chain's frames (`name`: the image path in the
    /// dataset), indexed in chain order, sweeps included.
    pub fn of_camera_chain(frames: &[CameraFrame]) -> Vec<FrameInfo> {
        frames
            .iter()
            .enumerate()
            .map(|(index, f)| FrameInfo {
                index,
                timestamp_us: f.timestamp,
                name: f.image.clone(),
                is_key_frame: f.is_key_frame,
            })
            .collect()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClipError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Dataset(#[from] NuScenesError),
    #[error("{location}: cannot decode image: {message}")]
    Decode { location: String, message: String },
    #[error("frame {index} is out of range: the clip has {len} frames")]
    OutOfRange { index: usize, len: usize },
    #[error("{0}: no JPG or PNG frames found")]
    NoFrames(String),
    #[error("{location}: {message}")]
    Io { location: String, message: String },
    #[error(transparent)]
    Video(#[from] VideoError),
}

impl ClipError {
    /// Whether the error is one frame's own — its file missing or
    /// unreadable, its bytes not decoding completely (a truncated or corrupt
    /// JPEG/PNG, an H.264 sample that fails or lies past the end of a cut
    /// MP4) — so that a run can skip that frame and go on. Anything else (a
    /// frame index past the clip, a broken dataset table, an unreadable MP4
    /// index or file) concerns the whole clip.
    pub fn is_bad_frame(&self) -> bool {
        matches!(
            self,
            ClipError::Read(_)
                | ClipError::Decode { .. }
                | ClipError::Video(VideoError::Decode { .. } | VideoError::Truncated { .. })
        )
    }
}

enum Frames {
    /// Encoded images read from a source by path.
    Files {
        source: Box<dyn DataSource>,
        paths: Vec<String>,
    },
    /// Rendered on demand.
    Demo(Box<SyntheticScene>),
    /// An MP4's frames, decoded by the platform's decoder.
    Video(Box<dyn VideoFrames>),
}

/// A sequence of frames with timestamps, decoded on demand.
pub struct Clip {
    infos: Vec<FrameInfo>,
    frames: Frames,
}

impl Clip {
    /// The camera frames of a nuScenes scene (keyframes and sweeps, in time
    /// order, at most `max_frames`), read through `source`.
    pub fn nuscenes(
        db: &NuScenes,
        source: Box<dyn DataSource>,
        scene: &str,
        channel: &str,
        max_frames: Option<usize>,
    ) -> Result<Self, ClipError> {
        let frames = db.camera_frames(scene, channel, max_frames)?;
        let infos = FrameInfo::of_camera_chain(&frames);
        let paths = frames.into_iter().map(|f| f.image).collect();
        Ok(Clip {
            infos,
            frames: Frames::Files { source, paths },
        })
    }

    /// Image files (JPG/PNG, by extension) of `source`, in natural name order
    /// (`frame_2` before `frame_10`), stamped at `fps`.
    pub fn image_files(
        source: Box<dyn DataSource>,
        names: Vec<String>,
        fps: f64,
    ) -> Result<Self, ClipError> {
        let mut paths: Vec<String> = names.into_iter().filter(|n| is_image_name(n)).collect();
        if paths.is_empty() {
            return Err(ClipError::NoFrames(source.locate("")));
        }
        paths.sort_by(|a, b| natural_cmp(a, b));
        let period = if fps > 0.0 { 1e6 / fps } else { 1e5 };
        let infos = paths
            .iter()
            .enumerate()
            .map(|(index, name)| FrameInfo {
                index,
                timestamp_us: (index as f64 * period).round() as i64,
                name: name.clone(),
                is_key_frame: false,
            })
            .collect();
        Ok(Clip {
            infos,
            frames: Frames::Files { source, paths },
        })
    }

    /// The JPG/PNG frames of a directory.
    #[cfg(feature = "native")]
    pub fn folder(dir: &std::path::Path, fps: f64) -> Result<Self, ClipError> {
        let io = |e: std::io::Error| ClipError::Io {
            location: dir.display().to_string(),
            message: e.to_string(),
        };
        let names = std::fs::read_dir(dir)
            .map_err(io)?
            .map(|entry| entry.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(io)?;
        let source = super::nuscenes::DirSource {
            root: dir.to_path_buf(),
        };
        Self::image_files(Box::new(source), names, fps)
    }

    /// The synthetic demo scene, rendered frame by frame.
    pub fn demo(scene: SyntheticScene) -> Self {
        let infos = scene
            .tables
            .sample_data
            .iter()
            .enumerate()
            .map(|(index, sd)| FrameInfo {
                index,
                timestamp_us: sd.timestamp,
                name: sd.filename.clone(),
                is_key_frame: sd.is_key_frame,
            })
            .collect();
        Clip {
            infos,
            frames: Frames::Demo(Box::new(scene)),
        }
    }

    /// An MP4 (H.264) file, decoded with OpenH264.
    #[cfg(feature = "native")]
    pub fn video(path: &std::path::Path) -> Result<Self, ClipError> {
        let video = super::video::Mp4Video::open(path)?;
        Ok(Self::of_video(Box::new(video), None))
    }

    /// The frames of a video (its first `max_frames`, all without; frame `i`
    /// named `FILE#i`), decoded by `video`.
    pub fn of_video(video: Box<dyn VideoFrames>, max_frames: Option<usize>) -> Self {
        let infos = FrameInfo::of_video(video.track(), max_frames);
        Clip {
            infos,
            frames: Frames::Video(video),
        }
    }

    pub fn len(&self) -> usize {
        self.infos.len()
    }

    pub fn is_empty(&self) -> bool {
        self.infos.is_empty()
    }

    pub fn infos(&self) -> &[FrameInfo] {
        &self.infos
    }

    /// Decodes frame `index`.
    pub fn frame(&mut self, index: usize) -> Result<Frame, ClipError> {
        let info = self.infos.get(index).ok_or(ClipError::OutOfRange {
            index,
            len: self.infos.len(),
        })?;
        let timestamp_us = info.timestamp_us;
        let rgb = match &mut self.frames {
            Frames::Files { source, paths } => decode_image(source.as_ref(), &paths[index])?,
            Frames::Demo(scene) => scene.frame_rgb(index).ok_or(ClipError::OutOfRange {
                index,
                len: scene.len(),
            })?,
            Frames::Video(video) => return Ok(video.frame(index)?),
        };
        Ok(Frame {
            index,
            timestamp_us,
            rgb,
        })
    }

    /// Every frame in order, decoded one at a time.
    pub fn iter(&mut self) -> impl Iterator<Item = Result<Frame, ClipError>> + '_ {
        (0..self.len()).map(move |i| self.frame(i))
    }
}

fn is_image_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [".jpg", ".jpeg", ".png"]
        .iter()
        .any(|ext| lower.ends_with(ext))
}

/// Compares names with digit runs as numbers: `f2.jpg` < `f10.jpg`.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return Ordering::Equal,
            (None, _) => return Ordering::Less,
            (_, None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let (da, ra) = split_digits(a);
                let (db, rb) = split_digits(b);
                let (ta, tb) = (trim_zeros(da), trim_zeros(db));
                let ord = ta
                    .len()
                    .cmp(&tb.len())
                    .then(ta.cmp(tb))
                    .then(da.len().cmp(&db.len()));
                if ord != Ordering::Equal {
                    return ord;
                }
                (a, b) = (ra, rb);
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(y);
                }
                (a, b) = (&a[1..], &b[1..]);
            }
        }
    }
}

fn split_digits(s: &[u8]) -> (&[u8], &[u8]) {
    let n = s.iter().take_while(|c| c.is_ascii_digit()).count();
    s.split_at(n)
}

fn trim_zeros(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&c| c == b'0').count();
    &s[n..]
}

/// Decodes a JPG or PNG into RGB, completely or not at all (see
/// [`super::image_file`]); the error names the file.
pub fn decode_image(source: &dyn DataSource, path: &str) -> Result<image::RgbImage, ClipError> {
    let bytes = source.read(path)?;
    decode_rgb(&bytes).map_err(|e| ClipError::Decode {
        location: source.locate(path),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::nuscenes::MemorySource;

    #[test]
    fn natural_order_compares_numbers() {
        let mut names = vec!["f10.jpg", "f2.jpg", "f1.jpg", "f02.jpg", "a.png"];
        names.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(names, ["a.png", "f1.jpg", "f2.jpg", "f02.jpg", "f10.jpg"]);
    }

    fn png(width: u32, height: u32, shade: u8) -> Vec<u8> {
        let img = image::RgbImage::from_pixel(width, height, image::Rgb([shade, shade, shade]));
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn image_files_decode_in_name_order_with_timestamps() {
        let mut source = MemorySource::default();
        for (name, shade) in [("frame_10.png", 10), ("frame_2.png", 2), ("notes.txt", 0)] {
            source.insert(name, png(4, 3, shade));
        }
        let names = source.files.keys().cloned().collect();
        let mut clip = Clip::image_files(Box::new(source), names, 5.0).unwrap();
        assert_eq!(clip.len(), 2);
        let frames: Vec<Frame> = clip.iter().collect::<Result<_, _>>().unwrap();
        assert_eq!(frames[0].rgb.get_pixel(0, 0).0, [2, 2, 2]);
        assert_eq!(frames[1].timestamp_us, 200_000);
        assert!(matches!(
            clip.frame(2),
            Err(ClipError::OutOfRange { index: 2, len: 2 })
        ));
    }

    #[test]
    fn truncated_and_missing_images_name_the_file() {
        let mut jpeg = Vec::new();
        image::RgbImage::from_pixel(32, 32, image::Rgb([9, 99, 199]))
            .write_with_encoder(image::codecs::jpeg::JpegEncoder::new(&mut jpeg))
            .unwrap();
        let mut source = MemorySource::default();
        source.insert("cut.jpg", jpeg[..jpeg.len() / 2].to_vec());
        source.insert("ok.jpg", jpeg);
        assert!(decode_image(&source, "ok.jpg").is_ok());
        let err = decode_image(&source, "cut.jpg").unwrap_err().to_string();
        assert!(
            err.contains("cut.jpg") && err.contains("truncated"),
            "{err}"
        );
        let err = decode_image(&source, "gone.jpg").unwrap_err().to_string();
        assert!(
            err.contains("gone.jpg") && err.contains("no such file"),
            "{err}"
        );
    }
}
