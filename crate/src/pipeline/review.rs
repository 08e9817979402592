//! The QA queue — a labelling tool's review loop: a person steps through the
//! run's labels, hardest first, and accepts, deletes or fixes each (another
//! box or class, and a mask SAM 2 makes again from the box and the points the
//! person adds). The decisions are data ([`Review`], `review.json`); applied
//! to the tracks ([`Review::apply`]) they give the labels the exports carry,
//! each with a `reviewed` flag. The evaluation and the report stay the
//! automatic labels': they say how far automatic labels can be trusted.
//!
//! Hardest first ([`queue`]): on a clip with ground truth, the labels the
//! evaluation's failure queue names (a false positive, a class confusion, a
//! merged box, …) in its order; then every other label by ascending score,
//! the ones the detector was least sure of first.

use std::collections::{BTreeSet, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::PipelineError;
use super::track::{FrameTracks, TrackOutput, TrackedObject};
use crate::data::frame::Frame;
use crate::eval::failures::{FailureKind, FailureQueue};
use crate::labels::prompt::PromptError;
use crate::labels::{Box2, Prompt, Rle};
use crate::models::sam2::{self, Sam2ImagePredictor};

/// One label of a run: a track's object on a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LabelId {
    pub frame: usize,
    pub track_id: u64,
}

impl LabelId {
    fn of(frame: &FrameTracks, object: &TrackedObject) -> Self {
        LabelId {
            frame: frame.frame,
            track_id: object.track_id,
        }
    }
}

impl std::fmt::Display for LabelId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "frame {} track {}", self.frame, self.track_id)
    }
}

/// A label in the queue, and why it is there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueItem {
    #[serde(flatten)]
    pub label: LabelId,
    pub class: String,
    /// `[x0, y0, x1, y1]`, pixels.
    #[serde(rename = "box")]
    pub bbox: Box2,
    pub score: f64,
    /// The evaluation's failure kind for this label (clips with ground truth).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<FailureKind>,
    /// Why it is in the queue, for people.
    pub reason: String,
}

/// Every label of `tracks`, hardest first: those `failures` (the whole
/// failure queue of the evaluation) names, in its order, then the others by
/// ascending score (ties by frame and track).
pub fn queue(tracks: &TrackOutput, failures: Option<&FailureQueue>) -> Vec<QueueItem> {
    let objects: HashMap<LabelId, &TrackedObject> = tracks
        .objects()
        .map(|(f, o)| (LabelId::of(f, o), o))
        .collect();
    let mut items = Vec::new();
    let mut queued = HashSet::new();
    for case in failures.iter().flat_map(|q| &q.cases) {
        let (Some(track_id), Ok(frame)) = (
            case.track_id.and_then(|t| u64::try_from(t).ok()),
            usize::try_from(case.image_id),
        ) else {
            continue;
        };
        let label = LabelId { frame, track_id };
        if let Some(o) = objects.get(&label)
            && queued.insert(label)
        {
            items.push(item(label, o, Some(case.kind), case.reason.clone()));
        }
    }
    let mut rest: Vec<(LabelId, &TrackedObject)> = tracks
        .objects()
        .map(|(f, o)| (LabelId::of(f, o), o))
        .filter(|(label, _)| !queued.contains(label))
        .collect();
    rest.sort_by(|a, b| a.1.score.total_cmp(&b.1.score).then(a.0.cmp(&b.0)));
    items.extend(rest.into_iter().map(|(label, o)| {
        let reason = format!("detector score {:.2}", o.score);
        item(label, o, None, reason)
    }));
    items
}

fn item(label: LabelId, o: &TrackedObject, kind: Option<FailureKind>, reason: String) -> QueueItem {
    QueueItem {
        label,
        class: o.class.clone(),
        bbox: o.bbox,
        score: o.score,
        kind,
        reason,
    }
}

/// What a person decided about a label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Decision {
    /// The label is right as it is.
    Accept,
    /// The label is wrong: the exports leave it out.
    Delete,
    /// The whole track is wrong: the exports leave out its label on every
    /// frame (decisions on its other labels no longer count).
    DeleteTrack,
    /// The label corrected.
    Fix(Fix),
}

/// A corrected label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fix {
    pub class: String,
    /// `[x0, y0, x1, y1]`, pixels: the label's box as the person drew it.
    #[serde(rename = "box")]
    pub bbox: Box2,
    /// Points the person added for SAM 2: `[x, y, label]`, label 1 (object)
    /// or 0 (background).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub points: Vec<[f64; 3]>,
    /// SAM 2's mask from the box and the points ([`fix_mask`]). Left out,
    /// the label keeps its mask if the box is unchanged (a class fixed);
    /// otherwise the fix waits for its mask ([`Review::unsegmented`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mask: Option<Rle>,
}

impl Fix {
    /// What SAM 2 is asked for this fix: the box and the points.
    pub fn prompt(&self) -> Prompt {
        Prompt {
            bbox: Some(self.bbox),
            points: self.points.clone(),
        }
    }
}

/// One decision on one label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Edit {
    pub frame: usize,
    pub track_id: u64,
    #[serde(flatten)]
    pub decision: Decision,
}

impl Edit {
    pub fn label(&self) -> LabelId {
        LabelId {
            frame: self.frame,
            track_id: self.track_id,
        }
    }

    /// Refuses a decision about a label the run's `tracks` lack, and a fix
    /// to a class not in `classes` (the class table), a box not inside the
    /// frame, points that are not points or a mask of another size.
    pub fn check(&self, tracks: &TrackOutput, classes: &[String]) -> Result<(), ReviewError> {
        let label = self.label();
        let frame = tracks
            .frames
            .iter()
            .find(|f| {
                f.frame == label.frame && f.objects.iter().any(|o| o.track_id == label.track_id)
            })
            .ok_or(ReviewError::NoLabel(label))?;
        match &self.decision {
            Decision::Fix(fix) => check_fix(label, fix, frame, classes),
            _ => Ok(()),
        }
    }

    /// The fix, when this is a fix that moves the label's box and has no
    /// mask yet: SAM 2 has to segment it ([`fix_mask`]).
    pub fn fix_to_segment(&self, tracks: &TrackOutput) -> Option<&Fix> {
        let Decision::Fix(fix) = &self.decision else {
            return None;
        };
        let label = self.label();
        let unchanged = tracks
            .objects()
            .any(|(f, o)| LabelId::of(f, o) == label && o.bbox == fix.bbox);
        (fix.mask.is_none() && !unchanged).then_some(fix)
    }
}

/// A decision the tracks cannot take.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReviewError {
    #[error("{0}: no such label in the run")]
    NoLabel(LabelId),
    #[error("{label}: class '{class}' is not one of {classes}")]
    Class {
        label: LabelId,
        class: String,
        classes: String,
    },
    #[error(
        "{label}: box {bbox:?} is not [x0, y0, x1, y1] with x0 < x1 and y0 < y1 inside the \
         {width}×{height} frame"
    )]
    Box {
        label: LabelId,
        bbox: Box2,
        width: u32,
        height: u32,
    },
    #[error("{label}: the mask is {mask_width}×{mask_height}, the frame {width}×{height}")]
    MaskSize {
        label: LabelId,
        mask_width: u32,
        mask_height: u32,
        width: u32,
        height: u32,
    },
    #[error("{label}: {source}")]
    Points { label: LabelId, source: PromptError },
    #[error(
        "{0}: the fix moves the box but has no mask yet: SAM 2 has to segment it (the page does; \
         `autolabel run --review` does with its --segmenter)"
    )]
    Unsegmented(LabelId),
}

/// How many labels each decision touched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ReviewSummary {
    pub accepted: usize,
    pub deleted: usize,
    pub tracks_deleted: usize,
    pub fixed: usize,
    /// Labels the exports leave out: the deleted ones and every label of a
    /// deleted track.
    pub labels_removed: usize,
}

/// The labels after review: what the exports carry.
#[derive(Debug, Clone, PartialEq)]
pub struct Reviewed {
    pub tracks: TrackOutput,
    /// The labels a person accepted or fixed.
    pub reviewed: BTreeSet<LabelId>,
    pub summary: ReviewSummary,
}

/// `review.json`: one decision per label, the last one made.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Review {
    pub edits: Vec<Edit>,
}

impl Review {
    /// Records `edit` after checking it against the run's `tracks` and
    /// `classes` (the class table); it replaces an earlier decision on the
    /// same label.
    pub fn decide(
        &mut self,
        edit: Edit,
        tracks: &TrackOutput,
        classes: &[String],
    ) -> Result<(), ReviewError> {
        edit.check(tracks, classes)?;
        self.undo(edit.label());
        self.edits.push(edit);
        Ok(())
    }

    /// Forgets the decision on `label`; whether there was one.
    pub fn undo(&mut self, label: LabelId) -> bool {
        let before = self.edits.len();
        self.edits.retain(|e| e.label() != label);
        self.edits.len() != before
    }

    /// Checks every decision (a `review.json` read from a file) against the
    /// run's tracks and class table; the first problem is the error.
    pub fn check(&self, tracks: &TrackOutput, classes: &[String]) -> Result<(), ReviewError> {
        self.edits
            .iter()
            .try_for_each(|edit| edit.check(tracks, classes))
    }

    /// The fixes that move a box and have no mask yet, in order.
    pub fn unsegmented(&self, tracks: &TrackOutput) -> Vec<(LabelId, Fix)> {
        self.edits
            .iter()
            .filter_map(|e| Some((e.label(), e.fix_to_segment(tracks)?.clone())))
            .collect()
    }

    /// Gives the fix of `label` its mask; whether there was such a fix.
    pub fn set_mask(&mut self, label: LabelId, mask: Rle) -> bool {
        self.edits
            .iter_mut()
            .find(|e| e.label() == label)
            .and_then(|e| match &mut e.decision {
                Decision::Fix(fix) => Some(fix),
                _ => None,
            })
            .map(|fix| fix.mask = Some(mask))
            .is_some()
    }

    /// The tracks with every decision applied (deleted labels and tracks
    /// left out, fixes in place), which labels a person reviewed, and the
    /// counts. Fails on a decision about a label the tracks lack or a fix
    /// still without its mask.
    pub fn apply(&self, tracks: &TrackOutput) -> Result<Reviewed, ReviewError> {
        let edits: HashMap<LabelId, &Decision> = self
            .edits
            .iter()
            .map(|e| (e.label(), &e.decision))
            .collect();
        let known: HashSet<LabelId> = tracks.objects().map(|(f, o)| LabelId::of(f, o)).collect();
        if let Some(missing) = edits.keys().find(|l| !known.contains(l)) {
            return Err(ReviewError::NoLabel(*missing));
        }
        let deleted_tracks: HashSet<u64> = self
            .edits
            .iter()
            .filter(|e| e.decision == Decision::DeleteTrack)
            .map(|e| e.track_id)
            .collect();
        let mut summary = ReviewSummary {
            tracks_deleted: deleted_tracks.len(),
            ..ReviewSummary::default()
        };
        let mut reviewed = BTreeSet::new();
        let mut frames = Vec::with_capacity(tracks.frames.len());
        for f in &tracks.frames {
            let mut objects = Vec::with_capacity(f.objects.len());
            for o in &f.objects {
                let label = LabelId::of(f, o);
                if deleted_tracks.contains(&o.track_id) {
                    summary.labels_removed += 1;
                    continue;
                }
                match edits.get(&label) {
                    None => objects.push(o.clone()),
                    Some(Decision::Accept) => {
                        summary.accepted += 1;
                        reviewed.insert(label);
                        objects.push(o.clone());
                    }
                    Some(Decision::Delete | Decision::DeleteTrack) => {
                        summary.deleted += 1;
                        summary.labels_removed += 1;
                    }
                    Some(Decision::Fix(fix)) => {
                        summary.fixed += 1;
                        reviewed.insert(label);
                        objects.push(fixed(label, o, fix)?);
                    }
                }
            }
            frames.push(FrameTracks {
                objects,
                ..f.clone()
            });
        }
        Ok(Reviewed {
            tracks: tracks.with_frames(frames),
            reviewed,
            summary,
        })
    }
}

/// `o` as `fix` corrects it (its score kept).
fn fixed(label: LabelId, o: &TrackedObject, fix: &Fix) -> Result<TrackedObject, ReviewError> {
    let mask = match &fix.mask {
        Some(mask) => Some(mask.clone()),
        None if fix.bbox == o.bbox => o.mask.clone(),
        None => return Err(ReviewError::Unsegmented(label)),
    };
    Ok(TrackedObject {
        track_id: o.track_id,
        class: fix.class.clone(),
        bbox: fix.bbox,
        score: o.score,
        mask,
    })
}

fn check_fix(
    label: LabelId,
    fix: &Fix,
    frame: &FrameTracks,
    classes: &[String],
) -> Result<(), ReviewError> {
    if !classes.contains(&fix.class) {
        return Err(ReviewError::Class {
            label,
            class: fix.class.clone(),
            classes: classes.join(", "),
        });
    }
    let (width, height) = (frame.width, frame.height);
    let [x0, y0, x1, y1] = fix.bbox;
    let inside = fix.bbox.iter().all(|v| v.is_finite())
        && 0.0 <= x0
        && x0 < x1
        && x1 <= f64::from(width)
        && 0.0 <= y0
        && y0 < y1
        && y1 <= f64::from(height);
    if !inside {
        return Err(ReviewError::Box {
            label,
            bbox: fix.bbox,
            width,
            height,
        });
    }
    fix.prompt()
        .check()
        .map_err(|source| ReviewError::Points { label, source })?;
    match &fix.mask {
        Some(m) if (m.width(), m.height()) != (width, height) => Err(ReviewError::MaskSize {
            label,
            mask_width: m.width(),
            mask_height: m.height(),
            width,
            height,
        }),
        _ => Ok(()),
    }
}

/// SAM 2's mask for a fix on its frame: the box and the points as one
/// prompt, one mask.
pub fn fix_mask(
    predictor: &mut Sam2ImagePredictor,
    frame: &Frame,
    fix: &Fix,
) -> Result<Rle, PipelineError> {
    let (width, height) = frame.rgb.dimensions();
    let prompt = sam2::Prompt::try_from(&fix.prompt()).map_err(|e| PipelineError::Frame {
        frame: frame.index,
        message: e.to_string(),
    })?;
    predictor.set_image(frame.rgb.as_raw(), width as usize, height as usize)?;
    let prediction = predictor.predict(&[prompt], false)?;
    prediction
        .first()
        .and_then(|p| p.masks.first())
        .map(Rle::encode)
        .ok_or_else(|| PipelineError::Frame {
            frame: frame.index,
            message: "SAM 2 returned no mask for the fix".into(),
        })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::eval::failures::FailureCase;
    use crate::labels::Mask;

    const W: u32 = 20;
    const H: u32 = 10;

    fn object(track_id: u64, class: &str, score: f64, bbox: Box2) -> TrackedObject {
        let [x0, y0, x1, y1] = bbox.map(|v| v as u32);
        let mask = Mask::from_fn(W, H, |x, y| (x0..x1).contains(&x) && (y0..y1).contains(&y));
        TrackedObject {
            track_id,
            class: class.into(),
            bbox,
            score,
            mask: Some(Rle::encode(&mask)),
        }
    }

    /// Track 1 (a car) on frames 0 and 1, track 2 (a bus) on frame 1.
    fn tracks() -> TrackOutput {
        let frame = |frame, objects| FrameTracks {
            frame,
            width: W,
            height: H,
            objects,
        };
        TrackOutput::propagated(
            vec![
                frame(0, vec![object(1, "car", 0.9, [1.0, 1.0, 5.0, 4.0])]),
                frame(
                    1,
                    vec![
                        object(1, "car", 0.8, [2.0, 1.0, 6.0, 4.0]),
                        object(2, "bus", 0.4, [10.0, 2.0, 18.0, 9.0]),
                    ],
                ),
            ],
            Vec::new(),
        )
    }

    fn classes() -> Vec<String> {
        ["car", "bus"].map(String::from).to_vec()
    }

    fn edit(frame: usize, track_id: u64, decision: Decision) -> Edit {
        Edit {
            frame,
            track_id,
            decision,
        }
    }

    fn fix(class: &str, bbox: Box2) -> Decision {
        Decision::Fix(Fix {
            class: class.into(),
            bbox,
            points: Vec::new(),
            mask: None,
        })
    }

    fn false_positive(frame: i64, track_id: i64) -> FailureCase {
        FailureCase {
            rank: 1,
            kind: FailureKind::FalsePositive,
            priority: 1.0,
            image_id: frame,
            file_name: String::new(),
            gt_id: None,
            gt_class: None,
            gt_box: None,
            prediction: Some(0),
            predicted_class: Some("car".into()),
            predicted_box: None,
            score: Some(0.9),
            track_id: Some(track_id),
            iou: None,
            mask_iou: None,
            area_px2: None,
            distance_m: None,
            visibility: None,
            other_gt_ids: Vec::new(),
            reason: "no object there".into(),
        }
    }

    #[test]
    fn the_queue_puts_failure_cases_first_then_the_least_certain() {
        let label = |i: &QueueItem| (i.label.frame, i.label.track_id);
        let plain = queue(&tracks(), None);
        assert_eq!(
            plain.iter().map(label).collect::<Vec<_>>(),
            [(1, 2), (1, 1), (0, 1)],
            "by ascending score"
        );
        assert_eq!(plain[0].reason, "detector score 0.40");
        let failures = FailureQueue {
            counts: BTreeMap::new(),
            // A case of a track the run does not have is passed over.
            cases: vec![false_positive(0, 1), false_positive(0, 9)],
        };
        let hard = queue(&tracks(), Some(&failures));
        assert_eq!(
            hard.iter().map(label).collect::<Vec<_>>(),
            [(0, 1), (1, 2), (1, 1)]
        );
        assert_eq!(hard[0].kind, Some(FailureKind::FalsePositive));
        assert_eq!(hard[0].reason, "no object there");
        assert_eq!(hard[1].kind, None);
    }

    #[test]
    fn decisions_give_the_reviewed_labels_and_counts() {
        let (tracks, classes) = (tracks(), classes());
        let mut review = Review::default();
        review
            .decide(edit(0, 1, Decision::Accept), &tracks, &classes)
            .unwrap();
        review
            .decide(edit(1, 2, Decision::Delete), &tracks, &classes)
            .unwrap();
        let reviewed = review.apply(&tracks).unwrap();
        assert_eq!(
            reviewed.tracks.frames[1].objects.len(),
            1,
            "the bus is gone"
        );
        assert_eq!(reviewed.tracks.tracks.len(), 1);
        let ids: Vec<_> = reviewed.reviewed.iter().copied().collect();
        assert_eq!(
            ids,
            [LabelId {
                frame: 0,
                track_id: 1
            }]
        );
        assert_eq!(
            reviewed.summary,
            ReviewSummary {
                accepted: 1,
                deleted: 1,
                tracks_deleted: 0,
                fixed: 0,
                labels_removed: 1,
            }
        );
        // A later decision on a label replaces the earlier one.
        review
            .decide(
                edit(1, 2, fix("car", [10.0, 2.0, 18.0, 9.0])),
                &tracks,
                &classes,
            )
            .unwrap();
        assert_eq!(review.edits.len(), 2);
        let reviewed = review.apply(&tracks).unwrap();
        let fixed = &reviewed.tracks.frames[1].objects[1];
        assert_eq!((fixed.class.as_str(), fixed.score), ("car", 0.4));
        assert_eq!(
            fixed.mask, tracks.frames[1].objects[1].mask,
            "box kept: mask kept"
        );
        assert_eq!(reviewed.summary.fixed, 1);
        assert!(review.undo(LabelId {
            frame: 1,
            track_id: 2
        }));
        assert_eq!(review.edits.len(), 1);
    }

    #[test]
    fn deleting_a_track_removes_it_from_every_frame() {
        let (tracks, classes) = (tracks(), classes());
        let mut review = Review::default();
        review
            .decide(edit(1, 1, Decision::Accept), &tracks, &classes)
            .unwrap();
        review
            .decide(edit(0, 1, Decision::DeleteTrack), &tracks, &classes)
            .unwrap();
        let reviewed = review.apply(&tracks).unwrap();
        assert!(reviewed.tracks.objects().all(|(_, o)| o.track_id == 2));
        assert!(
            reviewed.reviewed.is_empty(),
            "the accepted label went with its track"
        );
        assert_eq!(
            (
                reviewed.summary.tracks_deleted,
                reviewed.summary.labels_removed
            ),
            (1, 2)
        );
    }

    #[test]
    fn a_moved_box_waits_for_its_mask() {
        let (tracks, classes) = (tracks(), classes());
        let mut review = Review::default();
        let label = LabelId {
            frame: 0,
            track_id: 1,
        };
        review
            .decide(
                edit(0, 1, fix("car", [0.0, 0.0, 8.0, 6.0])),
                &tracks,
                &classes,
            )
            .unwrap();
        assert_eq!(review.unsegmented(&tracks).len(), 1);
        assert_eq!(review.unsegmented(&tracks)[0].0, label);
        assert_eq!(review.apply(&tracks), Err(ReviewError::Unsegmented(label)));
        let mask = Rle::encode(&Mask::from_fn(W, H, |x, y| x < 8 && y < 6));
        assert!(review.set_mask(label, mask.clone()));
        assert!(review.unsegmented(&tracks).is_empty());
        let reviewed = review.apply(&tracks).unwrap();
        let o = &reviewed.tracks.frames[0].objects[0];
        assert_eq!(
            (o.bbox, o.mask.as_ref()),
            ([0.0, 0.0, 8.0, 6.0], Some(&mask))
        );
    }

    #[test]
    fn a_decision_the_run_cannot_take_is_refused_naming_the_label() {
        let (tracks, classes) = (tracks(), classes());
        let mut review = Review::default();
        let refused = |review: &mut Review, e: Edit| {
            review.decide(e, &tracks, &classes).unwrap_err().to_string()
        };
        assert_eq!(
            refused(&mut review, edit(0, 2, Decision::Accept)),
            "frame 0 track 2: no such label in the run"
        );
        assert_eq!(
            refused(&mut review, edit(0, 1, fix("tram", [1.0, 1.0, 5.0, 4.0]))),
            "frame 0 track 1: class 'tram' is not one of car, bus"
        );
        assert!(
            refused(&mut review, edit(0, 1, fix("car", [1.0, 1.0, 25.0, 4.0])))
                .contains("inside the 20×10 frame")
        );
        assert!(
            refused(&mut review, edit(0, 1, fix("car", [5.0, 1.0, 1.0, 4.0]))).contains("x0 < x1")
        );
        let points = Decision::Fix(Fix {
            class: "car".into(),
            bbox: [1.0, 1.0, 5.0, 4.0],
            points: vec![[2.0, 2.0, 7.0]],
            mask: None,
        });
        assert!(refused(&mut review, edit(0, 1, points)).contains("point label 7"));
        let small = Decision::Fix(Fix {
            class: "car".into(),
            bbox: [1.0, 1.0, 5.0, 4.0],
            points: Vec::new(),
            mask: Some(Rle::encode(&Mask::from_fn(4, 4, |_, _| true))),
        });
        assert_eq!(
            refused(&mut review, edit(0, 1, small)),
            "frame 0 track 1: the mask is 4×4, the frame 20×10"
        );
        assert!(review.edits.is_empty(), "nothing refused was recorded");
        let stale = Review {
            edits: vec![edit(5, 1, Decision::Delete)],
        };
        assert!(stale.check(&tracks, &classes).is_err());
        assert!(stale.apply(&tracks).is_err());
    }

    #[test]
    fn review_json_reads_as_it_is_written() {
        let text = r#"{"edits": [
            {"frame": 0, "track_id": 1, "action": "accept"},
            {"frame": 1, "track_id": 2, "action": "delete_track"},
            {"frame": 1, "track_id": 1, "action": "fix", "class": "bus",
             "box": [1, 1, 6, 4], "points": [[3, 2, 1]]}
        ]}"#;
        let review: Review = serde_json::from_str(text).unwrap();
        assert_eq!(review.edits[1].decision, Decision::DeleteTrack);
        let Decision::Fix(fix) = &review.edits[2].decision else {
            panic!("a fix");
        };
        assert_eq!((fix.class.as_str(), fix.points.len()), ("bus", 1));
        let again: Review = serde_json::from_str(&serde_json::to_string(&review).unwrap()).unwrap();
        assert_eq!(again, review);
        assert!(
            serde_json::from_str::<Review>(
                r#"{"edits": [{"frame": 0, "track_id": 1, "action": "maybe"}]}"#
            )
            .is_err()
        );
    }
}
