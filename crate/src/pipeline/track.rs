//! Stage 3, track: objects with ids that persist across frames.
//!
//! Until the SAM 2 video predictor lands, tracks join the masks of
//! consecutive detection frames ([`associate`]): each object of a frame takes
//! the id of the object of the previous labelled frame of its class whose mask
//! overlaps it most (mask IoU at least `min_iou`, each id taken once, best
//! pairs first); the others start new tracks. Objects whose mask came out
//! empty (SAM 2 saw nothing) keep their detection box and no mask. The data
//! type and the stage's place are those propagation will fill.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::segment::{FrameMasks, SegmentOutput};
use super::skipped::SkippedFrame;
use crate::labels::{Box2, Rle};

/// How tracks are made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrackSettings {
    /// Least mask IoU (boxes when either mask is empty) for a detection to
    /// continue a track.
    pub min_iou: f64,
    /// With propagation: a track not re-detected on this many keyframes in a
    /// row, and absent (object score ≤ 0), is retired.
    pub retire_after: usize,
    /// With propagation: frames a new track is carried backward from the
    /// keyframe it was first detected on ("label from the future").
    pub backfill: usize,
}

impl Default for TrackSettings {
    fn default() -> Self {
        TrackSettings {
            min_iou: 0.3,
            retire_after: 2,
            backfill: 6,
        }
    }
}

/// One object of one frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackedObject {
    /// From 1, stable across the clip.
    pub track_id: u64,
    pub class: String,
    /// `[x0, y0, x1, y1]`: the mask's bounds, or the detection box when the
    /// mask is empty.
    #[serde(rename = "box")]
    pub bbox: Box2,
    pub score: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mask: Option<Rle>,
}

/// The tracked objects of one frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameTracks {
    pub frame: usize,
    pub width: u32,
    pub height: u32,
    pub objects: Vec<TrackedObject>,
}

/// One track's extent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackSummary {
    pub track_id: u64,
    pub class: String,
    pub first_frame: usize,
    pub last_frame: usize,
    /// Frames it has an object on.
    pub frames: usize,
}

/// `tracks.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackOutput {
    /// How the tracks were made (`"keyframe-association"`).
    pub method: String,
    pub frames: Vec<FrameTracks>,
    pub tracks: Vec<TrackSummary>,
    /// Frames between the keyframes that did not decode, so were left out of
    /// propagation (none in `frames`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<SkippedFrame>,
}

impl TrackOutput {
    /// Tracks carried through every frame by SAM 2's video predictor; the
    /// frames left out because they did not decode in `skipped`.
    pub fn propagated(frames: Vec<FrameTracks>, skipped: Vec<SkippedFrame>) -> Self {
        let tracks = summaries(&frames);
        TrackOutput {
            method: "sam2-propagation".into(),
            frames,
            tracks,
            skipped,
        }
    }

    /// The same tracks made of other frames (a review's): the summaries are
    /// counted again, the method and the skipped frames kept.
    pub fn with_frames(&self, frames: Vec<FrameTracks>) -> Self {
        TrackOutput {
            method: self.method.clone(),
            tracks: summaries(&frames),
            frames,
            skipped: self.skipped.clone(),
        }
    }

    /// Every object, with its frame.
    pub fn objects(&self) -> impl Iterator<Item = (&FrameTracks, &TrackedObject)> {
        self.frames
            .iter()
            .flat_map(|f| f.objects.iter().map(move |o| (f, o)))
    }
}

/// Joins the segmented frames into tracks (frames in clip order).
pub fn associate(masks: &SegmentOutput, settings: &TrackSettings) -> TrackOutput {
    let mut next_id = 1;
    let mut frames: Vec<FrameTracks> = Vec::with_capacity(masks.frames.len());
    for f in &masks.frames {
        let objects = tracked_objects(f);
        let previous = frames.last().map_or(&[][..], |p| p.objects.as_slice());
        let ids = assign_ids(previous, &objects, settings.min_iou, &mut next_id);
        let objects = objects
            .into_iter()
            .zip(ids)
            .map(|(o, track_id)| TrackedObject { track_id, ..o })
            .collect();
        frames.push(FrameTracks {
            frame: f.frame,
            width: f.width,
            height: f.height,
            objects,
        });
    }
    let tracks = summaries(&frames);
    TrackOutput {
        method: "keyframe-association".into(),
        frames,
        tracks,
        skipped: Vec::new(),
    }
}

/// A frame's objects, id 0 for now.
fn tracked_objects(f: &FrameMasks) -> Vec<TrackedObject> {
    f.objects
        .iter()
        .map(|o| {
            let empty = o.mask.area() == 0;
            TrackedObject {
                track_id: 0,
                class: o.class.clone(),
                bbox: if empty {
                    o.prompt.bbox.unwrap_or_default()
                } else {
                    o.mask.to_xyxy()
                },
                score: o.score,
                mask: (!empty).then(|| o.mask.clone()),
            }
        })
        .collect()
}

/// Ids for `current`: best-overlapping pairs with `previous` first.
fn assign_ids(
    previous: &[TrackedObject],
    current: &[TrackedObject],
    min_iou: f64,
    next_id: &mut u64,
) -> Vec<u64> {
    let mut pairs: Vec<(f64, usize, usize)> = Vec::new();
    for (i, c) in current.iter().enumerate() {
        for (j, p) in previous.iter().enumerate() {
            if p.class == c.class {
                let iou = overlap(p, c);
                if iou >= min_iou && iou > 0.0 {
                    pairs.push((iou, i, j));
                }
            }
        }
    }
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let mut ids = vec![0; current.len()];
    let mut taken = vec![false; previous.len()];
    for (_, i, j) in pairs {
        if ids[i] == 0 && !taken[j] {
            ids[i] = previous[j].track_id;
            taken[j] = true;
        }
    }
    for id in ids.iter_mut().filter(|id| **id == 0) {
        *id = *next_id;
        *next_id += 1;
    }
    ids
}

/// A one-to-one assignment of rows to columns of least total cost
/// (Kuhn–Munkres, O(n²m)); `None` for a row left over when there are more
/// rows than columns.
pub fn hungarian(cost: &[Vec<f64>]) -> Vec<Option<usize>> {
    let n = cost.len();
    let m = cost.first().map_or(0, Vec::len);
    if n == 0 || m == 0 {
        return vec![None; n];
    }
    if n > m {
        let transposed: Vec<Vec<f64>> = (0..m)
            .map(|j| (0..n).map(|i| cost[i][j]).collect())
            .collect();
        let mut rows = vec![None; n];
        for (j, i) in hungarian(&transposed).into_iter().enumerate() {
            if let Some(i) = i {
                rows[i] = Some(j);
            }
        }
        return rows;
    }
    let (mut u, mut v) = (vec![0.0; n + 1], vec![0.0; m + 1]);
    let (mut p, mut way) = (vec![0usize; m + 1], vec![0usize; m + 1]);
    for i in 1..=n {
        p[0] = i;
        let mut j0 = 0;
        let mut min_v = vec![f64::INFINITY; m + 1];
        let mut used = vec![false; m + 1];
        loop {
            used[j0] = true;
            let i0 = p[j0];
            let (mut delta, mut j1) = (f64::INFINITY, 0);
            for j in 1..=m {
                if !used[j] {
                    let reduced = cost[i0 - 1][j - 1] - u[i0] - v[j];
                    if reduced < min_v[j] {
                        min_v[j] = reduced;
                        way[j] = j0;
                    }
                    if min_v[j] < delta {
                        delta = min_v[j];
                        j1 = j;
                    }
                }
            }
            for j in 0..=m {
                if used[j] {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    min_v[j] -= delta;
                }
            }
            j0 = j1;
            if p[j0] == 0 {
                break;
            }
        }
        loop {
            let j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    let mut rows = vec![None; n];
    for j in 1..=m {
        if p[j] != 0 {
            rows[p[j] - 1] = Some(j - 1);
        }
    }
    rows
}

/// Mask IoU, or box IoU when either has no mask.
pub(crate) fn overlap(a: &TrackedObject, b: &TrackedObject) -> f64 {
    match (&a.mask, &b.mask) {
        (Some(ma), Some(mb)) if ma.height() == mb.height() && ma.width() == mb.width() => {
            Rle::iou(mb, ma, false)
        }
        _ => super::detect::box_iou(a.bbox, b.bbox),
    }
}

fn summaries(frames: &[FrameTracks]) -> Vec<TrackSummary> {
    let mut by_id: BTreeMap<u64, TrackSummary> = BTreeMap::new();
    for f in frames {
        for o in &f.objects {
            by_id
                .entry(o.track_id)
                .and_modify(|t| {
                    t.last_frame = f.frame;
                    t.frames += 1;
                })
                .or_insert(TrackSummary {
                    track_id: o.track_id,
                    class: o.class.clone(),
                    first_frame: f.frame,
                    last_frame: f.frame,
                    frames: 1,
                });
        }
    }
    by_id.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::Mask;
    use crate::labels::Prompt;
    use crate::pipeline::segment::MaskedObject;

    #[test]
    fn hungarian_finds_the_cheapest_one_to_one_assignment() {
        // Greedy takes (0, 0) at 0.1 and must then pay 0.9 + 0.9; the best is 0.2 + 0.3.
        let cost = vec![vec![0.1, 0.2], vec![0.3, 0.9]];
        assert_eq!(hungarian(&cost), vec![Some(1), Some(0)]);
        let wide = vec![vec![0.5, 0.1, 0.9]];
        assert_eq!(hungarian(&wide), vec![Some(1)]);
        let tall = vec![vec![0.5], vec![0.1], vec![0.9]];
        assert_eq!(hungarian(&tall), vec![None, Some(0), None]);
        assert_eq!(hungarian(&[]), Vec::<Option<usize>>::new());
    }

    fn object(class: &str, x0: u32, x1: u32) -> MaskedObject {
        let mask = Mask::from_fn(40, 10, |x, y| (x0..x1).contains(&x) && y < 5);
        MaskedObject {
            detection: 0,
            class: class.into(),
            score: 0.9,
            mask: Rle::encode(&mask),
            iou_score: 0.9,
            object_score: 1.0,
            prompt: Prompt {
                bbox: Some([f64::from(x0), 0.0, f64::from(x1), 5.0]),
                points: Vec::new(),
            },
            occluder: None,
        }
    }

    fn frame(index: usize, objects: Vec<MaskedObject>) -> FrameMasks {
        FrameMasks {
            frame: index,
            width: 40,
            height: 10,
            objects,
        }
    }

    #[test]
    fn overlapping_masks_of_a_class_keep_their_id() {
        let masks = SegmentOutput::new(vec![
            frame(0, vec![object("car", 0, 10), object("bus", 20, 30)]),
            frame(
                6,
                vec![
                    object("bus", 22, 32),
                    object("car", 2, 12),
                    object("car", 30, 40),
                ],
            ),
            frame(12, vec![object("car", 4, 14), object("car", 0, 0)]),
        ]);
        let t = associate(&masks, &TrackSettings::default());
        let ids: Vec<Vec<u64>> = t
            .frames
            .iter()
            .map(|f| f.objects.iter().map(|o| o.track_id).collect())
            .collect();
        assert_eq!(ids, vec![vec![1, 2], vec![2, 1, 3], vec![1, 4]]);
        assert_eq!(t.tracks.len(), 4);
        assert_eq!((t.tracks[0].first_frame, t.tracks[0].last_frame), (0, 12));
        let empty = &t.frames[2].objects[1];
        assert!(empty.mask.is_none());
        assert_eq!(empty.bbox, [0.0, 0.0, 0.0, 5.0]);
    }

    #[test]
    fn another_class_never_continues_a_track() {
        let masks = SegmentOutput::new(vec![
            frame(0, vec![object("car", 0, 10)]),
            frame(1, vec![object("truck", 0, 10)]),
        ]);
        let t = associate(&masks, &TrackSettings::default());
        assert_eq!(t.frames[1].objects[0].track_id, 2);
    }
}
