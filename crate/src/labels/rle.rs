//! COCO run-length encoding, bit for bit as pycocotools writes and reads it.
//!
//! Reference: the COCO API's `common/maskApi.c` (Dollár & Lin, 2015), which
//! pycocotools wraps: `rleEncode`, `rleDecode`, `rleMerge`, `rleArea`,
//! `rleToBbox`, `rleIou`, `rleFrPoly`, `rleToString` and `rleFrString` are ported
//! here function by function, so masks, areas, boxes and IoUs agree exactly.
//!
//! An RLE walks the mask in column-major (Fortran) order: `counts` alternate
//! runs of 0s and 1s, starting with 0s (so a mask whose first pixel is set
//! starts with a 0 count). The compressed string form stores each count (after
//! the third, as the difference to the count two before) in 5-bit groups, one
//! ASCII character (48–111) per group, LEB128-like.

use serde::{Deserialize, Serialize};

use super::mask::Mask;
use crate::limits::{LimitError, check_image_size};

/// A run-length encoded binary mask of `height × width` pixels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rle {
    height: u32,
    width: u32,
    counts: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RleError {
    #[error("RLE counts sum to {sum}, a {height}×{width} mask has {expected} pixels")]
    WrongSum {
        height: u32,
        width: u32,
        sum: u64,
        expected: u64,
    },
    #[error("compressed RLE: character {index} ('{found}') is outside the alphabet '0'..='o'")]
    BadCharacter { index: usize, found: char },
    #[error("compressed RLE: count {index} is out of range ({value})")]
    CountOutOfRange { index: usize, value: i64 },
    #[error("compressed RLE: the string ends inside count {index}")]
    Truncated { index: usize },
    #[error("cannot merge masks of different sizes ({a:?} and {b:?}, [height, width])")]
    SizeMismatch { a: [u32; 2], b: [u32; 2] },
    #[error(
        "polygon: {reason} (pycocotools rasterises polygons of at least 3 points with finite coordinates)"
    )]
    BadPolygon { reason: String },
    #[error("RLE size: {0}")]
    TooLarge(#[from] LimitError),
}

/// Checks a mask size `[height, width]` against the image limits.
fn check_size(height: u32, width: u32) -> Result<(), RleError> {
    check_image_size(|| "the mask".into(), u64::from(width), u64::from(height))?;
    Ok(())
}

/// Longest boundary walk `from_polygon` accepts (upsampled points); a polygon
/// longer than this is an error, not an allocation of gigabytes.
const MAX_POLYGON_POINTS: u64 = 50_000_000;

impl Rle {
    /// An RLE from counts; they must cover exactly `height × width` pixels.
    /// The size must be within the image limits of [`crate::limits`].
    pub fn new(height: u32, width: u32, counts: Vec<u32>) -> Result<Self, RleError> {
        check_size(height, width)?;
        let sum: u64 = counts.iter().map(|&c| u64::from(c)).sum();
        let expected = u64::from(height) * u64::from(width);
        if sum != expected {
            return Err(RleError::WrongSum {
                height,
                width,
                sum,
                expected,
            });
        }
        Ok(Rle {
            height,
            width,
            counts,
        })
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn counts(&self) -> &[u32] {
        &self.counts
    }

    /// `rleEncode`: runs of the mask in column-major order.
    pub fn encode(mask: &Mask) -> Rle {
        let (w, h) = (mask.width(), mask.height());
        let data = mask.data();
        let mut counts = Vec::new();
        let (mut previous, mut run) = (0u8, 0u32);
        for x in 0..w as usize {
            for y in 0..h as usize {
                let v = data[y * w as usize + x];
                if v != previous {
                    counts.push(run);
                    run = 0;
                    previous = v;
                }
                run += 1;
            }
        }
        counts.push(run);
        Rle {
            height: h,
            width: w,
            counts,
        }
    }

    /// `rleDecode`: the mask.
    pub fn decode(&self) -> Mask {
        let (w, h) = (self.width as usize, self.height as usize);
        let mut data = vec![0u8; w * h];
        let mut position = 0usize;
        let mut value = 0u8;
        for &count in &self.counts {
            for p in position..position + count as usize {
                let (x, y) = (p / h.max(1), p % h.max(1));
                data[y * w + x] = value;
            }
            position += count as usize;
            value ^= 1;
        }
        Mask::from_data(self.width, self.height, data).unwrap_or_else(|_| Mask::new(0, 0))
    }

    /// `rleArea`: number of pixels set.
    pub fn area(&self) -> u64 {
        self.counts
            .iter()
            .skip(1)
            .step_by(2)
            .map(|&c| u64::from(c))
            .sum()
    }

    /// `rleToBbox`: the tight box `[x, y, w, h]`, all 0 for an empty mask. Like
    /// the C code, a run that wraps from one column to the next widens the box
    /// to the full height.
    pub fn to_bbox(&self) -> [f64; 4] {
        let h = self.height;
        let m = self.counts.len() / 2 * 2;
        if m == 0 || h == 0 {
            return [0.0; 4];
        }
        let (mut xs, mut ys, mut xe, mut ye) = (self.width, h, 0u32, 0u32);
        let (mut cc, mut xp) = (0u32, 0u32);
        for j in 0..m {
            cc = cc.wrapping_add(self.counts[j]);
            let t = cc.wrapping_sub((j % 2) as u32);
            let y = t % h;
            let x = (t - y) / h;
            if j % 2 == 0 {
                xp = x;
            } else if xp < x {
                ys = 0;
                ye = h - 1;
            }
            xs = xs.min(x);
            xe = xe.max(x);
            ys = ys.min(y);
            ye = ye.max(y);
        }
        [
            xs as f64,
            ys as f64,
            xe.wrapping_sub(xs).wrapping_add(1) as f64,
            ye.wrapping_sub(ys).wrapping_add(1) as f64,
        ]
    }

    /// [`Rle::to_bbox`] as corners `[x0, y0, x1, y1]`.
    pub fn to_xyxy(&self) -> super::Box2 {
        super::boxes::xywh_to_xyxy(self.to_bbox())
    }

    /// `rleMerge` with `intersect = 0`: the union of masks of one size.
    pub fn union(rles: &[Rle]) -> Result<Rle, RleError> {
        let Some(first) = rles.first() else {
            return Ok(Rle {
                height: 0,
                width: 0,
                counts: Vec::new(),
            });
        };
        let mut merged = first.decode();
        for r in &rles[1..] {
            if (r.height, r.width) != (first.height, first.width) {
                return Err(RleError::SizeMismatch {
                    a: [first.height, first.width],
                    b: [r.height, r.width],
                });
            }
            let other = r.decode();
            let data: Vec<u8> = merged
                .data()
                .iter()
                .zip(other.data())
                .map(|(a, b)| a | b)
                .collect();
            merged = Mask::from_data(first.width, first.height, data).map_err(|_| {
                RleError::SizeMismatch {
                    a: [first.height, first.width],
                    b: [r.height, r.width],
                }
            })?;
        }
        Ok(Rle::encode(&merged))
    }

    /// `rleIou` for one pair: intersection over union, or over the detection's
    /// own area when the ground truth is a crowd region; −1 when the sizes
    /// differ, 0 when the tight boxes do not overlap.
    pub fn iou(dt: &Rle, gt: &Rle, crowd: bool) -> f64 {
        let db = dt.to_bbox();
        let gb = gt.to_bbox();
        if bbox_iou(db, gb, crowd) <= 0.0 {
            return 0.0;
        }
        if (dt.height, dt.width) != (gt.height, gt.width) {
            return -1.0;
        }
        let (intersection, union) = overlap(&dt.counts, &gt.counts);
        let union = if intersection == 0 {
            1
        } else if crowd {
            dt.area()
        } else {
            union
        };
        intersection as f64 / union as f64
    }

    /// `rleToString`: the compressed string form of `counts`.
    pub fn to_compressed(&self) -> String {
        let mut s = String::new();
        for (i, &count) in self.counts.iter().enumerate() {
            let mut x = i64::from(count);
            if i > 2 {
                x -= i64::from(self.counts[i - 2]);
            }
            loop {
                let mut c = (x & 0x1f) as u8;
                x >>= 5;
                let more = if c & 0x10 != 0 { x != -1 } else { x != 0 };
                if more {
                    c |= 0x20;
                }
                s.push(char::from(c + 48));
                if !more {
                    break;
                }
            }
        }
        s
    }

    /// `rleFrString`: parses the compressed string form.
    pub fn from_compressed(height: u32, width: u32, s: &str) -> Result<Rle, RleError> {
        check_size(height, width)?;
        let mut counts: Vec<u32> = Vec::new();
        let mut chars = s.chars().enumerate().peekable();
        while chars.peek().is_some() {
            let index = counts.len();
            let (mut x, mut k) = (0i64, 0u32);
            loop {
                let Some((p, ch)) = chars.next() else {
                    return Err(RleError::Truncated { index });
                };
                let c = (ch as u32).checked_sub(48).filter(|c| *c < 64).ok_or(
                    RleError::BadCharacter {
                        index: p,
                        found: ch,
                    },
                )? as i64;
                if k >= 12 {
                    return Err(RleError::CountOutOfRange { index, value: x });
                }
                x |= (c & 0x1f) << (5 * k);
                k += 1;
                if c & 0x20 == 0 {
                    if c & 0x10 != 0 {
                        x |= -1i64 << (5 * k);
                    }
                    break;
                }
            }
            if index > 2 {
                x += i64::from(counts[index - 2]);
            }
            let count =
                u32::try_from(x).map_err(|_| RleError::CountOutOfRange { index, value: x })?;
            counts.push(count);
        }
        Rle::new(height, width, counts)
    }

    /// `rleFrBbox`: the mask of box `[x, y, w, h]`, rasterised as the polygon
    /// `x0,y0, x0,y1, x1,y1, x1,y0` (what pycocotools' `loadRes` gives a result
    /// without a segmentation).
    pub fn from_bbox(bbox: [f64; 4], height: u32, width: u32) -> Result<Rle, RleError> {
        let [x0, y0, w, h] = bbox;
        let (x1, y1) = (x0 + w, y0 + h);
        Rle::from_polygon(&[x0, y0, x0, y1, x1, y1, x1, y0], height, width)
    }

    /// `rleFrPoly`: rasterises one polygon `[x0, y0, x1, y1, …]` exactly as
    /// pycocotools does (boundary upsampled 5×, filled column by column with
    /// the even–odd rule; a pixel is inside when its centre is).
    pub fn from_polygon(xy: &[f64], height: u32, width: u32) -> Result<Rle, RleError> {
        check_size(height, width)?;
        check_polygon(xy)?;
        let (x, y) = upsampled_vertices(xy);
        let (u, v) = boundary_points(&x, &y)?;
        let (bx, by) = column_crossings(&u, &v, height, width);
        Ok(crossings_to_rle(&bx, &by, height, width))
    }
}

fn check_polygon(xy: &[f64]) -> Result<(), RleError> {
    let reason = if !xy.len().is_multiple_of(2) {
        Some(format!("{} coordinates, an odd number", xy.len()))
    } else if xy.len() < 6 {
        Some(format!("{} points", xy.len() / 2))
    } else {
        xy.iter()
            .find(|v| !v.is_finite() || v.abs() > 1e8)
            .map(|v| format!("coordinate {v} is not a finite pixel position"))
    };
    match reason {
        Some(reason) => Err(RleError::BadPolygon { reason }),
        None => Ok(()),
    }
}

/// Vertices scaled by 5 and rounded as the C code does (`(int)(5x + .5)`,
/// truncating toward zero), closed by repeating the first.
fn upsampled_vertices(xy: &[f64]) -> (Vec<i64>, Vec<i64>) {
    let k = xy.len() / 2;
    let round = |v: f64| (5.0 * v + 0.5) as i32 as i64;
    let mut x: Vec<i64> = (0..k).map(|j| round(xy[2 * j])).collect();
    let mut y: Vec<i64> = (0..k).map(|j| round(xy[2 * j + 1])).collect();
    x.push(x[0]);
    y.push(y[0]);
    (x, y)
}

/// Dense integer points along every edge (`u`, `v` in the upsampled grid).
fn boundary_points(x: &[i64], y: &[i64]) -> Result<(Vec<i64>, Vec<i64>), RleError> {
    let k = x.len() - 1;
    let total: u64 = (0..k)
        .map(|j| {
            (x[j] - x[j + 1])
                .unsigned_abs()
                .max((y[j] - y[j + 1]).unsigned_abs())
                + 1
        })
        .sum();
    if total > MAX_POLYGON_POINTS {
        return Err(RleError::BadPolygon {
            reason: format!("its outline is too long to rasterise ({total} boundary points)"),
        });
    }
    let mut u = Vec::with_capacity(total as usize);
    let mut v = Vec::with_capacity(total as usize);
    for j in 0..k {
        let (mut xs, mut xe, mut ys, mut ye) = (x[j], x[j + 1], y[j], y[j + 1]);
        let dx = (xe - xs).abs();
        let dy = (ys - ye).abs();
        let flip = (dx >= dy && xs > xe) || (dx < dy && ys > ye);
        if flip {
            std::mem::swap(&mut xs, &mut xe);
            std::mem::swap(&mut ys, &mut ye);
        }
        if dx >= dy {
            // dx = dy = 0 (a repeated vertex): the C code divides 0 by 0 here; the
            // one point it writes never starts a crossing, so any v will do.
            let s = if dx == 0 {
                0.0
            } else {
                (ye - ys) as f64 / dx as f64
            };
            for d in 0..=dx {
                let t = if flip { dx - d } else { d };
                u.push(t + xs);
                v.push((ys as f64 + s * t as f64 + 0.5) as i32 as i64);
            }
        } else {
            let s = (xe - xs) as f64 / dy as f64;
            for d in 0..=dy {
                let t = if flip { dy - d } else { d };
                v.push(t + ys);
                u.push((xs as f64 + s * t as f64 + 0.5) as i32 as i64);
            }
        }
    }
    Ok((u, v))
}

/// Where the boundary crosses a pixel column's centre line, downsampled to
/// pixel coordinates: `(column, first row below the crossing)`.
fn column_crossings(u: &[i64], v: &[i64], height: u32, width: u32) -> (Vec<i64>, Vec<i64>) {
    let (mut bx, mut by) = (Vec::new(), Vec::new());
    for j in 1..u.len() {
        if u[j] == u[j - 1] {
            continue;
        }
        let xd = if u[j] < u[j - 1] { u[j] } else { u[j] - 1 } as f64;
        let xd = (xd + 0.5) / 5.0 - 0.5;
        if xd.floor() != xd || xd < 0.0 || xd > f64::from(width) - 1.0 {
            continue;
        }
        let yd = if v[j] < v[j - 1] { v[j] } else { v[j - 1] } as f64;
        let yd = ((yd + 0.5) / 5.0 - 0.5)
            .clamp(0.0, f64::from(height))
            .ceil();
        bx.push(xd as i64);
        by.push(yd as i64);
    }
    (bx, by)
}

/// Sorted crossing positions (column-major) → runs; coinciding crossings
/// cancel, as in the C code.
fn crossings_to_rle(bx: &[i64], by: &[i64], height: u32, width: u32) -> Rle {
    let h = i64::from(height);
    let total = h * i64::from(width);
    let mut a: Vec<i64> = bx.iter().zip(by).map(|(x, y)| x * h + y).collect();
    a.push(total);
    a.sort_unstable();
    let mut previous = 0;
    for p in a.iter_mut() {
        let t = *p;
        *p -= previous;
        previous = t;
    }
    let mut b: Vec<i64> = vec![a[0]];
    let mut j = 1;
    while j < a.len() {
        if a[j] > 0 {
            b.push(a[j]);
            j += 1;
        } else {
            j += 1;
            if j < a.len() {
                if let Some(last) = b.last_mut() {
                    *last += a[j];
                }
                j += 1;
            }
        }
    }
    Rle {
        height,
        width,
        counts: b.into_iter().map(|c| c as u32).collect(),
    }
}

/// Intersection and union pixel counts of two RLEs of one size.
fn overlap(a: &[u32], b: &[u32]) -> (u64, u64) {
    let (mut ia, mut ib) = (0usize, 0usize);
    let (mut ca, mut cb) = (
        a.first().copied().unwrap_or(0),
        b.first().copied().unwrap_or(0),
    );
    let (mut va, mut vb) = (false, false);
    let (mut inter, mut union) = (0u64, 0u64);
    loop {
        // Skip exhausted runs.
        while ca == 0 && ia + 1 < a.len() {
            ia += 1;
            ca = a[ia];
            va = !va;
        }
        while cb == 0 && ib + 1 < b.len() {
            ib += 1;
            cb = b[ib];
            vb = !vb;
        }
        if ca == 0 || cb == 0 {
            break;
        }
        let c = ca.min(cb);
        if va || vb {
            union += u64::from(c);
            if va && vb {
                inter += u64::from(c);
            }
        }
        ca -= c;
        cb -= c;
    }
    (inter, union)
}

/// `bbIou` for one pair of `[x, y, w, h]` boxes, as in `maskApi.c`: 0 when they
/// do not overlap, intersection over the detection's area for a crowd region.
pub fn bbox_iou(dt: [f64; 4], gt: [f64; 4], crowd: bool) -> f64 {
    let w = (dt[2] + dt[0]).min(gt[2] + gt[0]) - dt[0].max(gt[0]);
    if w <= 0.0 {
        return 0.0;
    }
    let h = (dt[3] + dt[1]).min(gt[3] + gt[1]) - dt[1].max(gt[1]);
    if h <= 0.0 {
        return 0.0;
    }
    let i = w * h;
    let da = dt[2] * dt[3];
    let u = if crowd { da } else { da + gt[2] * gt[3] - i };
    i / u
}

/// The COCO JSON form: `{"size": [h, w], "counts": "…"}` (compressed) when
/// written; read from the compressed or the uncompressed (`counts` a list) form.
#[derive(Serialize, Deserialize)]
struct RleJson {
    size: [u32; 2],
    counts: RleCounts,
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum RleCounts {
    Compressed(String),
    Uncompressed(Vec<u32>),
}

impl Serialize for Rle {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        RleJson {
            size: [self.height, self.width],
            counts: RleCounts::Compressed(self.to_compressed()),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Rle {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let json = RleJson::deserialize(deserializer)?;
        let [h, w] = json.size;
        match json.counts {
            RleCounts::Compressed(s) => Rle::from_compressed(h, w, &s),
            RleCounts::Uncompressed(counts) => Rle::new(h, w, counts),
        }
        .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checker(w: u32, h: u32, seed: u64) -> Mask {
        let mut s = seed;
        Mask::from_fn(w, h, |_, _| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 33).is_multiple_of(3)
        })
    }

    #[test]
    fn encode_decode_round_trip_column_major() {
        // 2 rows × 3 columns: column-major walk is (0,0),(0,1),(1,0),(1,1),…
        let m = Mask::from_fn(3, 2, |x, y| (x, y) == (0, 1) || x == 2);
        let r = Rle::encode(&m);
        assert_eq!(r.counts(), &[1, 1, 2, 2]);
        assert_eq!(r.decode(), m);
        assert_eq!(r.area(), 3);
        let starts_set = Mask::from_fn(2, 2, |x, _| x == 0);
        assert_eq!(Rle::encode(&starts_set).counts(), &[0, 2, 2]);
        for seed in 0..20 {
            let m = checker(17, 11, seed);
            assert_eq!(Rle::encode(&m).decode(), m);
        }
    }

    #[test]
    fn compressed_strings_round_trip_and_match_pycocotools() {
        // pycocotools: encode(asfortranarray(np.eye(3, dtype=uint8)))['counts'] == b'013000'
        // (counts [0, 1, 3, 1, 3, 1]: the 4th and later stored as differences).
        let eye = Mask::from_fn(3, 3, |x, y| x == y);
        let r = Rle::encode(&eye);
        assert_eq!(r.counts(), &[0, 1, 3, 1, 3, 1]);
        assert_eq!(r.to_compressed(), "013000");
        assert_eq!(Rle::from_compressed(3, 3, "013000").unwrap(), r);
        for seed in 0..20 {
            let r = Rle::encode(&checker(40, 23, seed));
            assert_eq!(Rle::from_compressed(23, 40, &r.to_compressed()).unwrap(), r);
        }
        let big = Rle::new(1000, 1000, vec![123_456, 1, 876_543]).unwrap();
        assert_eq!(
            Rle::from_compressed(1000, 1000, &big.to_compressed()).unwrap(),
            big
        );
    }

    #[test]
    fn bad_compressed_strings_are_errors() {
        assert!(matches!(
            Rle::from_compressed(3, 3, "01 3"),
            Err(RleError::BadCharacter { index: 2, .. })
        ));
        assert!(matches!(
            Rle::from_compressed(3, 3, "0"),
            Err(RleError::WrongSum { .. })
        ));
        assert!(matches!(
            Rle::from_compressed(3, 3, "0o"),
            Err(RleError::Truncated { index: 1 })
        ));
        assert!(Rle::from_compressed(3, 3, "oooooooooooooooooo0").is_err());
        assert!(Rle::new(2, 2, vec![1, 1]).is_err());
    }

    #[test]
    fn polygons_fill_pixels_whose_centres_are_inside() {
        // The square [1,4]×[1,3] covers pixel centres x ∈ {1,2,3}, y ∈ {1,2}.
        let r = Rle::from_polygon(&[1.0, 1.0, 4.0, 1.0, 4.0, 3.0, 1.0, 3.0], 5, 6).unwrap();
        // pycocotools: frPyObjects([[1,1, 4,1, 4,3, 1,3]], 5, 6) → counts b'6230009'.
        assert_eq!(r.to_compressed(), "6230009");
        let expect = Mask::from_fn(6, 5, |x, y| (1..4).contains(&x) && (1..3).contains(&y));
        assert_eq!(r.decode(), expect);
        // A box result rasterised like pycocotools' loadRes.
        assert_eq!(Rle::from_bbox([1.0, 1.0, 3.0, 2.0], 5, 6).unwrap(), r);
        // Outside the image: clipped.
        let r = Rle::from_polygon(&[-5.0, -5.0, 2.0, -5.0, 2.0, 2.0, -5.0, 2.0], 4, 4).unwrap();
        assert_eq!(r.to_compressed(), "02208");
        assert_eq!(r.decode(), Mask::from_fn(4, 4, |x, y| x < 2 && y < 2));
        assert!(Rle::from_polygon(&[0.0, 0.0, 1.0, 1.0], 4, 4).is_err());
        assert!(Rle::from_polygon(&[0.0, 0.0, 1.0, 1.0, f64::NAN, 0.0], 4, 4).is_err());
    }

    #[test]
    fn iou_union_and_boxes() {
        let a = Rle::encode(&Mask::from_fn(8, 6, |x, y| x < 4 && y < 4));
        let b = Rle::encode(&Mask::from_fn(8, 6, |x, y| (2..6).contains(&x) && y < 4));
        assert_eq!(Rle::iou(&a, &b, false), 8.0 / 24.0);
        assert_eq!(Rle::iou(&a, &b, true), 8.0 / 16.0);
        assert_eq!(Rle::iou(&a, &Rle::encode(&Mask::new(8, 6)), false), 0.0);
        let other_size = Rle::encode(&Mask::from_fn(8, 7, |x, y| x < 4 && y < 4));
        assert_eq!(Rle::iou(&a, &other_size, false), -1.0);
        let u = Rle::union(&[a.clone(), b]).unwrap();
        assert_eq!(u.area(), 24);
        assert_eq!(u.to_bbox(), [0.0, 0.0, 6.0, 4.0]);
        assert_eq!(a.to_bbox(), [0.0, 0.0, 4.0, 4.0]);
        assert_eq!(Rle::encode(&Mask::new(3, 3)).to_bbox(), [0.0; 4]);
        assert!(Rle::union(&[a, other_size]).is_err());
    }

    #[test]
    fn json_forms() {
        let r = Rle::encode(&Mask::from_fn(3, 3, |x, y| x == y));
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(json, r#"{"size":[3,3],"counts":"013000"}"#);
        let back: Rle = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
        let raw: Rle = serde_json::from_str(r#"{"size":[3,3],"counts":[0,1,3,1,3,1]}"#).unwrap();
        assert_eq!(raw, r);
        assert!(serde_json::from_str::<Rle>(r#"{"size":[3,3],"counts":[0,1]}"#).is_err());
    }
}
