//! Detections from OWLv2's outputs, as transformers'
//! `Owlv2ImageProcessor.post_process_object_detection` makes them: each
//! patch's score is the sigmoid of its largest query logit and its label that
//! query; a patch is kept when the score exceeds the threshold; its box goes
//! from normalised `(cx, cy, w, h)` of the padded square to `[x0, y0, x1,
//! y1]` scaled by the square's side in original pixels, `max(height, width)`
//! (not clipped to the image: a box may reach into the padding).
//!
//! Paper: Minderer et al., "Scaling Open-Vocabulary Object Detection", 2023.
//! Reference: transformers v5.23.0 `models/owlv2/image_processing_owlv2.py`
//! (`post_process_object_detection`, `_scale_boxes`,
//! `post_process_image_guided_detection`). Runs on host values, after the
//! caller's (possibly async) readback.

use crate::labels::PhraseHit;
use crate::labels::boxes::iou_f32;

/// One detected object.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    /// Sigmoid of the patch's best query logit.
    pub score: f32,
    /// Index of that query (0, the query image, in image-guided detection).
    pub label: usize,
    /// `[x0, y0, x1, y1]` in original-image pixels.
    pub box_xyxy: [f32; 4],
}

/// The host outputs of one image: `logits` `[P, Q]` and `boxes` `[P, 4]`
/// normalised `(cx, cy, w, h)`, both row-major.
#[derive(Debug, Clone, Copy)]
pub struct RawOutputs<'a> {
    pub logits: &'a [f32],
    pub boxes: &'a [f32],
    pub queries: usize,
}

pub(crate) fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// The largest logit of a row and its first index (`torch.max`).
fn best(row: &[f32]) -> (usize, f32) {
    row.iter().enumerate().fold(
        (0, f32::NEG_INFINITY),
        |b, (i, &v)| if v > b.1 { (i, v) } else { b },
    )
}

/// `(cx, cy, w, h)` in `[0, 1]` → `[x0, y0, x1, y1]` times `side`.
fn corners(b: &[f32], side: f32) -> [f32; 4] {
    let (cx, cy, w, h) = (b[0], b[1], b[2], b[3]);
    [
        (cx - 0.5 * w) * side,
        (cy - 0.5 * h) * side,
        (cx + 0.5 * w) * side,
        (cy + 0.5 * h) * side,
    ]
}

/// `post_process_object_detection` for one image of original size
/// `[height, width]`: the patches whose score exceeds `threshold`, in patch
/// order.
pub fn detections(out: RawOutputs, threshold: f32, [height, width]: [usize; 2]) -> Vec<Detection> {
    let side = height.max(width) as f32;
    out.logits
        .chunks_exact(out.queries.max(1))
        .zip(out.boxes.chunks_exact(4))
        .filter_map(|(row, b)| {
            let (label, logit) = best(row);
            let score = sigmoid(logit);
            (score > threshold).then(|| Detection {
                score,
                label,
                box_xyxy: corners(b, side),
            })
        })
        .collect()
}

/// Every patch whose best query probability exceeds `threshold`, with all
/// its query probabilities (`phrase_probs`, one per query; its score the
/// best of them): for callers with their own per-query thresholds.
pub fn patch_hits(out: RawOutputs, threshold: f32, [height, width]: [usize; 2]) -> Vec<PhraseHit> {
    let side = height.max(width) as f32;
    out.logits
        .chunks_exact(out.queries.max(1))
        .zip(out.boxes.chunks_exact(4))
        .filter_map(|(row, b)| {
            let score = sigmoid(best(row).1);
            (score > threshold).then(|| PhraseHit {
                score,
                box_xyxy: corners(b, side),
                phrase_probs: row.iter().map(|&v| sigmoid(v)).collect(),
            })
        })
        .collect()
}

/// `post_process_image_guided_detection` for one image of original size
/// `[height, width]` and its one-query `logits` `[P]`: scores are the
/// sigmoids; from the highest down, a box suppresses every other whose IoU
/// with it exceeds `nms_threshold` (`≥ 1` turns NMS off); scores under
/// `threshold` become 0; each remaining patch's score is then rescaled to a
/// display alpha, `(s − 0.1·max) / (0.9·max)` clipped to `[0, 1]` (`max`
/// plus 1e-6), and the patches with a positive alpha are kept, in patch
/// order, with the alpha as their score. No patch left after NMS gives no
/// detections.
pub fn image_guided_detections(
    logits: &[f32],
    boxes: &[f32],
    threshold: f32,
    nms_threshold: f32,
    [height, width]: [usize; 2],
) -> Vec<Detection> {
    let corners: Vec<[f32; 4]> = boxes.chunks_exact(4).map(|b| corners(b, 1.0)).collect();
    let mut scores: Vec<f32> = logits.iter().map(|&v| sigmoid(v)).collect();
    if nms_threshold < 1.0 {
        let mut order: Vec<usize> = (0..scores.len()).collect();
        order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
        for i in order {
            if scores[i] == 0.0 {
                continue;
            }
            for j in 0..scores.len() {
                if j != i && iou_f32(&corners[i], &corners[j]) > nms_threshold {
                    scores[j] = 0.0;
                }
            }
        }
    }
    if scores.iter().all(|&s| s == 0.0) {
        return Vec::new();
    }
    scores
        .iter_mut()
        .filter(|s| **s < threshold)
        .for_each(|s| *s = 0.0);
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max) + 1e-6;
    let side = height.max(width) as f32;
    scores
        .iter()
        .zip(&corners)
        .filter_map(|(&s, b)| {
            let alpha = ((s - max * 0.1) / (max * 0.9)).clamp(0.0, 1.0);
            (alpha > 0.0).then(|| Detection {
                score: alpha,
                label: 0,
                box_xyxy: b.map(|v| v * side),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxes_scale_to_the_padded_square_and_are_not_clipped() {
        let logits = [0.0, 2.0, -3.0, -1.0];
        let boxes = [0.5, 0.5, 0.5, 0.5, 0.95, 0.9, 0.3, 0.4];
        let out = RawOutputs {
            logits: &logits,
            boxes: &boxes,
            queries: 2,
        };
        let found = detections(out, 0.5, [100, 200]);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].label, 1);
        assert_eq!(found[0].box_xyxy, [50.0, 50.0, 150.0, 150.0]);
        let all = detections(out, 0.0, [100, 200]);
        assert_eq!(all[1].box_xyxy[2], (0.95 + 0.15) * 200.0); // past the image
        let hits = patch_hits(out, 0.5, [100, 200]);
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].phrase_probs, vec![0.5, sigmoid(2.0)]);
        assert_eq!(hits[0].score, sigmoid(2.0));
    }
}
