//! Stage 6, outputs: the labels in the formats other tools read — a COCO
//! dataset (boxes, polygons or RLE, track ids), MOTChallenge tracks, the
//! training ZIP of resized images and the frames of the propagation video.
//! Writing the bytes to files is the caller's.

use std::fmt::Write;

use image::RgbImage;
use serde::Serialize;

use super::PipelineError;
use super::review::{LabelId, Reviewed};
use super::track::{FrameTracks, TrackOutput};
use crate::data::clip::{Clip, FrameInfo};
use crate::export::archive::{ZipOptions, training_zip};
use crate::export::coco::{
    CocoDataset, DatasetBuilder, Exported, LabelledFrame, LabelledObject, SegmentationFormat,
};
use crate::export::overlay::{OverlayObject, draw};
use crate::labels::Mask;

/// `labels.json`: every tracked object as a COCO annotation (`image_id` =
/// clip index, `file_name` = the frame's name in the clip, polygons — or RLE
/// for masks with holes — plus `score` and `track_id`).
pub fn labels_dataset(
    tracks: &TrackOutput,
    infos: &[FrameInfo],
    class_table: &[String],
) -> Result<Exported, PipelineError> {
    dataset_of(tracks, infos, class_table, None)
}

/// `labels.json` after a review: the reviewed tracks, every annotation with
/// `reviewed` (accepted or fixed by a person, or not), and the review's
/// counts in `info.review`.
pub fn reviewed_labels_dataset(
    reviewed: &Reviewed,
    infos: &[FrameInfo],
    class_table: &[String],
) -> Result<Exported, PipelineError> {
    let mut exported = dataset_of(&reviewed.tracks, infos, class_table, Some(reviewed))?;
    let s = reviewed.summary;
    exported.dataset.info = Some(serde_json::json!({
        "description": "autolabel export, reviewed",
        "review": {
            "accepted": s.accepted,
            "deleted": s.deleted,
            "tracks_deleted": s.tracks_deleted,
            "fixed": s.fixed,
            "labels_removed": s.labels_removed,
        },
    }));
    Ok(exported)
}

fn dataset_of(
    tracks: &TrackOutput,
    infos: &[FrameInfo],
    class_table: &[String],
    review: Option<&Reviewed>,
) -> Result<Exported, PipelineError> {
    // A frame's masks are decoded when it is added and dropped after: the
    // whole clip's would be a byte a pixel for every label.
    let mut dataset = DatasetBuilder::new(class_table, SegmentationFormat::Auto);
    for f in &tracks.frames {
        dataset.push(&labelled_frame(f, infos, review)?)?;
    }
    Ok(dataset.finish())
}

fn labelled_frame(
    f: &FrameTracks,
    infos: &[FrameInfo],
    review: Option<&Reviewed>,
) -> Result<LabelledFrame, PipelineError> {
    let info = infos.get(f.frame).ok_or_else(|| PipelineError::Frame {
        frame: f.frame,
        message: format!("not in the clip ({} frames)", infos.len()),
    })?;
    Ok(LabelledFrame {
        image_id: f.frame as i64,
        file_name: info.name.clone(),
        width: f.width,
        height: f.height,
        objects: f
            .objects
            .iter()
            .map(|o| LabelledObject {
                class: o.class.clone(),
                bbox: o.bbox,
                score: Some(o.score),
                track_id: Some(o.track_id as i64),
                reviewed: review.map(|r| {
                    r.reviewed.contains(&LabelId {
                        frame: f.frame,
                        track_id: o.track_id,
                    })
                }),
                mask: o.mask.as_ref().map(|m| m.decode()),
            })
            .collect(),
    })
}

/// `tracks.txt` in the MOTChallenge format, one object a line:
/// `frame,id,x,y,w,h,score,-1,-1,-1` with `frame` = clip index + 1 (MOT
/// counts frames from 1).
pub fn mot_lines(tracks: &TrackOutput) -> String {
    let mut out = String::new();
    for (f, o) in tracks.objects() {
        let [x0, y0, x1, y1] = o.bbox;
        // Writing to a String cannot fail.
        let _ = writeln!(
            out,
            "{},{},{:.2},{:.2},{:.2},{:.2},{:.4},-1,-1,-1",
            f.frame + 1,
            o.track_id,
            x0,
            y0,
            x1 - x0,
            y1 - y0,
            o.score
        );
    }
    out
}

/// The training ZIP of a labels dataset, its images decoded from the clip.
pub fn training_archive(
    clip: &mut Clip,
    labels: &CocoDataset,
    options: &ZipOptions,
) -> Result<Vec<u8>, PipelineError> {
    Ok(training_zip(labels, options, |image| {
        let index = usize::try_from(image.id).map_err(|e| e.to_string())?;
        clip.frame(index).map(|f| f.rgb).map_err(|e| e.to_string())
    })?)
}

/// Draws a frame's tracked objects (mask tint, box, class and id) over it.
pub fn draw_tracks(frame: &mut RgbImage, tracks: &FrameTracks) {
    let masks: Vec<Option<Mask>> = tracks
        .objects
        .iter()
        .map(|o| o.mask.as_ref().map(|m| m.decode()))
        .collect();
    let objects: Vec<OverlayObject> = tracks
        .objects
        .iter()
        .zip(&masks)
        .map(|(o, mask)| OverlayObject {
            bbox: o.bbox,
            mask: mask.as_ref(),
            track_id: o.track_id,
            label: &o.class,
        })
        .collect();
    draw(frame, &objects);
}

/// What the propagation video shows: the labelled frames (clip indices, in
/// order) at their own rate, and the frame size.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VideoPlan {
    pub frames: Vec<usize>,
    pub fps: f64,
    pub width: u32,
    pub height: u32,
}

/// The propagation video's frames and rate ([`frame_rate`] of the labelled
/// frames' timestamps); an error when no frame is labelled.
pub fn video_plan(tracks: &TrackOutput, infos: &[FrameInfo]) -> Result<VideoPlan, PipelineError> {
    let first = tracks.frames.first().ok_or_else(|| PipelineError::Frame {
        frame: 0,
        message: "propagation video: no labelled frame".into(),
    })?;
    let timestamps = tracks
        .frames
        .iter()
        .map(|f| {
            infos
                .get(f.frame)
                .map(|i| i.timestamp_us)
                .ok_or_else(|| PipelineError::Frame {
                    frame: f.frame,
                    message: format!("not in the clip ({} frames)", infos.len()),
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(VideoPlan {
        frames: tracks.frames.iter().map(|f| f.frame).collect(),
        fps: frame_rate(&timestamps),
        width: first.width,
        height: first.height,
    })
}

/// Frames per second of frames stamped `timestamps_us` (the median step;
/// 2 fps, nuScenes' keyframe rate, for fewer than two frames or no step).
pub fn frame_rate(timestamps_us: &[i64]) -> f64 {
    let mut steps: Vec<i64> = timestamps_us
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|&d| d > 0)
        .collect();
    steps.sort_unstable();
    match steps.get(steps.len() / 2) {
        Some(&median) => 1e6 / median as f64,
        None => 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::Rle;
    use crate::pipeline::track::TrackedObject;

    fn tracks() -> TrackOutput {
        let mask = Mask::from_fn(20, 10, |x, y| (2..6).contains(&x) && (1..4).contains(&y));
        TrackOutput {
            method: "keyframe-association".into(),
            frames: vec![FrameTracks {
                frame: 6,
                width: 20,
                height: 10,
                objects: vec![TrackedObject {
                    track_id: 3,
                    class: "bus".into(),
                    bbox: [2.0, 1.0, 6.0, 4.0],
                    score: 0.5,
                    mask: Some(Rle::encode(&mask)),
                }],
            }],
            tracks: Vec::new(),
            skipped: Vec::new(),
        }
    }

    #[test]
    fn frame_rate_is_the_median_step() {
        assert_eq!(frame_rate(&[0, 500_000, 1_000_000, 2_000_000]), 2.0);
        assert_eq!(frame_rate(&[7]), 2.0);
    }

    #[test]
    fn mot_counts_frames_from_one() {
        assert_eq!(
            mot_lines(&tracks()),
            "7,3,2.00,1.00,4.00,3.00,0.5000,-1,-1,-1\n"
        );
    }

    /// Frames `0..n`, stamped every half second.
    fn infos(n: usize) -> Vec<FrameInfo> {
        (0..n)
            .map(|index| FrameInfo {
                index,
                timestamp_us: index as i64 * 500_000,
                name: format!("f{index}.jpg"),
                is_key_frame: false,
            })
            .collect()
    }

    #[test]
    fn the_video_shows_the_labelled_frames_at_their_rate() {
        let mut t = tracks();
        let mut second = t.frames[0].clone();
        second.frame = 10;
        t.frames.push(second);
        let plan = video_plan(&t, &infos(11)).unwrap();
        assert_eq!(plan.frames, [6, 10]);
        assert_eq!(plan.fps, 0.5, "one step of 4 frames × 0.5 s");
        assert_eq!((plan.width, plan.height), (20, 10));
        assert!(
            video_plan(&t, &infos(7)).is_err(),
            "frame 10 is not in the clip"
        );
        t.frames.clear();
        assert!(video_plan(&t, &infos(11)).is_err(), "no labelled frame");
    }

    #[test]
    fn labels_carry_class_track_and_polygon() {
        let infos = infos(7);
        let table = vec!["car".to_string(), "bus".to_string()];
        let ds = labels_dataset(&tracks(), &infos, &table).unwrap().dataset;
        assert_eq!(ds.images[0].file_name, "f6.jpg");
        let a = &ds.annotations[0];
        assert_eq!((a.image_id, a.category_id, a.track_id), (6, 2, Some(3)));
        assert_eq!(a.area, Some(12.0));
        assert!(labels_dataset(&tracks(), &infos[..3], &table).is_err());
    }

    #[test]
    fn reviewed_labels_carry_the_flag_and_the_counts() {
        use crate::pipeline::review::{Decision, Edit, Review};
        let mut t = tracks();
        let mut other = t.frames[0].objects[0].clone();
        other.track_id = 4;
        t.frames[0].objects.push(other);
        let table = vec!["car".to_string(), "bus".to_string()];
        let mut review = Review::default();
        let accept = Edit {
            frame: 6,
            track_id: 3,
            decision: Decision::Accept,
        };
        review.decide(accept, &t, &table).unwrap();
        let reviewed = review.apply(&t).unwrap();
        let ds = reviewed_labels_dataset(&reviewed, &infos(7), &table)
            .unwrap()
            .dataset;
        let flags: Vec<_> = ds
            .annotations
            .iter()
            .map(|a| (a.track_id, a.reviewed))
            .collect();
        assert_eq!(flags, [(Some(3), Some(true)), (Some(4), Some(false))]);
        let info = ds.info.unwrap();
        assert_eq!(info["review"]["accepted"], 1);
        let plain = labels_dataset(&t, &infos(7), &table).unwrap().dataset;
        assert!(plain.annotations.iter().all(|a| a.reviewed.is_none()));
        let text = serde_json::to_string(&plain).unwrap();
        assert!(!text.contains("reviewed"), "no review: no flag");
    }
}
