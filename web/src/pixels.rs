//! Frame pixels as the page hands them over: a canvas's interleaved RGBA,
//! converted to the interleaved RGB the models take, after the frame's size
//! is checked against the core's image limits (`autolabel::limits`).

use autolabel::limits::check_image_size;

/// Interleaved RGBA (what a canvas gives) to RGB (what the models take).
pub fn rgb_of_rgba(rgba: &[u8], width: usize, height: usize) -> Result<Vec<u8>, String> {
    check_image_size(|| "the frame".into(), width as u64, height as u64)
        .map_err(|e| e.to_string())?;
    let expected = width * height * 4;
    if width == 0 || height == 0 || rgba.len() != expected {
        return Err(format!(
            "{} bytes for a {width}×{height} RGBA frame (expected {expected})",
            rgba.len()
        ));
    }
    Ok(rgba
        .chunks_exact(4)
        .flat_map(|px| [px[0], px[1], px[2]])
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rgba_becomes_rgb_and_sizes_are_checked() {
        let rgba = [1, 2, 3, 255, 4, 5, 6, 255];
        assert_eq!(rgb_of_rgba(&rgba, 2, 1).unwrap(), vec![1, 2, 3, 4, 5, 6]);
        let err = rgb_of_rgba(&rgba, 3, 1).unwrap_err();
        assert!(
            err.contains("8 bytes for a 3×1 RGBA frame (expected 12)"),
            "{err}"
        );
        let err = rgb_of_rgba(&rgba, 1 << 20, 1 << 20).unwrap_err();
        assert!(err.contains("over the limit"), "{err}");
    }
}
