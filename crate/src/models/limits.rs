//! The buffer size every WebGPU device accepts, and running a row-wise
//! computation in pieces so that no intermediate exceeds it.
//!
//! WebGPU guarantees `maxStorageBufferBindingSize` ≥ 128 MiB and nothing more;
//! mesa's lavapipe offers exactly that. A full-size forward has a few wide
//! intermediates above it (SAM 2's Hiera MLP at 256² tokens, Grounding DINO's
//! encoder FFN at 22k tokens), so those run row block by row block. On a CPU
//! the pieces cost nothing measurable.

use burn::tensor::Tensor;

/// The largest buffer a forward may allocate: WebGPU's guaranteed minimum of
/// `maxStorageBufferBindingSize`.
pub const MAX_BUFFER_BYTES: usize = 128 << 20;

/// `f(x)` for a row-wise `f` (each slice along `dim` maps on its own), run on
/// slices of `x` along `dim` so that an intermediate of `widest` f32 values
/// per element of the last dimension stays within [`MAX_BUFFER_BYTES`].
///
/// `[…, N, …, C]` → `f` of the same shape except the last dimension.
pub fn in_row_blocks<const D: usize>(
    x: Tensor<D>,
    dim: usize,
    widest: usize,
    f: impl Fn(Tensor<D>) -> Tensor<D>,
) -> Tensor<D> {
    let rows: usize = x.dims()[..D - 1].iter().product();
    let parts: Vec<_> = blocks(x, dim, rows * widest * size_of::<f32>())
        .into_iter()
        .map(f)
        .collect();
    match <[_; 1]>::try_from(parts) {
        Ok([whole]) => whole,
        Err(parts) => Tensor::cat(parts, dim),
    }
}

/// `x` cut along `dim` into as few slices as keep each slice's share of
/// `bytes` (what the whole of `x` needs at its widest) within
/// [`MAX_BUFFER_BYTES`]; `[x]` when it fits.
pub fn blocks<const D: usize>(x: Tensor<D>, dim: usize, bytes: usize) -> Vec<Tensor<D>> {
    let count = bytes.div_ceil(MAX_BUFFER_BYTES).min(x.dims()[dim]);
    if count <= 1 {
        return vec![x];
    }
    x.chunk(count, dim)
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Distribution, Tolerance};

    use super::*;

    #[test]
    fn blocks_give_the_whole_result() {
        let device = Device::flex();
        // 70 000 rows × 512 wide = 137 MiB > 128 MiB: runs in two blocks.
        let x = Tensor::<3>::random([1, 70_000, 4], Distribution::Default, &device);
        let w = Tensor::<2>::random([4, 512], Distribution::Default, &device);
        let f = |t: Tensor<3>| t.matmul(w.clone().unsqueeze()).sum_dim(2);
        let whole = f(x.clone());
        let blocked = in_row_blocks(x, 1, 512, f);
        blocked
            .into_data()
            .assert_approx_eq::<f32>(&whole.into_data(), Tolerance::absolute(1e-5));
    }
}
