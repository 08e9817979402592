//! The CPU backend's GEMM-shaped layers as host kernels over the `gemm`
//! crate (the GEMM Burn's `flex` backend itself runs on), reading operands
//! in place through their strides and writing into a buffer the result
//! tensor then owns.
//!
//! - [`linear`]: `x @ w + b` with the bias as the GEMM's initial output. Flex's
//!   matmul allocates every output twice (a byte buffer, then an aligned copy)
//!   and adds the bias in a second pass; a Hiera encoder spent ~10 % there.
//! - [`attention`]: `softmax(q kᵀ / √d) v` per (batch, head, block of queries),
//!   two GEMMs around an in-place `exp(s - max)` of a score block that
//!   stays in cache, each output row then divided by its row's sum. The
//!   `[B, L, H, d] → [B, H, L, d]` head split is read as a view, the `1/√d`
//!   scale rides on the first GEMM, the score matrix is never written out
//!   whole, and the output comes back in the `[B, L, H, d]` order the output
//!   projection reads. Reference:
//!   `torch.nn.functional.scaled_dot_product_attention` (no mask, no dropout).
//!
//! The work runs on rayon's threads (one in the single-threaded wasm build).

use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::tensor::{Tensor, TensorData};

use super::kernels::{exp_shifted_wide, filled_rows};

/// Most score bytes one block holds. Each block packs all of `k` and `v` for
/// its GEMMs again, so blocks should not be too small: 4 MiB (256 queries of a
/// 4096-key global attention) measured fastest here, against 0.25–16 MiB.
const SCORE_BLOCK_BYTES: usize = 4 << 20;

/// An f32 CPU tensor read in place: element `i` is at
/// `offset + Σ iₖ·strides[k]` of its buffer.
struct Operand<const D: usize> {
    tensor: FlexTensor,
    offset: usize,
    strides: [isize; D],
}

impl<const D: usize> Operand<D> {
    fn new(x: Tensor<D>) -> Self {
        let mut tensor = x
            .try_into_primitive::<Flex>()
            .expect("a CPU tensor is a flex tensor");
        if !tensor.layout().has_positive_strides() {
            tensor = tensor.to_contiguous();
        }
        let layout = tensor.layout();
        let strides = <[isize; D]>::try_from(layout.strides()).expect("D strides");
        let offset = layout.start_offset();
        Operand {
            tensor,
            offset,
            strides,
        }
    }

    /// The one stride that steps through all of `dims`' leading dimensions
    /// in row-major order, if there is one (size-1 dimensions step nowhere).
    fn row_stride(&self, dims: &[usize; D]) -> Option<isize> {
        let mut leading = dims[..D - 1]
            .iter()
            .zip(&self.strides)
            .filter(|&(&n, _)| n > 1)
            .rev();
        let Some((&n, &stride)) = leading.next() else {
            return Some(self.strides.last().copied().unwrap_or(1));
        };
        let mut next = stride * n as isize;
        for (&n, &s) in leading {
            if s != next {
                return None;
            }
            next = s * n as isize;
        }
        Some(stride)
    }

    /// Pointer to the element at `index` (trailing indices 0).
    fn at(&self, index: &[usize]) -> *const f32 {
        let at = index
            .iter()
            .zip(self.strides)
            .fold(self.offset as isize, |at, (&i, s)| at + i as isize * s);
        self.tensor.storage::<f32>()[at as usize..].as_ptr()
    }
}

/// The output buffer, written by many tasks at disjoint places.
struct Output(*mut f32);
// SAFETY: every task writes only its own (batch, head, query block) rows.
unsafe impl Sync for Output {}

impl Output {
    /// Pointer to element `offset` (a method, so closures capture the whole `Sync` wrapper).
    fn at(&self, offset: usize) -> *mut f32 {
        self.0.wrapping_add(offset)
    }
}

/// `x @ weight + bias` for f32 CPU tensors `x: [.., d_in]`,
/// `weight: [d_in, d_out]` (any strides) → `[rows, d_out]`, `rows` the
/// product of `x`'s leading dimensions. `x` is read in place when those
/// dimensions step through memory as one (a channels-first map viewed
/// channels-last, say), copied once otherwise.
pub(crate) fn linear<const D: usize>(
    x: Tensor<D>,
    weight: Tensor<2>,
    bias: Option<Tensor<1>>,
) -> Tensor<2> {
    let dims = x.dims();
    let d_in = dims[D - 1];
    let rows = dims[..D - 1].iter().product();
    let d_out = weight.dims()[1];
    let device = x.device();
    let x = Operand::new(x);
    let Some(row_stride) = x.row_stride(&dims) else {
        let x = Tensor::<D>::from_primitive::<Flex>(x.tensor).reshape([rows, d_in]);
        return linear(x, weight, bias);
    };
    let bias = bias.map(|b| b.into_data());
    let bias = bias
        .as_ref()
        .map(|b| b.as_slice::<f32>().expect("f32 on the CPU"));
    let mut out = filled_rows(rows, d_out, bias);
    let weight = Operand::new(weight);
    // SAFETY: the operands' pointers and strides address their own buffers
    // (flex layouts of the stated shapes); `out` is `rows × d_out`, row-major.
    unsafe {
        gemm::gemm(
            rows,
            d_out,
            d_in,
            out.as_mut_ptr(),
            1,
            d_out as isize,
            true,
            x.at(&[]),
            *x.strides.last().expect("d_in"),
            row_stride,
            weight.at(&[]),
            weight.strides[1],
            weight.strides[0],
            1.0,
            1.0,
            false,
            false,
            false,
            threads(),
        );
    }
    Tensor::from_data(TensorData::new(out, [rows, d_out]), &device)
}

/// The GEMM's own threads: all of rayon's pool, or none when it has one
/// thread (the single-threaded wasm build).
fn threads() -> gemm::Parallelism {
    if rayon::current_num_threads() > 1 {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    }
}

/// `softmax(q kᵀ / √d) v` for f32 CPU tensors `q: [B, H, L_q, d]`,
/// `k: [B, H, L_k, d]`, `v: [B, H, L_k, d_v]` → `[B, H, L_q, d_v]` (a view of
/// a `[B, L_q, H, d_v]` buffer).
pub(crate) fn attention(q: Tensor<4>, k: Tensor<4>, v: Tensor<4>) -> Tensor<4> {
    let [b, h, l_q, d] = q.dims();
    let l_k = k.dims()[2];
    let d_v = v.dims()[3];
    let device = q.device();
    let [q, k, v] = [q, k, v].map(Operand::new);
    let rows = (SCORE_BLOCK_BYTES / (l_k.max(1) * size_of::<f32>())).clamp(1, l_q.max(1));
    let blocks = l_q.div_ceil(rows);
    let mut out = filled_rows(b * l_q * h, d_v, None);
    let dst = Output(out.as_mut_ptr());
    let scale = 1.0 / (d as f32).sqrt();
    let task = |index: usize, (scores, sums): &mut (Vec<f32>, Vec<f32>)| {
        let (bh, block) = (index / blocks, index % blocks);
        let (bi, hi) = (bh / h, bh % h);
        let start = block * rows;
        let m = rows.min(l_q - start);
        scores.resize(m * l_k, 0.0);
        // SAFETY: the operands' pointers and strides address their own
        // buffers (a flex layout), and this task's output rows — batch `bi`,
        // head `hi`, queries `start..start + m` — are written by no other task.
        unsafe {
            gemm::gemm(
                m,
                l_k,
                d,
                scores.as_mut_ptr(),
                1,
                l_k as isize,
                false,
                q.at(&[bi, hi, start]),
                q.strides[3],
                q.strides[2],
                k.at(&[bi, hi]),
                k.strides[2],
                k.strides[3],
                0.0,
                scale,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
            // Unnormalised: each output row is divided by its sum below,
            // d_v values instead of l_k.
            sums.clear();
            sums.extend(scores.chunks_exact_mut(l_k).map(exp_shifted_wide));
            gemm::gemm(
                m,
                d_v,
                l_k,
                dst.at(((bi * l_q + start) * h + hi) * d_v),
                1,
                (h * d_v) as isize,
                false,
                scores.as_ptr(),
                1,
                l_k as isize,
                v.at(&[bi, hi]),
                v.strides[3],
                v.strides[2],
                0.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
            for (i, sum) in sums.iter().enumerate() {
                let row = dst.at(((bi * l_q + start + i) * h + hi) * d_v);
                std::slice::from_raw_parts_mut(row, d_v)
                    .iter_mut()
                    .for_each(|o| *o /= sum);
            }
        }
    };
    run_tasks(b * h * blocks, &task);
    let out = Tensor::<4>::from_data(TensorData::new(out, [b, l_q, h, d_v]), &device);
    out.swap_dims(1, 2)
}

/// `task(i, scratch)` for `i` in `0..count`, on rayon's threads, each thread
/// reusing one scratch value.
fn run_tasks<S: Default>(count: usize, task: &(impl Fn(usize, &mut S) + Sync)) {
    use rayon::prelude::*;
    (0..count)
        .into_par_iter()
        .for_each_init(S::default, |scratch, i| task(i, scratch));
}

#[cfg(test)]
mod tests {
    use burn::tensor::module::{attention as burn_attention, linear as burn_linear};
    use burn::tensor::ops::AttentionModuleOptions;
    use burn::tensor::{Device, Distribution, Tolerance};

    use super::*;

    fn check(q: Tensor<4>, k: Tensor<4>, v: Tensor<4>) {
        let expected = burn_attention(
            q.clone(),
            k.clone(),
            v.clone(),
            None,
            None,
            AttentionModuleOptions::default(),
        );
        attention(q, k, v)
            .into_data()
            .assert_approx_eq::<f32>(&expected.into_data(), Tolerance::absolute(1e-5));
    }

    #[test]
    fn linear_matches_burn_with_strided_weights() {
        let device = Device::flex();
        let x = Tensor::<2>::random([300, 24], Distribution::Normal(0.0, 1.0), &device);
        // `[d_out, d_in]` on disk, used transposed and narrowed as the models do.
        let fused = Tensor::<2>::random([3 * 40, 24], Distribution::Normal(0.0, 1.0), &device);
        let weight = fused.transpose().narrow(1, 40, 40);
        let bias = Tensor::<1>::random([40], Distribution::Normal(0.0, 1.0), &device);
        for bias in [Some(bias), None] {
            let expected = burn_linear(x.clone(), weight.clone(), bias.clone());
            linear(x.clone(), weight.clone(), bias)
                .into_data()
                .assert_approx_eq::<f32>(&expected.into_data(), Tolerance::absolute(1e-5));
        }
    }

    #[test]
    fn strided_heads_and_many_blocks_match_burn() {
        let device = Device::flex();
        let random =
            |s: [usize; 4]| Tensor::<4>::random(s, Distribution::Normal(0.0, 1.0), &device);
        // Heads split off as views of `[B, L, H, d]`, as the models do.
        let [q, k, v] =
            [[2, 50, 3, 16], [2, 70, 3, 16], [2, 70, 3, 8]].map(|s| random(s).swap_dims(1, 2));
        check(q, k, v);
        // 20 000 keys: 4 MiB of scores is 52 queries, so 100 queries are two blocks.
        let [q, k, v] = [[1, 2, 100, 8], [1, 2, 20_000, 8], [1, 2, 20_000, 4]].map(random);
        check(q, k, v);
    }
}
