//! COCO average precision, a faithful port of pycocotools' `COCOeval`
//! (`pycocotools/cocoeval.py`, 2.0.x) for `iouType` `bbox` and `segm` with the
//! default parameters, so its numbers equal pycocotools' to floating-point
//! noise:
//!
//! - IoU thresholds `np.linspace(.5, .95, 10)`, 101 recall thresholds
//!   `np.linspace(0, 1, 101)`, `maxDets` 1/10/100, area ranges all
//!   `[0, 1e10]`, small `[0, 32²]`, medium `[32², 96²]`, large `[96², 1e10]`
//!   (both ends inclusive, as in `evaluateImg`).
//! - `evaluateImg`, per image and category: detections by descending score
//!   (stable) cut to 100; ground truth sorted with ignored objects (crowd or
//!   outside the area range) last; at each IoU threshold each detection takes
//!   the best-IoU unmatched object with IoU ≥ min(t, 1 − 1e-10) — crowd
//!   objects may be taken again, and once a regular object is matched an
//!   ignored one is not considered. A detection matched to an ignored object,
//!   or unmatched and outside the area range, is ignored.
//! - `accumulate`: detections of all images pooled by score (stable merge
//!   sort), cumulative TP/FP, precision made monotone from the right, sampled
//!   at the recall thresholds (`searchsorted`, left); −1 where a category has no
//!   ground truth in the area range.
//! - `summarize`: the 12 numbers of `stats`, each the mean over the entries > −1.
//!
//! One deliberate difference: pycocotools marks a match by storing the ground
//! truth's annotation id, so an annotation with id 0 never counts as matched;
//! here matches are flags, and id 0 works like any other.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::data::{Detection, GroundTruth, GtObject};
use super::metrics::{DetMasks, IouKind, overlap};

const MAX_DETS: [usize; 3] = [1, 10, 100];
const AREA_RANGES: [[f64; 2]; 4] = [[0.0, 1e10], [0.0, 1024.0], [1024.0, 9216.0], [9216.0, 1e10]];
const N_RECALL: usize = 101;

/// `np.linspace(start, stop, num)` as numpy computes it (`i·step + start`, the
/// last value set to `stop`).
fn linspace(start: f64, stop: f64, num: usize) -> Vec<f64> {
    let step = (stop - start) / (num - 1) as f64;
    (0..num)
        .map(|i| {
            if i == num - 1 {
                stop
            } else {
                i as f64 * step + start
            }
        })
        .collect()
}

/// The IoU thresholds `0.50, 0.55, …, 0.95`.
pub fn iou_thresholds() -> Vec<f64> {
    linspace(0.5, 0.95, 10)
}

fn recall_thresholds() -> Vec<f64> {
    linspace(0.0, 1.0, N_RECALL)
}

/// The 12 summary numbers, named as pycocotools prints them; −1 where
/// undefined (no ground truth in range).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CocoStats {
    /// `stats` in pycocotools' order: AP, AP50, AP75, APs, APm, APl, AR1, AR10,
    /// AR100, ARs, ARm, ARl.
    pub stats: [f64; 12],
    /// Per category (ground truth categories, sorted by id).
    pub per_category: Vec<CategoryAp>,
}

/// AP of one category (area all, 100 detections); `None` without ground truth.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoryAp {
    pub category_id: i64,
    /// Mean over IoU 0.50:0.95.
    pub ap: Option<f64>,
    pub ap50: Option<f64>,
    pub ap75: Option<f64>,
    /// Recall at 100 detections, mean over IoU 0.50:0.95.
    pub ar100: Option<f64>,
}

/// The 12 `stats` by name, as pycocotools' `summarize` prints them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CocoSummary {
    /// AP at IoU 0.50:0.95, all areas, 100 detections.
    #[serde(rename = "AP")]
    pub ap: f64,
    #[serde(rename = "AP50")]
    pub ap50: f64,
    #[serde(rename = "AP75")]
    pub ap75: f64,
    #[serde(rename = "AP_small")]
    pub ap_small: f64,
    #[serde(rename = "AP_medium")]
    pub ap_medium: f64,
    #[serde(rename = "AP_large")]
    pub ap_large: f64,
    /// AR at 1, 10 and 100 detections per image.
    #[serde(rename = "AR_1")]
    pub ar1: f64,
    #[serde(rename = "AR_10")]
    pub ar10: f64,
    #[serde(rename = "AR_100")]
    pub ar100: f64,
    #[serde(rename = "AR_small")]
    pub ar_small: f64,
    #[serde(rename = "AR_medium")]
    pub ar_medium: f64,
    #[serde(rename = "AR_large")]
    pub ar_large: f64,
}

impl From<[f64; 12]> for CocoSummary {
    fn from(s: [f64; 12]) -> Self {
        CocoSummary {
            ap: s[0],
            ap50: s[1],
            ap75: s[2],
            ap_small: s[3],
            ap_medium: s[4],
            ap_large: s[5],
            ar1: s[6],
            ar10: s[7],
            ar100: s[8],
            ar_small: s[9],
            ar_medium: s[10],
            ar_large: s[11],
        }
    }
}

/// One image × category × area range, as `evaluateImg` returns it.
struct EvalImg {
    /// Scores of the detections kept (≤ 100), descending.
    scores: Vec<f64>,
    /// `[t][d]`: detection matched at IoU threshold t.
    matched: Vec<Vec<bool>>,
    /// `[t][d]`: detection ignored at threshold t.
    ignored: Vec<Vec<bool>>,
    /// Per ground truth object: ignored (crowd or out of range).
    gt_ignored: Vec<bool>,
}

/// Per (image, category): objects and detections in file order.
struct Cell {
    gts: Vec<usize>,
    dts: Vec<usize>,
}

/// Runs COCOeval (`evaluate`, `accumulate`, `summarize`) with box or mask IoU.
/// For `Segm`, every ground truth object needs a mask; detections without
/// one count as their box.
pub fn coco_eval(gt: &GroundTruth, dets: &[Detection], kind: IouKind) -> CocoStats {
    let mut img_ids: Vec<i64> = gt.images.iter().map(|i| i.id).collect();
    img_ids.sort_unstable();
    img_ids.dedup();
    let mut cat_ids: Vec<i64> = gt.categories.iter().map(|c| c.id).collect();
    cat_ids.sort_unstable();
    cat_ids.dedup();
    let cells = prepare(gt, dets, &img_ids, &cat_ids);
    let masks = DetMasks::new(gt, dets, kind);
    let thresholds = iou_thresholds();
    // evalImgs, indexed [k][a][i].
    let mut evals: Vec<Vec<Vec<Option<EvalImg>>>> = Vec::with_capacity(cat_ids.len());
    for &cat in &cat_ids {
        let ious: Vec<Option<Vec<Vec<f64>>>> = img_ids
            .iter()
            .map(|&img| {
                cells
                    .get(&(img, cat))
                    .map(|c| compute_iou(gt, dets, &masks, kind, c))
            })
            .collect();
        let per_area = AREA_RANGES
            .iter()
            .map(|range| {
                img_ids
                    .iter()
                    .zip(&ious)
                    .map(|(&img, iou)| {
                        let cell = cells.get(&(img, cat))?;
                        evaluate_img(gt, dets, cell, iou.as_deref()?, *range, &thresholds)
                    })
                    .collect()
            })
            .collect();
        evals.push(per_area);
    }
    let acc = accumulate(&evals, thresholds.len());
    summarize(&acc, &thresholds, &cat_ids)
}

/// Objects and detections of each (image, category), in file order;
/// detections on images or categories outside the ground truth are left out.
fn prepare(
    gt: &GroundTruth,
    dets: &[Detection],
    img_ids: &[i64],
    cat_ids: &[i64],
) -> HashMap<(i64, i64), Cell> {
    let mut cells: HashMap<(i64, i64), Cell> = HashMap::new();
    let known = |img: i64, cat: i64| {
        img_ids.binary_search(&img).is_ok() && cat_ids.binary_search(&cat).is_ok()
    };
    for (i, g) in gt.objects.iter().enumerate() {
        if known(g.image_id, g.category_id) {
            cell(&mut cells, g.image_id, g.category_id).gts.push(i);
        }
    }
    for (i, d) in dets.iter().enumerate() {
        if known(d.image_id, d.category_id) {
            cell(&mut cells, d.image_id, d.category_id).dts.push(i);
        }
    }
    cells
}

fn cell(cells: &mut HashMap<(i64, i64), Cell>, img: i64, cat: i64) -> &mut Cell {
    cells.entry((img, cat)).or_insert_with(|| Cell {
        gts: Vec::new(),
        dts: Vec::new(),
    })
}

/// Detection positions of a cell by descending score (stable), at most 100.
fn sorted_dts(dets: &[Detection], dts: &[usize]) -> Vec<usize> {
    let mut order = dts.to_vec();
    order.sort_by(|&a, &b| dets[b].score.total_cmp(&dets[a].score));
    order.truncate(MAX_DETS[2]);
    order
}

/// `computeIoU`: `[d][g]` for the sorted, cut detections; empty when either
/// side is (pycocotools' `maskUtils.iou` returns `[]`).
fn compute_iou(
    gt: &GroundTruth,
    dets: &[Detection],
    masks: &DetMasks,
    kind: IouKind,
    cell: &Cell,
) -> Vec<Vec<f64>> {
    if cell.gts.is_empty() || cell.dts.is_empty() {
        return Vec::new();
    }
    sorted_dts(dets, &cell.dts)
        .iter()
        .map(|&d| {
            cell.gts
                .iter()
                .map(|&g| {
                    let o = &gt.objects[g];
                    overlap(kind, &dets[d], masks.get(d), o, o.iscrowd)
                })
                .collect()
        })
        .collect()
}

fn out_of_range(area: f64, range: [f64; 2]) -> bool {
    area < range[0] || area > range[1]
}

/// `evaluateImg` for one image, category and area range (maxDet 100).
fn evaluate_img(
    gt: &GroundTruth,
    dets: &[Detection],
    cell: &Cell,
    ious: &[Vec<f64>],
    range: [f64; 2],
    thresholds: &[f64],
) -> Option<EvalImg> {
    if cell.gts.is_empty() && cell.dts.is_empty() {
        return None;
    }
    let objects: Vec<&GtObject> = cell.gts.iter().map(|&g| &gt.objects[g]).collect();
    let ignore: Vec<bool> = objects
        .iter()
        .map(|o| o.iscrowd || out_of_range(o.area, range))
        .collect();
    // Ignored objects last, stable (`np.argsort(..., kind='mergesort')`).
    let mut gt_order: Vec<usize> = (0..objects.len()).collect();
    gt_order.sort_by_key(|&g| ignore[g]);
    let dt = sorted_dts(dets, &cell.dts);
    let crowd: Vec<bool> = gt_order.iter().map(|&g| objects[g].iscrowd).collect();
    let gt_ignored: Vec<bool> = gt_order.iter().map(|&g| ignore[g]).collect();
    let (t_n, d_n, g_n) = (thresholds.len(), dt.len(), gt_order.len());
    let mut matched = vec![vec![false; d_n]; t_n];
    let mut ignored = vec![vec![false; d_n]; t_n];
    if !ious.is_empty() {
        for (ti, &t) in thresholds.iter().enumerate() {
            let mut gt_taken = vec![false; g_n];
            for di in 0..d_n {
                let mut best = t.min(1.0 - 1e-10);
                let mut m: Option<usize> = None;
                for gi in 0..g_n {
                    if gt_taken[gi] && !crowd[gi] {
                        continue;
                    }
                    if m.is_some_and(|m| !gt_ignored[m]) && gt_ignored[gi] {
                        break;
                    }
                    let v = ious[di][gt_order[gi]];
                    if v < best {
                        continue;
                    }
                    best = v;
                    m = Some(gi);
                }
                if let Some(m) = m {
                    ignored[ti][di] = gt_ignored[m];
                    matched[ti][di] = true;
                    gt_taken[m] = true;
                }
            }
        }
    }
    for di in 0..d_n {
        let outside = out_of_range(dets[dt[di]].area, range);
        for ti in 0..t_n {
            ignored[ti][di] |= !matched[ti][di] && outside;
        }
    }
    Some(EvalImg {
        scores: dt.iter().map(|&d| dets[d].score).collect(),
        matched,
        ignored,
        gt_ignored,
    })
}

/// `accumulate`'s outputs: `precision[t][r][k][a][m]` and `recall[t][k][a][m]`,
/// −1 where undefined.
struct Accumulated {
    precision: Vec<Vec<Vec<Vec<Vec<f64>>>>>,
    recall: Vec<Vec<Vec<Vec<f64>>>>,
}

fn accumulate(evals: &[Vec<Vec<Option<EvalImg>>>], n_t: usize) -> Accumulated {
    let (n_k, n_a, n_m) = (evals.len(), AREA_RANGES.len(), MAX_DETS.len());
    let rec_thr = recall_thresholds();
    let mut precision = vec![vec![vec![vec![vec![-1.0; n_m]; n_a]; n_k]; N_RECALL]; n_t];
    let mut recall = vec![vec![vec![vec![-1.0; n_m]; n_a]; n_k]; n_t];
    for (k, per_area) in evals.iter().enumerate() {
        for (a, per_img) in per_area.iter().enumerate() {
            let e: Vec<&EvalImg> = per_img.iter().flatten().collect();
            if e.is_empty() {
                continue;
            }
            let npig = e
                .iter()
                .flat_map(|x| &x.gt_ignored)
                .filter(|&&ig| !ig)
                .count();
            if npig == 0 {
                continue;
            }
            for (m, &max_det) in MAX_DETS.iter().enumerate() {
                // (score, image, detection) pooled, cut per image.
                let mut pool: Vec<(f64, usize, usize)> = Vec::new();
                for (i, x) in e.iter().enumerate() {
                    for d in 0..x.scores.len().min(max_det) {
                        pool.push((x.scores[d], i, d));
                    }
                }
                pool.sort_by(|a, b| b.0.total_cmp(&a.0));
                for t in 0..n_t {
                    let (q, rc_last) = precision_curve(&pool, &e, t, npig, &rec_thr);
                    recall[t][k][a][m] = rc_last;
                    for (r, v) in q.into_iter().enumerate() {
                        precision[t][r][k][a][m] = v;
                    }
                }
            }
        }
    }
    Accumulated { precision, recall }
}

/// Interpolated precision at the recall thresholds and the final recall, at
/// IoU threshold `t`, for detections pooled by score.
fn precision_curve(
    pool: &[(f64, usize, usize)],
    e: &[&EvalImg],
    t: usize,
    npig: usize,
    rec_thr: &[f64],
) -> (Vec<f64>, f64) {
    let (mut tp, mut fp) = (0.0f64, 0.0f64);
    let mut rc = Vec::with_capacity(pool.len());
    let mut pr = Vec::with_capacity(pool.len());
    for &(_, i, d) in pool {
        if e[i].ignored[t][d] {
            // Neither a TP nor an FP: the sums carry over.
        } else if e[i].matched[t][d] {
            tp += 1.0;
        } else {
            fp += 1.0;
        }
        rc.push(tp / npig as f64);
        pr.push(tp / (fp + tp + f64::EPSILON));
    }
    let rc_last = rc.last().copied().unwrap_or(0.0);
    for i in (1..pr.len()).rev() {
        if pr[i] > pr[i - 1] {
            pr[i - 1] = pr[i];
        }
    }
    let mut q = vec![0.0; rec_thr.len()];
    for (ri, &r) in rec_thr.iter().enumerate() {
        let pi = rc.partition_point(|&v| v < r);
        if pi >= pr.len() {
            break;
        }
        q[ri] = pr[pi];
    }
    (q, rc_last)
}

/// Mean of the entries > −1, −1 when none.
fn mean_defined(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values
        .filter(|&v| v > -1.0)
        .fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 { -1.0 } else { sum / n as f64 }
}

fn summarize(acc: &Accumulated, thresholds: &[f64], cat_ids: &[i64]) -> CocoStats {
    let t_at = |iou: f64| thresholds.iter().position(|&t| t == iou);
    let all_t: Vec<usize> = (0..thresholds.len()).collect();
    let ap = |ts: &[usize], ks: &[usize], a: usize, m: usize| {
        mean_defined(ts.iter().flat_map(|&t| {
            acc.precision[t]
                .iter()
                .flat_map(move |pr| ks.iter().map(move |&k| pr[k][a][m]))
        }))
    };
    let ar = |ts: &[usize], ks: &[usize], a: usize, m: usize| {
        mean_defined(
            ts.iter()
                .flat_map(|&t| ks.iter().map(move |&k| acc.recall[t][k][a][m])),
        )
    };
    let ks: Vec<usize> = (0..cat_ids.len()).collect();
    let at = |iou: f64| t_at(iou).map(|t| vec![t]).unwrap_or_default();
    let (t50, t75) = (at(0.5), at(0.75));
    let stats = [
        ap(&all_t, &ks, 0, 2),
        ap(&t50, &ks, 0, 2),
        ap(&t75, &ks, 0, 2),
        ap(&all_t, &ks, 1, 2),
        ap(&all_t, &ks, 2, 2),
        ap(&all_t, &ks, 3, 2),
        ar(&all_t, &ks, 0, 0),
        ar(&all_t, &ks, 0, 1),
        ar(&all_t, &ks, 0, 2),
        ar(&all_t, &ks, 1, 2),
        ar(&all_t, &ks, 2, 2),
        ar(&all_t, &ks, 3, 2),
    ];
    let defined = |v: f64| (v > -1.0).then_some(v);
    let per_category = cat_ids
        .iter()
        .enumerate()
        .map(|(k, &id)| CategoryAp {
            category_id: id,
            ap: defined(ap(&all_t, &[k], 0, 2)),
            ap50: defined(ap(&t50, &[k], 0, 2)),
            ap75: defined(ap(&t75, &[k], 0, 2)),
            ar100: defined(ar(&all_t, &[k], 0, 2)),
        })
        .collect();
    CocoStats {
        stats,
        per_category,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::data::{Category, Image};

    fn obj(id: i64, image_id: i64, bbox: [f64; 4]) -> GtObject {
        GtObject {
            id,
            image_id,
            category_id: 1,
            bbox,
            area: bbox[2] * bbox[3],
            iscrowd: false,
            mask: None,
            distance_m: None,
            visibility: None,
            source: None,
        }
    }

    fn set(objects: Vec<GtObject>) -> GroundTruth {
        GroundTruth {
            images: vec![
                Image {
                    id: 1,
                    file_name: "a".into(),
                    width: 640,
                    height: 480,
                },
                Image {
                    id: 2,
                    file_name: "b".into(),
                    width: 640,
                    height: 480,
                },
            ],
            categories: vec![Category {
                id: 1,
                name: "car".into(),
            }],
            objects,
        }
    }

    #[test]
    fn thresholds_are_numpy_linspace() {
        let t = iou_thresholds();
        assert_eq!(t.len(), 10);
        assert_eq!(t[0], 0.5);
        assert_eq!(t[9], 0.95);
        assert!(t.contains(&0.75), "summarize looks 0.75 up by equality");
        assert_eq!(recall_thresholds()[100], 1.0);
    }

    #[test]
    fn perfect_detections_give_ap_one() {
        let g = set(vec![
            obj(1, 1, [10.0, 10.0, 50.0, 50.0]),
            obj(2, 2, [100.0, 100.0, 200.0, 100.0]),
        ]);
        let dets: Vec<Detection> = g
            .objects
            .iter()
            .map(|o| Detection::from_box(o.image_id, 1, o.bbox, 0.9))
            .collect();
        let s = coco_eval(&g, &dets, IouKind::Bbox);
        // Precision is tp / (fp + tp + ε), as in pycocotools: 1 − 1e-16, not 1.
        let one = |v: f64| (v - 1.0).abs() < 1e-12;
        assert!(
            one(s.stats[0]) && one(s.stats[1]) && one(s.stats[4]),
            "{:?}",
            s.stats
        );
        assert_eq!(s.stats[3], -1.0, "no small objects");
        assert_eq!(s.stats[8], 1.0, "recall has no ε");
        assert!(one(s.per_category[0].ap.unwrap()));
    }

    /// Two objects, three detections: a hit (0.9), a miss-placed one (0.8) and
    /// a hit (0.7). Precision at the recall steps: 1 at r = 0.5, 2/3 at r = 1
    /// → AP50 = (51·1 + 50·(2/3)) / 101.
    #[test]
    fn a_false_positive_between_hits_by_hand() {
        let g = set(vec![
            obj(1, 1, [0.0, 0.0, 100.0, 100.0]),
            obj(2, 2, [0.0, 0.0, 100.0, 100.0]),
        ]);
        let dets = vec![
            Detection::from_box(1, 1, [0.0, 0.0, 100.0, 100.0], 0.9),
            Detection::from_box(1, 1, [300.0, 300.0, 100.0, 100.0], 0.8),
            Detection::from_box(2, 1, [0.0, 0.0, 100.0, 100.0], 0.7),
        ];
        let s = coco_eval(&g, &dets, IouKind::Bbox);
        let p2 = 2.0 / (3.0 + f64::EPSILON);
        let expect = (51.0 * (1.0 / (1.0 + f64::EPSILON)) + 50.0 * p2) / 101.0;
        assert!(
            (s.stats[1] - expect).abs() < 1e-12,
            "{} vs {expect}",
            s.stats[1]
        );
        assert_eq!(s.stats[8], 1.0);
    }

    #[test]
    fn no_detections_give_zero_and_no_ground_truth_gives_minus_one() {
        let g = set(vec![obj(1, 1, [0.0, 0.0, 10.0, 10.0])]);
        let s = coco_eval(&g, &[], IouKind::Bbox);
        assert_eq!(s.stats[0], 0.0);
        let empty = set(vec![]);
        let s = coco_eval(
            &empty,
            &[Detection::from_box(1, 1, [0.0; 4], 0.5)],
            IouKind::Bbox,
        );
        assert_eq!(s.stats[0], -1.0);
        assert_eq!(s.per_category[0].ap, None);
    }
}
