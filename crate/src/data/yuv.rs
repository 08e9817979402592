//! Decoded 4:2:0 pictures to RGB: the one colour conversion of every video
//! frame, natively (OpenH264's planes) and in the page (WebCodecs' `I420` or
//! `NV12` frames), so that a frame's pixels are the same in both.
//!
//! The matrix is BT.601 limited range, each chroma sample covering its 2×2
//! block of pixels, truncating in 8.8 fixed point: what ffmpeg does by
//! default for an untagged stream (libx264's default). Colour tags in the
//! SPS VUI are not read, so BT.709-tagged video gets BT.601 colours.

use image::RgbImage;

/// One plane of samples: rows `stride` bytes apart.
#[derive(Debug, Clone, Copy)]
pub struct Plane<'a> {
    pub data: &'a [u8],
    pub stride: usize,
}

/// How a picture's chroma is laid out.
#[derive(Debug, Clone, Copy)]
pub enum Chroma<'a> {
    /// `I420`: a U plane and a V plane.
    Planar { u: Plane<'a>, v: Plane<'a> },
    /// `NV12`: one plane of U, V pairs.
    Interleaved(Plane<'a>),
}

/// A decoded 8-bit 4:2:0 picture.
#[derive(Debug, Clone, Copy)]
pub struct YuvPicture<'a> {
    pub width: usize,
    pub height: usize,
    pub luma: Plane<'a>,
    pub chroma: Chroma<'a>,
}

/// A picture whose planes do not hold its size.
#[derive(Debug, thiserror::Error)]
#[error("the decoded picture's {plane} plane is too small for row {row}")]
pub struct PlaneTooSmall {
    pub plane: &'static str,
    pub row: usize,
}

impl YuvPicture<'_> {
    /// The picture in RGB (BT.601 limited range, see the module doc).
    pub fn to_rgb(&self) -> Result<RgbImage, PlaneTooSmall> {
        let (w, h) = (self.width, self.height);
        let chroma_width = w.div_ceil(2);
        let mut rgb = RgbImage::new(w as u32, h as u32);
        for (row, out) in rgb.chunks_exact_mut(w * 3).enumerate() {
            let luma = plane_row(self.luma, "Y", row, w)?;
            let pixels = out.chunks_exact_mut(3).zip(luma).enumerate();
            match self.chroma {
                Chroma::Planar { u, v } => {
                    let u = plane_row(u, "U", row / 2, chroma_width)?;
                    let v = plane_row(v, "V", row / 2, chroma_width)?;
                    for (x, (pixel, &y)) in pixels {
                        pixel.copy_from_slice(&bt601_limited_to_rgb(y, u[x / 2], v[x / 2]));
                    }
                }
                Chroma::Interleaved(uv) => {
                    let uv = plane_row(uv, "UV", row / 2, chroma_width * 2)?;
                    for (x, (pixel, &y)) in pixels {
                        let pair = x / 2 * 2;
                        pixel.copy_from_slice(&bt601_limited_to_rgb(y, uv[pair], uv[pair + 1]));
                    }
                }
            }
        }
        Ok(rgb)
    }
}

/// Row `row` of a plane, `len` samples long.
fn plane_row<'a>(
    plane: Plane<'a>,
    name: &'static str,
    row: usize,
    len: usize,
) -> Result<&'a [u8], PlaneTooSmall> {
    let start = row * plane.stride;
    plane
        .data
        .get(start..start + len)
        .ok_or(PlaneTooSmall { plane: name, row })
}

/// One pixel, BT.601 limited range (Y 16–235, Cb/Cr 16–240), in 8.8 fixed point,
/// truncated like ffmpeg's default conversion (which it matches within 2 levels).
fn bt601_limited_to_rgb(y: u8, u: u8, v: u8) -> [u8; 3] {
    let luma = 298 * (i32::from(y) - 16);
    let cb = i32::from(u) - 128;
    let cr = i32::from(v) - 128;
    let channel = |value: i32| (value >> 8).clamp(0, 255) as u8;
    [
        channel(luma + 409 * cr),
        channel(luma - 100 * cb - 208 * cr),
        channel(luma + 516 * cb),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 3×2 picture (odd width: the last chroma sample covers one column).
    const Y: [u8; 8] = [16, 100, 235, 0, 50, 128, 200, 0];
    const U: [u8; 2] = [90, 200];
    const V: [u8; 2] = [240, 60];

    fn planar() -> RgbImage {
        YuvPicture {
            width: 3,
            height: 2,
            luma: Plane {
                data: &Y,
                stride: 4,
            },
            chroma: Chroma::Planar {
                u: Plane {
                    data: &U,
                    stride: 2,
                },
                v: Plane {
                    data: &V,
                    stride: 2,
                },
            },
        }
        .to_rgb()
        .unwrap()
    }

    #[test]
    fn black_and_white_are_the_ends_of_the_limited_range() {
        assert_eq!(bt601_limited_to_rgb(16, 128, 128), [0, 0, 0]);
        // 298 · 219 / 256 = 254.9, truncated.
        assert_eq!(bt601_limited_to_rgb(235, 128, 128), [254, 254, 254]);
        assert_eq!(bt601_limited_to_rgb(255, 128, 128), [255, 255, 255]);
    }

    #[test]
    fn each_chroma_sample_covers_its_two_by_two_block() {
        let rgb = planar();
        assert_eq!(rgb.get_pixel(0, 1).0, bt601_limited_to_rgb(50, 90, 240));
        assert_eq!(rgb.get_pixel(1, 0).0, bt601_limited_to_rgb(100, 90, 240));
        assert_eq!(rgb.get_pixel(2, 1).0, bt601_limited_to_rgb(200, 200, 60));
    }

    #[test]
    fn nv12_gives_the_pixels_of_i420() {
        let uv = [U[0], V[0], U[1], V[1]];
        let nv12 = YuvPicture {
            width: 3,
            height: 2,
            luma: Plane {
                data: &Y,
                stride: 4,
            },
            chroma: Chroma::Interleaved(Plane {
                data: &uv,
                stride: 4,
            }),
        };
        assert_eq!(nv12.to_rgb().unwrap(), planar());
    }

    #[test]
    fn a_short_plane_is_an_error_not_a_panic() {
        let picture = YuvPicture {
            width: 3,
            height: 2,
            luma: Plane {
                data: &Y[..5],
                stride: 4,
            },
            chroma: Chroma::Interleaved(Plane {
                data: &[],
                stride: 4,
            }),
        };
        let error = picture.to_rgb().unwrap_err();
        assert_eq!((error.plane, error.row), ("UV", 0));
    }
}
