//! A video dropped on the page, as the core's clip: the core's MP4 index
//! ([`Mp4Track`]) over the dropped `File`, read a range at a time, and frames
//! decoded by the browser's WebCodecs decoder through web/video-bridge.js
//! (a decoder worker this thread waits on). The pictures come back as 4:2:0
//! planes and are converted to RGB by the core ([`Mp4Track::frame_from_picture`]),
//! so a frame's pixels are those `autolabel run --clip VIDEO` labels: H.264
//! decoding is bit-exact, and the colour conversion is the same code.
//!
//! Before the browser decodes a frame, the core reads and checks each sample
//! the decoder will take ([`Mp4Track::samples_to_show`]; once each), as it
//! does natively: a damaged sample is the skip `autolabel run` reports, with
//! its reason, rather than whatever the browser's decoder makes of it.

use std::path::Path;

use autolabel::data::clip::FrameInfo;
use autolabel::data::frame::Frame;
use autolabel::data::mp4::{Mp4Track, ReadAt, VideoError, VideoFrames};
use autolabel::data::yuv::{Chroma, Plane, YuvPicture};
use serde::Deserialize;
use wasm_bindgen::prelude::*;

use crate::page_files::thrown_message;

#[wasm_bindgen]
extern "C" {
    /// web/video-bridge.js's `VideoBridge`.
    pub type VideoBridge;

    #[wasm_bindgen(method, catch)]
    fn start(this: &VideoBridge, setup: JsValue) -> Result<(), JsValue>;

    /// `{width, height, format: 'I420' | 'NV12', layout: [{offset, stride}], data: Uint8Array}`
    #[wasm_bindgen(method, catch)]
    fn frame(this: &VideoBridge, index: u32, seek: u32) -> Result<JsValue, JsValue>;
}

/// A dropped file, read through `read(offset, length) → Uint8Array`
/// (`FileReaderSync` over a slice of the `File`).
struct PageFile {
    read: js_sys::Function,
    size: u64,
}

impl ReadAt for PageFile {
    fn size(&self) -> std::io::Result<u64> {
        Ok(self.size)
    }

    fn read_exact_at(&mut self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        let end = offset.saturating_add(buf.len() as u64);
        if end > self.size {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!(
                    "bytes {offset}..{end} lie past the end ({} bytes)",
                    self.size
                ),
            ));
        }
        let bytes = self
            .read
            .call2(
                &JsValue::NULL,
                &JsValue::from_f64(offset as f64),
                &JsValue::from_f64(buf.len() as f64),
            )
            .map_err(|e| std::io::Error::other(thrown_message(&e)))?;
        let bytes = js_sys::Uint8Array::new(&bytes);
        if bytes.length() as usize != buf.len() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("read {} of {} bytes at {offset}", bytes.length(), buf.len()),
            ));
        }
        bytes.copy_to(buf);
        Ok(())
    }
}

/// How the bridge describes a decoded picture (its bytes aside).
#[derive(Deserialize)]
struct PictureLayout {
    width: usize,
    height: usize,
    format: String,
    layout: Vec<PlaneLayout>,
}

#[derive(Deserialize)]
struct PlaneLayout {
    offset: usize,
    stride: usize,
}

/// A video's frames, decoded by the browser.
pub struct BrowserVideo {
    track: Mp4Track,
    bridge: VideoBridge,
    /// Whether each sample (decode order) has been read and checked.
    checked: Vec<bool>,
}

impl BrowserVideo {
    /// Opens the MP4 `name` (`size` bytes, read through `read`) and sets up
    /// `bridge`'s decoder for its track.
    pub fn open(
        name: &str,
        size: u64,
        read: js_sys::Function,
        bridge: VideoBridge,
    ) -> Result<Self, VideoError> {
        let track = Mp4Track::open(Box::new(PageFile { read, size }), Path::new(name))?;
        let started = serde_wasm_bindgen::to_value(&track.decoder_setup())
            .map_err(JsValue::from)
            .and_then(|setup| bridge.start(setup));
        match started {
            Ok(()) => Ok(BrowserVideo {
                checked: vec![false; track.sample_count()],
                track,
                bridge,
            }),
            Err(e) => Err(VideoError::Unsupported {
                path: track.path().to_path_buf(),
                feature: format!("the browser's video decoder ({})", thrown_message(&e)),
            }),
        }
    }

    /// Reads and checks the samples the decoder takes to show frame `index`
    /// from seek point `seek` (the NAL units of each must fit in it).
    fn check_samples(&mut self, seek: usize, index: usize) -> Result<(), VideoError> {
        for sample in self.track.samples_to_show(seek, index) {
            if !self.checked[sample] {
                self.track.annexb(sample, index)?;
                self.checked[sample] = true;
            }
        }
        Ok(())
    }

    /// The bridge's picture of frame `index` (decoding from `seek`), converted.
    fn convert(&self, index: usize, seek: usize, picture: JsValue) -> Result<Frame, VideoError> {
        let fail = |message: String| self.track.decode_error(index, seek, message);
        let described: PictureLayout = serde_wasm_bindgen::from_value(picture.clone())
            .map_err(|e| fail(format!("the decoder's answer: {e}")))?;
        let data = js_sys::Reflect::get(&picture, &JsValue::from_str("data"))
            .map(|data| js_sys::Uint8Array::new(&data).to_vec())
            .map_err(|e| fail(thrown_message(&e)))?;
        let plane = |p: usize| {
            let layout = described.layout.get(p).ok_or_else(|| {
                fail(format!(
                    "the decoder's {} picture has no plane {p}",
                    described.format
                ))
            })?;
            let bytes = data.get(layout.offset..).ok_or_else(|| {
                fail(format!(
                    "plane {p} starts past the picture's {} bytes",
                    data.len()
                ))
            })?;
            Ok(Plane {
                data: bytes,
                stride: layout.stride,
            })
        };
        let chroma = match described.format.as_str() {
            "I420" => Chroma::Planar {
                u: plane(1)?,
                v: plane(2)?,
            },
            "NV12" => Chroma::Interleaved(plane(1)?),
            other => return Err(fail(format!("a picture in format '{other}'"))),
        };
        let picture = YuvPicture {
            width: described.width,
            height: described.height,
            luma: plane(0)?,
            chroma,
        };
        self.track.frame_from_picture(index, seek, &picture)
    }
}

impl VideoFrames for BrowserVideo {
    fn track(&self) -> &Mp4Track {
        &self.track
    }

    fn frame(&mut self, index: usize) -> Result<Frame, VideoError> {
        self.track.timestamp_us(index)?;
        let seek = self.track.seek_point(index)?;
        self.check_samples(seek, index)?;
        let picture = self
            .bridge
            .frame(index as u32, seek as u32)
            .map_err(|e| self.track.decode_error(index, seek, thrown_message(&e)))?;
        self.convert(index, seek, picture)
    }
}

/// What the page shows of a video before any frame is decoded: its frame
/// size and frames (the first `max_frames`, all without) as the core
/// indexes them, or the core's reason it cannot read the file (not an MP4,
/// not H.264, a profile it does not decode, cut short, …).
#[wasm_bindgen(js_name = videoIndex)]
pub fn video_index(
    name: &str,
    size: f64,
    read: js_sys::Function,
    max_frames: Option<u32>,
) -> Result<JsValue, JsError> {
    let file = PageFile {
        read,
        size: size as u64,
    };
    let track = Mp4Track::open(Box::new(file), Path::new(name)).map_err(crate::js_error)?;
    let frames = FrameInfo::of_video(&track, max_frames.map(|n| n as usize));
    crate::to_js(&VideoIndex {
        width: track.width(),
        height: track.height(),
        frames,
    })
}

#[derive(serde::Serialize)]
struct VideoIndex {
    width: u32,
    height: u32,
    frames: Vec<FrameInfo>,
}
