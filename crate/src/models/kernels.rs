//! The CPU (`flex`) versions of the ops the model ports spend their time in,
//! where flex's own are slow: scalar `libm` per element (the exact GELU's
//! `erf`, the softmax's `exp`), single-threaded element-wise adds, strided
//! slow paths, or layout copies. Each is arithmetic the compiler vectorises,
//! run in place on the tensor's own buffer where it can be, in row blocks on
//! rayon's threads (in the page: the threaded wasm build's web workers); the
//! row kernels are compiled a second time for AVX-512 and chosen at run time.
//! On any other backend (wgpu, WebGPU) every function here is Burn's own op,
//! unchanged.
//!
//! Accuracy, tested below against the exact functions: `erf` within 5e-7
//! absolute (the rational approximation Eigen and XLA use, `x·P(x²)/Q(x²)` on
//! [-4, 4]), `exp` within 2 ulp (Cephes' `expf`: range reduction by ln 2 and a
//! degree-6 polynomial). GELU is PyTorch's exact `nn.GELU()`,
//! `0.5·x·(1 + erf(x/√2))`; softmax is `torch.softmax` over the last dimension.
//!
//! - [`attention`]: scaled dot-product attention, on the CPU two GEMMs around
//!   the fast exponential per block of queries (`models/cpu_gemm.rs`).
//! - [`quick_gelu`]: CLIP's `x · σ(1.702 x)` on the fast exponential.
//! - [`linear`]: a projection as one GEMM over every leading dimension (a
//!   host GEMM on the CPU, `models/cpu_gemm.rs`).
//! - [`add`], [`contiguous`]: residual adds on all threads; one copy of a
//!   strided view that many ops will read.
//! - [`max_pool_channels_last`], [`layer_norm_channels_first_on_cpu`]: the
//!   layout a model has, without the permute copies to the one flex wants.

use burn::backend::Flex;
use burn::tensor::activation::{gelu as burn_gelu, softmax as burn_softmax};
use burn::tensor::module::{attention as burn_attention, linear as burn_linear, max_pool2d};
use burn::tensor::ops::{AttentionModuleOptions, MaxPoolOptions};
use burn::tensor::{DType, Device, Tensor, TensorData};

use crate::limits::in_row_blocks;

/// `nn.GELU()` (exact, erf form).
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if !on_cpu_f32(&x) {
        return burn_gelu(x);
    }
    map_rows_on_cpu(x, gelu_wide)
}

/// `quick_gelu`, CLIP's activation: `x · σ(1.702 x)`.
pub fn quick_gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if !on_cpu_f32(&x) {
        return x.clone() * burn::tensor::activation::sigmoid(x * 1.702);
    }
    map_rows_on_cpu(x, quick_gelu_wide)
}

/// `x @ weight + bias` (`weight` is `[d_in, d_out]`) as one `[rows, d_in]`
/// GEMM over all of `x`'s leading dimensions, on every backend.
///
/// Burn's `linear` keeps `[.., m, d_in]` batched when `m` is a multiple of 32:
/// Hiera's `[B, H, W, C]` maps and `[windows, ws, ws, C]` windows would run as
/// thousands of small GEMMs that each pack the weight again. On the CPU `x`
/// is read in place when its rows are one stride apart (a channels-first map
/// viewed channels-last); any other view (a window partition, say) is copied
/// once.
pub fn linear<const D: usize>(
    x: Tensor<D>,
    weight: Tensor<2>,
    bias: Option<Tensor<1>>,
) -> Tensor<D> {
    let mut dims = x.dims();
    let d_in = dims[D - 1];
    let rows = x.shape().num_elements() / d_in.max(1);
    let out = if on_cpu_f32(&x) {
        super::cpu_gemm::linear(x, weight, bias)
    } else {
        burn_linear(x.reshape([rows, d_in]), weight, bias)
    };
    dims[D - 1] = out.dims()[1];
    out.reshape(dims)
}

/// `x` laid out contiguously. On the CPU, element-wise ops on strided views
/// (a transposed or broadcast map) take flex's slow strided path every time,
/// so a view used many times is worth one copy; other backends get `x` back.
pub fn contiguous<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if !on_cpu_f32(&x) {
        return x;
    }
    let t = x
        .try_into_primitive::<Flex>()
        .expect("a CPU tensor is a flex tensor");
    Tensor::from_primitive::<Flex>(t.to_contiguous())
}

/// `Sam2LayerNorm(data_format="channels_first")` on the CPU: `[B, C, H, W]`
/// normalised over `C` in place of layout, as the reference computes it —
/// `u = mean_C(x)`, `s = mean_C((x - u)²)`, `γ·(x - u)/√(s + ε) + β`. The
/// generic path permutes to channels-last and back, two copies of a map.
pub(crate) fn layer_norm_channels_first_on_cpu(
    x: Tensor<4>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    eps: f64,
) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    let hw = h * w;
    let device = x.device();
    let [x, gamma, beta] = [x.into_data(), gamma.into_data(), beta.into_data()];
    let [x, gamma, beta] =
        [&x, &gamma, &beta].map(|d| d.as_slice::<f32>().expect("f32 on the CPU"));
    // Per image: the mean and 1/√(var + ε) of each pixel over the channels.
    let mut stats = vec![0.0f32; b * 2 * hw];
    for_each_row_block(&mut stats, 2 * hw, &|bi, row| {
        let (mean, rstd) = row.split_at_mut(hw);
        let planes = x[bi * c * hw..][..c * hw].chunks_exact(hw);
        for plane in planes.clone() {
            mean.iter_mut().zip(plane).for_each(|(m, v)| *m += v);
        }
        mean.iter_mut().for_each(|m| *m /= c as f32);
        for plane in planes {
            for ((s, m), v) in rstd.iter_mut().zip(&*mean).zip(plane) {
                *s += (v - m) * (v - m);
            }
        }
        rstd.iter_mut()
            .for_each(|s| *s = 1.0 / (*s / c as f32 + eps as f32).sqrt());
    });
    let mut out = filled_rows(b * c, hw, None);
    for_each_row_block(&mut out, hw, &|plane, row| {
        let (bi, ci) = (plane / c, plane % c);
        let (mean, rstd) = stats[bi * 2 * hw..][..2 * hw].split_at(hw);
        let input = &x[plane * hw..][..hw];
        for (((o, v), m), s) in row.iter_mut().zip(input).zip(mean).zip(rstd) {
            *o = gamma[ci] * ((v - m) * s) + beta[ci];
        }
    });
    Tensor::from_data(TensorData::new(out, [b, c, h, w]), &device)
}

/// `a + b` for tensors of one shape. On the CPU in place on `a`'s buffer
/// where it can be, on all threads (flex adds on one), with a strided `b`
/// (an un-partitioned window map, say) copied once first.
pub fn add<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> Tensor<D> {
    if !on_cpu_f32(&a) || a.dims() != b.dims() {
        return a + b;
    }
    let row = a.dims()[D - 1];
    let b = contiguous(b)
        .try_into_primitive::<Flex>()
        .expect("a CPU tensor is a flex tensor");
    let (start, end) = b.layout().contiguous_offsets().expect("made contiguous");
    let b = &b.storage::<f32>()[start..end];
    map_indexed_rows_on_cpu(a, |i, r| {
        r.iter_mut().zip(&b[i * row..]).for_each(|(x, y)| *x += y);
    })
}

/// `[H', W']` of a convolution's output for an `[H, W]` input (no dilation;
/// a kernel larger than the padded input gives 1).
pub(crate) fn conv_output_size(
    [h, w]: [usize; 2],
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
) -> [usize; 2] {
    std::array::from_fn(|i| ([h, w][i] + 2 * padding[i]).saturating_sub(kernel[i]) / stride[i] + 1)
}

/// The `kernel`-sized patches of a `[B, C, H, W]` f32 CPU image taken every
/// `stride` pixels over its zero `padding`, channels-last: `[B, H', W',
/// C·kh·kw]`, each patch ordered as a `[C_out, C, kh, kw]` convolution weight
/// flattens its input side (`im2col`), so the convolution is one GEMM.
pub(crate) fn patches_on_cpu(
    x: Tensor<4>,
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    let [kh, kw] = kernel;
    let [h_out, w_out] = conv_output_size([h, w], kernel, stride, padding);
    let device = x.device();
    let data = x.into_data();
    let image = data.as_slice::<f32>().expect("f32 on the CPU");
    let mut out = filled_rows(b * h_out * w_out, c * kh * kw, None);
    for_each_row_block(&mut out, c * kh * kw, &|pixel, row| {
        let (bi, rest) = (pixel / (h_out * w_out), pixel % (h_out * w_out));
        let (top, left) = (rest / w_out * stride[0], rest % w_out * stride[1]);
        for (ci, channel) in row.chunks_exact_mut(kh * kw).enumerate() {
            let plane = &image[(bi * c + ci) * h * w..][..h * w];
            for (ky, line) in channel.chunks_exact_mut(kw).enumerate() {
                let Some(y) = (top + ky).checked_sub(padding[0]).filter(|&y| y < h) else {
                    continue;
                };
                for (kx, value) in line.iter_mut().enumerate() {
                    if let Some(x) = (left + kx).checked_sub(padding[1]).filter(|&x| x < w) {
                        *value = plane[y * w + x];
                    }
                }
            }
        }
    });
    Tensor::from_data(
        TensorData::new(out, [b, h_out, w_out, c * kh * kw]),
        &device,
    )
}

/// `nn.MaxPool2d(stride, stride)` (floor mode) of a channels-last
/// `[B, H, W, C]` map → `[B, H / stride, W / stride, C]`. On the CPU each
/// output pixel is the element-wise maximum of `stride²` contiguous channel
/// rows; elsewhere Burn's `max_pool2d` on the `[B, C, H, W]` view.
pub fn max_pool_channels_last(x: Tensor<4>, stride: usize) -> Tensor<4> {
    if !on_cpu_f32(&x) {
        let pooled = max_pool2d(
            x.permute([0, 3, 1, 2]),
            MaxPoolOptions::new([stride, stride]),
        );
        return pooled.permute([0, 2, 3, 1]);
    }
    let [b, h, w, c] = x.dims();
    let (h_out, w_out) = (h / stride, w / stride);
    let device = x.device();
    let data = x.into_data();
    let input = data.as_slice::<f32>().expect("f32 on the CPU");
    let mut out = filled_rows(b * h_out * w_out, c, None);
    for_each_row_block(&mut out, c, &|pixel, row| {
        let (bi, rest) = (pixel / (h_out * w_out), pixel % (h_out * w_out));
        let (i, j) = (rest / w_out * stride, rest % w_out * stride);
        row.fill(f32::NEG_INFINITY);
        for y in i..i + stride {
            for x in j..j + stride {
                let start = ((bi * h + y) * w + x) * c;
                for (m, &v) in row.iter_mut().zip(&input[start..start + c]) {
                    // NaN wins, as in PyTorch.
                    *m = if v > *m || v.is_nan() { v } else { *m };
                }
            }
        }
    });
    Tensor::from_data(TensorData::new(out, [b, h_out, w_out, c]), &device)
}

/// `softmax(x, dim = -1)`.
pub fn softmax_last<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if !on_cpu_f32(&x) {
        return burn_softmax(x, D - 1);
    }
    map_rows_on_cpu(x, softmax_wide)
}

/// `softmax(q kᵀ / √d) v` over `[B, H, L, d]` heads, no mask or bias.
///
/// On the CPU: one host kernel (`models/cpu_gemm.rs`) that keeps each
/// block of scores in cache and reads the heads through their strides.
/// Elsewhere: Burn's fused attention, in query blocks within WebGPU's buffer
/// limit.
pub fn attention(q: Tensor<4>, k: Tensor<4>, v: Tensor<4>) -> Tensor<4> {
    let l_k = k.dims()[2];
    if !on_cpu_f32(&q) {
        return in_row_blocks(q, 2, l_k, |q| {
            burn_attention(
                q,
                k.clone(),
                v.clone(),
                None,
                None,
                AttentionModuleOptions::default(),
            )
        });
    }
    super::cpu_gemm::attention(q, k, v)
}

/// Whether `x` is an f32 tensor on the CPU backend, whose values the host
/// kernels may read and write.
pub(crate) fn on_cpu_f32<const D: usize>(x: &Tensor<D>) -> bool {
    x.dtype() == DType::F32 && x.device() == Device::flex()
}

/// `f` on every row (last dimension) of `x`, an f32 tensor on the CPU
/// backend ([`on_cpu_f32`]). Works in place when `x` owns a contiguous
/// buffer, on a fresh copy otherwise.
fn map_rows_on_cpu<const D: usize>(x: Tensor<D>, f: impl Fn(&mut [f32]) + Sync) -> Tensor<D> {
    map_indexed_rows_on_cpu(x, |_, row| f(row))
}

/// [`map_rows_on_cpu`] with each row's index.
fn map_indexed_rows_on_cpu<const D: usize>(
    x: Tensor<D>,
    f: impl Fn(usize, &mut [f32]) + Sync,
) -> Tensor<D> {
    let row = x.dims()[D - 1];
    let mut t = x
        .try_into_primitive::<Flex>()
        .expect("a CPU tensor is a flex tensor");
    let whole = t.layout().contiguous_offsets();
    if !(t.is_unique() && whole.is_some()) {
        t = t.to_contiguous();
        if !t.is_unique() {
            // Contiguous but shared: copy so the caller's tensor is untouched.
            t = burn::backend::flex::FlexTensor::from_data(t.into_data());
        }
    }
    let (start, end) = t
        .layout()
        .contiguous_offsets()
        .expect("made contiguous above");
    let values = &mut t.try_storage_mut::<f32>().expect("uniquely owned above")[start..end];
    for_each_row_block(values, row, &f);
    Tensor::from_primitive::<Flex>(t)
}

/// In wasm, runs `work` on one of rayon's pool threads while the caller
/// waits, so the parallel ops inside it are joins within the pool rather than
/// jobs the caller hands over one by one, each waking a sleeping web worker
/// (the page's threaded build); inline where the pool is the caller alone (the
/// one-thread build). Natively `work` runs on the caller's thread: a pool
/// thread would allocate from another malloc arena (SAM 2's peak RSS grew by
/// ~90 MiB) for no measurable gain.
pub fn on_pool<R: Send>(work: impl FnOnce() -> R + Send) -> R {
    if cfg!(target_family = "wasm") {
        rayon::scope(|_| work())
    } else {
        work()
    }
}

/// `f(i, row_i)` for each `row`-long row of `values`, in parallel blocks of
/// rows.
pub(crate) fn for_each_row_block<T: Send>(
    values: &mut [T],
    row: usize,
    f: &(impl Fn(usize, &mut [T]) + Sync),
) {
    use rayon::prelude::*;
    if row == 0 {
        return;
    }
    // About 64k values a task: enough work to amortise the scheduling.
    let rows_per_task = (65_536 / row).max(1);
    values
        .par_chunks_mut(rows_per_task * row)
        .enumerate()
        .for_each(|(task, block)| {
            for (i, r) in block.chunks_exact_mut(row).enumerate() {
                f(task * rows_per_task + i, r);
            }
        });
}

/// A `rows × row` buffer holding `init` (zeros if `None`) in every row,
/// written on all threads: `vec![0.0; n]` is one serial `memset`
/// when glibc serves the block from its heap. The host kernels' outputs.
pub(crate) fn filled_rows(rows: usize, row: usize, init: Option<&[f32]>) -> Vec<f32> {
    let zeros;
    let init = match init {
        Some(init) => init,
        None => {
            zeros = vec![0.0; row];
            &zeros
        }
    };
    assert_eq!(init.len(), row, "one initial row of the row's width");
    let mut out = Vec::with_capacity(rows * row);
    for_each_row_block(&mut out.spare_capacity_mut()[..rows * row], row, &|_, r| {
        for (o, &v) in r.iter_mut().zip(init) {
            o.write(v);
        }
    });
    // SAFETY: every element of the `rows × row` capacity was written above
    // (`init` is `row` long, asserted).
    unsafe { out.set_len(rows * row) };
    out
}

/// `$row_fn(row)` compiled for AVX-512 when the CPU has it (checked at run
/// time; the build's baseline is SSE2), so its loops run 16 lanes wide
/// instead of 4. Same arithmetic, same results.
macro_rules! wide_simd {
    ($(#[$doc:meta])* $vis:vis $name:ident = $row_fn:ident($($arg:ident: $ty:ty),*) -> $ret:ty) => {
        $(#[$doc])*
        $vis fn $name(row: &mut [f32] $(, $arg: $ty)*) -> $ret {
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx512f") {
                #[target_feature(enable = "avx512f")]
                fn avx512(row: &mut [f32] $(, $arg: $ty)*) -> $ret {
                    $row_fn(row $(, $arg)*)
                }
                // SAFETY: the CPU has just been checked for AVX-512F.
                return unsafe { avx512(row $(, $arg)*) };
            }
            $row_fn(row $(, $arg)*)
        }
    };
}

wide_simd!(
    /// [`gelu_row`], vectorised for the CPU at hand.
    gelu_wide = gelu_row() -> ()
);
wide_simd!(
    /// [`quick_gelu_row`], vectorised for the CPU at hand.
    quick_gelu_wide = quick_gelu_row() -> ()
);
wide_simd!(
    /// [`softmax_row`], vectorised for the CPU at hand.
    softmax_wide = softmax_row() -> ()
);
wide_simd!(
    /// [`exp_shifted_row`], vectorised for the CPU at hand.
    pub(super) exp_shifted_wide = exp_shifted_row(floor: f32) -> (f32, f32)
);

#[inline(always)]
fn gelu_row(row: &mut [f32]) {
    row.iter_mut().for_each(|v| *v = gelu_scalar(*v));
}

#[inline(always)]
fn quick_gelu_row(row: &mut [f32]) {
    row.iter_mut().for_each(|v| *v /= 1.0 + exp(-1.702 * *v));
}

#[inline(always)]
fn gelu_scalar(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// `erf(x)`: Eigen's / XLA's rational approximation on [-4, 4] (beyond it
/// erf is ±1 in f32).
#[inline(always)]
fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let p = [
        -2.726_142_3e-10,
        2.770_681_4e-8,
        -2.101_024e-6,
        -5.692_506_4e-5,
        -7.349_906_3e-4,
        -2.954_600_1e-3,
        -1.609_603_3e-2,
    ]
    .into_iter()
    .fold(0.0f32, |acc, c| acc * x2 + c);
    let q = [
        -1.456_607_2e-5,
        -2.133_740_6e-4,
        -1.682_827e-3,
        -7.373_329_2e-3,
        -1.426_473_9e-2,
    ]
    .into_iter()
    .fold(0.0f32, |acc, c| acc * x2 + c);
    x * p / q
}

/// `exp(x)` (Cephes `expf`) for `x ≤ 88.3`; 0 below -87.3, where f32
/// underflows.
#[inline(always)]
fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split in a part exact in f32 and the rest.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding and subtracting 1.5·2²³ rounds to the nearest integer.
    const ROUND: f32 = 12_582_912.0;
    let clamped = x.clamp(-87.3, 88.3);
    let shifted = clamped * LOG2E + ROUND;
    let n = shifted - ROUND;
    let r = clamped - n * LN2_HI - n * LN2_LO;
    let p = [
        1.987_569_1e-4,
        1.398_199_9e-3,
        8.333_452e-3,
        4.166_579_6e-2,
        1.666_666_5e-1,
        0.5,
    ]
    .into_iter()
    .fold(0.0f32, |acc, c| acc * r + c);
    let e = p * r * r + r + 1.0;
    // 2ⁿ from the integer the rounding left in the low mantissa bits (an
    // integer subtraction, where `n as i32` would not vectorise).
    let n_bits = shifted.to_bits().wrapping_sub(ROUND.to_bits());
    let scale = f32::from_bits(n_bits.wrapping_add(127) << 23);
    if x < -87.3 { 0.0 } else { e * scale }
}

/// In-place softmax of one row: `exp(x - max) / Σ`.
#[inline(always)]
fn softmax_row(row: &mut [f32]) {
    let inv = 1.0 / exp_shifted_row(row, f32::NEG_INFINITY).1;
    row.iter_mut().for_each(|v| *v *= inv);
}

/// `exp(x - max)` in place, where `max` is the larger of the row's maximum
/// and `floor` (a running maximum carried over from earlier keys); returns
/// `(max, sum)`, the sum being the softmax's denominator over this row. The
/// max and the sum run over [`LANES`] independent accumulators so the loops
/// vectorise.
#[inline(always)]
fn exp_shifted_row(row: &mut [f32], floor: f32) -> (f32, f32) {
    let max = lane_fold(row, floor, f32::max);
    let mut acc = [0.0f32; LANES];
    let mut chunks = row.chunks_exact_mut(LANES);
    for chunk in &mut chunks {
        for (a, v) in acc.iter_mut().zip(chunk) {
            *v = exp(*v - max);
            *a += *v;
        }
    }
    let tail = chunks.into_remainder();
    let partial = acc.into_iter().fold(0.0, |a, b| a + b);
    let sum = tail.iter_mut().fold(partial, |a, v| {
        *v = exp(*v - max);
        a + *v
    });
    (max, sum)
}

/// Accumulators of [`lane_fold`]: one AVX-512 register's worth.
const LANES: usize = 16;

/// `values` folded by `f` into [`LANES`] partial results, then those into one.
#[inline(always)]
fn lane_fold(values: &[f32], init: f32, f: impl Fn(f32, f32) -> f32) -> f32 {
    let mut acc = [init; LANES];
    let chunks = values.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (a, &v) in acc.iter_mut().zip(chunk) {
            *a = f(*a, v);
        }
    }
    let partial = acc.into_iter().fold(init, &f);
    tail.iter().fold(partial, |a, &v| f(a, v))
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Distribution, Tolerance};

    use super::*;

    #[test]
    fn on_pool_returns_its_value_and_runs_natively_on_the_callers_thread() {
        use rayon::prelude::*;
        let (index, sum) = on_pool(|| {
            let sum: u64 = (1..=100u64).into_par_iter().sum();
            (rayon::current_thread_index(), sum)
        });
        assert_eq!(sum, 5050);
        assert_eq!(index, None, "natively on_pool runs inline");
    }

    /// Exact erf in f64 (Abramowitz–Stegun 7.1.26 is too coarse): the series
    /// for |x| < 3, the continued fraction beyond.
    fn erf_exact(x: f64) -> f64 {
        if x.abs() < 3.0 {
            let (mut term, mut sum, mut k) = (x, x, 0.0);
            while term.abs() > 1e-17 {
                k += 1.0;
                term *= -x * x / k;
                sum += term / (2.0 * k + 1.0);
            }
            sum * 2.0 / std::f64::consts::PI.sqrt()
        } else {
            let mut f = 0.0;
            for k in (1..60).rev() {
                f = (k as f64 / 2.0) / (x.abs() + f);
            }
            let erfc = (-x * x).exp() / (std::f64::consts::PI.sqrt() * (x.abs() + f));
            (1.0 - erfc).copysign(x)
        }
    }

    fn grid() -> impl Iterator<Item = f32> {
        (0..=400_000).map(|i| -20.0 + i as f32 * 1e-4)
    }

    #[test]
    fn erf_within_5e7() {
        let worst = grid()
            .map(|x| (erf(x) as f64 - erf_exact(x as f64)).abs())
            .fold(0.0, f64::max);
        assert!(worst < 5e-7, "erf max abs error {worst:e}");
    }

    #[test]
    fn exp_within_2_ulp() {
        for x in grid().map(|x| x * 4.4).filter(|&x| x <= 88.3) {
            let exact = (x as f64).exp();
            let got = exp(x) as f64;
            if exact < 1e-37 {
                assert!(got < 1e-37, "exp({x}) = {got}, expected ~0");
                continue;
            }
            let rel = ((got - exact) / exact).abs();
            assert!(rel < 2.4e-7, "exp({x}) = {got}, exact {exact}, rel {rel:e}");
        }
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
    }

    #[test]
    fn quick_gelu_matches_burn() {
        let device = Device::flex();
        let x = Tensor::<2>::random([7, 300], Distribution::Normal(0.0, 8.0), &device);
        let expected = x.clone() * burn::tensor::activation::sigmoid(x.clone() * 1.702);
        quick_gelu(x)
            .into_data()
            .assert_approx_eq::<f32>(&expected.into_data(), Tolerance::absolute(1e-5));
    }

    #[test]
    fn channels_first_layer_norm_matches_burn() {
        let device = Device::flex();
        let x = Tensor::<4>::random([2, 5, 3, 7], Distribution::Normal(1.0, 2.0), &device);
        let [gamma, beta] =
            [0; 2].map(|_| Tensor::<1>::random([5], Distribution::Normal(0.0, 1.0), &device));
        let expected = burn::tensor::module::layer_norm(
            x.clone().permute([0, 2, 3, 1]),
            gamma.clone(),
            Some(beta.clone()),
            1e-6,
        )
        .permute([0, 3, 1, 2]);
        layer_norm_channels_first_on_cpu(x, gamma, beta, 1e-6)
            .into_data()
            .assert_approx_eq::<f32>(&expected.into_data(), Tolerance::absolute(1e-5));
    }

    #[test]
    fn add_matches_burn_and_leaves_shared_inputs_alone() {
        let device = Device::flex();
        let a = Tensor::<3>::random([4, 33, 6], Distribution::Normal(0.0, 1.0), &device);
        // A strided `b`, as an un-partitioned window map is.
        let b = Tensor::<3>::random([4, 6, 33], Distribution::Normal(0.0, 1.0), &device)
            .swap_dims(1, 2);
        let before = a.clone().into_data();
        let expected = a.clone() + b.clone();
        add(a.clone(), b)
            .into_data()
            .assert_approx_eq::<f32>(&expected.into_data(), Tolerance::absolute(0.0));
        a.into_data()
            .assert_approx_eq::<f32>(&before, Tolerance::absolute(0.0));
    }

    #[test]
    fn match_burn_on_tensors() {
        let device = Device::flex();
        let x = Tensor::<3>::random([3, 70, 33], Distribution::Normal(0.0, 3.0), &device);
        let tol = Tolerance::absolute(2e-6);
        gelu(x.clone())
            .into_data()
            .assert_approx_eq::<f32>(&burn_gelu(x.clone()).into_data(), tol);
        softmax_last(x.clone())
            .into_data()
            .assert_approx_eq::<f32>(&burn_softmax(x.clone(), 2).into_data(), tol);
        // A strided view and a shared buffer are copied, never written through.
        let view = x.clone().swap_dims(1, 2);
        gelu(view.clone())
            .into_data()
            .assert_approx_eq::<f32>(&burn_gelu(view).into_data(), tol);
        let before = x.clone().into_data();
        let _ = softmax_last(x.clone());
        x.into_data()
            .assert_approx_eq::<f32>(&before, Tolerance::absolute(0.0));
    }

    #[test]
    fn max_pool_matches_burn() {
        let device = Device::flex();
        // Odd sizes: floor mode drops the last row and column.
        let x = Tensor::<4>::random([2, 9, 7, 5], Distribution::Normal(0.0, 1.0), &device);
        let expected = max_pool2d(x.clone().permute([0, 3, 1, 2]), MaxPoolOptions::new([2, 2]))
            .permute([0, 2, 3, 1]);
        max_pool_channels_last(x, 2)
            .into_data()
            .assert_approx_eq::<f32>(&expected.into_data(), Tolerance::absolute(0.0));
    }

    #[test]
    fn patches_times_the_kernel_match_burns_convolution() {
        use burn::tensor::module::conv2d;
        use burn::tensor::ops::ConvOptions;
        let device = Device::flex();
        // Hiera's patch embedding (7×7, stride 4, padding 3) on an odd-sized
        // batch of two, and a kernel without padding that leaves pixels over.
        for (shape, kernel, stride, padding) in [
            ([2, 3, 19, 13], [7, 7], [4, 4], [3, 3]),
            ([1, 2, 9, 11], [3, 2], [2, 3], [0, 0]),
        ] {
            let x = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device);
            let weight = Tensor::<4>::random(
                [5, shape[1], kernel[0], kernel[1]],
                Distribution::Normal(0.0, 1.0),
                &device,
            );
            let bias = Tensor::<1>::random([5], Distribution::Normal(0.0, 1.0), &device);
            let options = ConvOptions::new(stride, padding, [1, 1], 1);
            let expected = conv2d(x.clone(), weight.clone(), Some(bias.clone()), options)
                .permute([0, 2, 3, 1]);
            let flat = weight
                .reshape([5, shape[1] * kernel[0] * kernel[1]])
                .transpose();
            linear(patches_on_cpu(x, kernel, stride, padding), flat, Some(bias))
                .into_data()
                .assert_approx_eq::<f32>(&expected.into_data(), Tolerance::absolute(1e-4));
        }
    }

    #[test]
    fn linear_reads_strided_rows_in_place_and_copies_other_views() {
        let device = Device::flex();
        let weight = Tensor::<2>::random([6, 4], Distribution::Normal(0.0, 1.0), &device);
        let bias = Tensor::<1>::random([4], Distribution::Normal(0.0, 1.0), &device);
        // A channels-first map viewed channels-last: one image's pixels are
        // one stride apart; two images' are not.
        for batch in [1, 2] {
            let map =
                Tensor::<4>::random([batch, 6, 5, 3], Distribution::Normal(0.0, 1.0), &device);
            let x = map.permute([0, 2, 3, 1]); // [B, H, W, C]
            let expected = burn_linear(
                contiguous(x.clone()).reshape([batch * 15, 6]),
                weight.clone(),
                Some(bias.clone()),
            );
            linear(x, weight.clone(), Some(bias.clone()))
                .reshape([batch * 15, 4])
                .into_data()
                .assert_approx_eq::<f32>(&expected.into_data(), Tolerance::absolute(1e-5));
        }
    }
}
