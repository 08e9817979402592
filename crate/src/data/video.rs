//! Native MP4 (H.264) video input: frames of an `.mp4` file, in presentation
//! order, decoded with OpenH264 over the core's demuxer ([`super::mp4`]).
//!
//! - **Decode** with OpenH264 (the `openh264` crate, built from its bundled C++
//!   source). It decodes Baseline, Main and High profile streams with 8-bit 4:2:0
//!   chroma and progressive frames, and reorders B-frames itself, so pictures come
//!   out in presentation order. Its B-frame decoding is not always bit-exact
//!   (cisco/openh264#3712): on a 100-frame libx264 default clip a few macroblocks
//!   differ from ffmpeg's decode, once by up to 188 levels in one B-frame; streams
//!   without B-frames decode exactly. Interlaced H.264 is a decode error.
//! - **Annex-B**: the parameter sets are fed, with start codes, to every new
//!   decoder, and each sample's NAL units (often several) get start codes too.
//! - **Seeking**: sequential access keeps feeding the running decoder; random
//!   access starts a fresh decoder at the seek point at or before the frame and
//!   decodes forward, dropping earlier pictures. Nothing decoded is kept between
//!   calls except the decoder's own reference pictures, so memory stays O(1) in
//!   the number of frames.
//! - **Colour**: [`super::yuv`], shared with the page.

use std::fs::File;
use std::path::Path;

use openh264::OpenH264API;
use openh264::decoder::{DecodeOptions, DecodedYUV, Decoder, DecoderConfig, Flush};
use openh264::formats::YUVSource;

use super::frame::Frame;
use super::mp4::{Mp4Track, VideoError, VideoFrames};
use super::yuv::{Chroma, Plane, YuvPicture};

/// An H.264 video in an MP4 file, decoded frame by frame on demand.
pub struct Mp4Video {
    track: Mp4Track,
    /// The running decoder, if the last call left one in a usable state.
    cursor: Option<Cursor>,
}

impl Mp4Video {
    /// Opens the file, reads the index (moov) only; decodes nothing yet.
    pub fn open(path: &Path) -> Result<Self, VideoError> {
        let file = File::open(path).map_err(|source| VideoError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Self {
            track: Mp4Track::open(Box::new(file), path)?,
            cursor: None,
        })
    }

    /// Number of video frames.
    pub fn len(&self) -> usize {
        self.track.len()
    }

    /// Whether the video has no frames.
    pub fn is_empty(&self) -> bool {
        self.track.is_empty()
    }

    /// Frame width in pixels.
    pub fn width(&self) -> u32 {
        self.track.width()
    }

    /// Frame height in pixels.
    pub fn height(&self) -> u32 {
        self.track.height()
    }

    /// Presentation timestamp of frame `index` in µs from the start, in presentation order.
    pub fn timestamp_us(&self, index: usize) -> Result<i64, VideoError> {
        self.track.timestamp_us(index)
    }

    /// Decodes frame `index` (presentation order). Sequential access (index = previous + 1)
    /// continues decoding; random access seeks to the preceding seek point and decodes
    /// forward. Keeps no decoded frame between calls.
    pub fn frame(&mut self, index: usize) -> Result<Frame, VideoError> {
        self.track.timestamp_us(index)?;
        let seek = self.track.seek_point(index)?;
        let mut cursor = match self.cursor.take() {
            Some(cursor) if cursor.next_frame <= index && seek <= cursor.next_frame => cursor,
            _ => Cursor::start(&self.track, seek, index)?,
        };
        let frame = cursor.decode_to(index, &mut self.track)?;
        self.cursor = Some(cursor);
        Ok(frame)
    }
}

impl VideoFrames for Mp4Video {
    fn track(&self) -> &Mp4Track {
        &self.track
    }

    fn frame(&mut self, index: usize) -> Result<Frame, VideoError> {
        Mp4Video::frame(self, index)
    }
}

/// An OpenH264 decoder part-way through the stream.
struct Cursor {
    decoder: Decoder,
    /// Next sample (decode order) to feed.
    next_sample: usize,
    /// Frame (presentation order) of the next picture the decoder will emit.
    next_frame: usize,
}

impl Cursor {
    /// A fresh decoder primed with the parameter sets (`avc3` may carry them in the
    /// samples instead), about to decode seek point `at`.
    fn start(track: &Mp4Track, at: usize, frame: usize) -> Result<Self, VideoError> {
        let config = DecoderConfig::new().flush_after_decode(Flush::NoFlush);
        let mut decoder = Decoder::with_api_config(OpenH264API::from_source(), config)
            .map_err(|error| track.decode_error(frame, at, error))?;
        if !track.parameter_sets().is_empty() {
            decoder
                .decode(track.parameter_sets())
                .map_err(|error| track.decode_error(frame, at, error))?;
        }
        Ok(Self {
            decoder,
            next_sample: at,
            next_frame: at,
        })
    }

    /// Decodes forward to frame `target` and returns it.
    fn decode_to(&mut self, target: usize, track: &mut Mp4Track) -> Result<Frame, VideoError> {
        while self.next_frame < target {
            self.next_picture(track, target, |_, _| Ok(()))?;
        }
        let sample = self.next_sample;
        self.next_picture(track, target, |track, picture| {
            let (width, height) = picture.dimensions();
            let (y_stride, u_stride, v_stride) = picture.strides();
            let picture = YuvPicture {
                width,
                height,
                luma: Plane {
                    data: picture.y(),
                    stride: y_stride,
                },
                chroma: Chroma::Planar {
                    u: Plane {
                        data: picture.u(),
                        stride: u_stride,
                    },
                    v: Plane {
                        data: picture.v(),
                        stride: v_stride,
                    },
                },
            };
            track.frame_from_picture(target, sample, &picture)
        })
    }

    /// Feeds samples until the decoder emits its next picture (frame `next_frame`) and
    /// passes it to `use_picture`. After the last sample, asks for buffered pictures.
    fn next_picture<T>(
        &mut self,
        track: &mut Mp4Track,
        target: usize,
        use_picture: impl FnOnce(&Mp4Track, &DecodedYUV<'_>) -> Result<T, VideoError>,
    ) -> Result<T, VideoError> {
        loop {
            let sample = self.next_sample;
            let at_end = sample >= track.sample_count();
            let (packet, flush) = if at_end {
                (&[][..], Flush::Flush)
            } else {
                (track.annexb(sample, target)?, Flush::NoFlush)
            };
            let options = DecodeOptions::new().flush_after_decode(flush);
            let picture = self
                .decoder
                .decode_with_options(packet, options)
                .map_err(|error| track.decode_error(target, sample, error))?;
            if let Some(picture) = picture {
                if !at_end {
                    self.next_sample += 1;
                }
                self.next_frame += 1;
                return use_picture(track, &picture);
            }
            if at_end {
                let message = format!(
                    "the decoder emitted no picture for frame {}",
                    self.next_frame
                );
                return Err(track.decode_error(target, sample, message));
            }
            self.next_sample += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    /// Largest per-channel difference allowed against ffmpeg's own decode: H.264
    /// decoding is bit-exact, only the fixed-point YUV→RGB arithmetic differs
    /// (measured: at most 2).
    const MAX_CHANNEL_DIFF: u8 = 2;
    /// Largest mean per-channel difference allowed against ffmpeg's decode
    /// (measured: 0.37).
    const MAX_MEAN_DIFF: f64 = 0.5;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/video")
            .join(name)
    }

    fn open(name: &str) -> Mp4Video {
        Mp4Video::open(&fixture(name)).expect("fixture opens")
    }

    /// Compares a decoded frame with a PNG written by ffmpeg.
    fn assert_matches_ffmpeg(frame: &Frame, png: &str) {
        let expected = image::open(fixture(png)).expect("reference PNG").to_rgb8();
        assert_eq!(frame.rgb.dimensions(), expected.dimensions(), "{png}");
        let diffs: Vec<u8> = frame
            .rgb
            .as_raw()
            .iter()
            .zip(expected.as_raw())
            .map(|(a, b)| a.abs_diff(*b))
            .collect();
        let max = diffs.iter().copied().max().unwrap_or(0);
        let mean = diffs.iter().map(|&d| f64::from(d)).sum::<f64>() / diffs.len() as f64;
        assert!(
            max <= MAX_CHANNEL_DIFF,
            "frame {} vs {png}: max diff {max}",
            frame.index
        );
        assert!(
            mean < MAX_MEAN_DIFF,
            "frame {} vs {png}: mean diff {mean}",
            frame.index
        );
    }

    /// A scratch file that removes itself.
    struct TempFile(PathBuf);

    impl TempFile {
        fn with_bytes(name: &str, bytes: &[u8]) -> Self {
            let path =
                std::env::temp_dir().join(format!("autolabel-video-{}-{name}", std::process::id()));
            std::fs::write(&path, bytes).expect("write temp file");
            Self(path)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    /// A fixture with the big-endian u32 `offset` bytes after the first `kind` box type replaced.
    fn patched_fixture(name: &str, kind: &[u8; 4], offset: usize, value: u32) -> Vec<u8> {
        let mut bytes = std::fs::read(fixture(name)).expect("fixture");
        let at = bytes
            .windows(4)
            .position(|window| window == kind)
            .expect("box present")
            + 4
            + offset;
        bytes[at..at + 4].copy_from_slice(&value.to_be_bytes());
        bytes
    }

    #[test]
    fn reads_the_index_of_both_profiles() {
        for name in ["clip_high.mp4", "clip_baseline.mp4"] {
            let video = open(name);
            assert_eq!(video.len(), 20, "{name}");
            assert!(!video.is_empty());
            assert_eq!((video.width(), video.height()), (128, 72), "{name}");
            assert_eq!(video.track.seek_points(), [0, 10], "{name}");
        }
    }

    #[test]
    fn decoder_setup_lists_the_samples_for_webcodecs() {
        let video = open("clip_high.mp4");
        let setup = video.track.decoder_setup();
        assert!(
            setup.codec.starts_with("avc1.64"),
            "High profile: {}",
            setup.codec
        );
        assert_eq!(
            setup.description.first(),
            Some(&1),
            "an avcC record (version 1)"
        );
        assert_eq!((setup.width, setup.height), (128, 72));
        let mut frames = setup.frames.clone();
        frames.sort_unstable();
        assert_eq!(frames, (0..20).collect::<Vec<_>>(), "each frame shown once");
        assert_ne!(
            setup.frames, frames,
            "B-frames: decode order is not presentation order"
        );
        let keys: Vec<usize> = (0..20).filter(|&s| setup.keys[s]).collect();
        assert_eq!(keys, [0, 10], "the seek points");
        assert_eq!((setup.offsets.len(), setup.sizes.len()), (20, 20));
    }

    #[test]
    fn samples_to_show_a_frame_cover_every_frame_before_it() {
        let video = open("clip_high.mp4");
        let track = &video.track;
        let setup = track.decoder_setup();
        let mut past_own_sample = 0;
        for index in 0..video.len() {
            let seek = track.seek_point(index).unwrap();
            let samples = track.samples_to_show(seek, index);
            assert_eq!(samples.start, seek, "frame {index}");
            let shown: Vec<usize> = samples.clone().map(|s| setup.frames[s]).collect();
            for frame in seek..=index {
                assert!(
                    shown.contains(&frame),
                    "frame {index}: {frame} not in {shown:?}"
                );
            }
            let last = samples.end - 1;
            assert!(
                (seek..=index).contains(&setup.frames[last]),
                "frame {index}: no sample past the last one needed ({shown:?})"
            );
            let own = setup.frames.iter().position(|&f| f == index).unwrap();
            past_own_sample += usize::from(last > own);
        }
        assert!(
            past_own_sample > 0,
            "with B-frames, some frame needs samples decoded after its own"
        );
    }

    #[test]
    fn timestamps_step_by_one_tenth_of_a_second() {
        let video = open("clip_high.mp4");
        for index in 0..video.len() {
            assert_eq!(video.timestamp_us(index).unwrap(), index as i64 * 100_000);
        }
        assert!(matches!(
            video.timestamp_us(20),
            Err(VideoError::FrameOutOfRange {
                index: 20,
                len: 20,
                ..
            })
        ));
    }

    #[test]
    fn high_profile_b_frames_decode_in_presentation_order() {
        let mut video = open("clip_high.mp4");
        for index in 0..video.len() {
            let frame = video.frame(index).unwrap();
            assert_eq!(frame.index, index);
            assert_eq!(frame.timestamp_us, index as i64 * 100_000);
            assert_eq!(frame.rgb.dimensions(), (128, 72));
            if [0, 7, 19].contains(&index) {
                assert_matches_ffmpeg(&frame, &format!("clip_high_frame_{index}.png"));
            }
        }
    }

    #[test]
    fn random_access_seeks_to_the_preceding_sync_sample() {
        let mut video = open("clip_high.mp4");
        for index in [7, 0, 19] {
            let frame = video.frame(index).unwrap();
            assert_eq!(frame.index, index);
            assert_matches_ffmpeg(&frame, &format!("clip_high_frame_{index}.png"));
        }
        let cursor = video.cursor.as_ref().expect("decoder kept");
        assert_eq!(cursor.next_frame, 20);
    }

    #[test]
    fn baseline_profile_decodes() {
        let mut video = open("clip_baseline.mp4");
        let last = video.frame(19).unwrap();
        assert_matches_ffmpeg(&last, "clip_baseline_frame_19.png");
        for index in 0..video.len() {
            let frame = video.frame(index).unwrap();
            if index == 19 {
                assert_matches_ffmpeg(&frame, "clip_baseline_frame_19.png");
            }
        }
    }

    #[test]
    fn sequential_access_continues_the_running_decoder() {
        let mut video = open("clip_high.mp4");
        video.frame(3).unwrap();
        let before = video.cursor.as_ref().expect("decoder kept").next_sample;
        video.frame(4).unwrap();
        let after = video.cursor.as_ref().expect("decoder kept").next_sample;
        assert!(
            after - before <= 2,
            "fed samples {before}..{after} for one frame"
        );
    }

    #[test]
    fn buffers_do_not_grow_with_the_number_of_frames() {
        let mut video = open("clip_high.mp4");
        for index in 0..video.len() {
            video.frame(index).unwrap();
        }
        let (largest, sample, annexb) = video.track.buffer_capacities();
        assert!(sample <= 2 * largest);
        assert!(annexb <= 4 * largest);
    }

    #[test]
    fn frame_past_the_end_is_an_error() {
        let mut video = open("clip_high.mp4");
        let error = video.frame(20).unwrap_err();
        assert!(matches!(
            error,
            VideoError::FrameOutOfRange {
                index: 20,
                len: 20,
                ..
            }
        ));
        assert!(error.to_string().contains("clip_high.mp4"), "{error}");
    }

    #[test]
    fn missing_file_is_an_io_error() {
        let error = Mp4Video::open(&fixture("no_such_clip.mp4")).err().unwrap();
        assert!(matches!(error, VideoError::Io { .. }), "{error}");
        assert!(error.to_string().contains("no_such_clip.mp4"), "{error}");
    }

    #[test]
    fn zero_byte_file_is_empty() {
        let file = TempFile::with_bytes("empty.mp4", b"");
        let error = Mp4Video::open(&file.0).err().unwrap();
        assert!(matches!(error, VideoError::Empty { .. }), "{error}");
    }

    #[test]
    fn text_file_is_not_an_mp4() {
        let file = TempFile::with_bytes("notes.mp4", b"this is a text file, not a video\n");
        let error = Mp4Video::open(&file.0).err().unwrap();
        assert!(matches!(error, VideoError::NotMp4 { .. }), "{error}");
        assert!(error.to_string().contains("notes.mp4"), "{error}");
    }

    #[test]
    fn audio_only_mp4_has_no_video_track() {
        let error = Mp4Video::open(&fixture("audio_only.mp4")).err().unwrap();
        assert!(matches!(error, VideoError::NoVideoTrack { .. }), "{error}");
    }

    #[test]
    fn mpeg4_part2_video_is_an_unsupported_codec() {
        let error = Mp4Video::open(&fixture("mpeg4.mp4")).err().unwrap();
        match &error {
            VideoError::UnsupportedCodec { codec, .. } => assert_eq!(codec, "mp4v"),
            other => panic!("wrong error: {other}"),
        }
        assert!(error.to_string().contains("mpeg4.mp4"), "{error}");
    }

    #[test]
    fn high_10_profile_is_rejected_at_open() {
        let error = Mp4Video::open(&fixture("high10.mp4")).err().unwrap();
        match &error {
            VideoError::UnsupportedProfile { profile, .. } => {
                assert!(profile.contains("High 10"), "{profile}")
            }
            other => panic!("wrong error: {other}"),
        }
    }

    #[test]
    fn file_cut_in_half_is_truncated() {
        for name in ["clip_high.mp4", "clip_baseline.mp4"] {
            let bytes = std::fs::read(fixture(name)).unwrap();
            let file = TempFile::with_bytes(&format!("half-{name}"), &bytes[..bytes.len() / 2]);
            let error = Mp4Video::open(&file.0).err().unwrap();
            assert!(
                matches!(error, VideoError::Truncated { .. }),
                "{name}: {error}"
            );
            assert!(error.to_string().contains(name), "{error}");
        }
    }

    #[test]
    fn absurd_sample_count_is_rejected_without_allocating() {
        let bytes = patched_fixture("clip_high.mp4", b"stsz", 8, u32::MAX);
        let file = TempFile::with_bytes("huge-stsz.mp4", &bytes);
        let error = Mp4Video::open(&file.0).err().unwrap();
        assert!(matches!(error, VideoError::Malformed { .. }), "{error}");
    }

    #[test]
    fn absurd_chunk_count_is_rejected_without_allocating() {
        let bytes = patched_fixture("clip_high.mp4", b"stco", 4, u32::MAX);
        let file = TempFile::with_bytes("huge-stco.mp4", &bytes);
        let error = Mp4Video::open(&file.0).err().unwrap();
        assert!(matches!(error, VideoError::Malformed { .. }), "{error}");
    }

    #[test]
    fn damaging_any_index_byte_gives_errors_not_panics() {
        let original = std::fs::read(fixture("clip_high.mp4")).unwrap();
        let moov = original.windows(4).position(|w| w == b"moov").unwrap() - 4;
        let moov_len = u32::from_be_bytes(original[moov..moov + 4].try_into().unwrap()) as usize;
        let mut bytes = original.clone();
        for at in moov..moov + moov_len {
            for value in [0x00, 0xff] {
                bytes[at] = value;
                let file = TempFile::with_bytes("damaged.mp4", &bytes);
                if let Ok(mut video) = Mp4Video::open(&file.0)
                    && let Some(last) = video.len().checked_sub(1)
                {
                    let _ = video.frame(last);
                }
            }
            bytes[at] = original[at];
        }
    }
}
