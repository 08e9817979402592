//! Detections from the model's outputs, as transformers'
//! `GroundingDinoProcessor.post_process_grounded_object_detection` makes
//! them: sigmoid of the logits, a query is kept when its best token
//! probability exceeds the box threshold, its label is the tokens whose
//! probability exceeds the text threshold (first and last position of the
//! padded text excluded), its box goes from normalised `(cx, cy, w, h)` to
//! `[x0, y0, x1, y1]` in original-image pixels.
//!
//! Paper: Liu et al., "Grounding DINO", 2023. Reference: transformers
//! `models/grounding_dino/processing_grounding_dino.py`
//! (`post_process_grounded_object_detection`, `get_phrases_from_posmap`).
//! Runs on host values, after the caller's (possibly async) readback.
//!
//! [`nms_per_label`] is not in the reference (Grounding DINO's queries are
//! trained one-to-one and the reference keeps every query above the
//! threshold); it is the usual greedy non-maximum suppression, an option of
//! `autolabel detect`.

use crate::labels::PhraseHit;
use crate::labels::boxes::greedy_nms;
pub use crate::labels::boxes::iou_f32 as iou;

/// One detected object.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    /// Best token probability of the query.
    pub score: f32,
    /// `[x0, y0, x1, y1]` in original-image pixels.
    pub box_xyxy: [f32; 4],
    /// Positions in the prompt of the tokens above the text threshold.
    pub token_positions: Vec<usize>,
    /// The prompt's token ids at those positions (the label, to be decoded).
    pub token_ids: Vec<i64>,
}

/// The host outputs of one image: `logits` `[Q, max_text_len]` (`-inf` past
/// the real tokens) and `boxes` `[Q, 4]` normalised `(cx, cy, w, h)`, both
/// row-major.
#[derive(Debug, Clone, Copy)]
pub struct RawOutputs<'a> {
    pub logits: &'a [f32],
    pub boxes: &'a [f32],
    pub max_text_len: usize,
}

/// Thresholds of the post-processing (transformers' defaults are 0.25 / 0.25;
/// Grounding DINO's demo uses 0.35 / 0.25).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// A query is kept when its best token probability exceeds this.
    pub box_threshold: f32,
    /// A token joins the label when its probability exceeds this.
    pub text_threshold: f32,
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// `post_process_grounded_object_detection` for one image of original size
/// `[height, width]`, prompt `input_ids`. Detections keep the query order.
pub fn detections(
    out: RawOutputs,
    input_ids: &[i64],
    thresholds: Thresholds,
    original_hw: [usize; 2],
) -> Vec<Detection> {
    let n = out.max_text_len;
    let [h, w] = [original_hw[0] as f32, original_hw[1] as f32];
    out.logits
        .chunks_exact(n)
        .zip(out.boxes.chunks_exact(4))
        .filter_map(|(logits, b)| {
            let probs: Vec<f32> = logits.iter().map(|&l| sigmoid(l)).collect();
            let score = probs.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            if score <= thresholds.box_threshold {
                return None;
            }
            let token_positions: Vec<usize> = probs
                .iter()
                .enumerate()
                .filter(|&(i, &p)| {
                    i != 0 && i + 1 != n && i < input_ids.len() && p > thresholds.text_threshold
                })
                .map(|(i, _)| i)
                .collect();
            let token_ids = token_positions.iter().map(|&i| input_ids[i]).collect();
            Some(Detection {
                score,
                box_xyxy: to_xyxy(b, w, h),
                token_positions,
                token_ids,
            })
        })
        .collect()
}

/// Normalised `(cx, cy, w, h)` → `[x0, y0, x1, y1]` in a `w × h` image.
fn to_xyxy(b: &[f32], w: f32, h: f32) -> [f32; 4] {
    let (cx, cy, bw, bh) = (b[0], b[1], b[2], b[3]);
    [
        (cx - 0.5 * bw) * w,
        (cy - 0.5 * bh) * h,
        (cx + 0.5 * bw) * w,
        (cy + 0.5 * bh) * h,
    ]
}

/// The queries whose best token probability exceeds `box_threshold`, each a
/// [`PhraseHit`] with the probability of each phrase (`phrase_tokens`: token
/// ranges into the prompt's ids), for callers with per-class thresholds such
/// as the pipeline's ontology. Queries keep their order.
pub fn phrase_hits(
    out: RawOutputs,
    phrase_tokens: &[std::ops::Range<usize>],
    box_threshold: f32,
    original_hw: [usize; 2],
) -> Vec<PhraseHit> {
    let n = out.max_text_len;
    let [h, w] = [original_hw[0] as f32, original_hw[1] as f32];
    out.logits
        .chunks_exact(n)
        .zip(out.boxes.chunks_exact(4))
        .filter_map(|(logits, b)| {
            let prob = |i: usize| logits.get(i).map_or(0.0, |&l| sigmoid(l));
            let score = (0..n).map(prob).fold(f32::NEG_INFINITY, f32::max);
            if score <= box_threshold {
                return None;
            }
            let phrase_probs = phrase_tokens
                .iter()
                .map(|r| r.clone().map(prob).fold(0.0, f32::max))
                .collect();
            Some(PhraseHit {
                score,
                box_xyxy: to_xyxy(b, w, h),
                phrase_probs,
            })
        })
        .collect()
}

/// Greedy non-maximum suppression within each label (detections with the
/// same `token_ids`): from the highest score down, a detection is dropped
/// when its IoU with a kept one of its label exceeds `iou_threshold`. The
/// survivors keep their order.
pub fn nms_per_label(detections: Vec<Detection>, iou_threshold: f32) -> Vec<Detection> {
    greedy_nms(
        detections,
        |d| d.score,
        |kept, d| kept.token_ids == d.token_ids && iou(&kept.box_xyxy, &d.box_xyxy) > iou_threshold,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(score: f32, box_xyxy: [f32; 4], label: i64) -> Detection {
        Detection {
            score,
            box_xyxy,
            token_positions: vec![1],
            token_ids: vec![label],
        }
    }

    #[test]
    fn phrase_hits_take_each_phrases_best_token() {
        // Two queries, text length 5: [CLS] a b c [SEP]; phrases a..b, c.
        let logits = [
            -9.0, 2.0, -1.0, 0.5, -9.0, // kept: best token 2.0
            -9.0, -3.0, -4.0, -5.0, -9.0, // dropped: below the threshold
        ];
        let boxes = [0.5, 0.5, 0.25, 0.5, 0.1, 0.1, 0.1, 0.1];
        let raw = RawOutputs {
            logits: &logits,
            boxes: &boxes,
            max_text_len: 5,
        };
        let hits = phrase_hits(raw, &[1..3, 3..4], 0.5, [100, 200]);
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].score, sigmoid(2.0));
        assert_eq!(hits[0].phrase_probs, vec![sigmoid(2.0), sigmoid(0.5)]);
        assert_eq!(hits[0].box_xyxy, [75.0, 25.0, 125.0, 75.0]);
    }

    #[test]
    fn iou_of_boxes() {
        let a = [0.0, 0.0, 10.0, 10.0];
        assert_eq!(iou(&a, &a), 1.0);
        assert_eq!(iou(&a, &[10.0, 0.0, 20.0, 10.0]), 0.0);
        assert!((iou(&a, &[5.0, 0.0, 15.0, 10.0]) - 1.0 / 3.0).abs() < 1e-6);
        assert_eq!(iou(&[1.0; 4], &[1.0; 4]), 0.0);
    }

    #[test]
    fn nms_is_per_label_and_keeps_order() {
        let dets = vec![
            det(0.5, [0.0, 0.0, 10.0, 10.0], 7),
            det(0.9, [1.0, 0.0, 11.0, 10.0], 7), // suppresses the first
            det(0.4, [1.0, 0.0, 11.0, 10.0], 8), // other label: kept
            det(0.3, [50.0, 50.0, 60.0, 60.0], 7), // no overlap: kept
        ];
        let kept = nms_per_label(dets.clone(), 0.5);
        assert_eq!(
            kept,
            vec![dets[1].clone(), dets[2].clone(), dets[3].clone()]
        );
        assert_eq!(nms_per_label(dets.clone(), 0.95).len(), 4);
    }
}
