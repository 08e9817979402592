//! Decoding a JPEG or PNG file completely, or not at all: the one decoder of
//! image files for every input (a clip's frames, `detect`/`segment`'s
//! `--image`, the export's image resizing).
//!
//! The size in the file's header is checked against the limits of
//! [`crate::limits`] before any pixel buffer is allocated. A JPEG must end
//! with its end-of-image marker: the decoder would otherwise fill the missing
//! rows with grey without complaint. A PNG whose image data stops early is an
//! error of the decoder itself.

use std::io::Cursor;

use image::{ImageReader, RgbImage};

use crate::limits::{LimitError, check_image_size};

/// Why an image file did not decode (the caller names the file).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ImageFileError {
    #[error("JPEG is truncated: no end-of-image marker ({0} bytes)")]
    TruncatedJpeg(usize),
    #[error(transparent)]
    TooLarge(#[from] LimitError),
    #[error("{0}")]
    Decode(String),
}

/// Decodes the bytes of a JPEG or PNG file into RGB.
pub fn decode_rgb(bytes: &[u8]) -> Result<RgbImage, ImageFileError> {
    if bytes.starts_with(&[0xFF, 0xD8]) && !has_jpeg_end(bytes) {
        return Err(ImageFileError::TruncatedJpeg(bytes.len()));
    }
    let reader = || {
        ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| ImageFileError::Decode(e.to_string()))
    };
    let (width, height) = reader()?
        .into_dimensions()
        .map_err(|e| ImageFileError::Decode(e.to_string()))?;
    check_image_size(|| "the image".into(), width.into(), height.into())?;
    let image = reader()?
        .decode()
        .map_err(|e| ImageFileError::Decode(e.to_string()))?;
    Ok(image.to_rgb8())
}

/// Reads and decodes an image file; the error names the file.
#[cfg(feature = "native")]
pub fn open_rgb(path: &std::path::Path) -> Result<RgbImage, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    decode_rgb(&bytes).map_err(|e| format!("{}: cannot decode image: {e}", path.display()))
}

/// True if an EOI marker (`FF D9`) sits in the last KiB (encoders may pad after it).
fn has_jpeg_end(bytes: &[u8]) -> bool {
    let tail = &bytes[bytes.len().saturating_sub(1024)..];
    tail.windows(2).any(|w| w == [0xFF, 0xD9])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(format: image::ImageFormat) -> Vec<u8> {
        let img = RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8 * 3, y as u8 * 5, 77]));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, format).unwrap();
        out.into_inner()
    }

    #[test]
    fn whole_files_decode_and_cut_ones_do_not() {
        for format in [image::ImageFormat::Jpeg, image::ImageFormat::Png] {
            let bytes = encoded(format);
            assert_eq!(decode_rgb(&bytes).unwrap().dimensions(), (64, 48));
            for cut in [bytes.len() / 3, bytes.len() * 2 / 3, bytes.len() - 20] {
                assert!(
                    decode_rgb(&bytes[..cut]).is_err(),
                    "{format:?} cut to {cut} of {} bytes decoded",
                    bytes.len()
                );
            }
        }
    }

    #[test]
    fn a_declared_size_past_the_limit_is_refused_before_decoding() {
        let mut jpeg = encoded(image::ImageFormat::Jpeg);
        // The baseline frame header (SOF0: FF C0, length, precision, height,
        // width) declares 60000×60000: 3.6 G pixels.
        let sof = jpeg.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        jpeg[sof + 5..sof + 7].copy_from_slice(&60_000u16.to_be_bytes());
        jpeg[sof + 7..sof + 9].copy_from_slice(&60_000u16.to_be_bytes());
        let err = decode_rgb(&jpeg).unwrap_err();
        assert!(
            matches!(err, ImageFileError::TooLarge(_)) && err.to_string().contains("60000×60000"),
            "{err}"
        );
    }
}
