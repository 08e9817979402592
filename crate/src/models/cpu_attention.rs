//! Scaled dot-product attention on the CPU backend as one host kernel:
//! `softmax(q kᵀ / √d) v` per (batch, head, block of queries), two GEMMs
//! (the `gemm` crate Burn's `flex` backend uses) around an in-place softmax of
//! a score block small enough to stay in the core's cache.
//!
//! Compared with composing Burn ops it reads `q`, `k` and `v` through their
//! strides (the `[B, L, H, d] → [B, H, L, d]` head split is a view, never a
//! copy), folds the `1/√d` scale into the first GEMM, never writes the whole
//! score matrix to memory, and writes its output already in the `[B, L, H, d]`
//! order the output projection reads. Natively the blocks run on rayon's
//! threads. Reference: `torch.nn.functional.scaled_dot_product_attention`
//! (no mask, no dropout).

use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::tensor::{Tensor, TensorData};

/// Most score bytes one block holds. Each block packs all of `k` and `v` for
/// its GEMMs again, so blocks should not be too small: 4 MiB (256 queries of a
/// 4096-key global attention) measured fastest here, against 0.25–16 MiB.
const SCORE_BLOCK_BYTES: usize = 4 << 20;

/// A `[B, H, L, d]` f32 operand read in place: element `(b, h, l, j)` is at
/// `offset + b·s₀ + h·s₁ + l·s₂ + j·s₃` of `values`.
struct Operand {
    tensor: FlexTensor,
    offset: usize,
    strides: [isize; 4],
}

impl Operand {
    fn new(x: Tensor<4>) -> Self {
        let mut tensor = x
            .try_into_primitive::<Flex>()
            .expect("a CPU tensor is a flex tensor");
        if !tensor.layout().has_positive_strides() {
            tensor = tensor.to_contiguous();
        }
        let layout = tensor.layout();
        let strides = <[isize; 4]>::try_from(layout.strides()).expect("a 4-d tensor");
        let offset = layout.start_offset();
        Operand {
            tensor,
            offset,
            strides,
        }
    }

    /// Pointer to element `(b, h, l, 0)`.
    fn at(&self, b: usize, h: usize, l: usize) -> *const f32 {
        let [sb, sh, sl, _] = self.strides;
        let index = self.offset as isize + b as isize * sb + h as isize * sh + l as isize * sl;
        self.tensor.storage::<f32>()[index as usize..].as_ptr()
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
    let mut out = vec![0.0f32; b * l_q * h * d_v];
    let dst = Output(out.as_mut_ptr());
    let scale = 1.0 / (d as f32).sqrt();
    let task = |index: usize, scores: &mut Vec<f32>| {
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
                q.at(bi, hi, start),
                q.strides[3],
                q.strides[2],
                k.at(bi, hi, 0),
                k.strides[2],
                k.strides[3],
                0.0,
                scale,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
            scores
                .chunks_exact_mut(l_k)
                .for_each(super::kernels::softmax_wide);
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
                v.at(bi, hi, 0),
                v.strides[3],
                v.strides[2],
                0.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
    };
    run_tasks(b * h * blocks, &task);
    let out = Tensor::<4>::from_data(TensorData::new(out, [b, l_q, h, d_v]), &device);
    out.swap_dims(1, 2)
}

/// `task(i, scratch)` for `i` in `0..count`, on rayon's threads natively,
/// each thread reusing one scratch buffer.
fn run_tasks(count: usize, task: &(impl Fn(usize, &mut Vec<f32>) + Sync)) {
    #[cfg(not(target_family = "wasm"))]
    {
        use rayon::prelude::*;
        (0..count)
            .into_par_iter()
            .for_each_init(Vec::new, |scratch, i| task(i, scratch));
    }
    #[cfg(target_family = "wasm")]
    {
        let mut scratch = Vec::new();
        (0..count).for_each(|i| task(i, &mut scratch));
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::module::attention as burn_attention;
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
