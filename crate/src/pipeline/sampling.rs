//! Frame sampling, defined once for every kind of clip: which frames of a
//! clip are labelled, and on which of them the detector runs.
//!
//! Steps, in order: the frame range `[start, end)`; at most `fps` frames per
//! second (by timestamp: the first frame of each `1/fps` interval counted
//! from the range's first frame); at most `max_frames` frames. Among the frames taken,
//! detection runs on the clip's keyframes (nuScenes and the demo scene: the
//! annotated 2 Hz samples) unless `every` is given, else on every `every`-th
//! frame taken, starting with the first. A frame keeps its clip index, so
//! frame `i` is the same frame in every output, in the page and in
//! `autolabel eval`.

use serde::{Deserialize, Serialize};

use crate::data::clip::FrameInfo;

/// Detection on every this many frames when neither `every` nor keyframes say.
pub const DEFAULT_EVERY: usize = 6;

/// How frames are taken from a clip.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Sampling {
    /// First frame (clip index).
    pub start: usize,
    /// One past the last frame (`None`: to the end).
    pub end: Option<usize>,
    /// Take at most this many frames per second (`None`: every frame).
    pub fps: Option<f64>,
    /// Take at most this many frames.
    pub max_frames: Option<usize>,
    /// Detect on every `every`-th frame taken (`None`: on the keyframes of a
    /// clip that has them, else every [`DEFAULT_EVERY`]-th).
    pub every: Option<usize>,
}

/// A frame taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sampled {
    /// Its clip index.
    pub index: usize,
    /// Whether the detector runs on it.
    pub detect: bool,
}

/// Settings that select nothing or make no sense.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SamplingError {
    #[error("the clip has no frames")]
    EmptyClip,
    #[error("frame range {start}..{end} selects no frame of a {len}-frame clip")]
    EmptyRange {
        start: usize,
        end: usize,
        len: usize,
    },
    #[error("--fps {0}: must be a positive number")]
    Fps(f64),
    #[error("--max-frames 0 selects no frame")]
    MaxFrames,
    #[error("--every 0: must be at least 1")]
    Every,
}

impl Sampling {
    /// The frames taken from a clip with these `infos`.
    pub fn select(&self, infos: &[FrameInfo]) -> Result<Vec<Sampled>, SamplingError> {
        self.check()?;
        if infos.is_empty() {
            return Err(SamplingError::EmptyClip);
        }
        let end = self.end.unwrap_or(infos.len()).min(infos.len());
        if self.start >= end {
            return Err(SamplingError::EmptyRange {
                start: self.start,
                end,
                len: infos.len(),
            });
        }
        let taken = self.by_rate(&infos[self.start..end]);
        let taken = &taken[..taken.len().min(self.max_frames.unwrap_or(usize::MAX))];
        let use_keyframes = self.every.is_none() && taken.iter().any(|f| f.is_key_frame);
        let every = self.every.unwrap_or(DEFAULT_EVERY);
        let sampled: Vec<Sampled> = taken
            .iter()
            .enumerate()
            .map(|(k, f)| Sampled {
                index: f.index,
                detect: if use_keyframes {
                    f.is_key_frame
                } else {
                    k % every == 0
                },
            })
            .collect();
        Ok(sampled)
    }

    fn check(&self) -> Result<(), SamplingError> {
        match (self.fps, self.max_frames, self.every) {
            (Some(fps), _, _) if !(fps.is_finite() && fps > 0.0) => Err(SamplingError::Fps(fps)),
            (_, Some(0), _) => Err(SamplingError::MaxFrames),
            (_, _, Some(0)) => Err(SamplingError::Every),
            _ => Ok(()),
        }
    }

    /// The first frame of each `1/fps` interval from the first frame's
    /// time (1 % slack: timestamps rounded to µs fall a hair short).
    fn by_rate<'a>(&self, infos: &'a [FrameInfo]) -> Vec<&'a FrameInfo> {
        let (Some(fps), Some(first)) = (self.fps, infos.first()) else {
            return infos.iter().collect();
        };
        let period_us = 1e6 / fps;
        let mut last: Option<i64> = None;
        infos
            .iter()
            .filter(|f| {
                let slot = ((f.timestamp_us - first.timestamp_us) as f64 / period_us + 0.01).floor()
                    as i64;
                let take = last.is_none_or(|l| slot > l);
                if take {
                    last = Some(slot);
                }
                take
            })
            .collect()
    }
}

/// The clip indices the detector runs on.
pub fn detection_frames(sampled: &[Sampled]) -> Vec<usize> {
    sampled
        .iter()
        .filter(|s| s.detect)
        .map(|s| s.index)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn infos(n: usize, period_us: i64, key_every: usize) -> Vec<FrameInfo> {
        (0..n)
            .map(|index| FrameInfo {
                index,
                timestamp_us: index as i64 * period_us,
                name: format!("f{index}.jpg"),
                is_key_frame: key_every > 0 && index % key_every == 0,
            })
            .collect()
    }

    #[test]
    fn keyframes_are_detected_unless_every_is_given() {
        let clip = infos(13, 83_333, 6);
        let s = Sampling::default().select(&clip).unwrap();
        assert_eq!(s.len(), 13);
        assert_eq!(detection_frames(&s), [0, 6, 12]);
        let every = Sampling {
            every: Some(4),
            ..Sampling::default()
        };
        assert_eq!(
            detection_frames(&every.select(&clip).unwrap()),
            [0, 4, 8, 12]
        );
    }

    #[test]
    fn a_video_detects_every_sixth_frame_by_default() {
        let s = Sampling::default().select(&infos(20, 33_333, 0)).unwrap();
        assert_eq!(detection_frames(&s), [0, 6, 12, 18]);
    }

    #[test]
    fn range_rate_and_cap_keep_clip_indices() {
        let clip = infos(100, 33_333, 0); // 30 fps
        let s = Sampling {
            start: 10,
            end: Some(70),
            fps: Some(10.0),
            max_frames: Some(5),
            every: Some(2),
        }
        .select(&clip)
        .unwrap();
        let indices: Vec<usize> = s.iter().map(|f| f.index).collect();
        assert_eq!(indices, [10, 13, 16, 19, 22]);
        assert_eq!(detection_frames(&s), [10, 16, 22]);
    }

    #[test]
    fn impossible_settings_are_refused() {
        let clip = infos(10, 1000, 0);
        let with = |f: fn(&mut Sampling)| {
            let mut s = Sampling::default();
            f(&mut s);
            s.select(&clip).unwrap_err()
        };
        assert_eq!(with(|s| s.fps = Some(0.0)), SamplingError::Fps(0.0));
        assert_eq!(with(|s| s.max_frames = Some(0)), SamplingError::MaxFrames);
        assert_eq!(with(|s| s.every = Some(0)), SamplingError::Every);
        assert!(matches!(
            with(|s| s.start = 10),
            SamplingError::EmptyRange { .. }
        ));
        assert_eq!(
            Sampling::default().select(&[]),
            Err(SamplingError::EmptyClip)
        );
    }
}
