//! Frames a stage leaves out because they do not decode: in a clip, a frame
//! whose file is missing, truncated or corrupt is a reported skip, never a
//! silently grey half-frame in the labels and never the end of the run
//! (issue 20). Which errors are a frame's own is
//! [`ClipError::is_bad_frame`]; every other error (the clip as a whole, a
//! model, the output directory) still stops the stage.
//!
//! A stage checkpoints each frame as a [`FrameOutcome`] (so a resumed run
//! counts a skipped frame as done) and its output keeps the skipped frames
//! beside the labelled ones; a skipped frame has no labels, and its ground
//! truth is left out of the evaluation (neither a miss nor a hit).

use serde::{Deserialize, Serialize};

use crate::data::clip::{Clip, ClipError};
use crate::data::frame::Frame;

/// A frame a stage skipped, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedFrame {
    /// Clip index.
    pub frame: usize,
    /// What is wrong with it, naming its file, e.g. `…/0003.jpg: cannot
    /// decode image: …`.
    pub reason: String,
}

impl SkippedFrame {
    /// The skip of frame `frame` for `error`, when the error is the frame's
    /// own ([`ClipError::is_bad_frame`]); `None` when it must stop the run.
    pub fn of_error(frame: usize, error: &ClipError) -> Option<Self> {
        error.is_bad_frame().then(|| SkippedFrame {
            frame,
            reason: error.to_string(),
        })
    }
}

/// Decodes frame `index` of `clip`: `Ok(Ok(frame))`, `Ok(Err(skip))` for a
/// frame that does not decode, `Err` for an error that stops the run.
pub fn frame_or_skip(
    clip: &mut Clip,
    index: usize,
) -> Result<Result<Frame, SkippedFrame>, ClipError> {
    match clip.frame(index) {
        Ok(frame) => Ok(Ok(frame)),
        Err(error) => SkippedFrame::of_error(index, &error).map(Err).ok_or(error),
    }
}

/// The frames of `frames` that decode, in order, and the skips of those that
/// do not. Propagation reads a frame more than once (a new track is carried
/// back over frames already run), so it checks every frame first: a frame
/// left out is left out of the whole pass, never failing it half-way.
pub fn decodable_frames(
    clip: &mut Clip,
    frames: &[usize],
) -> Result<(Vec<usize>, Vec<SkippedFrame>), ClipError> {
    let (mut good, mut skipped) = (Vec::new(), Vec::new());
    for &index in frames {
        match frame_or_skip(clip, index)? {
            Ok(_) => good.push(index),
            Err(skip) => skipped.push(skip),
        }
    }
    Ok((good, skipped))
}

/// What a stage made of one frame, as its checkpoint records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FrameOutcome<T> {
    Done(T),
    Skipped(SkippedFrame),
}

/// The done frames and the skipped ones, each in order.
pub fn split_outcomes<T>(
    outcomes: impl IntoIterator<Item = FrameOutcome<T>>,
) -> (Vec<T>, Vec<SkippedFrame>) {
    let (mut done, mut skipped) = (Vec::new(), Vec::new());
    for outcome in outcomes {
        match outcome {
            FrameOutcome::Done(value) => done.push(value),
            FrameOutcome::Skipped(skip) => skipped.push(skip),
        }
    }
    (done, skipped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::nuscenes::MemorySource;

    fn png(shade: u8) -> Vec<u8> {
        let img = image::RgbImage::from_pixel(8, 6, image::Rgb([shade, shade, shade]));
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn a_frame_that_does_not_decode_is_skipped_naming_its_file() {
        let mut source = MemorySource::default();
        let good = png(10);
        source.insert("f0.png", good.clone());
        source.insert("f1.png", good[..good.len() / 2].to_vec());
        source.insert("f2.png", good);
        let names = ["f0.png", "f1.png", "f2.png", "f3.png"].map(String::from);
        let mut clip = Clip::image_files(Box::new(source), names.to_vec(), 10.0).unwrap();
        assert!(frame_or_skip(&mut clip, 0).unwrap().is_ok());
        let cut = frame_or_skip(&mut clip, 1).unwrap().unwrap_err();
        assert_eq!(cut.frame, 1);
        assert!(
            cut.reason.contains("f1.png") && cut.reason.contains("cannot decode"),
            "{}",
            cut.reason
        );
        assert!(frame_or_skip(&mut clip, 2).unwrap().is_ok());
        let missing = frame_or_skip(&mut clip, 3).unwrap().unwrap_err();
        assert!(missing.reason.contains("f3.png"), "{}", missing.reason);
        let past = frame_or_skip(&mut clip, 4).unwrap_err();
        assert!(
            matches!(past, ClipError::OutOfRange { index: 4, .. }),
            "{past}"
        );
        let (good, skipped) = decodable_frames(&mut clip, &[0, 1, 2, 3]).unwrap();
        assert_eq!(good, [0, 2]);
        assert_eq!(skipped, [cut, missing]);
        assert!(decodable_frames(&mut clip, &[2, 4]).is_err());
    }

    #[test]
    fn outcomes_split_in_order() {
        let skip = |frame| SkippedFrame {
            frame,
            reason: "cut".into(),
        };
        let outcomes = vec![
            FrameOutcome::Done(0),
            FrameOutcome::Skipped(skip(1)),
            FrameOutcome::Done(2),
            FrameOutcome::Skipped(skip(3)),
        ];
        assert_eq!(
            split_outcomes(outcomes),
            (vec![0, 2], vec![skip(1), skip(3)])
        );
    }
}
