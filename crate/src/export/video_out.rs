//! Native MP4 (H.264) output: the propagation video, playable in browsers.
//!
//! Design:
//! - **Encode** with OpenH264 (the `openh264` crate, built from its bundled C++
//!   source, as for decoding in `data::video`): Constrained Baseline profile (no
//!   B-frames, so decode order is presentation order and no `ctts` is needed),
//!   every frame coded (frame skipping off: a skipped frame would leave a hole),
//!   an IDR frame every 2 seconds (`KEYFRAME_INTERVAL_S`; OpenH264's scene-change
//!   detection may add more) so players can seek; `stss` lists them.
//!   Rate control is off, so every frame is coded at OpenH264's base quantiser
//!   (QP 26): constant, good quality, with the file size following the content.
//!   (OpenH264's bit-rate modes also print a warning whenever frame skipping is
//!   off.) RGB becomes YUV 4:2:0 through OpenH264's own BT.601 limited-range
//!   conversion, the matrix `data::video` decodes with. 4:2:0 needs even sides,
//!   so a frame with an odd width or height is encoded without its last column
//!   or row.
//! - **Memory**: only the encoded stream is kept (plus one reused YUV picture), as
//!   MP4 sample data: each NAL unit behind a 4-byte big-endian length instead of
//!   its Annex-B start code. The SPS and PPS are taken out of the stream and go
//!   only into the `avcC` record (ISO/IEC 14496-15, 5.3.3); a stream whose
//!   parameter sets change part-way is refused, since `avcC` holds one of each.
//! - **Mux** into a progressive ISO-BMFF file (ISO/IEC 14496-12) laid out for
//!   "fast start": `ftyp`, then `moov`, then `mdat`, so a browser can start
//!   playing before the whole file has arrived. `moov` holds one video track
//!   (`mvhd`, `trak` → `tkhd`, `mdia` → `mdhd`, `hdlr`, `minf` → `vmhd`,
//!   `dinf`/`dref`, `stbl` → `stsd` with `avc1` + `avcC`, `stts`, `stss`, `stsz`,
//!   `stsc`, `stco`). All samples form one chunk, so `stco` holds a single offset:
//!   the start of `mdat`'s payload, known once `moov`'s size is (its size does not
//!   depend on the offset's value).
//! - **Time**: timescale 90 kHz (`TIMESCALE`, as MPEG transport uses). Frame `i`
//!   starts at tick `round(i · 90000 / fps)`, so durations are exact for common
//!   rates (24, 25, 30, 30000/1001, …) and never drift for others.
//! - **Limits**: 32-bit box sizes, offsets and times; a frame that would take the
//!   file past them is refused with [`VideoWriteError::TooLong`].

use image::RgbImage;
use openh264::OpenH264API;
use openh264::Timestamp;
use openh264::encoder::{
    Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod, Profile, RateControlMode,
};
use openh264::formats::{RgbSliceU8, YUVBuffer};

/// Ticks per second of the movie and media timescales.
const TIMESCALE: u32 = 90_000;
/// Seconds between IDR frames (seek points).
const KEYFRAME_INTERVAL_S: f64 = 2.0;
/// Longer side of the largest picture OpenH264 encodes (level 5.2).
const MAX_LONG_SIDE: u32 = 3840;
/// Shorter side of the largest picture OpenH264 encodes.
const MAX_SHORT_SIDE: u32 = 2160;
/// Slowest frame rate accepted (one frame per 100 s).
const MIN_FPS: f64 = 0.01;
/// Fastest frame rate accepted; keeps every frame at least 90 ticks long.
const MAX_FPS: f64 = 1000.0;
/// Most frames in one video; bounds the size of `moov` (a few bytes per frame).
const MAX_FRAMES: usize = 1 << 24;
/// Most sample bytes: `mdat`'s 32-bit size includes its 8-byte header.
const MAX_MDAT_BYTES: usize = u32::MAX as usize - 8;
/// Bytes in the length prefix of each NAL unit in `mdat` (`avcC`'s lengthSizeMinusOne + 1).
const NAL_LENGTH_SIZE: u8 = 4;
/// H.264 NAL unit types (ITU-T H.264, table 7-1) that go into `avcC`.
const NAL_SPS: u8 = 7;
const NAL_PPS: u8 = 8;
/// Identity transformation matrix of `mvhd` and `tkhd` (16.16 and 2.30 fixed point).
const UNITY_MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];

/// Why a video could not be written.
#[derive(Debug, thiserror::Error)]
pub enum VideoWriteError {
    /// The requested frame size cannot be encoded.
    #[error("cannot write a {width}×{height} video: {reason}")]
    InvalidSize {
        width: u32,
        height: u32,
        reason: &'static str,
    },
    /// The requested frame rate is not usable.
    #[error(
        "cannot write a video at {fps} frames per second: the rate must be a finite number \
         from {MIN_FPS} to {MAX_FPS}"
    )]
    InvalidFrameRate { fps: f64 },
    /// A pushed frame does not have the video's size.
    #[error("frame {index} is {got_width}×{got_height} but the video is {width}×{height}")]
    FrameSize {
        index: usize,
        got_width: u32,
        got_height: u32,
        width: u32,
        height: u32,
    },
    /// OpenH264 could not be set up.
    #[error("the H.264 encoder (OpenH264) could not start: {message}")]
    EncoderStart { message: String },
    /// OpenH264 failed on a frame, or returned a stream this writer cannot store.
    #[error("encoding frame {index} failed: {message}")]
    Encode { index: usize, message: String },
    /// The frame would take the file past the 32-bit limits of its index.
    #[error("frame {index} does not fit in the MP4 file: it would exceed {limit}")]
    TooLong { index: usize, limit: &'static str },
    /// `finish` was called before any frame was pushed.
    #[error("no frame was pushed; an MP4 video needs at least one")]
    NoFrames,
}

/// An H.264 MP4 being written: push frames, then [`finish`](Mp4Writer::finish) for
/// the file's bytes. Frames with an odd width or height are encoded without their
/// last column or row (H.264 4:2:0 needs even sides), so the video is the even size.
///
/// A frame refused for its size, or for exceeding the file's limits, leaves the
/// writer as it was; after an encoder error the stream is unreliable and the
/// writer should be dropped.
pub struct Mp4Writer {
    /// Size frames are pushed at.
    width: u32,
    height: u32,
    /// Size they are encoded at: the pushed size rounded down to even.
    coded: CodedSize,
    fps: f64,
    encoder: Encoder,
    /// The current frame in YUV 4:2:0, reused.
    yuv: YUVBuffer,
    /// The current frame cropped to the coded size, reused (odd sizes only).
    cropped: Vec<u8>,
    samples: Samples,
}

impl Mp4Writer {
    /// A writer for frames of `width × height` pixels shown at `fps` frames per
    /// second. Refuses sides under 2 pixels, pictures larger than OpenH264 encodes
    /// (3840×2160 or 2160×3840, so any side over 8192 too) and frame rates that
    /// are not finite or lie outside 0.01..=1000.
    pub fn new(width: u32, height: u32, fps: f64) -> Result<Self, VideoWriteError> {
        let coded = CodedSize::of(width, height)?;
        if !(MIN_FPS..=MAX_FPS).contains(&fps) {
            return Err(VideoWriteError::InvalidFrameRate { fps });
        }
        let encoder = Encoder::with_api_config(OpenH264API::from_source(), encoder_config(fps))
            .map_err(|error| VideoWriteError::EncoderStart {
                message: error.to_string(),
            })?;
        Ok(Self {
            width,
            height,
            coded,
            fps,
            encoder,
            yuv: YUVBuffer::new(coded.width.into(), coded.height.into()),
            cropped: Vec::new(),
            samples: Samples::default(),
        })
    }

    /// Encodes `frame`, which must be the size given to [`new`](Mp4Writer::new).
    pub fn push(&mut self, frame: &RgbImage) -> Result<(), VideoWriteError> {
        let index = self.frames();
        if frame.dimensions() != (self.width, self.height) {
            return Err(VideoWriteError::FrameSize {
                index,
                got_width: frame.width(),
                got_height: frame.height(),
                width: self.width,
                height: self.height,
            });
        }
        self.check_room(index)?;
        self.load(frame);
        let timestamp = Timestamp::from_millis((index as f64 * 1000.0 / self.fps).round() as u64);
        let bitstream = self
            .encoder
            .encode_at(&self.yuv, timestamp)
            .map_err(|error| VideoWriteError::Encode {
                index,
                message: error.to_string(),
            })?;
        let idr = bitstream.frame_type() == FrameType::IDR;
        self.samples.add(index, &bitstream.to_vec(), idr)
    }

    /// Number of frames pushed so far.
    pub fn frames(&self) -> usize {
        self.samples.sizes.len()
    }

    /// The whole `.mp4` file.
    pub fn finish(self) -> Result<Vec<u8>, VideoWriteError> {
        let (Some(sps), Some(pps)) = (&self.samples.sps, &self.samples.pps) else {
            return Err(VideoWriteError::NoFrames);
        };
        let movie = Movie {
            coded: self.coded,
            samples: &self.samples,
            durations: frame_durations(self.frames(), self.fps),
            duration: to_u32(decode_time(self.frames(), self.fps)),
            sps,
            pps,
        };
        let mut head = Vec::new();
        write_ftyp(&mut head);
        // Written twice: first to learn moov's size, then with the real offset.
        let mut probe = Vec::new();
        write_moov(&mut probe, &movie, 0);
        let payload_offset = head.len() + probe.len() + 8;
        write_moov(&mut head, &movie, to_u32(payload_offset));
        let mut file = Vec::with_capacity(payload_offset + self.samples.data.len());
        file.extend_from_slice(&head);
        file.extend_from_slice(&to_u32(8 + self.samples.data.len()).to_be_bytes());
        file.extend_from_slice(b"mdat");
        file.extend_from_slice(&self.samples.data);
        Ok(file)
    }

    /// Refuses frame `index` if the file could not index it.
    fn check_room(&self, index: usize) -> Result<(), VideoWriteError> {
        let too_long = |limit| VideoWriteError::TooLong { index, limit };
        if index >= MAX_FRAMES {
            return Err(too_long("16777216 frames"));
        }
        if decode_time(index + 1, self.fps) > u64::from(u32::MAX) {
            return Err(too_long("2^32 ticks of 1/90000 s (about 13 hours)"));
        }
        Ok(())
    }

    /// Converts `frame`, cropped to the coded size, into `self.yuv`.
    fn load(&mut self, frame: &RgbImage) {
        let width = usize::from(self.coded.width);
        let height = usize::from(self.coded.height);
        let coded = (u32::from(self.coded.width), u32::from(self.coded.height));
        let rgb = if frame.dimensions() == coded {
            // An image buffer may be longer than its pixels; take just those.
            &frame.as_raw()[..width * height * 3]
        } else {
            crop(frame, width, height, &mut self.cropped);
            &self.cropped[..]
        };
        self.yuv.read_rgb8(RgbSliceU8::new(rgb, (width, height)));
    }
}

/// The encoded picture size: even, and within OpenH264's limits.
#[derive(Debug, Clone, Copy)]
struct CodedSize {
    width: u16,
    height: u16,
}

impl CodedSize {
    /// The even size a `width × height` video is encoded at, if it can be.
    fn of(width: u32, height: u32) -> Result<Self, VideoWriteError> {
        let invalid = |reason| VideoWriteError::InvalidSize {
            width,
            height,
            reason,
        };
        if width < 2 || height < 2 {
            return Err(invalid("each side must be at least 2 pixels"));
        }
        let (even_width, even_height) = (width & !1, height & !1);
        let long = even_width.max(even_height);
        let short = even_width.min(even_height);
        if long > MAX_LONG_SIDE || short > MAX_SHORT_SIDE {
            return Err(invalid(
                "OpenH264 encodes at most 3840×2160 (or 2160×3840) pixels",
            ));
        }
        let side = |value: u32| u16::try_from(value).map_err(|_| invalid("a side is too large"));
        Ok(Self {
            width: side(even_width)?,
            height: side(even_height)?,
        })
    }
}

/// OpenH264 settings: see the module doc.
fn encoder_config(fps: f64) -> EncoderConfig {
    let keyframe_interval = (fps * KEYFRAME_INTERVAL_S).round().max(1.0) as u32;
    EncoderConfig::new()
        .profile(Profile::Baseline)
        .rate_control_mode(RateControlMode::Off)
        .max_frame_rate(FrameRate::from_hz(fps as f32))
        .skip_frames(false)
        .intra_frame_period(IntraFramePeriod::from_num_frames(keyframe_interval))
}

/// Copies the top-left `width × height` pixels of `frame` into `out`.
fn crop(frame: &RgbImage, width: usize, height: usize, out: &mut Vec<u8>) {
    out.clear();
    let stride = frame.width() as usize * 3;
    for row in frame.as_raw().chunks_exact(stride).take(height) {
        out.extend_from_slice(&row[..width * 3]);
    }
}

/// The encoded stream as MP4 samples.
#[derive(Default)]
struct Samples {
    /// `mdat`'s payload: every sample's NAL units, each behind its 4-byte length.
    data: Vec<u8>,
    /// Bytes of each sample.
    sizes: Vec<u32>,
    /// 1-based numbers of the IDR samples (`stss`).
    sync: Vec<u32>,
    /// The stream's sequence and picture parameter sets, without start codes.
    sps: Option<Vec<u8>>,
    pps: Option<Vec<u8>>,
}

impl Samples {
    /// Stores frame `index`, given as the encoder's Annex-B output.
    fn add(&mut self, index: usize, annexb: &[u8], idr: bool) -> Result<(), VideoWriteError> {
        let nal_units = annexb_nal_units(annexb);
        let (parameter_sets, pictures): (Vec<&[u8]>, Vec<&[u8]>) = nal_units
            .into_iter()
            .partition(|nal| matches!(nal_type(nal), NAL_SPS | NAL_PPS));
        let size: usize = pictures
            .iter()
            .map(|nal| usize::from(NAL_LENGTH_SIZE) + nal.len())
            .sum();
        if size == 0 {
            return Err(VideoWriteError::Encode {
                index,
                message: "the encoder returned no picture".into(),
            });
        }
        if let Some(sps) = parameter_sets
            .iter()
            .find(|nal| nal_type(nal) == NAL_SPS && nal.len() < 4)
        {
            return Err(VideoWriteError::Encode {
                index,
                message: format!(
                    "the encoder wrote a {}-byte sequence parameter set",
                    sps.len()
                ),
            });
        }
        if size > MAX_MDAT_BYTES - self.data.len() {
            return Err(VideoWriteError::TooLong {
                index,
                limit: "4 GiB of video data (a 32-bit 'mdat')",
            });
        }
        for nal in parameter_sets {
            self.keep_parameter_set(index, nal)?;
        }
        for nal in pictures {
            // Fits: the whole sample is under MAX_MDAT_BYTES.
            self.data
                .extend_from_slice(&to_u32(nal.len()).to_be_bytes());
            self.data.extend_from_slice(nal);
        }
        self.sizes.push(to_u32(size));
        if idr {
            // At most MAX_FRAMES samples, so the number fits.
            self.sync.push(to_u32(self.sizes.len()));
        }
        Ok(())
    }

    /// Remembers the first SPS or PPS; refuses a different one later.
    fn keep_parameter_set(&mut self, index: usize, nal: &[u8]) -> Result<(), VideoWriteError> {
        let (slot, name) = if nal_type(nal) == NAL_SPS {
            (&mut self.sps, "sequence")
        } else {
            (&mut self.pps, "picture")
        };
        match slot {
            Some(kept) if kept.as_slice() != nal => Err(VideoWriteError::Encode {
                index,
                message: format!(
                    "the encoder changed the {name} parameter set, which 'avcC' holds only once"
                ),
            }),
            Some(_) => Ok(()),
            None => {
                *slot = Some(nal.to_vec());
                Ok(())
            }
        }
    }
}

/// The NAL units of an Annex-B stream, without start codes (3- or 4-byte) or the
/// zero bytes that may trail a unit.
fn annexb_nal_units(stream: &[u8]) -> Vec<&[u8]> {
    let starts: Vec<usize> = stream
        .windows(3)
        .enumerate()
        .filter(|(_, window)| *window == [0, 0, 1])
        .map(|(at, _)| at + 3)
        .collect();
    starts
        .iter()
        .enumerate()
        .map(|(i, &start)| {
            let end = starts.get(i + 1).map_or(stream.len(), |&next| next - 3);
            let unit = &stream[start..end];
            let kept = unit
                .iter()
                .rposition(|&byte| byte != 0)
                .map_or(0, |last| last + 1);
            &unit[..kept]
        })
        .filter(|unit| !unit.is_empty())
        .collect()
}

/// `nal_unit_type` of a NAL unit: the low 5 bits of its header byte.
fn nal_type(nal: &[u8]) -> u8 {
    nal.first().map_or(0, |header| header & 0x1f)
}

/// The tick at which frame `index` starts.
fn decode_time(index: usize, fps: f64) -> u64 {
    (index as f64 * f64::from(TIMESCALE) / fps).round() as u64
}

/// Each of `frames` frames' duration in ticks. The writer refuses frames whose
/// end would pass `u32::MAX` ticks, so every value fits.
fn frame_durations(frames: usize, fps: f64) -> Vec<u32> {
    (0..frames)
        .map(|index| to_u32(decode_time(index + 1, fps) - decode_time(index, fps)))
        .collect()
}

/// `value` as u32, for values the writer's limits keep below `u32::MAX`
/// (saturating, so a broken limit gives a broken file, not a panic).
fn to_u32(value: impl TryInto<u32>) -> u32 {
    value.try_into().unwrap_or(u32::MAX)
}

/// What `moov` describes.
struct Movie<'a> {
    coded: CodedSize,
    samples: &'a Samples,
    /// Each frame's duration in ticks.
    durations: Vec<u32>,
    /// Length of the video in ticks.
    duration: u32,
    sps: &'a [u8],
    pps: &'a [u8],
}

/// Appends a box (ISO/IEC 14496-12, 4.2): 32-bit size, type, then what `body` writes.
fn write_box(out: &mut Vec<u8>, kind: &[u8; 4], body: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(kind);
    body(out);
    let size = to_u32(out.len() - start);
    out[start..start + 4].copy_from_slice(&size.to_be_bytes());
}

/// Appends a full box: a box whose body starts with a version byte and 24 flag bits.
fn write_full_box(
    out: &mut Vec<u8>,
    kind: &[u8; 4],
    version: u8,
    flags: u32,
    body: impl FnOnce(&mut Vec<u8>),
) {
    write_box(out, kind, |out| {
        put_u32(out, (u32::from(version) << 24) | (flags & 0x00ff_ffff));
        body(out);
    });
}

fn put_u16(out: &mut Vec<u8>, value: u16) {
    out.extend_from_slice(&value.to_be_bytes());
}

fn put_u32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_be_bytes());
}

fn put_u32s(out: &mut Vec<u8>, values: &[u32]) {
    for &value in values {
        put_u32(out, value);
    }
}

/// `ftyp`: ISO base media with AVC video.
fn write_ftyp(out: &mut Vec<u8>) {
    write_box(out, b"ftyp", |out| {
        out.extend_from_slice(b"isom");
        put_u32(out, 0x200);
        for brand in [b"isom", b"iso2", b"avc1", b"mp41"] {
            out.extend_from_slice(brand);
        }
    });
}

/// `moov` with one video track whose single chunk starts at `chunk_offset`.
fn write_moov(out: &mut Vec<u8>, movie: &Movie<'_>, chunk_offset: u32) {
    write_box(out, b"moov", |out| {
        write_mvhd(out, movie.duration);
        write_box(out, b"trak", |out| {
            write_tkhd(out, movie);
            write_box(out, b"mdia", |out| {
                write_mdhd(out, movie.duration);
                write_hdlr(out);
                write_box(out, b"minf", |out| {
                    write_full_box(out, b"vmhd", 0, 1, |out| put_u32s(out, &[0, 0]));
                    write_dinf(out);
                    write_stbl(out, movie, chunk_offset);
                });
            });
        });
    });
}

/// `mvhd`: movie timescale and length, normal rate and volume, next track id 2.
fn write_mvhd(out: &mut Vec<u8>, duration: u32) {
    write_full_box(out, b"mvhd", 0, 0, |out| {
        put_u32s(out, &[0, 0, TIMESCALE, duration, 0x0001_0000]);
        put_u16(out, 0x0100);
        put_u16(out, 0);
        put_u32s(out, &[0, 0]);
        put_u32s(out, &UNITY_MATRIX);
        put_u32s(out, &[0; 6]);
        put_u32(out, 2);
    });
}

/// `tkhd`: track 1, enabled and in the movie, at the coded size.
fn write_tkhd(out: &mut Vec<u8>, movie: &Movie<'_>) {
    write_full_box(out, b"tkhd", 0, 0b11, |out| {
        put_u32s(out, &[0, 0, 1, 0, movie.duration, 0, 0]);
        // Layer, alternate group, volume (0 for video), reserved.
        put_u32s(out, &[0, 0]);
        put_u32s(out, &UNITY_MATRIX);
        put_u32(out, u32::from(movie.coded.width) << 16);
        put_u32(out, u32::from(movie.coded.height) << 16);
    });
}

/// `mdhd`: media timescale and length, language "und".
fn write_mdhd(out: &mut Vec<u8>, duration: u32) {
    write_full_box(out, b"mdhd", 0, 0, |out| {
        put_u32s(out, &[0, 0, TIMESCALE, duration]);
        // "und" as three 5-bit letters (each minus 0x60), then pre_defined.
        put_u16(out, 0x55c4);
        put_u16(out, 0);
    });
}

/// `hdlr`: a video track.
fn write_hdlr(out: &mut Vec<u8>) {
    write_full_box(out, b"hdlr", 0, 0, |out| {
        put_u32(out, 0);
        out.extend_from_slice(b"vide");
        put_u32s(out, &[0, 0, 0]);
        out.extend_from_slice(b"VideoHandler\0");
    });
}

/// `dinf`/`dref`: the samples are in this file.
fn write_dinf(out: &mut Vec<u8>) {
    write_box(out, b"dinf", |out| {
        write_full_box(out, b"dref", 0, 0, |out| {
            put_u32(out, 1);
            write_full_box(out, b"url ", 0, 1, |_| ());
        });
    });
}

/// `stbl`: the sample description and the sample tables.
fn write_stbl(out: &mut Vec<u8>, movie: &Movie<'_>, chunk_offset: u32) {
    let samples = movie.samples;
    let count = to_u32(samples.sizes.len());
    write_box(out, b"stbl", |out| {
        write_full_box(out, b"stsd", 0, 0, |out| {
            put_u32(out, 1);
            write_avc1(out, movie);
        });
        write_full_box(out, b"stts", 0, 0, |out| {
            let runs = runs(&movie.durations);
            put_u32(out, to_u32(runs.len()));
            for (length, duration) in runs {
                put_u32s(out, &[length, duration]);
            }
        });
        write_full_box(out, b"stss", 0, 0, |out| {
            put_u32(out, to_u32(samples.sync.len()));
            put_u32s(out, &samples.sync);
        });
        write_full_box(out, b"stsz", 0, 0, |out| {
            put_u32s(out, &[0, count]);
            put_u32s(out, &samples.sizes);
        });
        // One entry: chunk 1 onwards holds all samples, with sample description 1.
        write_full_box(out, b"stsc", 0, 0, |out| put_u32s(out, &[1, 1, count, 1]));
        write_full_box(out, b"stco", 0, 0, |out| put_u32s(out, &[1, chunk_offset]));
    });
}

/// Run-length encoding of `values`: (run length, value) pairs.
fn runs(values: &[u32]) -> Vec<(u32, u32)> {
    let mut runs: Vec<(u32, u32)> = Vec::new();
    for &value in values {
        match runs.last_mut() {
            Some((length, last)) if *last == value => *length += 1,
            _ => runs.push((1, value)),
        }
    }
    runs
}

/// `avc1` visual sample entry (ISO/IEC 14496-12, 12.1.3; 14496-15, 5.4.2) with its `avcC`.
fn write_avc1(out: &mut Vec<u8>, movie: &Movie<'_>) {
    write_box(out, b"avc1", |out| {
        // Reserved, data_reference_index 1, pre_defined and reserved.
        out.extend_from_slice(&[0; 6]);
        put_u16(out, 1);
        out.extend_from_slice(&[0; 16]);
        put_u16(out, movie.coded.width);
        put_u16(out, movie.coded.height);
        // 72 dpi both ways, reserved, one frame per sample.
        put_u32s(out, &[0x0048_0000, 0x0048_0000, 0]);
        put_u16(out, 1);
        let mut compressor = [0u8; 32];
        let name = b"OpenH264";
        compressor[0] = name.len() as u8;
        compressor[1..=name.len()].copy_from_slice(name);
        out.extend_from_slice(&compressor);
        // Depth 24 (colour, no alpha), pre_defined -1.
        put_u16(out, 0x0018);
        put_u16(out, 0xffff);
        write_avcc(out, movie.sps, movie.pps);
    });
}

/// `avcC`: the AVCDecoderConfigurationRecord (ISO/IEC 14496-15, 5.3.3.1) with one
/// SPS and one PPS. `sps` holds at least 4 bytes (checked when it was kept).
fn write_avcc(out: &mut Vec<u8>, sps: &[u8], pps: &[u8]) {
    write_box(out, b"avcC", |out| {
        // configurationVersion, then profile, compatibility flags and level from the SPS.
        out.push(1);
        out.extend_from_slice(&sps[1..4]);
        // Reserved bits set, lengthSizeMinusOne; reserved bits set, one SPS.
        out.push(0b1111_1100 | (NAL_LENGTH_SIZE - 1));
        out.push(0b1110_0000 | 1);
        put_parameter_set(out, sps);
        out.push(1);
        put_parameter_set(out, pps);
    });
}

/// A parameter set behind its 16-bit length. Parameter sets are a few dozen bytes;
/// the length saturates rather than wrap.
fn put_parameter_set(out: &mut Vec<u8>, nal: &[u8]) {
    put_u16(out, u16::try_from(nal.len()).unwrap_or(u16::MAX));
    out.extend_from_slice(nal);
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::process::Command;

    use super::*;
    use crate::data::video::Mp4Video;

    /// Largest mean per-channel difference between a frame and its decoded copy.
    const MAX_MEAN_ERROR: f64 = 12.0;

    /// A scratch file that removes itself.
    struct TempFile(PathBuf);

    impl TempFile {
        fn with_bytes(name: &str, bytes: &[u8]) -> Self {
            let path = std::env::temp_dir()
                .join(format!("autolabel-video-out-{}-{name}", std::process::id()));
            std::fs::write(&path, bytes).expect("write temp file");
            Self(path)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    /// Frame `t` of a diagonal colour gradient moving right.
    fn gradient(width: u32, height: u32, t: u32) -> RgbImage {
        RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([
                ((x + 4 * t) * 255 / (width + 32)) as u8,
                (y * 255 / height) as u8,
                (((x + y) * 2 + 8 * t) % 256) as u8 / 2 + 64,
            ])
        })
    }

    fn encode(width: u32, height: u32, fps: f64, frames: &[RgbImage]) -> Vec<u8> {
        let mut writer = Mp4Writer::new(width, height, fps).unwrap();
        for frame in frames {
            writer.push(frame).unwrap();
        }
        assert_eq!(writer.frames(), frames.len());
        writer.finish().unwrap()
    }

    /// Mean per-channel difference over the decoded frame's area.
    fn mean_error(original: &RgbImage, decoded: &RgbImage) -> f64 {
        let (width, height) = decoded.dimensions();
        let mut total = 0.0;
        for (x, y, pixel) in decoded.enumerate_pixels() {
            let expected = original.get_pixel(x, y);
            for (a, b) in pixel.0.iter().zip(expected.0) {
                total += f64::from(a.abs_diff(b));
            }
        }
        total / f64::from(width * height * 3)
    }

    /// Checks that the file decodes to `frames` (cropped to `size`).
    fn assert_decodes_to(path: &Path, frames: &[RgbImage], size: (u32, u32)) {
        let mut video = Mp4Video::open(path).unwrap();
        assert_eq!(video.len(), frames.len());
        assert_eq!((video.width(), video.height()), size);
        for (index, original) in frames.iter().enumerate() {
            let decoded = video.frame(index).unwrap().rgb;
            assert_eq!(decoded.dimensions(), size);
            let error = mean_error(original, &decoded);
            assert!(error < MAX_MEAN_ERROR, "frame {index}: mean error {error}");
        }
    }

    /// The top-level box types of an MP4 file, checking that their sizes tile it.
    fn top_level_boxes(file: &[u8]) -> Vec<[u8; 4]> {
        let mut kinds = Vec::new();
        let mut at = 0;
        while at < file.len() {
            let size = u32::from_be_bytes(file[at..at + 4].try_into().unwrap()) as usize;
            kinds.push(file[at + 4..at + 8].try_into().unwrap());
            at += size;
        }
        assert_eq!(at, file.len());
        kinds
    }

    #[test]
    fn frames_round_trip_through_the_decoder() {
        let frames: Vec<RgbImage> = (0..8).map(|t| gradient(64, 48, t)).collect();
        let bytes = encode(64, 48, 10.0, &frames);
        assert_eq!(top_level_boxes(&bytes), [*b"ftyp", *b"moov", *b"mdat"]);
        let file = TempFile::with_bytes("round-trip.mp4", &bytes);
        assert_decodes_to(&file.0, &frames, (64, 48));
        let video = Mp4Video::open(&file.0).unwrap();
        for index in 0..8 {
            assert_eq!(video.timestamp_us(index).unwrap(), index as i64 * 100_000);
        }
        assert_ffprobe_counts(&file.0, 8);
    }

    /// Checks with ffprobe, when installed, that the file holds `frames` H.264 frames.
    fn assert_ffprobe_counts(path: &Path, frames: usize) {
        let output = Command::new("ffprobe")
            .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
            .args(["-show_entries", "stream=codec_name,nb_read_frames"])
            .args(["-of", "csv=p=0"])
            .arg(path)
            .output();
        match output {
            Ok(output) => {
                assert!(output.status.success(), "ffprobe failed: {output:?}");
                let report = String::from_utf8_lossy(&output.stdout);
                assert_eq!(report.trim(), format!("h264,{frames}"));
            }
            Err(error) => eprintln!("note: ffprobe not run ({error}); skipping its check"),
        }
    }

    #[test]
    fn odd_sizes_lose_their_last_column_and_row() {
        let frames: Vec<RgbImage> = (0..4).map(|t| gradient(65, 49, t)).collect();
        let bytes = encode(65, 49, 25.0, &frames);
        let file = TempFile::with_bytes("odd.mp4", &bytes);
        assert_decodes_to(&file.0, &frames, (64, 48));
    }

    #[test]
    fn an_idr_frame_starts_every_two_seconds() {
        let mut writer = Mp4Writer::new(32, 32, 2.0).unwrap();
        for t in 0..9 {
            writer.push(&gradient(32, 32, t)).unwrap();
        }
        assert_eq!(writer.samples.sync, [1, 5, 9]);
        let file = TempFile::with_bytes("keyframes.mp4", &writer.finish().unwrap());
        let mut video = Mp4Video::open(&file.0).unwrap();
        let decoded = video.frame(6).unwrap().rgb;
        assert!(mean_error(&gradient(32, 32, 6), &decoded) < MAX_MEAN_ERROR);
    }

    #[test]
    fn wrong_size_frame_is_refused_naming_its_index() {
        let mut writer = Mp4Writer::new(64, 48, 10.0).unwrap();
        writer.push(&gradient(64, 48, 0)).unwrap();
        writer.push(&gradient(64, 48, 1)).unwrap();
        let error = writer.push(&gradient(48, 64, 2)).unwrap_err();
        assert!(matches!(error, VideoWriteError::FrameSize { index: 2, .. }));
        let message = error.to_string();
        assert!(message.contains("frame 2"), "{message}");
        assert!(
            message.contains("48×64") && message.contains("64×48"),
            "{message}"
        );
        writer.push(&gradient(64, 48, 2)).unwrap();
        assert_eq!(writer.frames(), 3);
    }

    #[test]
    fn bad_sizes_and_rates_are_refused() {
        for (width, height) in [
            (0, 0),
            (0, 48),
            (64, 1),
            (3842, 2160),
            (2160, 3842),
            (9000, 100),
        ] {
            let error = Mp4Writer::new(width, height, 10.0).err().unwrap();
            assert!(
                matches!(error, VideoWriteError::InvalidSize { .. }),
                "{width}×{height}: {error}"
            );
            assert!(error.to_string().contains(&format!("{width}×{height}")));
        }
        for fps in [0.0, -5.0, f64::NAN, f64::INFINITY, 1e6, 1e-9] {
            let error = Mp4Writer::new(64, 48, fps).err().unwrap();
            assert!(
                matches!(error, VideoWriteError::InvalidFrameRate { .. }),
                "{fps}: {error}"
            );
        }
        assert!(Mp4Writer::new(3841, 2161, 30.0).is_ok());
    }

    #[test]
    fn finishing_without_frames_is_an_error() {
        let writer = Mp4Writer::new(64, 48, 10.0).unwrap();
        assert!(matches!(writer.finish(), Err(VideoWriteError::NoFrames)));
    }

    #[test]
    fn durations_add_up_without_drift() {
        assert_eq!(frame_durations(3, 30.0), [3000, 3000, 3000]);
        assert_eq!(frame_durations(2, 30000.0 / 1001.0), [3003, 3003]);
        let sevenths = frame_durations(7, 7.0);
        assert_eq!(sevenths.iter().sum::<u32>(), TIMESCALE);
        assert!(sevenths.iter().all(|&d| d == 12857 || d == 12858));
        assert_eq!(runs(&[5, 5, 6, 5]), [(2, 5), (1, 6), (1, 5)]);
    }

    #[test]
    fn annexb_units_lose_start_codes_and_trailing_zeros() {
        let stream = [
            0, 0, 0, 1, 0x67, 0xaa, 0, 0, 1, 0x68, 0xbb, 0, 0, 0, 0, 1, 0x65, 0x01,
        ];
        let units = annexb_nal_units(&stream);
        assert_eq!(units, [&[0x67, 0xaa][..], &[0x68, 0xbb], &[0x65, 0x01]]);
        assert!(annexb_nal_units(&[0, 0, 0]).is_empty());
    }

    #[test]
    fn parameter_sets_go_to_avcc_only() {
        let mut samples = Samples::default();
        let stream = [
            0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1e, 0, 0, 0, 1, 0x68, 0xce, 0, 0, 1, 0x65, 0x88,
        ];
        samples.add(0, &stream, true).unwrap();
        assert_eq!(samples.data, [0, 0, 0, 2, 0x65, 0x88]);
        assert_eq!(samples.sizes, [6]);
        assert_eq!(samples.sync, [1]);
        assert_eq!(samples.sps.as_deref(), Some(&[0x67, 0x42, 0xc0, 0x1e][..]));
        let changed = [0, 0, 0, 1, 0x67, 0x4d, 0, 0x1f, 0, 0, 1, 0x41, 0x9a];
        let error = samples.add(1, &changed, false).unwrap_err();
        assert!(error.to_string().contains("frame 1"), "{error}");
        assert_eq!(samples.sizes.len(), 1);
        let empty = samples
            .add(1, &[0, 0, 0, 1, 0x68, 0xce], false)
            .unwrap_err();
        assert!(matches!(empty, VideoWriteError::Encode { index: 1, .. }));
    }
}
