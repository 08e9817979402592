//! MP4 (ISO-BMFF) demuxing of an H.264 video track: its frame size, its
//! decoder configuration, and where each sample lies — everything about a
//! video but the decoding, which is the platform's: OpenH264 natively
//! ([`super::video`]), the browser's WebCodecs decoder in the page. Both read
//! the file through this index, so the CLI and the page agree on a video's
//! frames, their order and their timestamps.
//!
//! - **Index**: a small ISO-BMFF reader of our own. [`Mp4Track::open`] walks the
//!   top-level boxes, reads only the `moov` index into memory and builds the sample
//!   table of the first video track (`stts`, `ctts`, `stss`, `stsz`, `stsc`,
//!   `stco`/`co64`). Every count and size read from the file is checked against the
//!   bytes that actually hold it (and against the file length) before anything is
//!   allocated, so a damaged header yields a [`VideoError`] instead of a huge
//!   allocation or a panic. Samples are read one at a time, when decoded.
//!   (The `mp4` crate was not used: its 0.14 box walker loops forever on a child box
//!   of declared size 0, which a damaged file can easily contain.)
//! - **Profiles**: Baseline, Main, Extended and High profile with 8-bit 4:2:0
//!   chroma are accepted (what OpenH264 decodes); other profiles (High 10, 4:2:2,
//!   4:4:4, …) are rejected at open time with [`VideoError::UnsupportedProfile`], in
//!   the page as in the CLI.
//! - **Annex-B**: MP4 stores H.264 as length-prefixed NAL units with the SPS/PPS in
//!   the `avcC` box. [`Mp4Track::annexb`] gives a sample with start codes, as
//!   OpenH264 wants it; WebCodecs takes the samples as stored, with `avcC` as its
//!   `description`.
//! - **Order and seeking**: frame `i` is the `i`-th sample by composition time
//!   (decode time from `stts` plus the `ctts` offset). Decoding may restart only at a
//!   *seek point*: a sync sample that is also shown first among the samples from it
//!   on, with every earlier-decoded sample shown before it (true of every IDR frame
//!   in a closed-GOP stream, as libx264 writes by default). Restarting at seek point
//!   `s` therefore yields frames `s, s + 1, …` in order.
//!
//! Not handled: the rotation matrix in `tkhd` (frames come out as coded, unrotated),
//! edit lists (`elst`; timestamps count from the first presented frame), fragmented
//! MP4.

use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::frame::Frame;
use super::yuv::YuvPicture;
use crate::limits::{MAX_FRAMES, check_image_size};

/// A video's frames, decoded by the platform's H.264 decoder over an
/// [`Mp4Track`]: OpenH264 natively, WebCodecs in the page.
pub trait VideoFrames {
    /// The track the frames are of.
    fn track(&self) -> &Mp4Track;
    /// Decodes frame `index` (presentation order).
    fn frame(&mut self, index: usize) -> Result<Frame, VideoError>;
}

/// Random access to a file's bytes: a file natively, a dropped `File` in the page.
pub trait ReadAt {
    /// The file's length in bytes.
    fn size(&self) -> std::io::Result<u64>;
    /// Fills `buf` with the bytes at `offset`; an error if the file ends first.
    fn read_exact_at(&mut self, offset: u64, buf: &mut [u8]) -> std::io::Result<()>;
}

#[cfg(feature = "native")]
impl ReadAt for std::fs::File {
    fn size(&self) -> std::io::Result<u64> {
        Ok(self.metadata()?.len())
    }

    fn read_exact_at(&mut self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        use std::io::{Read, Seek, SeekFrom};
        self.seek(SeekFrom::Start(offset))?;
        self.read_exact(buf)
    }
}

/// The video track of an MP4 file: its index, and its samples read on demand.
pub struct Mp4Track {
    path: PathBuf,
    file: Box<dyn ReadAt>,
    width: u32,
    height: u32,
    avc: AvcConfig,
    /// Where each sample lies in the file, in decode order.
    ranges: Vec<SampleRange>,
    /// The frame (presentation index) of each sample, in decode order.
    frame_of_sample: Vec<usize>,
    /// The sample (decode index) of each frame, in presentation order.
    sample_of_frame: Vec<usize>,
    /// Timestamp of each frame, in presentation order.
    timestamps_us: Vec<i64>,
    /// Frames (= samples, see the module doc) where decoding can start, ascending.
    seek_points: Vec<usize>,
    /// Reused buffer for one sample as stored.
    sample: Vec<u8>,
    /// Reused buffer for one sample in Annex-B form.
    annexb: Vec<u8>,
}

/// What the page's WebCodecs `VideoDecoder` needs to decode a track: its
/// configuration and where each sample lies (decode order).
#[derive(Debug, Clone, Serialize)]
pub struct DecoderSetup {
    /// The RFC 6381 codec string, e.g. `avc1.64001f`.
    pub codec: String,
    /// The `avcC` record, WebCodecs' `description`.
    pub description: Vec<u8>,
    pub width: u32,
    pub height: u32,
    /// Byte offset of each sample in the file.
    pub offsets: Vec<u64>,
    /// Byte length of each sample.
    pub sizes: Vec<u32>,
    /// The frame (presentation index) each sample shows.
    pub frames: Vec<usize>,
    /// Whether decoding can start at each sample (a seek point).
    pub keys: Vec<bool>,
}

impl Mp4Track {
    /// Reads the index (`moov`) of `file`, named `path` in messages; decodes
    /// nothing.
    pub fn open(mut file: Box<dyn ReadAt>, path: &Path) -> Result<Self, VideoError> {
        let io_error = |source| VideoError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file_len = file.size().map_err(io_error)?;
        if file_len == 0 {
            return Err(VideoError::Empty {
                path: path.to_path_buf(),
            });
        }
        let moov = read_index(file.as_mut(), file_len, path)?;
        let malformed = |detail| VideoError::Malformed {
            path: path.to_path_buf(),
            detail,
        };
        if find_child(&moov, b"mvex").map_err(malformed)?.is_some() {
            return Err(VideoError::Unsupported {
                path: path.to_path_buf(),
                feature: "fragmented MP4 ('mvex' box)".into(),
            });
        }
        let track = find_video_track(&moov).map_err(malformed)?.ok_or_else(|| {
            VideoError::NoVideoTrack {
                path: path.to_path_buf(),
            }
        })?;
        let entry = track.sample_entry(path)?;
        let table = read_sample_table(track.stbl, file_len).map_err(malformed)?;
        check_samples_in_file(&table.ranges, file_len, path)?;
        let order = presentation_order(&table.composition);
        let timestamps_us =
            timestamps_us(&table.composition, &order, track.timescale).map_err(malformed)?;
        let seek_points = seek_points(&order, &table.sync);
        let mut frame_of_sample = vec![0; order.len()];
        for (frame, &sample) in order.iter().enumerate() {
            frame_of_sample[sample] = frame;
        }
        Ok(Self {
            path: path.to_path_buf(),
            file,
            width: entry.width,
            height: entry.height,
            avc: entry.avc,
            ranges: table.ranges,
            frame_of_sample,
            sample_of_frame: order,
            timestamps_us,
            seek_points,
            sample: Vec::new(),
            annexb: Vec::new(),
        })
    }

    /// The file's name in messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Number of frames (= samples).
    pub fn len(&self) -> usize {
        self.timestamps_us.len()
    }

    /// Whether the video has no frames.
    pub fn is_empty(&self) -> bool {
        self.timestamps_us.is_empty()
    }

    /// Frame width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Frame height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Presentation timestamp of frame `index` in µs from the start, in presentation order.
    pub fn timestamp_us(&self, index: usize) -> Result<i64, VideoError> {
        self.timestamps_us
            .get(index)
            .copied()
            .ok_or_else(|| VideoError::FrameOutOfRange {
                path: self.path.clone(),
                index,
                len: self.len(),
            })
    }

    /// Every frame's presentation timestamp in µs from the start.
    pub fn timestamps_us(&self) -> &[i64] {
        &self.timestamps_us
    }

    /// The frames where decoding can start (see the module doc), ascending.
    pub fn seek_points(&self) -> &[usize] {
        &self.seek_points
    }

    /// The last seek point at or before frame `index`.
    pub fn seek_point(&self, index: usize) -> Result<usize, VideoError> {
        let after = self.seek_points.partition_point(|&point| point <= index);
        after
            .checked_sub(1)
            .and_then(|last| self.seek_points.get(last))
            .copied()
            .ok_or_else(|| self.decode_error(index, 0, "no sync sample at or before this frame"))
    }

    /// SPS and PPS from `avcC`, in Annex-B form (empty for an `avc3` track
    /// that carries them in its samples).
    pub fn parameter_sets(&self) -> &[u8] {
        &self.avc.parameter_sets
    }

    /// What a WebCodecs decoder needs: the codec string, `avcC`, and the
    /// sample table.
    pub fn decoder_setup(&self) -> DecoderSetup {
        let keys = (0..self.ranges.len())
            .map(|sample| self.seek_points.binary_search(&sample).is_ok())
            .collect();
        DecoderSetup {
            codec: self.avc.codec_string(),
            description: self.avc.record.clone(),
            width: self.width,
            height: self.height,
            offsets: self.ranges.iter().map(|r| r.offset).collect(),
            sizes: self.ranges.iter().map(|r| r.size).collect(),
            frames: self.frame_of_sample.clone(),
            keys,
        }
    }

    /// The samples (decode order) a decoder started at seek point `seek`
    /// takes before it puts out frame `index`: pictures come out in
    /// presentation order, so every frame from `seek` to `index` must have
    /// been decoded first (with B-frames, samples past `index`'s own).
    pub fn samples_to_show(&self, seek: usize, index: usize) -> Range<usize> {
        let last = self
            .sample_of_frame
            .get(seek..=index)
            .and_then(|samples| samples.iter().max())
            .copied()
            .unwrap_or(seek);
        seek..last + 1
    }

    /// Reads sample `index` (decode order) and returns it in Annex-B form;
    /// `frame` is the frame being decoded, for error messages.
    pub fn annexb(&mut self, index: usize, frame: usize) -> Result<&[u8], VideoError> {
        let range = self
            .ranges
            .get(index)
            .copied()
            .ok_or_else(|| self.decode_error(frame, index, "sample index out of range"))?;
        self.sample.resize(range.size as usize, 0);
        self.file
            .read_exact_at(range.offset, &mut self.sample)
            .map_err(|source| VideoError::Io {
                path: self.path.clone(),
                source,
            })?;
        length_prefixed_to_annexb(&self.sample, self.avc.nal_length_size, &mut self.annexb)
            .map_err(|message| self.decode_error(frame, index, message))?;
        if self.annexb.is_empty() {
            return Err(self.decode_error(frame, index, "the sample holds no NAL unit"));
        }
        Ok(&self.annexb)
    }

    /// Frame `index` from its decoded picture (decoding stopped at `sample`,
    /// for messages), which must be the track's size.
    pub fn frame_from_picture(
        &self,
        index: usize,
        sample: usize,
        picture: &YuvPicture<'_>,
    ) -> Result<Frame, VideoError> {
        let (width, height) = (self.width as usize, self.height as usize);
        if (picture.width, picture.height) != (width, height) {
            let message = format!(
                "decoded picture is {}x{} but the track says {width}x{height}",
                picture.width, picture.height
            );
            return Err(self.decode_error(index, sample, message));
        }
        let rgb = picture
            .to_rgb()
            .map_err(|e| self.decode_error(index, sample, e))?;
        Ok(Frame {
            index,
            timestamp_us: self.timestamp_us(index)?,
            rgb,
        })
    }

    /// Number of samples (= frames), for decoders walking them in decode order.
    pub fn sample_count(&self) -> usize {
        self.ranges.len()
    }

    /// The largest sample's size and the capacities of the two sample
    /// buffers, which must not grow with the number of frames read.
    #[cfg(test)]
    pub(crate) fn buffer_capacities(&self) -> (usize, usize, usize) {
        let largest = self.ranges.iter().map(|r| r.size as usize).max();
        let largest = largest.unwrap_or(0);
        (largest, self.sample.capacity(), self.annexb.capacity())
    }

    /// A decoding failure of frame `frame` at sample `sample` (decode order).
    pub fn decode_error(&self, frame: usize, sample: usize, message: impl ToString) -> VideoError {
        VideoError::Decode {
            path: self.path.clone(),
            frame,
            sample,
            message: message.to_string(),
        }
    }
}

/// Largest `moov` index read into memory.
const MAX_INDEX_BYTES: u64 = 256 << 20;
/// Largest compressed sample read into memory.
const MAX_SAMPLE_BYTES: u32 = 64 << 20;
/// Annex-B start code put in front of every NAL unit.
const START_CODE: [u8; 4] = [0, 0, 0, 1];
/// Box types a file may start with (ISO/IEC 14496-12 and QuickTime).
const FIRST_BOX_TYPES: [&[u8; 4]; 8] = [
    b"ftyp", b"styp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pdin",
];

/// Why a video could not be opened or a frame not decoded.
#[derive(Debug, thiserror::Error)]
pub enum VideoError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is empty (0 bytes), not an MP4 file", path.display())]
    Empty { path: PathBuf },
    #[error("{} is not an MP4 file: {reason}", path.display())]
    NotMp4 { path: PathBuf, reason: String },
    #[error("{} is truncated: {detail}", path.display())]
    Truncated { path: PathBuf, detail: String },
    #[error("{} has a malformed MP4 index: {detail}", path.display())]
    Malformed { path: PathBuf, detail: String },
    #[error("{} has no video track", path.display())]
    NoVideoTrack { path: PathBuf },
    #[error(
        "{}: the video track is coded as '{codec}'; only H.264 ('avc1'/'avc3') is supported",
        path.display()
    )]
    UnsupportedCodec { path: PathBuf, codec: String },
    #[error(
        "{}: H.264 {profile} is not supported: autolabel decodes Baseline, Main, \
         Extended and High profile with 8-bit 4:2:0 chroma",
        path.display()
    )]
    UnsupportedProfile { path: PathBuf, profile: String },
    #[error("{}: {feature} is not supported", path.display())]
    Unsupported { path: PathBuf, feature: String },
    #[error("{}: frame {index} requested but the video has {len} frames", path.display())]
    FrameOutOfRange {
        path: PathBuf,
        index: usize,
        len: usize,
    },
    #[error(
        "{}: decoding frame {frame} failed at sample {sample} (decode order): {message}",
        path.display()
    )]
    Decode {
        path: PathBuf,
        frame: usize,
        sample: usize,
        message: String,
    },
}

/// Rewrites one sample of length-prefixed NAL units as Annex-B (start code before each).
fn length_prefixed_to_annexb(
    sample: &[u8],
    length_size: usize,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    out.clear();
    let mut rest = sample;
    while !rest.is_empty() {
        if rest.len() < length_size {
            return Err(format!(
                "{} trailing bytes are too short for a {length_size}-byte NAL length",
                rest.len()
            ));
        }
        let (prefix, tail) = rest.split_at(length_size);
        let len = prefix
            .iter()
            .fold(0usize, |len, &byte| (len << 8) | usize::from(byte));
        if len > tail.len() {
            return Err(format!(
                "NAL unit of {len} bytes but only {} bytes left in the sample",
                tail.len()
            ));
        }
        let (nal, next) = tail.split_at(len);
        if !nal.is_empty() {
            out.extend_from_slice(&START_CODE);
            out.extend_from_slice(nal);
        }
        rest = next;
    }
    Ok(())
}

/// Walks the top-level boxes up to `moov` and returns its payload.
fn read_index(file: &mut dyn ReadAt, file_len: u64, path: &Path) -> Result<Vec<u8>, VideoError> {
    let mut pos = 0;
    while pos < file_len {
        let header = read_top_header(file, pos, file_len, path)?;
        if header.kind == *b"moov" {
            return read_payload(file, pos, &header, path);
        }
        pos += header.size;
    }
    Err(VideoError::Truncated {
        path: path.to_path_buf(),
        detail: format!(
            "no 'moov' box (the index) in its {file_len} bytes; \
             the recording may have been cut short or never finalised"
        ),
    })
}

/// A top-level box header read from the file.
struct TopHeader {
    kind: [u8; 4],
    /// Header length in bytes (8, or 16 with a 64-bit size).
    header_len: u64,
    /// Box length including the header, checked to fit in the file.
    size: u64,
}

/// Reads and checks the header of the top-level box at `pos`.
fn read_top_header(
    file: &mut dyn ReadAt,
    pos: u64,
    file_len: u64,
    path: &Path,
) -> Result<TopHeader, VideoError> {
    let remaining = file_len - pos;
    let problem = |detail: String| {
        if pos == 0 {
            VideoError::NotMp4 {
                path: path.to_path_buf(),
                reason: detail,
            }
        } else {
            VideoError::Truncated {
                path: path.to_path_buf(),
                detail,
            }
        }
    };
    if remaining < 8 {
        return Err(problem(format!(
            "{remaining} bytes at offset {pos} are too short for a box header"
        )));
    }
    let io_error = |source| VideoError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut bytes = [0u8; 16];
    let header_len: u64 = if remaining >= 16 { 16 } else { 8 };
    file.read_exact_at(pos, &mut bytes[..header_len as usize])
        .map_err(io_error)?;
    let mut reader = Bytes::new(&bytes);
    let declared = reader.u32("box header").map_err(problem)?;
    let kind = reader.array::<4>("box header").map_err(problem)?;
    if pos == 0 && !FIRST_BOX_TYPES.contains(&&kind) {
        return Err(problem(format!(
            "it starts with bytes \"{}\" instead of an MP4 box such as 'ftyp'",
            bytes[..8].escape_ascii()
        )));
    }
    let (size, header_len) = match declared {
        0 => (remaining, 8),
        1 if header_len == 16 => (reader.u64("box header").map_err(problem)?, 16),
        1 => return Err(problem(format!("box '{}' is cut short", fourcc(kind)))),
        n => (u64::from(n), 8),
    };
    if size < header_len {
        return Err(VideoError::Malformed {
            path: path.to_path_buf(),
            detail: format!(
                "box '{}' at offset {pos} declares {size} bytes, less than its header",
                fourcc(kind)
            ),
        });
    }
    if size > remaining {
        return Err(VideoError::Truncated {
            path: path.to_path_buf(),
            detail: format!(
                "box '{}' at offset {pos} declares {size} bytes but the file ends {remaining} bytes \
                 after its start",
                fourcc(kind)
            ),
        });
    }
    Ok(TopHeader {
        kind,
        header_len,
        size,
    })
}

/// Reads the payload of a top-level box whose header was checked by [`read_top_header`].
fn read_payload(
    file: &mut dyn ReadAt,
    pos: u64,
    header: &TopHeader,
    path: &Path,
) -> Result<Vec<u8>, VideoError> {
    let len = header.size - header.header_len;
    if len > MAX_INDEX_BYTES {
        return Err(VideoError::Unsupported {
            path: path.to_path_buf(),
            feature: format!("an index ('moov') of {len} bytes (limit {MAX_INDEX_BYTES})"),
        });
    }
    let mut payload = vec![0; len as usize];
    file.read_exact_at(pos + header.header_len, &mut payload)
        .map_err(|source| VideoError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(payload)
}

/// A four-character code made printable.
fn fourcc(kind: [u8; 4]) -> String {
    kind.escape_ascii().to_string()
}

/// Big-endian reader over bytes already in memory; every read is bounds-checked.
struct Bytes<'a> {
    data: &'a [u8],
}

impl<'a> Bytes<'a> {
    fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    fn remaining(&self) -> usize {
        self.data.len()
    }

    /// The next `n` bytes; `what` names the structure being read, for the error.
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        if n > self.data.len() {
            return Err(format!(
                "{what} is cut short: needs {n} more bytes, has {}",
                self.data.len()
            ));
        }
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], String> {
        let mut array = [0; N];
        array.copy_from_slice(self.take(N, what)?);
        Ok(array)
    }

    fn u8(&mut self, what: &str) -> Result<u8, String> {
        Ok(u8::from_be_bytes(self.array(what)?))
    }

    fn u16(&mut self, what: &str) -> Result<u16, String> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }

    fn u32(&mut self, what: &str) -> Result<u32, String> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &str) -> Result<u64, String> {
        Ok(u64::from_be_bytes(self.array(what)?))
    }

    /// Skips the version and flags of a full box and returns the version.
    fn full_box_version(&mut self, what: &str) -> Result<u8, String> {
        let [version, ..] = self.array::<4>(what)?;
        Ok(version)
    }

    /// Reads a table's entry count and checks that that many `entry_len`-byte entries fit.
    fn entry_count(&mut self, entry_len: usize, what: &str) -> Result<usize, String> {
        let count = self.u32(what)? as usize;
        if count > self.remaining() / entry_len {
            return Err(format!(
                "'{what}' declares {count} entries but has room for {}",
                self.remaining() / entry_len
            ));
        }
        Ok(count)
    }
}

/// A box inside the index: its type and its payload (header removed).
struct Mp4Box<'a> {
    kind: [u8; 4],
    payload: &'a [u8],
}

/// The child boxes of a box payload; stops after the first malformed one.
struct Children<'a> {
    rest: Bytes<'a>,
}

impl<'a> Children<'a> {
    fn of(payload: &'a [u8]) -> Self {
        Self {
            rest: Bytes::new(payload),
        }
    }

    fn next_box(&mut self) -> Result<Mp4Box<'a>, String> {
        let declared = self.rest.u32("box header")?;
        let kind = self.rest.array::<4>("box header")?;
        let name = fourcc(kind);
        let payload_len = match declared {
            0 => self.rest.remaining() as u64,
            1 => self
                .rest
                .u64("box header")?
                .checked_sub(16)
                .ok_or_else(|| {
                    format!("box '{name}' declares a 64-bit size less than its header")
                })?,
            n => u64::from(n)
                .checked_sub(8)
                .ok_or_else(|| format!("box '{name}' declares {n} bytes, less than its header"))?,
        };
        let payload_len = usize::try_from(payload_len)
            .map_err(|_| format!("box '{name}' declares {payload_len} bytes"))?;
        let payload = self.rest.take(payload_len, &format!("box '{name}'"))?;
        Ok(Mp4Box { kind, payload })
    }
}

impl<'a> Iterator for Children<'a> {
    type Item = Result<Mp4Box<'a>, String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.remaining() == 0 {
            return None;
        }
        let next = self.next_box();
        if next.is_err() {
            self.rest = Bytes::new(&[]);
        }
        Some(next)
    }
}

/// The payload of the first child of type `kind`, if any.
fn find_child<'a>(payload: &'a [u8], kind: &[u8; 4]) -> Result<Option<&'a [u8]>, String> {
    for child in Children::of(payload) {
        let child = child?;
        if child.kind == *kind {
            return Ok(Some(child.payload));
        }
    }
    Ok(None)
}

/// The payload of the box reached by following `path` down from `payload`.
fn descend<'a>(payload: &'a [u8], path: &[&[u8; 4]]) -> Result<&'a [u8], String> {
    let mut current = payload;
    for (depth, kind) in path.iter().enumerate() {
        current = find_child(current, kind)?.ok_or_else(|| {
            let names: Vec<String> = path[..=depth].iter().map(|k| fourcc(**k)).collect();
            format!("missing box '{}'", names.join("/"))
        })?;
    }
    Ok(current)
}

/// The parts of a video track needed to read it.
struct VideoTrack<'a> {
    /// Media time units per second (`mdhd`).
    timescale: u32,
    /// The first sample entry of `stsd`.
    entry: Mp4Box<'a>,
    /// The sample table box payload.
    stbl: &'a [u8],
}

/// The first track whose handler is `vide`, if any.
fn find_video_track(moov: &[u8]) -> Result<Option<VideoTrack<'_>>, String> {
    for child in Children::of(moov) {
        let child = child?;
        if child.kind == *b"trak"
            && let Some(track) = video_track(child.payload)?
        {
            return Ok(Some(track));
        }
    }
    Ok(None)
}

/// The track in `trak`, if it is a video track.
fn video_track(trak: &[u8]) -> Result<Option<VideoTrack<'_>>, String> {
    let mdia = descend(trak, &[b"mdia"])?;
    let mut hdlr = Bytes::new(descend(mdia, &[b"hdlr"])?);
    hdlr.full_box_version("hdlr")?;
    hdlr.u32("hdlr")?;
    if hdlr.array::<4>("hdlr")? != *b"vide" {
        return Ok(None);
    }
    let timescale = media_timescale(descend(mdia, &[b"mdhd"])?)?;
    let stbl = descend(mdia, &[b"minf", b"stbl"])?;
    let mut stsd = Bytes::new(descend(stbl, &[b"stsd"])?);
    stsd.full_box_version("stsd")?;
    if stsd.u32("stsd")? == 0 {
        return Err("the video track has no sample description ('stsd' is empty)".into());
    }
    let entry = Children::of(stsd.data)
        .next()
        .ok_or("the video track's 'stsd' has no sample entry")??;
    Ok(Some(VideoTrack {
        timescale,
        entry,
        stbl,
    }))
}

/// The timescale from an `mdhd` payload.
fn media_timescale(mdhd: &[u8]) -> Result<u32, String> {
    let mut reader = Bytes::new(mdhd);
    let times_len = if reader.full_box_version("mdhd")? == 1 {
        16
    } else {
        8
    };
    reader.take(times_len, "mdhd")?;
    match reader.u32("mdhd")? {
        0 => Err("'mdhd' declares a timescale of 0".into()),
        timescale => Ok(timescale),
    }
}

/// What the H.264 sample entry says about the frames.
struct SampleEntry {
    width: u32,
    height: u32,
    avc: AvcConfig,
}

impl VideoTrack<'_> {
    /// Checks the codec and profile and reads the frame size and `avcC`.
    fn sample_entry(&self, path: &Path) -> Result<SampleEntry, VideoError> {
        if !matches!(&self.entry.kind, b"avc1" | b"avc3") {
            return Err(VideoError::UnsupportedCodec {
                path: path.to_path_buf(),
                codec: fourcc(self.entry.kind),
            });
        }
        let malformed = |detail| VideoError::Malformed {
            path: path.to_path_buf(),
            detail,
        };
        let (width, height, avcc) = visual_sample_entry(self.entry.payload).map_err(malformed)?;
        let avc = parse_avcc(avcc).map_err(malformed)?;
        if let Err(profile) = avc.check_profile() {
            return Err(VideoError::UnsupportedProfile {
                path: path.to_path_buf(),
                profile,
            });
        }
        let size_error = |feature| VideoError::Unsupported {
            path: path.to_path_buf(),
            feature,
        };
        if width == 0 || height == 0 {
            return Err(size_error(format!("a frame size of {width}x{height}")));
        }
        check_image_size(|| "a frame".into(), width.into(), height.into())
            .map_err(|e| size_error(e.to_string()))?;
        Ok(SampleEntry { width, height, avc })
    }
}

/// Frame size and `avcC` payload of an `avc1`/`avc3` visual sample entry.
fn visual_sample_entry(payload: &[u8]) -> Result<(u32, u32, &[u8]), String> {
    let mut reader = Bytes::new(payload);
    reader.take(24, "visual sample entry")?;
    let width = u32::from(reader.u16("visual sample entry")?);
    let height = u32::from(reader.u16("visual sample entry")?);
    reader.take(50, "visual sample entry")?;
    let avcc = descend(reader.data, &[b"avcC"])?;
    Ok((width, height, avcc))
}

/// The decoder configuration record (`avcC`, ISO/IEC 14496-15).
struct AvcConfig {
    /// The whole `avcC` payload.
    record: Vec<u8>,
    profile_idc: u8,
    /// `profile_compatibility` (the constraint flags) and `level_idc`.
    compatibility: u8,
    level: u8,
    nal_length_size: usize,
    /// SPS then PPS NAL units, each after a start code.
    parameter_sets: Vec<u8>,
    /// `chroma_format_idc` and luma/chroma bit depths, present for High profiles.
    high_format: Option<(u8, u8, u8)>,
}

fn parse_avcc(payload: &[u8]) -> Result<AvcConfig, String> {
    let mut reader = Bytes::new(payload);
    if reader.u8("avcC")? != 1 {
        return Err("'avcC' has an unknown configuration version".into());
    }
    let [profile_idc, compatibility, level, length_size] = reader.array::<4>("avcC")?;
    let nal_length_size = match length_size & 0b11 {
        2 => return Err("'avcC' declares 3-byte NAL lengths, which H.264 forbids".into()),
        minus_one => usize::from(minus_one) + 1,
    };
    let mut parameter_sets = Vec::new();
    let sps_count = reader.u8("avcC")? & 0b1_1111;
    read_parameter_sets(&mut reader, sps_count, &mut parameter_sets)?;
    let pps_count = reader.u8("avcC")?;
    read_parameter_sets(&mut reader, pps_count, &mut parameter_sets)?;
    let high_format =
        if matches!(profile_idc, 100 | 110 | 122 | 144 | 244) && reader.remaining() >= 3 {
            let [chroma, luma_depth, chroma_depth] = reader.array::<3>("avcC")?;
            Some((
                chroma & 0b11,
                (luma_depth & 0b111) + 8,
                (chroma_depth & 0b111) + 8,
            ))
        } else {
            None
        };
    Ok(AvcConfig {
        record: payload.to_vec(),
        profile_idc,
        compatibility,
        level,
        nal_length_size,
        parameter_sets,
        high_format,
    })
}

/// Appends `count` 16-bit-length-prefixed parameter sets to `out` in Annex-B form.
fn read_parameter_sets(reader: &mut Bytes<'_>, count: u8, out: &mut Vec<u8>) -> Result<(), String> {
    for _ in 0..count {
        let len = usize::from(reader.u16("avcC parameter set")?);
        out.extend_from_slice(&START_CODE);
        out.extend_from_slice(reader.take(len, "avcC parameter set")?);
    }
    Ok(())
}

impl AvcConfig {
    /// The RFC 6381 codec string: `avc1.` and the profile, constraint flags
    /// and level in hex.
    fn codec_string(&self) -> String {
        format!(
            "avc1.{:02x}{:02x}{:02x}",
            self.profile_idc, self.compatibility, self.level
        )
    }

    /// Whether the stream's profile is one autolabel decodes (OpenH264's); if
    /// not, a description of its profile.
    fn check_profile(&self) -> Result<(), String> {
        let name = match self.profile_idc {
            66 | 77 | 88 | 100 => None,
            110 => Some("High 10"),
            122 => Some("High 4:2:2"),
            244 => Some("High 4:4:4 Predictive"),
            44 => Some("CAVLC 4:4:4 Intra"),
            83 | 86 => Some("Scalable"),
            118 | 128 => Some("Multiview/Stereo High"),
            _ => Some("unknown"),
        };
        if let Some(name) = name {
            return Err(format!("{name} profile (profile_idc {})", self.profile_idc));
        }
        match self.high_format {
            Some((chroma, luma_depth, chroma_depth))
                if chroma != 1 || luma_depth != 8 || chroma_depth != 8 =>
            {
                Err(format!(
                    "High profile with chroma_format_idc {chroma} and {luma_depth}/{chroma_depth}-bit \
                     samples"
                ))
            }
            _ => Ok(()),
        }
    }
}

/// Where one sample's bytes lie in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SampleRange {
    offset: u64,
    size: u32,
}

/// Per-sample facts from the sample table, in decode order.
struct SampleTable {
    ranges: Vec<SampleRange>,
    /// Composition (presentation) time in media timescale units.
    composition: Vec<i64>,
    /// Whether decoding can start at the sample (`stss`; all samples if absent).
    sync: Vec<bool>,
}

/// Builds the sample table from an `stbl` payload.
fn read_sample_table(stbl: &[u8], file_len: u64) -> Result<SampleTable, String> {
    let sizes = sample_sizes(descend(stbl, &[b"stsz"])?, file_len)?;
    let count = sizes.len();
    let deltas = expand_runs(
        &read_runs(descend(stbl, &[b"stts"])?, "stts")?,
        count,
        "stts",
    )?;
    let offsets = match find_child(stbl, b"ctts")? {
        Some(ctts) => expand_runs(&read_runs(ctts, "ctts")?, count, "ctts")?,
        None => vec![0; count],
    };
    let composition = composition_times(&deltas, &offsets);
    let sync = match find_child(stbl, b"stss")? {
        Some(stss) => sync_flags(stss, count)?,
        None => vec![true; count],
    };
    let chunks = chunk_offsets(stbl)?;
    let ranges = place_samples(&read_stsc(descend(stbl, &[b"stsc"])?)?, &chunks, &sizes)?;
    Ok(SampleTable {
        ranges,
        composition,
        sync,
    })
}

/// Sample sizes from `stsz`; the count is bounded by the bytes that hold it or by the file.
fn sample_sizes(stsz: &[u8], file_len: u64) -> Result<Vec<u32>, String> {
    let mut reader = Bytes::new(stsz);
    reader.full_box_version("stsz")?;
    let uniform = reader.u32("stsz")?;
    if uniform == 0 {
        let count = reader.entry_count(4, "stsz")?;
        return (0..count).map(|_| reader.u32("stsz")).collect();
    }
    let count = reader.u32("stsz")?;
    if u64::from(count) * u64::from(uniform) > file_len || count as usize > MAX_FRAMES {
        return Err(format!(
            "'stsz' declares {count} samples of {uniform} bytes, more than the file holds"
        ));
    }
    Ok(vec![uniform; count as usize])
}

/// `(count, value)` runs of an `stts` or `ctts` payload.
fn read_runs(payload: &[u8], name: &str) -> Result<Vec<(u32, u32)>, String> {
    let mut reader = Bytes::new(payload);
    reader.full_box_version(name)?;
    let count = reader.entry_count(8, name)?;
    (0..count)
        .map(|_| Ok((reader.u32(name)?, reader.u32(name)?)))
        .collect()
}

/// One value per sample from `(count, value)` runs, which must cover `samples` samples.
fn expand_runs(runs: &[(u32, u32)], samples: usize, name: &str) -> Result<Vec<u32>, String> {
    let mut values = Vec::with_capacity(samples);
    for &(count, value) in runs {
        let take = (count as usize).min(samples - values.len());
        values.extend(std::iter::repeat_n(value, take));
    }
    if values.len() < samples {
        return Err(format!(
            "'{name}' covers {} of the {samples} samples",
            values.len()
        ));
    }
    Ok(values)
}

/// Composition times: running sum of the `stts` deltas plus the `ctts` offsets, which
/// are read as signed (version 1 semantics; writers use them so with version 0 too).
fn composition_times(deltas: &[u32], offsets: &[u32]) -> Vec<i64> {
    let mut decode_time = 0i64;
    deltas
        .iter()
        .zip(offsets)
        .map(|(&delta, &offset)| {
            let time = decode_time + i64::from(offset as i32);
            decode_time += i64::from(delta);
            time
        })
        .collect()
}

/// Sync flags from `stss` (1-based sample numbers).
fn sync_flags(stss: &[u8], samples: usize) -> Result<Vec<bool>, String> {
    let mut reader = Bytes::new(stss);
    reader.full_box_version("stss")?;
    let count = reader.entry_count(4, "stss")?;
    let mut sync = vec![false; samples];
    for _ in 0..count {
        let number = reader.u32("stss")? as usize;
        let flag = number
            .checked_sub(1)
            .and_then(|index| sync.get_mut(index))
            .ok_or_else(|| format!("'stss' names sample {number} of {samples}"))?;
        *flag = true;
    }
    Ok(sync)
}

/// Chunk offsets from `stco` or `co64`.
fn chunk_offsets(stbl: &[u8]) -> Result<Vec<u64>, String> {
    if let Some(stco) = find_child(stbl, b"stco")? {
        let mut reader = Bytes::new(stco);
        reader.full_box_version("stco")?;
        let count = reader.entry_count(4, "stco")?;
        return (0..count)
            .map(|_| reader.u32("stco").map(u64::from))
            .collect();
    }
    let mut reader = Bytes::new(descend(stbl, &[b"co64"])?);
    reader.full_box_version("co64")?;
    let count = reader.entry_count(8, "co64")?;
    (0..count).map(|_| reader.u64("co64")).collect()
}

/// One `stsc` entry: chunks from `first_chunk` (1-based) on hold `samples_per_chunk` samples.
struct ChunkRun {
    first_chunk: u32,
    samples_per_chunk: u32,
}

fn read_stsc(stsc: &[u8]) -> Result<Vec<ChunkRun>, String> {
    let mut reader = Bytes::new(stsc);
    reader.full_box_version("stsc")?;
    let count = reader.entry_count(12, "stsc")?;
    (0..count)
        .map(|_| {
            let [first_chunk, samples_per_chunk, _description] = [
                reader.u32("stsc")?,
                reader.u32("stsc")?,
                reader.u32("stsc")?,
            ];
            Ok(ChunkRun {
                first_chunk,
                samples_per_chunk,
            })
        })
        .collect()
}

/// Places each sample in the file: samples fill chunks in order, back to back.
fn place_samples(
    runs: &[ChunkRun],
    chunks: &[u64],
    sizes: &[u32],
) -> Result<Vec<SampleRange>, String> {
    let mut ranges = Vec::with_capacity(sizes.len());
    let mut sizes_left = sizes.iter();
    for (i, run) in runs.iter().enumerate() {
        let end = runs
            .get(i + 1)
            .map_or(chunks.len() + 1, |next| next.first_chunk as usize);
        let run_chunks = (run.first_chunk as usize)
            .checked_sub(1)
            .and_then(|first| chunks.get(first..end.checked_sub(1)?))
            .ok_or_else(|| {
                format!(
                    "'stsc' entry {i} covers chunks {}..{end}, outside the {} chunks",
                    run.first_chunk,
                    chunks.len()
                )
            })?;
        for &chunk in run_chunks {
            let mut offset = chunk;
            for _ in 0..run.samples_per_chunk {
                let Some(&size) = sizes_left.next() else {
                    return Ok(ranges);
                };
                ranges.push(SampleRange { offset, size });
                offset = offset
                    .checked_add(u64::from(size))
                    .ok_or("a sample offset overflows")?;
            }
        }
    }
    if ranges.len() < sizes.len() {
        return Err(format!(
            "the chunk tables place {} of the {} samples",
            ranges.len(),
            sizes.len()
        ));
    }
    Ok(ranges)
}

/// Checks that every sample lies inside the file and is of a sane size.
fn check_samples_in_file(
    ranges: &[SampleRange],
    file_len: u64,
    path: &Path,
) -> Result<(), VideoError> {
    for (index, range) in ranges.iter().enumerate() {
        if range.size > MAX_SAMPLE_BYTES {
            return Err(VideoError::Malformed {
                path: path.to_path_buf(),
                detail: format!(
                    "sample {index} declares {} bytes (limit {MAX_SAMPLE_BYTES})",
                    range.size
                ),
            });
        }
        let end = range.offset.saturating_add(u64::from(range.size));
        if end > file_len {
            return Err(VideoError::Truncated {
                path: path.to_path_buf(),
                detail: format!(
                    "sample {index} lies at bytes {}..{end} but the file has {file_len} bytes",
                    range.offset
                ),
            });
        }
    }
    Ok(())
}

/// Decode-order indices of the samples sorted by composition time.
fn presentation_order(composition: &[i64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..composition.len()).collect();
    order.sort_by_key(|&sample| (composition[sample], sample));
    order
}

/// Timestamps in µs from the first presented frame, rounded to the nearest µs.
fn timestamps_us(composition: &[i64], order: &[usize], timescale: u32) -> Result<Vec<i64>, String> {
    let Some(&first) = order.first() else {
        return Ok(Vec::new());
    };
    let start = i128::from(composition[first]);
    let timescale = i128::from(timescale);
    order
        .iter()
        .map(|&sample| {
            let ticks = i128::from(composition[sample]) - start;
            i64::try_from((ticks * 1_000_000 + timescale / 2) / timescale)
                .map_err(|_| format!("the timestamp of sample {sample} overflows"))
        })
        .collect()
}

/// Frames where decoding can start: see the module doc. `order` maps presentation
/// index to decode index.
fn seek_points(order: &[usize], sync: &[bool]) -> Vec<usize> {
    let mut position = vec![0; order.len()];
    for (frame, &sample) in order.iter().enumerate() {
        position[sample] = frame;
    }
    let mut points = Vec::new();
    let mut shown_before = 0;
    for (sample, &frame) in position.iter().enumerate() {
        if sync[sample] && frame == sample && shown_before == sample {
            points.push(sample);
        }
        shown_before = shown_before.max(frame + 1);
    }
    points
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nal_units_get_start_codes() {
        let sample = [0, 0, 0, 2, 0x65, 0xaa, 0, 0, 0, 1, 0x06];
        let mut out = Vec::new();
        length_prefixed_to_annexb(&sample, 4, &mut out).unwrap();
        assert_eq!(out, [0, 0, 0, 1, 0x65, 0xaa, 0, 0, 0, 1, 0x06]);
        length_prefixed_to_annexb(&[0, 1, 0x41], 2, &mut out).unwrap();
        assert_eq!(out, [0, 0, 0, 1, 0x41]);
    }

    #[test]
    fn nal_length_past_the_sample_is_an_error() {
        let mut out = Vec::new();
        assert!(length_prefixed_to_annexb(&[0, 0, 0, 9, 0x65], 4, &mut out).is_err());
        assert!(length_prefixed_to_annexb(&[0, 0], 4, &mut out).is_err());
    }

    #[test]
    fn seek_points_skip_sync_samples_with_leading_pictures() {
        // Decode order I0 P3 B1 B2 | I6 B4 B5 (open GOP: B4, B5 lead I6) | I7.
        let order = [0, 2, 3, 1, 5, 6, 4, 7];
        let sync = [true, false, false, false, true, false, false, true];
        assert_eq!(seek_points(&order, &sync), vec![0, 7]);
    }
}
