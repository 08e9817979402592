//! Pre- and post-processing of SAM 2, as transformers' `Sam2ImageProcessor` and
//! `Sam2Processor` do it.
//!
//! Paper: Ravi et al., "SAM 2", 2024. Reference: transformers
//! `models/sam2/image_processing_sam2.py` (`Sam2ImageProcessor`: resize to 1024²
//! with torchvision's antialiased bilinear on uint8, fused rescale + ImageNet
//! normalisation; `post_process_masks`: bilinear upsampling with
//! `align_corners=False`, threshold 0) and `processing_sam2.py`
//! (`_normalize_coordinates`: x · S/W, y · S/H).
//!
//! The resize reproduces PyTorch's uint8 antialiased bilinear kernel (the one
//! torchvision calls on CPU): separable, horizontal pass first, weights from the
//! triangle filter widened by the downscale factor, normalised and quantised to
//! 16-bit fixed point, each pass rounded and clamped to u8.

use burn::tensor::{Device, Tensor, TensorData};

use crate::models::resample::{antialiased_linear_taps, bilinear_resize};

/// ImageNet mean, as `IMAGENET_DEFAULT_MEAN`.
const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// ImageNet standard deviation, as `IMAGENET_DEFAULT_STD`.
const STD: [f32; 3] = [0.229, 0.224, 0.225];

/// One output position of a 1-D resampling: first source index and
/// fixed-point weights.
struct Taps {
    start: usize,
    weights: Vec<i32>,
}

/// Antialiased linear-filter taps for resizing `n_in` samples to `n_out`,
/// quantised to `precision` fractional bits (PyTorch's
/// `_compute_index_ranges_int16_weights`).
fn linear_taps(n_in: usize, n_out: usize) -> (Vec<Taps>, u32) {
    let float_taps = antialiased_linear_taps(n_in, n_out);
    let max_weight = float_taps
        .iter()
        .flat_map(|(_, w)| w.iter().copied())
        .fold(0.0f64, f64::max);
    let mut precision = 0u32;
    while precision < 22 {
        let next = (0.5 + max_weight * f64::from(1u32 << (precision + 1))) as i64;
        if next >= 1 << 15 {
            break;
        }
        precision += 1;
    }
    let one = f64::from(1u32 << precision);
    let taps = float_taps
        .into_iter()
        .map(|(start, weights)| Taps {
            start,
            weights: weights
                .into_iter()
                .map(|w| {
                    if w < 0.0 {
                        (-0.5 + w * one) as i32
                    } else {
                        (0.5 + w * one) as i32
                    }
                })
                .collect(),
        })
        .collect();
    (taps, precision)
}

fn apply_taps(taps: &Taps, precision: u32, sample: impl Fn(usize) -> u8) -> u8 {
    let mut acc: i32 = 1 << (precision - 1);
    for (k, &w) in taps.weights.iter().enumerate() {
        acc += i32::from(sample(taps.start + k)) * w;
    }
    (acc >> precision).clamp(0, 255) as u8
}

/// Resizes interleaved RGB `width × height` to `out_w × out_h` as PyTorch's
/// `interpolate(uint8, mode="bilinear", antialias=True, align_corners=False)`.
pub fn resize_rgb_u8(
    rgb: &[u8],
    width: usize,
    height: usize,
    out_w: usize,
    out_h: usize,
) -> Vec<u8> {
    let horizontal = if out_w != width {
        let (taps, precision) = linear_taps(width, out_w);
        let mut out = vec![0u8; out_w * height * 3];
        for y in 0..height {
            let row = &rgb[y * width * 3..(y + 1) * width * 3];
            for (x, t) in taps.iter().enumerate() {
                for c in 0..3 {
                    out[(y * out_w + x) * 3 + c] = apply_taps(t, precision, |j| row[j * 3 + c]);
                }
            }
        }
        out
    } else {
        rgb.to_vec()
    };
    if out_h == height {
        return horizontal;
    }
    let (taps, precision) = linear_taps(height, out_h);
    let mut out = vec![0u8; out_w * out_h * 3];
    for (y, t) in taps.iter().enumerate() {
        for x in 0..out_w {
            for c in 0..3 {
                out[(y * out_w + x) * 3 + c] =
                    apply_taps(t, precision, |j| horizontal[(j * out_w + x) * 3 + c]);
            }
        }
    }
    out
}

/// `Sam2ImageProcessor` on one RGB image (interleaved, row-major): resize to
/// `size × size`, rescale by 1/255 and normalise with the ImageNet statistics,
/// fused as transformers does. Returns `[3, size, size]` values, channel-major.
pub fn preprocess_rgb(rgb: &[u8], width: usize, height: usize, size: usize) -> Vec<f32> {
    let resized = resize_rgb_u8(rgb, width, height, size, size);
    let mut out = vec![0.0f32; 3 * size * size];
    for c in 0..3 {
        let mean = MEAN[c] * 255.0;
        let std = STD[c] * 255.0;
        for (i, px) in resized.chunks_exact(3).enumerate() {
            out[c * size * size + i] = (f32::from(px[c]) - mean) / std;
        }
    }
    out
}

/// [`preprocess_rgb`] as a `[1, 3, size, size]` tensor.
pub fn preprocess(
    rgb: &[u8],
    width: usize,
    height: usize,
    size: usize,
    device: &Device,
) -> Tensor<4> {
    let values = preprocess_rgb(rgb, width, height, size);
    Tensor::from_data(TensorData::new(values, [1, 3, size, size]), device)
}

/// A point in original-image pixels → model-input pixels (`size × size`),
/// with the reference's f32 arithmetic.
pub fn scale_point(xy: [f32; 2], original: [usize; 2], size: usize) -> [f32; 2] {
    let [height, width] = original;
    let sx = (size as f64 / width as f64) as f32;
    let sy = (size as f64 / height as f64) as f32;
    [xy[0] * sx, xy[1] * sy]
}

/// A box `[x0, y0, x1, y1]` in original-image pixels → model-input pixels.
pub fn scale_box(b: [f32; 4], original: [usize; 2], size: usize) -> [f32; 4] {
    let [x0, y0] = scale_point([b[0], b[1]], original, size);
    let [x1, y1] = scale_point([b[2], b[3]], original, size);
    [x0, y0, x1, y1]
}

/// `post_process_masks` without the threshold: low-resolution logits
/// `[P, M, h, w]` → logits at the original `[height, width]`, bilinear,
/// `align_corners = false`. A mask pixel is set where its logit is `> 0`.
pub fn upscale_masks(low_res: Tensor<4>, original: [usize; 2]) -> Tensor<4> {
    bilinear_resize(low_res, original)
}

/// The reference's binarisation threshold on mask logits.
pub const MASK_THRESHOLD: f32 = 0.0;
