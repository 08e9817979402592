//! Image-style resampling written as matrix products, so it runs on every
//! backend that has a matmul.
//!
//! Burn's own bicubic `interpolate` kernel (cubek-interpolate) never finishes
//! on Chromium's SwiftShader WebGPU adapter (the device is lost after ~3 min),
//! while matmul is the best-tested kernel everywhere. A separable resize is two
//! matmuls with weights computed here on the host.
//!
//! [`bilinear_resize`] is a host kernel on the CPU (two taps per axis, rows in
//! parallel) and Burn's `interpolate` elsewhere: flex's bilinear kernel works
//! out each pixel's coordinates in f64 and was a quarter of a 16-box decode.
//!
//! Reference: PyTorch `upsample_bicubic2d` / `upsample_bilinear2d`
//! (`aten/src/ATen/native/UpSample.h`: `area_pixel_compute_source_index`,
//! `cubic_convolution1/2`, `compute_source_index_and_lambda`, bounded access).

use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{Tensor, TensorData};

use super::kernels::{filled_rows, for_each_row_block, on_cpu_f32};

/// Keys' cubic convolution parameter PyTorch uses.
const CUBIC_A: f64 = -0.75;

/// `F.interpolate(x, size=[H, W], mode="bicubic", align_corners=False)`:
/// `[B, C, h, w]` → `[B, C, H, W]`.
pub fn bicubic_resize(x: Tensor<4>, size: [usize; 2]) -> Tensor<4> {
    separable(x, size, cubic_weights)
}

/// A separable resize as two matrix products, each axis by the `[n_in, n_out]`
/// weight matrix `weights(n_in, n_out)` (row-major) gives.
fn separable(
    x: Tensor<4>,
    [h_out, w_out]: [usize; 2],
    weights: impl Fn(usize, usize) -> Vec<f32>,
) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    let device = x.device();
    let matrix = |n_in, n_out| {
        Tensor::<2>::from_data(
            TensorData::new(weights(n_in, n_out), [n_in, n_out]),
            &device,
        )
    };
    let rows = x.reshape([b * c * h, w]).matmul(matrix(w, w_out)); // [B·C·h, W]
    let cols = rows
        .reshape([b * c, h, w_out])
        .swap_dims(1, 2)
        .reshape([b * c * w_out, h])
        .matmul(matrix(h, h_out)); // [B·C·W, H]
    cols.reshape([b, c, w_out, h_out]).swap_dims(2, 3)
}

/// `F.interpolate(x, size=[H, W], mode="bilinear", align_corners=False)`:
/// `[B, C, h, w]` → `[B, C, H, W]`.
pub fn bilinear_resize(x: Tensor<4>, [h_out, w_out]: [usize; 2]) -> Tensor<4> {
    if !on_cpu_f32(&x) {
        let options = InterpolateOptions::new(InterpolateMode::Bilinear)
            .with_align_corners(false)
            .with_output_size([h_out, w_out]);
        return interpolate(x, options);
    }
    let [b, c, h, w] = x.dims();
    let device = x.device();
    let data = x.into_data();
    let input = data.as_slice::<f32>().expect("f32 on the CPU");
    let (rows, cols) = (linear_taps(h, h_out), linear_taps(w, w_out));
    let mut out = filled_rows(b * c * h_out, w_out, None);
    for_each_row_block(&mut out, w_out, &|index, out_row| {
        let (plane, y) = (index / h_out, index % h_out);
        let Tap { low, high, t } = rows[y];
        let at = |row: usize| &input[(plane * h + row) * w..][..w];
        let (top, bottom) = (at(low), at(high));
        for (o, tap) in out_row.iter_mut().zip(&cols) {
            let lerp = |r: &[f32]| (1.0 - tap.t) * r[tap.low] + tap.t * r[tap.high];
            *o = (1.0 - t) * lerp(top) + t * lerp(bottom);
        }
    });
    Tensor::from_data(TensorData::new(out, [b, c, h_out, w_out]), &device)
}

/// `F.interpolate(x, size=[H, W], mode="bilinear", antialias=True,
/// align_corners=False)` on floats: `[B, C, h, w]` → `[B, C, H, W]`, as two
/// matrix products.
pub fn antialiased_bilinear_resize(x: Tensor<4>, size: [usize; 2]) -> Tensor<4> {
    separable(x, size, |n_in, n_out| {
        let mut m = vec![0.0f32; n_in * n_out];
        for (o, (start, weights)) in antialiased_linear_taps(n_in, n_out).into_iter().enumerate() {
            for (k, weight) in weights.into_iter().enumerate() {
                m[(start + k) * n_out + o] = weight as f32;
            }
        }
        m
    })
}

/// PyTorch's antialiased linear-filter taps (`_compute_indices_weights_aa`)
/// for resizing `n_in` samples to `n_out`: for each output sample, its first
/// input sample and the normalised weights of the following ones. The
/// triangle filter is widened by the downscale factor.
pub(crate) fn antialiased_linear_taps(n_in: usize, n_out: usize) -> Vec<(usize, Vec<f64>)> {
    let scale = n_in as f64 / n_out as f64;
    let support = scale.max(1.0);
    let inv_scale = if scale >= 1.0 { 1.0 / scale } else { 1.0 };
    let filter = |x: f64| {
        let x = x.abs();
        if x < 1.0 { 1.0 - x } else { 0.0 }
    };
    (0..n_out)
        .map(|i| {
            let center = scale * (i as f64 + 0.5);
            // C casts truncate toward zero before the clamp at 0.
            let start = ((center - support + 0.5) as i64).max(0) as usize;
            let end = ((center + support + 0.5) as i64).min(n_in as i64) as usize;
            let mut weights: Vec<f64> = (start..end)
                .map(|j| filter((j as f64 - center + 0.5) * inv_scale))
                .collect();
            let total: f64 = weights.iter().sum();
            if total != 0.0 {
                for w in &mut weights {
                    *w /= total;
                }
            }
            (start, weights)
        })
        .collect()
}

/// One output sample's two input samples and the weight of the second.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tap {
    pub(crate) low: usize,
    pub(crate) high: usize,
    pub(crate) t: f32,
}

/// PyTorch's `area_pixel_compute_source_index` (align_corners = false) and
/// `compute_source_index_and_lambda` for each of `n_out` samples.
pub(crate) fn linear_taps(n_in: usize, n_out: usize) -> Vec<Tap> {
    let scale = n_in as f32 / n_out as f32;
    (0..n_out)
        .map(|o| {
            let src = ((o as f32 + 0.5) * scale - 0.5).max(0.0);
            let low = (src as usize).min(n_in - 1);
            let high = (low + 1).min(n_in - 1);
            Tap {
                low,
                high,
                t: (src - low as f32).clamp(0.0, 1.0),
            }
        })
        .collect()
}

/// The `[n_in, n_out]` matrix whose column `o` holds the weights output
/// sample `o` gives each input sample (taps past an edge fold onto it).
fn cubic_weights(n_in: usize, n_out: usize) -> Vec<f32> {
    let mut m = vec![0.0f64; n_in * n_out];
    let scale = n_in as f64 / n_out as f64;
    for o in 0..n_out {
        let src = (o as f64 + 0.5) * scale - 0.5;
        let base = src.floor();
        let t = src - base;
        let taps = [
            cubic_far(t + 1.0),
            cubic_near(t),
            cubic_near(1.0 - t),
            cubic_far(2.0 - t),
        ];
        for (k, weight) in taps.into_iter().enumerate() {
            let i = (base as i64 + k as i64 - 1).clamp(0, n_in as i64 - 1) as usize;
            m[i * n_out + o] += weight;
        }
    }
    m.into_iter().map(|v| v as f32).collect()
}

/// Keys' cubic for |x| ≤ 1.
fn cubic_near(x: f64) -> f64 {
    ((CUBIC_A + 2.0) * x - (CUBIC_A + 3.0)) * x * x + 1.0
}

/// Keys' cubic for 1 < |x| < 2.
fn cubic_far(x: f64) -> f64 {
    ((CUBIC_A * x - 5.0 * CUBIC_A) * x + 8.0 * CUBIC_A) * x - 4.0 * CUBIC_A
}

/// The weights one output sample takes from the input samples:
/// `(input index, weight)`, indices ascending and distinct.
pub(crate) type SparseTaps = Vec<(usize, f32)>;

/// `n_in` samples to `n_out` as `Owlv2ImageProcessor.resize` does it (after
/// `skimage.transform.resize(anti_aliasing=True)`): when downscaling, a
/// gaussian blur of σ = (n_in / n_out − 1) / 2 (f32 arithmetic), its kernel
/// `2·⌈3σ⌉ + 1` taps wide as torchvision's `gaussian_blur` builds it, over a
/// reflected border; then bilinear interpolation (`align_corners=False`, no
/// antialias). `blur` false skips the blur (the reference blurs neither axis
/// when either one is not downscaled). Blur and interpolation are composed
/// into one set of taps per output sample.
pub(crate) fn gaussian_bilinear_taps(n_in: usize, n_out: usize, blur: bool) -> Vec<SparseTaps> {
    let kernel = blur.then(|| gaussian_kernel(antialias_sigma(n_in, n_out)));
    linear_taps(n_in, n_out)
        .into_iter()
        .map(|tap| {
            let mut weights = vec![0.0f64; n_in];
            for (i, w) in [
                (tap.low, 1.0 - f64::from(tap.t)),
                (tap.high, f64::from(tap.t)),
            ] {
                match &kernel {
                    None => weights[i] += w,
                    Some(k) => {
                        let half = (k.len() / 2) as i64;
                        for (j, g) in k.iter().enumerate() {
                            weights[reflect(i as i64 + j as i64 - half, n_in)] += w * g;
                        }
                    }
                }
            }
            weights
                .into_iter()
                .enumerate()
                .filter(|&(_, w)| w != 0.0)
                .map(|(i, w)| (i, w as f32))
                .collect()
        })
        .collect()
}

/// The reference's anti-aliasing σ for resizing `n_in` samples to `n_out`:
/// `max((n_in / n_out − 1) / 2, 0)` in f32; 0 means no blur.
pub(crate) fn antialias_sigma(n_in: usize, n_out: usize) -> f32 {
    ((n_in as f32 / n_out as f32 - 1.0) / 2.0).max(0.0)
}

/// torchvision's `_get_gaussian_kernel1d` for σ > 0: `2·⌈3σ⌉ + 1` samples of
/// `exp(−x² / 2σ²)` at integer offsets, normalised to sum 1.
fn gaussian_kernel(sigma: f32) -> Vec<f64> {
    let half = (3.0 * sigma).ceil() as i64;
    let sigma = f64::from(sigma);
    let raw: Vec<f64> = (-half..=half)
        .map(|x| (-(x as f64).powi(2) / (2.0 * sigma * sigma)).exp())
        .collect();
    let total: f64 = raw.iter().sum();
    raw.into_iter().map(|v| v / total).collect()
}

/// `i` reflected into `0..n` without repeating the edge sample (PyTorch's
/// `reflect` padding), folding again while it is outside.
fn reflect(mut i: i64, n: usize) -> usize {
    let last = n as i64 - 1;
    if last <= 0 {
        return 0;
    }
    while i < 0 || i > last {
        i = if i < 0 { -i } else { 2 * last - i };
    }
    i as usize
}

/// Resamples channel-major planes `[C, h, w]` (row-major) to `[C, H, W]` on
/// the host: each output row from `rows[y]`, each output column from
/// `cols[x]` (see [`gaussian_bilinear_taps`]), columns first.
pub(crate) fn resample_planes(
    planes: &[f32],
    [channels, h, w]: [usize; 3],
    rows: &[SparseTaps],
    cols: &[SparseTaps],
) -> Vec<f32> {
    let w_out = cols.len();
    let h_out = rows.len();
    let mut across = vec![0.0f32; channels * h * w_out]; // [C, h, W]
    for (row_in, row_out) in planes.chunks_exact(w).zip(across.chunks_exact_mut(w_out)) {
        for (o, taps) in row_out.iter_mut().zip(cols) {
            *o = taps.iter().map(|&(i, weight)| weight * row_in[i]).sum();
        }
    }
    let mut out = vec![0.0f32; channels * h_out * w_out];
    for (plane_in, plane_out) in across
        .chunks_exact(h * w_out)
        .zip(out.chunks_exact_mut(h_out * w_out))
    {
        for (row_out, taps) in plane_out.chunks_exact_mut(w_out).zip(rows) {
            for &(i, weight) in taps {
                let row_in = &plane_in[i * w_out..][..w_out];
                for (o, v) in row_out.iter_mut().zip(row_in) {
                    *o += weight * v;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Distribution, Tolerance};

    use super::*;

    fn burn_bicubic(x: Tensor<4>, size: [usize; 2]) -> Tensor<4> {
        interpolate(
            x,
            InterpolateOptions::new(InterpolateMode::Bicubic)
                .with_align_corners(false)
                .with_output_size(size),
        )
    }

    #[test]
    fn matches_burns_bicubic_kernel_up_and_down() {
        let device = Device::flex();
        let x = Tensor::<4>::random([2, 3, 7, 5], Distribution::Normal(0.0, 1.0), &device);
        for size in [[32, 24], [7, 5], [3, 2], [9, 40]] {
            let ours = bicubic_resize(x.clone(), size);
            assert_eq!(ours.dims(), [2, 3, size[0], size[1]]);
            ours.into_data().assert_approx_eq::<f32>(
                &burn_bicubic(x.clone(), size).into_data(),
                Tolerance::absolute(1e-5),
            );
        }
    }

    #[test]
    fn bilinear_matches_burns_kernel_up_and_down() {
        let device = Device::flex();
        // A narrowed view, as the decoder's mask outputs are.
        let x = Tensor::<4>::random([2, 4, 7, 5], Distribution::Normal(0.0, 1.0), &device)
            .narrow(1, 1, 3);
        for size in [[32, 24], [7, 5], [3, 2], [9, 40]] {
            let options = InterpolateOptions::new(InterpolateMode::Bilinear)
                .with_align_corners(false)
                .with_output_size(size);
            let expected = interpolate(x.clone(), options);
            bilinear_resize(x.clone(), size)
                .into_data()
                .assert_approx_eq::<f32>(&expected.into_data(), Tolerance::absolute(1e-5));
        }
    }

    #[test]
    fn weights_sum_to_one() {
        for (n_in, n_out) in [(7, 256), (7, 7), (12, 5)] {
            let m = cubic_weights(n_in, n_out);
            for o in 0..n_out {
                let sum: f32 = (0..n_in).map(|i| m[i * n_out + o]).sum();
                assert!(
                    (sum - 1.0).abs() < 1e-5,
                    "column {o} of {n_in}→{n_out} sums to {sum}"
                );
            }
        }
    }
}
