//! Binary masks: one byte per pixel, row-major, as the segmenter and the
//! renderer produce them. COCO stores them as run-length encodings
//! (`labels::rle`) or polygons (`labels::polygon`).

/// A binary mask of `width × height` pixels, `data[y * width + x]` is 1 inside
/// the object and 0 outside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mask {
    width: u32,
    height: u32,
    data: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MaskError {
    #[error("mask data has {got} values, a {width}×{height} mask needs {expected}")]
    WrongLength {
        width: u32,
        height: u32,
        expected: usize,
        got: usize,
    },
}

impl Mask {
    /// An empty (all 0) mask.
    pub fn new(width: u32, height: u32) -> Self {
        Mask {
            width,
            height,
            data: vec![0; width as usize * height as usize],
        }
    }

    /// The mask that is 1 where `inside(x, y)`.
    pub fn from_fn(width: u32, height: u32, mut inside: impl FnMut(u32, u32) -> bool) -> Self {
        let mut data = Vec::with_capacity(width as usize * height as usize);
        for y in 0..height {
            for x in 0..width {
                data.push(u8::from(inside(x, y)));
            }
        }
        Mask {
            width,
            height,
            data,
        }
    }

    /// A mask from row-major values; any non-zero value counts as inside.
    pub fn from_data(width: u32, height: u32, data: Vec<u8>) -> Result<Self, MaskError> {
        let expected = width as usize * height as usize;
        if data.len() != expected {
            return Err(MaskError::WrongLength {
                width,
                height,
                expected,
                got: data.len(),
            });
        }
        let data = data.into_iter().map(|v| u8::from(v != 0)).collect();
        Ok(Mask {
            width,
            height,
            data,
        })
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    /// Row-major 0/1 values.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// Whether pixel `(x, y)` is inside; `false` outside the image.
    pub fn get(&self, x: u32, y: u32) -> bool {
        x < self.width && y < self.height && self.data[self.index(x, y)] != 0
    }

    /// Sets pixel `(x, y)`; ignored outside the image.
    pub fn set(&mut self, x: u32, y: u32, inside: bool) {
        if x < self.width && y < self.height {
            let i = self.index(x, y);
            self.data[i] = u8::from(inside);
        }
    }

    fn index(&self, x: u32, y: u32) -> usize {
        y as usize * self.width as usize + x as usize
    }

    /// Number of pixels inside.
    pub fn area(&self) -> u64 {
        self.data.iter().map(|&v| u64::from(v)).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.data.iter().all(|&v| v == 0)
    }

    /// The tight pixel box `[x, y, w, h]` (COCO order) of the inside pixels,
    /// `None` for an empty mask.
    pub fn bbox(&self) -> Option<[f64; 4]> {
        let (mut x0, mut y0, mut x1, mut y1) = (u32::MAX, u32::MAX, 0, 0);
        for y in 0..self.height {
            for x in 0..self.width {
                if self.data[self.index(x, y)] != 0 {
                    x0 = x0.min(x);
                    y0 = y0.min(y);
                    x1 = x1.max(x);
                    y1 = y1.max(y);
                }
            }
        }
        (x0 != u32::MAX).then(|| {
            [
                x0 as f64,
                y0 as f64,
                (x1 - x0 + 1) as f64,
                (y1 - y0 + 1) as f64,
            ]
        })
    }

    /// Intersection over union with `other`; `None` when the sizes differ,
    /// 0 when both are empty.
    pub fn iou(&self, other: &Mask) -> Option<f64> {
        if (self.width, self.height) != (other.width, other.height) {
            return None;
        }
        let (mut inter, mut union) = (0u64, 0u64);
        for (&a, &b) in self.data.iter().zip(&other.data) {
            inter += u64::from(a & b);
            union += u64::from(a | b);
        }
        Some(if union == 0 {
            0.0
        } else {
            inter as f64 / union as f64
        })
    }

    /// The mask resampled to `width × height` by nearest neighbour: output
    /// pixel `(x, y)` takes the input pixel under its centre.
    pub fn resize_nearest(&self, width: u32, height: u32) -> Mask {
        let sx = self.width as f64 / width.max(1) as f64;
        let sy = self.height as f64 / height.max(1) as f64;
        let src = |o: u32, s: f64, n: u32| (((o as f64 + 0.5) * s) as u32).min(n.saturating_sub(1));
        Mask::from_fn(width, height, |x, y| {
            self.get(src(x, sx, self.width), src(y, sy, self.height))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn area_bbox_and_iou() {
        let a = Mask::from_fn(6, 4, |x, y| (1..4).contains(&x) && (1..3).contains(&y));
        assert_eq!(a.area(), 6);
        assert_eq!(a.bbox(), Some([1.0, 1.0, 3.0, 2.0]));
        let b = Mask::from_fn(6, 4, |x, y| (2..5).contains(&x) && (1..3).contains(&y));
        assert_eq!(a.iou(&b), Some(4.0 / 8.0));
        assert_eq!(a.iou(&Mask::new(5, 4)), None);
        assert_eq!(Mask::new(3, 3).bbox(), None);
        assert_eq!(Mask::new(3, 3).iou(&Mask::new(3, 3)), Some(0.0));
    }

    #[test]
    fn from_data_checks_the_length() {
        assert!(Mask::from_data(2, 2, vec![0, 1, 2]).is_err());
        let m = Mask::from_data(2, 2, vec![0, 7, 0, 1]).unwrap();
        assert_eq!(m.data(), &[0, 1, 0, 1]);
    }

    #[test]
    fn nearest_resize_doubles_and_halves() {
        let a = Mask::from_fn(4, 2, |x, y| x == 1 && y == 0);
        let big = a.resize_nearest(8, 4);
        assert_eq!(big.area(), 4);
        assert!(big.get(2, 0) && big.get(3, 1));
        assert_eq!(big.resize_nearest(4, 2), a);
    }
}
