//! The seed's greedy matcher, used for precision/recall, the recall bins,
//! the confusion matrix and the failure queue (COCO AP has its own matcher in
//! `cocoeval`).
//!
//! Exactly: predictions are visited in descending score order — a stable
//! sort, so equal scores keep their input order; each takes, among the ground
//! truth objects not yet taken, the one with the highest IoU, provided that
//! IoU is ≥ the threshold (equal IoUs: the earlier ground truth object). A
//! prediction that finds none is unmatched; ground truth never taken is
//! missed. The caller picks what may match what (same class, same frame, or
//! any class for the confusion matrix).

/// The outcome of matching one group of predictions to one group of ground
/// truth objects (indices are positions within the groups).
#[derive(Debug, Clone, PartialEq)]
pub struct Matching {
    /// Per prediction: the ground truth it took and the IoU.
    pub pred_to_gt: Vec<Option<(usize, f64)>>,
    /// Per ground truth object: the prediction that took it.
    pub gt_to_pred: Vec<Option<usize>>,
}

/// Prediction positions by descending score, equal scores in input order.
pub fn score_order(scores: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    order
}

/// Greedy matching of `scores.len()` predictions to `n_gt` ground truth
/// objects; `iou(p, g)` is the IoU of prediction `p` with object `g`.
pub fn greedy_match(
    scores: &[f64],
    n_gt: usize,
    iou: impl Fn(usize, usize) -> f64,
    threshold: f64,
) -> Matching {
    let mut pred_to_gt = vec![None; scores.len()];
    let mut gt_to_pred = vec![None; n_gt];
    for p in score_order(scores) {
        let mut best: Option<(usize, f64)> = None;
        for (g, taken) in gt_to_pred.iter().enumerate() {
            if taken.is_some() {
                continue;
            }
            let v = iou(p, g);
            if v >= threshold && best.is_none_or(|(_, b)| v > b) {
                best = Some((g, v));
            }
        }
        if let Some((g, v)) = best {
            gt_to_pred[g] = Some(p);
            pred_to_gt[p] = Some((g, v));
        }
    }
    Matching {
        pred_to_gt,
        gt_to_pred,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::rle::bbox_iou;

    /// Greedy matching of xywh boxes.
    fn run(preds: &[([f64; 4], f64)], gts: &[[f64; 4]]) -> Matching {
        let scores: Vec<f64> = preds.iter().map(|p| p.1).collect();
        greedy_match(
            &scores,
            gts.len(),
            |p, g| bbox_iou(preds[p].0, gts[g], false),
            0.5,
        )
    }

    #[test]
    fn iou_is_continuous_intersection_over_union() {
        // [0,0]–[10,10] and [5,0]–[15,10]: 50 / 150.
        assert_eq!(
            bbox_iou([0.0, 0.0, 10.0, 10.0], [5.0, 0.0, 10.0, 10.0], false),
            1.0 / 3.0
        );
        // Touching boxes do not overlap.
        assert_eq!(
            bbox_iou([0.0, 0.0, 10.0, 10.0], [10.0, 0.0, 5.0, 5.0], false),
            0.0
        );
        // Exactly half: [0,0]–[10,10] inside [0,0]–[10,20].
        assert_eq!(
            bbox_iou([0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 20.0], false),
            0.5
        );
    }

    #[test]
    fn a_duplicate_is_a_false_positive_and_the_higher_score_wins() {
        let gt = [[0.0, 0.0, 10.0, 10.0]];
        // The second (score 0.9) is visited first and is the worse box.
        let m = run(
            &[([0.0, 0.0, 10.0, 10.0], 0.8), ([1.0, 0.0, 10.0, 10.0], 0.9)],
            &gt,
        );
        assert_eq!(m.pred_to_gt[1].map(|x| x.0), Some(0));
        assert_eq!(m.pred_to_gt[0], None);
        assert_eq!(m.gt_to_pred, vec![Some(1)]);
    }

    #[test]
    fn equal_scores_keep_input_order() {
        let gt = [[0.0, 0.0, 10.0, 10.0]];
        let m = run(
            &[([1.0, 0.0, 10.0, 10.0], 0.5), ([0.0, 0.0, 10.0, 10.0], 0.5)],
            &gt,
        );
        assert_eq!(
            m.gt_to_pred,
            vec![Some(0)],
            "the first of two equal scores goes first"
        );
        assert_eq!(score_order(&[0.5, 0.9, 0.5, 0.9]), vec![1, 3, 0, 2]);
    }

    #[test]
    fn each_prediction_takes_its_best_free_object_not_the_globally_best_pairing() {
        // A (score .9) overlaps G0 by 0.6 and G1 by 0.7 → takes G1; B (score .8)
        // overlaps only G1 (0.9) → nothing left: greedy, not optimal.
        let gts = [[0.0, 0.0, 10.0, 10.0], [20.0, 0.0, 10.0, 10.0]];
        let table = [[0.6, 0.7], [0.0, 0.9]];
        let m = greedy_match(&[0.9, 0.8], 2, |p, g| table[p][g], 0.5);
        assert_eq!(m.pred_to_gt, vec![Some((1, 0.7)), None]);
        assert_eq!(m.gt_to_pred, vec![None, Some(0)]);
        let _ = gts;
    }

    #[test]
    fn equal_ious_go_to_the_earlier_object_and_the_threshold_is_inclusive() {
        let m = greedy_match(&[1.0], 3, |_, g| [0.4, 0.5, 0.5][g], 0.5);
        assert_eq!(m.pred_to_gt, vec![Some((1, 0.5))]);
    }

    #[test]
    fn empty_frames_and_zero_ground_truth() {
        let m = run(&[], &[]);
        assert!(m.pred_to_gt.is_empty() && m.gt_to_pred.is_empty());
        let m = run(&[([0.0, 0.0, 5.0, 5.0], 0.7)], &[]);
        assert_eq!(m.pred_to_gt, vec![None]);
        let m = run(&[], &[[0.0, 0.0, 5.0, 5.0]]);
        assert_eq!(m.gt_to_pred, vec![None]);
    }
}
