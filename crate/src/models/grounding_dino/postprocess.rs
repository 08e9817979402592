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
            let (cx, cy, bw, bh) = (b[0], b[1], b[2], b[3]);
            let box_xyxy = [
                (cx - 0.5 * bw) * w,
                (cy - 0.5 * bh) * h,
                (cx + 0.5 * bw) * w,
                (cy + 0.5 * bh) * h,
            ];
            Some(Detection {
                score,
                box_xyxy,
                token_positions,
                token_ids,
            })
        })
        .collect()
}
