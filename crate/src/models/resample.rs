//! Image-style resampling written as matrix products, so it runs on every
//! backend that has a matmul.
//!
//! Burn's own bicubic `interpolate` kernel (cubek-interpolate) never finishes
//! on Chromium's SwiftShader WebGPU adapter (the device is lost after ~3 min),
//! while matmul is the best-tested kernel everywhere. A separable resize is two
//! matmuls with weights computed here on the host.
//!
//! Reference: PyTorch `upsample_bicubic2d` (`aten/src/ATen/native/UpSample.h`:
//! `area_pixel_compute_source_index`, `cubic_convolution1/2`, bounded access).

use burn::tensor::{Tensor, TensorData};

/// Keys' cubic convolution parameter PyTorch uses.
const CUBIC_A: f64 = -0.75;

/// `F.interpolate(x, size=[H, W], mode="bicubic", align_corners=False)`:
/// `[B, C, h, w]` → `[B, C, H, W]`.
pub fn bicubic_resize(x: Tensor<4>, [h_out, w_out]: [usize; 2]) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    let device = x.device();
    let matrix = |n_in, n_out| {
        Tensor::<2>::from_data(
            TensorData::new(cubic_weights(n_in, n_out), [n_in, n_out]),
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

#[cfg(test)]
mod tests {
    use burn::tensor::module::interpolate;
    use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
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
