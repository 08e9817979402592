//! The failure queue: every error of the greedy matching (`metrics`),
//! explained and ranked for human review — the start of an active-learning
//! queue. Each case names the image, the boxes, the numbers and a reason.
//!
//! Kinds, in the order a case is explained:
//! - unmatched predictions: `class_confusion` (IoU ≥ the threshold with an
//!   object of another class, e.g. truck → car, and higher than with any object
//!   of its own class), `duplicate` (IoU ≥ the threshold with an object of its
//!   class, which a higher score took), `merged_box` (its
//!   box matches no object but covers ≥ 2, each by at least
//!   `merged_min_coverage` of the object's box: one box for two objects, the
//!   mask then takes the wrong surface), else `false_positive` — unless it
//!   overlaps a missed object of its class by ≥ `localization_min_iou`: then it
//!   is that object's `poor_localization`, listed once;
//! - matched predictions with masks: `wrong_surface` (box right, mask IoU with
//!   the object's non-empty mask < `wrong_surface_max_mask_iou`);
//! - missed objects not already explained by a merged box or a confusion:
//!   `poor_localization` (an unmatched prediction of its class overlaps it
//!   with `localization_min_iou` ≤ IoU < the threshold), else by cause
//!   `occluded_miss` (visibility among `occluded_visibility`), `distant_miss`
//!   (≥ `distant_m`), `small_miss` (area < `small_area_px2`), else `miss`.
//!
//! Priority (higher first, each in [0, 1]): for prediction errors, how sure the
//! model was that it was right — `score × IoU` (confusion), `score × second
//! coverage` (merged box), `score × (1 − mask IoU)` (wrong surface),
//! `score × IoU / 2` (duplicate: cheap to fix by NMS), `score` (false
//! positive). For misses, how easy the object was: `min(1, √area / 96) ×
//! visibility`, visibility the middle of the nuScenes level (0.2, 0.5, 0.7,
//! 0.9; 1 when unknown) — a large, clearly visible object missed comes first.
//! `counts` lists every kind, so small or distant misses are never hidden by
//! a cut (`max_per_kind`).

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::data::{Detection, GroundTruth, GtObject, xywh_to_xyxy};
use super::metrics::{DetOutcome, GreedyResult};
use crate::geometry::Box2;
use crate::labels::rle::{Rle, bbox_iou};

/// The assumptions of the queue, named so they can be changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FailureParams {
    /// Below this area (px²) a missed object is "small" (COCO: 32²).
    pub small_area_px2: f64,
    /// From this distance (m) a missed object is "distant".
    pub distant_m: f64,
    /// nuScenes visibility levels that count as occluded.
    pub occluded_visibility: Vec<String>,
    /// A miss with a same-class prediction at IoU ≥ this (but below the
    /// matching threshold) is poor localisation rather than a plain miss.
    pub localization_min_iou: f64,
    /// A prediction covering at least this fraction of each of two or more
    /// object boxes is one box for several objects.
    pub merged_min_coverage: f64,
    /// A matched prediction whose mask IoU is below this took the wrong surface.
    pub wrong_surface_max_mask_iou: f64,
    /// Keep at most this many cases of each kind (`None`: all).
    pub max_per_kind: Option<usize>,
}

impl Default for FailureParams {
    fn default() -> Self {
        FailureParams {
            small_area_px2: 32.0 * 32.0,
            distant_m: 40.0,
            occluded_visibility: vec!["v0-40".into()],
            localization_min_iou: 0.1,
            merged_min_coverage: 0.5,
            wrong_surface_max_mask_iou: 0.5,
            max_per_kind: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    ClassConfusion,
    MergedBox,
    WrongSurface,
    Duplicate,
    FalsePositive,
    PoorLocalization,
    OccludedMiss,
    DistantMiss,
    SmallMiss,
    Miss,
}

impl FailureKind {
    pub const ALL: [FailureKind; 10] = [
        FailureKind::ClassConfusion,
        FailureKind::MergedBox,
        FailureKind::WrongSurface,
        FailureKind::Duplicate,
        FailureKind::FalsePositive,
        FailureKind::PoorLocalization,
        FailureKind::OccludedMiss,
        FailureKind::DistantMiss,
        FailureKind::SmallMiss,
        FailureKind::Miss,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FailureKind::ClassConfusion => "class_confusion",
            FailureKind::MergedBox => "merged_box",
            FailureKind::WrongSurface => "wrong_surface",
            FailureKind::Duplicate => "duplicate",
            FailureKind::FalsePositive => "false_positive",
            FailureKind::PoorLocalization => "poor_localization",
            FailureKind::OccludedMiss => "occluded_miss",
            FailureKind::DistantMiss => "distant_miss",
            FailureKind::SmallMiss => "small_miss",
            FailureKind::Miss => "miss",
        }
    }
}

/// One case for a human to review.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailureCase {
    /// 1 = review first.
    pub rank: usize,
    pub kind: FailureKind,
    pub priority: f64,
    pub image_id: i64,
    pub file_name: String,
    /// The object concerned (annotation id, class, `[x0, y0, x1, y1]`).
    pub gt_id: Option<i64>,
    pub gt_class: Option<String>,
    pub gt_box: Option<Box2>,
    /// The prediction concerned (position in the input, class, box, score).
    pub prediction: Option<usize>,
    pub predicted_class: Option<String>,
    pub predicted_box: Option<Box2>,
    pub score: Option<f64>,
    /// The prediction's track, when the results carry track ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub track_id: Option<i64>,
    /// Box IoU between the two, when both exist.
    pub iou: Option<f64>,
    pub mask_iou: Option<f64>,
    pub area_px2: Option<f64>,
    pub distance_m: Option<f64>,
    pub visibility: Option<String>,
    /// Further objects involved (merged box).
    pub other_gt_ids: Vec<i64>,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailureQueue {
    /// Cases per kind before any cut; every kind listed.
    pub counts: BTreeMap<String, usize>,
    /// Highest priority first.
    pub cases: Vec<FailureCase>,
}

/// Positions of objects and detections per image.
struct ByImage {
    objects: HashMap<i64, Vec<usize>>,
    /// Unmatched predictions (false positives).
    unmatched: HashMap<i64, Vec<usize>>,
}

impl ByImage {
    fn new(gt: &GroundTruth, dets: &[Detection], greedy: &GreedyResult) -> Self {
        let mut objects: HashMap<i64, Vec<usize>> = HashMap::new();
        for (g, o) in gt.objects.iter().enumerate() {
            if !o.iscrowd {
                objects.entry(o.image_id).or_default().push(g);
            }
        }
        let mut unmatched: HashMap<i64, Vec<usize>> = HashMap::new();
        for (d, p) in dets.iter().enumerate() {
            if matches!(greedy.detections[d], DetOutcome::FalsePositive) {
                unmatched.entry(p.image_id).or_default().push(d);
            }
        }
        ByImage { objects, unmatched }
    }

    fn objects(&self, image_id: i64) -> &[usize] {
        self.objects.get(&image_id).map_or(&[], Vec::as_slice)
    }

    fn unmatched(&self, image_id: i64) -> &[usize] {
        self.unmatched.get(&image_id).map_or(&[], Vec::as_slice)
    }
}

struct Ctx<'a> {
    gt: &'a GroundTruth,
    dets: &'a [Detection],
    greedy: &'a GreedyResult,
    params: &'a FailureParams,
    by_image: ByImage,
}

impl Ctx<'_> {
    fn class(&self, category_id: i64) -> String {
        self.gt
            .category_name(category_id)
            .map_or_else(|| format!("category {category_id}"), str::to_string)
    }

    /// A case with the image, object and prediction fields filled.
    fn case(
        &self,
        kind: FailureKind,
        priority: f64,
        g: Option<usize>,
        d: Option<usize>,
    ) -> FailureCase {
        let o = g.map(|g| &self.gt.objects[g]);
        let p = d.map(|d| &self.dets[d]);
        let image_id = o.map(|o| o.image_id).or(p.map(|p| p.image_id)).unwrap_or(0);
        FailureCase {
            rank: 0,
            kind,
            priority,
            image_id,
            file_name: self
                .gt
                .image(image_id)
                .map(|i| i.file_name.clone())
                .unwrap_or_default(),
            gt_id: o.map(|o| o.id),
            gt_class: o.map(|o| self.class(o.category_id)),
            gt_box: o.map(|o| xywh_to_xyxy(o.bbox)),
            prediction: d,
            predicted_class: p.map(|p| self.class(p.category_id)),
            predicted_box: p.map(|p| xywh_to_xyxy(p.bbox)),
            score: p.map(|p| p.score),
            track_id: p.and_then(|p| p.track_id),
            iou: o.zip(p).map(|(o, p)| bbox_iou(p.bbox, o.bbox, false)),
            mask_iou: None,
            area_px2: o.map(|o| o.area),
            distance_m: o.and_then(|o| o.distance_m),
            visibility: o.and_then(|o| o.visibility.clone()),
            other_gt_ids: Vec::new(),
            reason: String::new(),
        }
    }

    /// Objects of the detection's image with their box IoU, best first.
    fn overlaps(&self, d: usize, same_class: Option<bool>) -> Vec<(usize, f64)> {
        let p = &self.dets[d];
        let mut v: Vec<(usize, f64)> = self
            .by_image
            .objects(p.image_id)
            .iter()
            .filter(|&&g| {
                same_class.is_none_or(|s| (self.gt.objects[g].category_id == p.category_id) == s)
            })
            .map(|&g| (g, bbox_iou(p.bbox, self.gt.objects[g].bbox, false)))
            .collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1));
        v
    }
}

/// Fraction of box `o` inside box `p` (both `[x, y, w, h]`).
fn coverage(p: [f64; 4], o: [f64; 4]) -> f64 {
    let w = (p[0] + p[2]).min(o[0] + o[2]) - p[0].max(o[0]);
    let h = (p[1] + p[3]).min(o[1] + o[3]) - p[1].max(o[1]);
    let area = o[2] * o[3];
    if w <= 0.0 || h <= 0.0 || area <= 0.0 {
        0.0
    } else {
        w * h / area
    }
}

/// Builds the ranked queue.
pub fn failure_queue(
    gt: &GroundTruth,
    dets: &[Detection],
    greedy: &GreedyResult,
    params: &FailureParams,
) -> FailureQueue {
    let ctx = Ctx {
        gt,
        dets,
        greedy,
        params,
        by_image: ByImage::new(gt, dets, greedy),
    };
    let mut cases = Vec::new();
    let mut explained = vec![false; gt.objects.len()];
    let mut order: Vec<usize> = (0..dets.len()).collect();
    order.sort_by(|&a, &b| dets[b].score.total_cmp(&dets[a].score));
    for &d in &order {
        match greedy.detections[d] {
            DetOutcome::FalsePositive => {
                cases.extend(explain_false_positive(&ctx, d, &mut explained));
            }
            DetOutcome::TruePositive { gt: g, .. } => {
                cases.extend(wrong_surface(&ctx, d, g));
            }
            DetOutcome::Crowd { .. } | DetOutcome::BelowThreshold => {}
        }
    }
    for (g, matched) in greedy.gt_match.iter().enumerate() {
        if matched.is_none() && !gt.objects[g].iscrowd && !explained[g] {
            cases.push(explain_miss(&ctx, g));
        }
    }
    rank(cases, params.max_per_kind)
}

/// The case of an unmatched prediction; `None` when it is the loose box of a
/// missed object of its class (listed as that object's `poor_localization`).
fn explain_false_positive(ctx: &Ctx, d: usize, explained: &mut [bool]) -> Option<FailureCase> {
    let p = &ctx.dets[d];
    let threshold = ctx.greedy.iou_threshold;
    let pclass = ctx.class(p.category_id);
    let other = ctx
        .overlaps(d, Some(false))
        .first()
        .copied()
        .filter(|x| x.1 >= threshold);
    let same_class = ctx.overlaps(d, Some(true));
    let same = same_class.first().copied().filter(|x| x.1 >= threshold);
    if let Some((g, iou)) = other.filter(|o| same.is_none_or(|s| o.1 > s.1)) {
        let gclass = ctx.class(ctx.gt.objects[g].category_id);
        let mut c = ctx.case(FailureKind::ClassConfusion, p.score * iou, Some(g), Some(d));
        c.reason = format!(
            "{gclass} predicted as {pclass} (score {:.2}, IoU {iou:.2})",
            p.score
        );
        explained[g] = true;
        return Some(c);
    }
    if let Some((g, iou)) = same {
        let mut c = ctx.case(
            FailureKind::Duplicate,
            p.score * iou / 2.0,
            Some(g),
            Some(d),
        );
        c.reason = format!(
            "duplicate {pclass} (score {:.2}): IoU {iou:.2} with {pclass} #{}, already taken by a higher score",
            p.score, ctx.gt.objects[g].id
        );
        return Some(c);
    }
    if let Some(c) = merged_box(ctx, d, explained) {
        return Some(c);
    }
    let loose = same_class.iter().any(|&(g, iou)| {
        iou >= ctx.params.localization_min_iou && ctx.greedy.gt_match[g].is_none()
    });
    if loose {
        return None;
    }
    let best = ctx.overlaps(d, None).first().map_or(0.0, |x| x.1);
    let mut c = ctx.case(FailureKind::FalsePositive, p.score, None, Some(d));
    c.iou = Some(best);
    c.reason = format!(
        "{pclass} predicted where no object is (score {:.2}; best IoU with any object {best:.2})",
        p.score
    );
    Some(c)
}

/// An unmatched box covering two or more objects.
fn merged_box(ctx: &Ctx, d: usize, explained: &mut [bool]) -> Option<FailureCase> {
    let p = &ctx.dets[d];
    let mut covered: Vec<(usize, f64)> = ctx
        .by_image
        .objects(p.image_id)
        .iter()
        .map(|&g| (g, coverage(p.bbox, ctx.gt.objects[g].bbox)))
        .filter(|&(_, c)| c >= ctx.params.merged_min_coverage)
        .collect();
    if covered.len() < 2 {
        return None;
    }
    covered.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut c = ctx.case(
        FailureKind::MergedBox,
        p.score * covered[1].1,
        Some(covered[0].0),
        Some(d),
    );
    let parts: Vec<String> = covered
        .iter()
        .map(|&(g, cov)| {
            let o = &ctx.gt.objects[g];
            format!(
                "{} #{} ({:.0}%)",
                ctx.class(o.category_id),
                o.id,
                cov * 100.0
            )
        })
        .collect();
    c.other_gt_ids = covered[1..]
        .iter()
        .map(|&(g, _)| ctx.gt.objects[g].id)
        .collect();
    c.reason = format!(
        "one {} box (score {:.2}) covers {} objects: {}",
        ctx.class(p.category_id),
        p.score,
        covered.len(),
        parts.join(", ")
    );
    for &(g, _) in &covered {
        explained[g] = true;
    }
    Some(c)
}

fn wrong_surface(ctx: &Ctx, d: usize, g: usize) -> Option<FailureCase> {
    let p = &ctx.dets[d];
    let o = &ctx.gt.objects[g];
    let (Some(pm), Some(om)) = (&p.mask, &o.mask) else {
        return None;
    };
    if om.area() == 0 {
        // A fully hidden object: no surface to take.
        return None;
    }
    let mask_iou = Rle::iou(pm, om, false);
    if mask_iou >= ctx.params.wrong_surface_max_mask_iou {
        return None;
    }
    let mut c = ctx.case(
        FailureKind::WrongSurface,
        p.score * (1.0 - mask_iou.max(0.0)),
        Some(g),
        Some(d),
    );
    c.mask_iou = Some(mask_iou);
    c.reason = format!(
        "{} box matches (IoU {:.2}) but its mask covers another surface: mask IoU {mask_iou:.2}",
        ctx.class(o.category_id),
        c.iou.unwrap_or(0.0)
    );
    Some(c)
}

/// Middle of a nuScenes visibility level, 1 when unknown.
fn visibility_weight(v: Option<&str>) -> f64 {
    match v {
        Some("v0-40") => 0.2,
        Some("v40-60") => 0.5,
        Some("v60-80") => 0.7,
        Some("v80-100") => 0.9,
        _ => 1.0,
    }
}

fn explain_miss(ctx: &Ctx, g: usize) -> FailureCase {
    let o: &GtObject = &ctx.gt.objects[g];
    let params = ctx.params;
    let threshold = ctx.greedy.iou_threshold;
    let class = ctx.class(o.category_id);
    let ease =
        (o.area.max(0.0).sqrt() / 96.0).min(1.0) * visibility_weight(o.visibility.as_deref());
    let best = best_prediction_of_class(ctx, o);
    if let Some((d, iou)) = best.filter(|&(_, iou)| iou >= params.localization_min_iou) {
        let mut c = ctx.case(FailureKind::PoorLocalization, ease, Some(g), Some(d));
        c.reason = format!(
            "{class} found only loosely: the best {class} prediction (score {:.2}) has IoU {iou:.2} < {threshold}",
            ctx.dets[d].score
        );
        return c;
    }
    let occluded = o
        .visibility
        .as_ref()
        .is_some_and(|v| params.occluded_visibility.contains(v));
    let distant = o.distance_m.is_some_and(|d| d >= params.distant_m);
    let small = o.area < params.small_area_px2;
    let kind = if occluded {
        FailureKind::OccludedMiss
    } else if distant {
        FailureKind::DistantMiss
    } else if small {
        FailureKind::SmallMiss
    } else {
        FailureKind::Miss
    };
    let mut facts = vec![format!(
        "{:.0}×{:.0} px box (area {:.0} px²{})",
        o.bbox[2],
        o.bbox[3],
        o.area,
        if small {
            format!(" < {}", params.small_area_px2)
        } else {
            String::new()
        }
    )];
    if let Some(d) = o.distance_m {
        facts.push(format!("{d:.1} m away"));
    }
    if let Some(v) = &o.visibility {
        facts.push(format!("visibility {v}"));
    }
    let mut c = ctx.case(kind, ease, Some(g), None);
    c.reason = format!(
        "missed {class}: {}; best {class} prediction IoU {:.2}",
        facts.join(", "),
        best.map_or(0.0, |b| b.1)
    );
    c
}

/// The unmatched prediction of `o`'s class overlapping it most.
fn best_prediction_of_class(ctx: &Ctx, o: &GtObject) -> Option<(usize, f64)> {
    ctx.by_image
        .unmatched(o.image_id)
        .iter()
        .filter(|&&d| ctx.dets[d].category_id == o.category_id)
        .map(|&d| (d, bbox_iou(ctx.dets[d].bbox, o.bbox, false)))
        .filter(|&(_, iou)| iou > 0.0)
        .max_by(|a, b| a.1.total_cmp(&b.1))
}

/// Sorts by priority (ties: image, then object id, then prediction), counts
/// per kind, cuts per kind and numbers the ranks.
fn rank(mut cases: Vec<FailureCase>, max_per_kind: Option<usize>) -> FailureQueue {
    cases.sort_by(|a, b| {
        b.priority
            .total_cmp(&a.priority)
            .then(a.image_id.cmp(&b.image_id))
            .then(a.gt_id.cmp(&b.gt_id))
            .then(a.prediction.cmp(&b.prediction))
    });
    let mut counts: BTreeMap<String, usize> = FailureKind::ALL
        .iter()
        .map(|k| (k.name().to_string(), 0))
        .collect();
    let mut kept = Vec::new();
    for c in cases {
        let n = counts.entry(c.kind.name().to_string()).or_default();
        *n += 1;
        if max_per_kind.is_none_or(|m| *n <= m) {
            kept.push(c);
        }
    }
    for (i, c) in kept.iter_mut().enumerate() {
        c.rank = i + 1;
    }
    FailureQueue {
        counts,
        cases: kept,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::data::{Category, Image};
    use crate::eval::metrics::{IouKind, ScoreGate, evaluate_greedy};

    fn obj(id: i64, category_id: i64, bbox: [f64; 4], d: f64, vis: &str) -> GtObject {
        GtObject {
            id,
            image_id: 1,
            category_id,
            bbox,
            area: bbox[2] * bbox[3],
            iscrowd: false,
            mask: None,
            distance_m: Some(d),
            visibility: Some(vis.into()),
            source: None,
        }
    }

    #[test]
    fn every_kind_is_found_and_explained() {
        let gt = GroundTruth {
            images: vec![Image {
                id: 1,
                file_name: "f.jpg".into(),
                width: 1600,
                height: 900,
            }],
            categories: vec![
                Category {
                    id: 1,
                    name: "car".into(),
                },
                Category {
                    id: 2,
                    name: "truck".into(),
                },
            ],
            objects: vec![
                obj(1, 2, [0.0, 0.0, 100.0, 80.0], 10.0, "v80-100"),
                obj(2, 1, [300.0, 0.0, 50.0, 40.0], 12.0, "v80-100"),
                obj(3, 1, [355.0, 0.0, 50.0, 40.0], 12.0, "v80-100"),
                obj(4, 1, [600.0, 0.0, 10.0, 10.0], 60.0, "v80-100"),
                obj(5, 1, [700.0, 0.0, 80.0, 80.0], 15.0, "v0-40"),
                obj(6, 1, [900.0, 0.0, 100.0, 100.0], 8.0, "v80-100"),
                obj(7, 1, [1100.0, 0.0, 100.0, 100.0], 8.0, "v80-100"),
                obj(8, 1, [1300.0, 0.0, 100.0, 100.0], 8.0, "v60-80"),
            ],
        };
        let dets = vec![
            Detection::from_box(1, 1, [0.0, 0.0, 100.0, 80.0], 0.9),
            Detection::from_box(1, 1, [300.0, 0.0, 105.0, 40.0], 0.8),
            Detection::from_box(1, 1, [1100.0, 0.0, 100.0, 100.0], 0.85),
            Detection::from_box(1, 1, [1102.0, 0.0, 100.0, 100.0], 0.6),
            Detection::from_box(1, 1, [1300.0, 60.0, 100.0, 100.0], 0.5),
            Detection::from_box(1, 1, [0.0, 500.0, 50.0, 50.0], 0.4),
        ];
        let greedy = evaluate_greedy(&gt, &dets, IouKind::Bbox, 0.5, &ScoreGate::all(0.0));
        let q = failure_queue(&gt, &dets, &greedy, &FailureParams::default());
        let kinds: Vec<FailureKind> = q.cases.iter().map(|c| c.kind).collect();
        for k in [
            FailureKind::ClassConfusion,
            FailureKind::MergedBox,
            FailureKind::Duplicate,
            FailureKind::FalsePositive,
            FailureKind::PoorLocalization,
            FailureKind::DistantMiss,
            FailureKind::OccludedMiss,
            FailureKind::Miss,
        ] {
            assert!(kinds.contains(&k), "{k:?} in {kinds:?}");
        }
        assert_eq!(q.counts["wrong_surface"], 0, "listed even when empty");
        let confusion = q
            .cases
            .iter()
            .find(|c| c.kind == FailureKind::ClassConfusion)
            .unwrap();
        assert_eq!(
            confusion.reason,
            "truck predicted as car (score 0.90, IoU 1.00)"
        );
        assert_eq!(confusion.gt_box, Some([0.0, 0.0, 100.0, 80.0]));
        let merged = q
            .cases
            .iter()
            .find(|c| c.kind == FailureKind::MergedBox)
            .unwrap();
        assert_eq!(merged.other_gt_ids.len(), 1);
        // The truck and both merged cars are explained, not listed as misses too.
        assert_eq!(q.cases.len(), 8);
        assert_eq!(q.cases[0].rank, 1);
        assert!(q.cases.windows(2).all(|w| w[0].priority >= w[1].priority));
        // The large, fully visible miss outranks the occluded and the distant one.
        let pos = |k| kinds.iter().position(|&x| x == k).unwrap();
        assert!(pos(FailureKind::Miss) < pos(FailureKind::OccludedMiss));
        assert!(pos(FailureKind::OccludedMiss) < pos(FailureKind::DistantMiss));
    }
}
