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
//!   stays in cache, each output row then divided by its row's sum. Long key
//!   sequences are read in chunks with an online softmax (the running maximum
//!   and sum carried from chunk to chunk, as in FlashAttention). The
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

/// Most keys one score block spans. Longer key sequences (the SAM 2 memory
/// bank: ~28k keys) are read in chunks, so that a block keeps 256 query rows
/// and packs the keys 16 times per 4096 queries rather than 110.
const KEY_CHUNK: usize = 4096;

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
    let shape = AttentionShape::new([b, h, l_q, d], l_k, d_v);
    let [q, k, v] = [q, k, v].map(Operand::new);
    let mut out = filled_rows(b * l_q * h, d_v, None);
    let dst = Output(out.as_mut_ptr());
    let task = |index: usize, scratch: &mut Scratch| {
        // SAFETY: the operands' pointers and strides address their own
        // buffers (a flex layout), and each task writes only its own rows.
        unsafe { shape.query_block(index, [&q, &k, &v], &dst, scratch) }
    };
    run_tasks(shape.tasks(), &task);
    let out = Tensor::<4>::from_data(TensorData::new(out, [b, l_q, h, d_v]), &device);
    out.swap_dims(1, 2)
}

/// How [`attention`] cuts its work: one task per (batch, head, block of
/// `rows` queries), each reading the keys in chunks of `chunk`.
#[derive(Debug, Clone, Copy)]
struct AttentionShape {
    h: usize,
    l_q: usize,
    d: usize,
    l_k: usize,
    d_v: usize,
    rows: usize,
    blocks: usize,
    chunk: usize,
    bh: usize,
}

/// One task's buffers: a score block, and per query row the running maximum
/// and sum of its softmax.
#[derive(Default)]
struct Scratch {
    scores: Vec<f32>,
    max: Vec<f32>,
    sum: Vec<f32>,
}

impl AttentionShape {
    fn new([b, h, l_q, d]: [usize; 4], l_k: usize, d_v: usize) -> Self {
        let chunk = l_k.clamp(1, KEY_CHUNK);
        let rows = (SCORE_BLOCK_BYTES / (chunk * size_of::<f32>())).clamp(1, l_q.max(1));
        AttentionShape {
            h,
            l_q,
            d,
            l_k,
            d_v,
            rows,
            blocks: l_q.div_ceil(rows),
            chunk,
            bh: b * h,
        }
    }

    fn tasks(&self) -> usize {
        self.bh * self.blocks
    }

    /// Task `index`: its query rows against every key chunk, with the online
    /// softmax of Milakov & Gimelshein (2018) across chunks: a row's output is
    /// accumulated unnormalised, rescaled whenever a later chunk raises the
    /// row's maximum, and divided by the row's sum at the end.
    ///
    /// # Safety
    /// The operands must address their buffers with the dims of `self`, and
    /// `dst` a `[B, L_q, H, d_v]` buffer of which this task alone writes its
    /// rows.
    unsafe fn query_block(
        &self,
        index: usize,
        [q, k, v]: [&Operand<4>; 3],
        dst: &Output,
        scratch: &mut Scratch,
    ) {
        let (bh, block) = (index / self.blocks, index % self.blocks);
        let (bi, hi) = (bh / self.h, bh % self.h);
        let start = block * self.rows;
        let m = self.rows.min(self.l_q - start);
        let row_at = |i: usize| ((bi * self.l_q + start + i) * self.h + hi) * self.d_v;
        let scale = 1.0 / (self.d as f32).sqrt();
        scratch.max.clear();
        scratch.max.resize(m, f32::NEG_INFINITY);
        scratch.sum.clear();
        scratch.sum.resize(m, 0.0);
        for key0 in (0..self.l_k).step_by(self.chunk) {
            let n = self.chunk.min(self.l_k - key0);
            let first = key0 == 0;
            scratch.scores.resize(m * n, 0.0);
            // SAFETY (all blocks below): the caller's contract; key rows
            // `key0..key0 + n` lie inside `l_k`.
            unsafe {
                gemm::gemm(
                    m,
                    n,
                    self.d,
                    scratch.scores.as_mut_ptr(),
                    1,
                    n as isize,
                    false,
                    q.at(&[bi, hi, start]),
                    q.strides[3],
                    q.strides[2],
                    k.at(&[bi, hi, key0]),
                    k.strides[2],
                    k.strides[3],
                    0.0,
                    scale,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
            }
            for (i, row) in scratch.scores.chunks_exact_mut(n).enumerate() {
                let (max, sum) = exp_shifted_wide(row, scratch.max[i]);
                let carried = (scratch.max[i] - max).exp();
                if !first && carried != 1.0 {
                    // SAFETY: row `i` of this task's output.
                    let out =
                        unsafe { std::slice::from_raw_parts_mut(dst.at(row_at(i)), self.d_v) };
                    out.iter_mut().for_each(|o| *o *= carried);
                }
                scratch.sum[i] = scratch.sum[i] * carried + sum;
                scratch.max[i] = max;
            }
            unsafe {
                gemm::gemm(
                    m,
                    self.d_v,
                    n,
                    dst.at(row_at(0)),
                    1,
                    (self.h * self.d_v) as isize,
                    !first,
                    scratch.scores.as_ptr(),
                    1,
                    n as isize,
                    v.at(&[bi, hi, key0]),
                    v.strides[3],
                    v.strides[2],
                    1.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
            }
        }
        for (i, sum) in scratch.sum.iter().enumerate() {
            // SAFETY: row `i` of this task's output.
            let out = unsafe { std::slice::from_raw_parts_mut(dst.at(row_at(i)), self.d_v) };
            out.iter_mut().for_each(|o| *o /= sum);
        }
    }
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
        // 300 queries are two blocks of 256; 20 000 keys are four chunks of 4096 and a short one.
        let [q, k, v] = [[1, 2, 300, 8], [1, 2, 20_000, 8], [1, 2, 20_000, 4]].map(random);
        check(q, k, v);
    }

    /// `softmax(q kᵀ / √d) v` in f64 for `[1, 1, L, d]` operands: the oracle
    /// where Burn's own attention is 6e-5 off (a peaked softmax over 9000 keys).
    fn attention_f64(q: &Tensor<4>, k: &Tensor<4>, v: &Tensor<4>) -> Vec<f32> {
        let [_, _, l_q, d] = q.dims();
        let [l_k, d_v] = [k.dims()[2], v.dims()[3]];
        let values = |t: &Tensor<4>| t.clone().into_data().try_to_vec::<f32>().unwrap();
        let [q, k, v] = [q, k, v].map(values);
        let mut out = Vec::new();
        for qi in q.chunks_exact(d).take(l_q) {
            let s: Vec<f64> = k
                .chunks_exact(d)
                .map(|ki| {
                    qi.iter().zip(ki).map(|(a, b)| (a * b) as f64).sum::<f64>() / (d as f64).sqrt()
                })
                .collect();
            let max = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = s.iter().map(|x| (x - max).exp()).collect();
            let sum: f64 = e.iter().sum();
            out.extend((0..d_v).map(|j| {
                (0..l_k).map(|i| e[i] * v[i * d_v + j] as f64).sum::<f64>() as f32 / sum as f32
            }));
        }
        out
    }

    #[test]
    fn a_later_key_chunk_with_larger_scores_rescales_the_earlier_ones() {
        let device = Device::flex();
        let random =
            |s: [usize; 4]| Tensor::<4>::random(s, Distribution::Normal(0.0, 1.0), &device);
        let [q, k, v] = [[1, 1, 20, 16], [1, 1, 9_000, 16], [1, 1, 9_000, 8]].map(random);
        // The last chunk's keys dominate, then the first's: both orders of maxima.
        // Burn's attention is 6e-5 off here, ours 1.5e-6: the oracle is f64.
        for loud in [8_192..9_000, 0..4_096] {
            let louder = k.clone().slice_assign(
                [0..1, 0..1, loud.clone(), 0..16],
                k.clone().slice([0..1, 0..1, loud, 0..16]) * 4.0,
            );
            let exact = attention_f64(&q, &louder, &v);
            let ours = attention(q.clone(), louder, v.clone()).into_data();
            ours.assert_approx_eq::<f32>(
                &TensorData::new(exact, [1, 1, 20, 8]),
                Tolerance::absolute(1e-5),
            );
        }
    }
}
