//! Every stated limit of the crate, in one place (docs/reliability.md lists
//! them with what a user sees at each).
//!
//! **Sizes from the user or a file** — an image's decoded or declared size
//! (a frame, a COCO image's `width`/`height`, an RLE's `size`), an export
//! size, a clip's frame count — are checked against these limits with
//! [`check_image_size`] / [`check_frames`] before anything is allocated, so a
//! file declaring 200000×200000 is a clear error rather than a failed
//! allocation of tens of GB.
//!
//! **Buffers**: the buffer size every WebGPU device accepts, and running a
//! row-wise computation in pieces so that no intermediate exceeds it.
//!
//! WebGPU guarantees `maxStorageBufferBindingSize` ≥ 128 MiB and nothing more;
//! mesa's lavapipe offers exactly that. A full-size forward has a few wide
//! intermediates above it (SAM 2's Hiera MLP at 256² tokens, Grounding DINO's
//! encoder FFN at 22k tokens), so those run row block by row block. On a CPU
//! the pieces cost nothing measurable.

use burn::tensor::Tensor;

/// The widest or tallest image accepted anywhere.
pub const MAX_IMAGE_SIDE: u32 = 16_384;

/// The most pixels of one image (8192 × 8192, 64 Mi): 192 MiB as RGB, 64 MiB
/// as a mask; 8K UHD video frames (7680 × 4320) fit.
pub const MAX_IMAGE_PIXELS: u64 = 1 << 26;

/// The most frames of one clip (a video's samples, a folder's images, a
/// scene's camera chain, the demo scene): 64 hours at 72 fps.
pub const MAX_FRAMES: usize = 1 << 24;

/// The largest integer a model's `config.json` may hold (a hidden size, a
/// layer count, a vocabulary size: the published checkpoints stay below
/// 50 000), so that no product of two config values overflows or asks for
/// an absurd allocation.
pub const MAX_CONFIG_INTEGER: u64 = 1 << 16;

/// The largest square input side of a model config (SAM 2's `image_size`:
/// 1024 in every checkpoint).
pub const MAX_MODEL_INPUT_SIDE: usize = 4096;

/// A size beyond a stated limit, naming what was measured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error(
        "{what} is {width}×{height}: over the limit of {MAX_IMAGE_SIDE} pixels a side and \
         {MAX_IMAGE_PIXELS} pixels in all"
    )]
    ImageSize {
        what: String,
        width: u64,
        height: u64,
    },
    #[error("{what} has {count} frames: over the limit of {MAX_FRAMES}")]
    Frames { what: String, count: usize },
}

/// Checks an image size (width, height) against [`MAX_IMAGE_SIDE`] and
/// [`MAX_IMAGE_PIXELS`]; `what` names it for the error ("COCO image 3").
pub fn check_image_size(
    what: impl FnOnce() -> String,
    width: u64,
    height: u64,
) -> Result<(), LimitError> {
    let side = u64::from(MAX_IMAGE_SIDE);
    if width > side || height > side || width * height > MAX_IMAGE_PIXELS {
        return Err(LimitError::ImageSize {
            what: what(),
            width,
            height,
        });
    }
    Ok(())
}

/// Checks every integer of a parsed `config.json` against
/// [`MAX_CONFIG_INTEGER`] (negative ones pass: ids such as `-1` mean "none");
/// the error names the first key over it, e.g. `backbone_config.image_size[0]`.
pub fn check_config_integers(value: &serde_json::Value) -> Result<(), String> {
    fn walk(value: &serde_json::Value, at: &str) -> Result<(), String> {
        match value {
            serde_json::Value::Number(n) => match n.as_u64() {
                Some(v) if v > MAX_CONFIG_INTEGER => Err(format!(
                    "{at} = {v} is over the limit of {MAX_CONFIG_INTEGER}"
                )),
                _ => Ok(()),
            },
            serde_json::Value::Array(items) => items
                .iter()
                .enumerate()
                .try_for_each(|(i, v)| walk(v, &format!("{at}[{i}]"))),
            serde_json::Value::Object(map) => map.iter().try_for_each(|(k, v)| {
                let key = if at.is_empty() {
                    k.clone()
                } else {
                    format!("{at}.{k}")
                };
                walk(v, &key)
            }),
            _ => Ok(()),
        }
    }
    walk(value, "")
}

/// Checks a frame count against [`MAX_FRAMES`].
pub fn check_frames(what: impl FnOnce() -> String, count: usize) -> Result<(), LimitError> {
    if count > MAX_FRAMES {
        return Err(LimitError::Frames {
            what: what(),
            count,
        });
    }
    Ok(())
}

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
    fn sizes_past_a_limit_are_named() {
        assert!(check_image_size(|| "a".into(), 7680, 4320).is_ok());
        assert!(check_image_size(|| "a".into(), 16_384, 4096).is_ok());
        let err = check_image_size(|| "COCO image 7".into(), 200_000, 200_000).unwrap_err();
        assert!(
            err.to_string().starts_with("COCO image 7 is 200000×200000"),
            "{err}"
        );
        assert!(check_image_size(|| "a".into(), 16_384, 16_384).is_err());
        assert!(check_image_size(|| "a".into(), 1, 16_385).is_err());
        let config = serde_json::json!({"model_type": "sam2", "pad_token_id": -1, "a": {"b": [1, 4294967296u64]}});
        let err = check_config_integers(&config).unwrap_err();
        assert!(
            err.starts_with("a.b[1] = 4294967296 is over the limit"),
            "{err}"
        );
        assert!(check_config_integers(&serde_json::json!({"a": [65536, -7, 1e300]})).is_ok());
        assert!(check_frames(|| "clip".into(), MAX_FRAMES).is_ok());
        let err = check_frames(|| "clip".into(), MAX_FRAMES + 1).unwrap_err();
        assert!(
            err.to_string().contains("clip has 16777217 frames"),
            "{err}"
        );
    }

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
