//! Axis-aligned boxes in image pixels, in the two layouts the formats use:
//! `[x0, y0, x1, y1]` (models, nuScenes projection, the pipeline's data) and
//! COCO's `[x, y, w, h]` (COCO files and results). Boxes cross every stage
//! boundary as [`Box2`]; [`Xywh`] appears only where a COCO record is read or
//! written.

/// An axis-aligned box `[x0, y0, x1, y1]` in pixels.
pub type Box2 = [f64; 4];

/// A COCO box `[x, y, w, h]` in pixels.
pub type Xywh = [f64; 4];

/// `[x, y, w, h]` → `[x0, y0, x1, y1]`.
pub fn xywh_to_xyxy(b: Xywh) -> Box2 {
    [b[0], b[1], b[0] + b[2], b[1] + b[3]]
}

/// `[x0, y0, x1, y1]` → `[x, y, w, h]`.
pub fn xyxy_to_xywh(b: Box2) -> Xywh {
    [b[0], b[1], b[2] - b[0], b[3] - b[1]]
}

/// A model's `f32` box as a [`Box2`].
pub fn from_f32(b: [f32; 4]) -> Box2 {
    b.map(f64::from)
}

/// The area of `[x0, y0, x1, y1]` (0 for an inverted box).
pub fn area(b: Box2) -> f64 {
    (b[2] - b[0]).max(0.0) * (b[3] - b[1]).max(0.0)
}

/// The area two boxes share.
pub fn intersection(a: Box2, b: Box2) -> f64 {
    area([
        a[0].max(b[0]),
        a[1].max(b[1]),
        a[2].min(b[2]),
        a[3].min(b[3]),
    ])
}

/// Intersection over union of two `f32` model boxes `[x0, y0, x1, y1]` (0
/// when both are empty).
pub fn iou_f32(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let area = |r: &[f32; 4]| (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0);
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = w * h;
    let union = area(a) + area(b) - inter;
    if union > 0.0 { inter / union } else { 0.0 }
}

/// Greedy non-maximum suppression: from the highest `score` down, an item is
/// dropped when `suppresses(kept, item)` holds for an item already kept
/// (typically: same label and IoU over a threshold). The survivors keep
/// their order.
pub fn greedy_nms<T>(
    items: Vec<T>,
    score: impl Fn(&T) -> f32,
    suppresses: impl Fn(&T, &T) -> bool,
) -> Vec<T> {
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by(|&a, &b| score(&items[b]).total_cmp(&score(&items[a])));
    let mut keep = vec![false; items.len()];
    let mut kept: Vec<usize> = Vec::new();
    for i in order {
        if !kept.iter().any(|&k| suppresses(&items[k], &items[i])) {
            kept.push(i);
            keep[i] = true;
        }
    }
    items
        .into_iter()
        .zip(keep)
        .filter_map(|(item, k)| k.then_some(item))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_invert() {
        let b = [10.0, 20.0, 30.5, 40.25];
        assert_eq!(xyxy_to_xywh(xywh_to_xyxy(b)), b);
    }

    #[test]
    fn intersection_of_overlapping_and_disjoint_boxes() {
        assert_eq!(
            intersection([0.0, 0.0, 4.0, 4.0], [2.0, 1.0, 6.0, 3.0]),
            4.0
        );
        assert_eq!(
            intersection([0.0, 0.0, 1.0, 1.0], [2.0, 2.0, 3.0, 3.0]),
            0.0
        );
        assert_eq!(area([3.0, 3.0, 1.0, 5.0]), 0.0);
    }
}
