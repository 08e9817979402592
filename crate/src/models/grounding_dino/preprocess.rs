//! Image pre-processing as transformers' `GroundingDinoImageProcessor` does
//! it: resize keeping the aspect ratio so the shortest edge is 800 px unless
//! the longest would then exceed 1333 px (torchvision's antialiased bilinear
//! on uint8), rescale by 1/255 and normalise with the ImageNet statistics.
//! A single image needs no padding, so its pixel mask is all ones.
//!
//! Paper: Liu et al., "Grounding DINO", 2023. Reference: transformers
//! `models/grounding_dino/image_processing_grounding_dino.py`
//! (`GroundingDinoImageProcessor.resize`, `_preprocess`) and
//! `image_transforms.py` (`get_size_with_aspect_ratio`).

use burn::tensor::{Device, Tensor, TensorData};

use crate::models::sam2::processing::resize_rgb_u8;

/// ImageNet mean, as `IMAGENET_DEFAULT_MEAN`.
const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// ImageNet standard deviation, as `IMAGENET_DEFAULT_STD`.
const STD: [f32; 3] = [0.229, 0.224, 0.225];

/// The processor's `size`: `{"shortest_edge": 800, "longest_edge": 1333}` by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResizeTarget {
    pub shortest_edge: usize,
    pub longest_edge: usize,
}

impl ResizeTarget {
    /// The `size` of a `preprocessor_config.json` (the default where it
    /// names none).
    pub fn from_preprocessor_config(json: &str) -> Result<Self, String> {
        let value: serde_json::Value =
            serde_json::from_str(json).map_err(|e| format!("preprocessor_config.json: {e}"))?;
        let mut target = ResizeTarget::default();
        let Some(size) = value.get("size").filter(|v| !v.is_null()) else {
            return Ok(target);
        };
        for (key, slot) in [
            ("shortest_edge", &mut target.shortest_edge),
            ("longest_edge", &mut target.longest_edge),
        ] {
            match size.get(key) {
                None => {}
                Some(v) => match v
                    .as_u64()
                    .filter(|&n| n > 0 && n <= u64::from(crate::limits::MAX_IMAGE_SIDE))
                {
                    Some(n) => *slot = n as usize,
                    None => {
                        return Err(format!(
                            "preprocessor_config.json: size.{key} must be a positive integer up to {}, got {v}",
                            crate::limits::MAX_IMAGE_SIDE
                        ));
                    }
                },
            }
        }
        Ok(target)
    }
}

impl Default for ResizeTarget {
    fn default() -> Self {
        ResizeTarget {
            shortest_edge: 800,
            longest_edge: 1333,
        }
    }
}

/// `get_size_with_aspect_ratio`: the `[height, width]` an image of
/// `[height, width]` is resized to (Python's float arithmetic, `round` half to
/// even, `int` truncation).
pub fn resized_size([height, width]: [usize; 2], target: ResizeTarget) -> [usize; 2] {
    let (h, w) = (height as f64, width as f64);
    let mut size = target.shortest_edge as f64;
    let max_size = target.longest_edge as f64;
    let (min_side, max_side) = (h.min(w), h.max(w));
    let mut raw_size = None;
    if max_side / min_side * size > max_size {
        let raw = max_size * min_side / max_side;
        raw_size = Some(raw);
        size = raw.round_ties_even();
    }
    let size_int = size as usize;
    if (height <= width && height == size_int) || (width <= height && width == size_int) {
        return [height, width];
    }
    let scaled = raw_size.unwrap_or(size);
    if width < height {
        [(scaled * h / w) as usize, size_int]
    } else {
        [size_int, (scaled * w / h) as usize]
    }
}

/// `GroundingDinoImageProcessor` on one RGB image (interleaved, row-major,
/// `width × height`): `[3, h, w]` channel-major values and `[h, w]`.
pub fn preprocess_rgb(
    rgb: &[u8],
    width: usize,
    height: usize,
    target: ResizeTarget,
) -> (Vec<f32>, [usize; 2]) {
    let [oh, ow] = resized_size([height, width], target);
    let resized = resize_rgb_u8(rgb, width, height, ow, oh);
    let plane = oh * ow;
    let mut out = vec![0.0f32; 3 * plane];
    for c in 0..3 {
        let mean = MEAN[c] * 255.0;
        let std = STD[c] * 255.0;
        for (i, px) in resized.chunks_exact(3).enumerate() {
            out[c * plane + i] = (f32::from(px[c]) - mean) / std;
        }
    }
    (out, [oh, ow])
}

/// [`preprocess_rgb`] as a `[1, 3, h, w]` tensor.
pub fn preprocess(
    rgb: &[u8],
    width: usize,
    height: usize,
    target: ResizeTarget,
    device: &Device,
) -> Tensor<4> {
    let (values, [h, w]) = preprocess_rgb(rgb, width, height, target);
    Tensor::from_data(TensorData::new(values, [1, 3, h, w]), device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resize_target_from_preprocessor_config() {
        let published =
            r#"{"do_resize": true, "size": {"shortest_edge": 800, "longest_edge": 1333}}"#;
        assert_eq!(
            ResizeTarget::from_preprocessor_config(published),
            Ok(ResizeTarget::default())
        );
        let small = r#"{"size": {"shortest_edge": 96}}"#;
        assert_eq!(
            ResizeTarget::from_preprocessor_config(small).map(|t| t.shortest_edge),
            Ok(96)
        );
        assert_eq!(
            ResizeTarget::from_preprocessor_config("{}"),
            Ok(ResizeTarget::default())
        );
        let bad = r#"{"size": {"shortest_edge": -1}}"#;
        let err = ResizeTarget::from_preprocessor_config(bad).unwrap_err();
        assert!(err.contains("size.shortest_edge"), "{err}");
    }

    #[test]
    fn tiny_and_elongated_images() {
        let target = ResizeTarget::default();
        assert_eq!(resized_size([10, 10], target), [800, 800]);
        // Longest edge 1333 leaves 0.44 px for the short side: Python's
        // arithmetic rounds it to 0.
        assert_eq!(resized_size([1, 3000], target), [0, 1333]);
    }
}
