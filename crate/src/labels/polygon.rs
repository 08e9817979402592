//! COCO polygons from masks, holes included.
//!
//! The outline follows pixel edges ("crack" contours: every vertex is a pixel
//! corner), so the polygon reproduces the mask exactly under pycocotools'
//! rasteriser, which fills a pixel when its centre is inside (`rleFrPoly`).
//! Each 4-connected part of the mask is one polygon; parts touching only at a
//! corner are separate polygons (pycocotools unions an annotation's polygons).
//!
//! COCO polygons cannot have holes: pycocotools rasterises each polygon on its
//! own and takes the union, so a hole drawn as a second polygon would be
//! filled. A part whose outline has more than one loop (a hole) therefore
//! becomes ONE ring: its outer boundary, then each inner loop reached through
//! a zero-width "keyhole" cut (a straight segment from the ring's first vertex
//! to the loop and back along it). The cut is traversed once each way, so it
//! cancels under both the even–odd rule (pycocotools) and the non-zero winding
//! rule (OpenCV, most drawing tools); outer boundaries run one way round and
//! holes the other, so holes stay empty under either rule. Such a ring is not
//! a simple polygon (the cut may cross the outline), which is why the COCO
//! export writes RLE for masks with holes unless polygons are asked for
//! (`Outline::has_holes`).

use std::collections::HashMap;

use super::mask::Mask;

/// A pixel corner.
type Corner = (u32, u32);

/// One directed pixel edge with the object on its left (in image
/// coordinates, y down), and the direction it runs in.
#[derive(Debug, Clone, Copy)]
struct Edge {
    from: Corner,
    to: Corner,
    dir: Dir,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    Left,
    Down,
    Right,
    Up,
}

impl Dir {
    /// The direction after a turn towards the object (the left-hand side).
    fn turned_in(self) -> Dir {
        match self {
            Dir::Left => Dir::Down,
            Dir::Down => Dir::Right,
            Dir::Right => Dir::Up,
            Dir::Up => Dir::Left,
        }
    }
}

/// The outline of a mask: per 4-connected part, its loops of pixel corners,
/// the outer boundary first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outline {
    parts: Vec<Vec<Vec<Corner>>>,
}

impl Outline {
    /// Traces `mask`.
    pub fn of(mask: &Mask) -> Self {
        let labels = components(mask);
        let n = labels.iter().copied().max().unwrap_or(0);
        let parts = (1..=n)
            .map(|label| {
                let mut loops = trace_loops(mask, &labels, label);
                loops.sort_by_key(|l| twice_signed_area(l));
                loops
            })
            .collect();
        Outline { parts }
    }

    /// Number of parts (polygons).
    pub fn parts(&self) -> usize {
        self.parts.len()
    }

    /// Whether some part has an inner loop, i.e. needs a keyhole cut.
    pub fn has_holes(&self) -> bool {
        self.parts.iter().any(|loops| loops.len() > 1)
    }

    /// One flat `[x0, y0, x1, y1, …]` ring per part, holes keyholed in.
    pub fn polygons(&self) -> Vec<Vec<f64>> {
        self.parts
            .iter()
            .map(|loops| flatten(keyhole(loops)))
            .collect()
    }
}

/// The polygons of `mask` (see `Outline::polygons`); empty for an empty mask.
pub fn mask_to_polygons(mask: &Mask) -> Vec<Vec<f64>> {
    Outline::of(mask).polygons()
}

/// 4-connected component labels (0 outside, 1.. inside), row-major.
fn components(mask: &Mask) -> Vec<u32> {
    let (w, h) = (mask.width() as usize, mask.height() as usize);
    let data = mask.data();
    let mut labels = vec![0u32; w * h];
    let mut next = 0;
    let mut stack = Vec::new();
    for start in 0..w * h {
        if data[start] == 0 || labels[start] != 0 {
            continue;
        }
        next += 1;
        labels[start] = next;
        stack.push(start);
        while let Some(p) = stack.pop() {
            let (x, y) = ((p % w) as i64, (p / w) as i64);
            for (dx, dy) in [(-1, 0), (1, 0), (0, -1), (0, 1)] {
                let (nx, ny) = (x + dx, y + dy);
                if nx < 0 || ny < 0 || nx >= w as i64 || ny >= h as i64 {
                    continue;
                }
                let q = ny as usize * w + nx as usize;
                if data[q] != 0 && labels[q] == 0 {
                    labels[q] = next;
                    stack.push(q);
                }
            }
        }
    }
    labels
}

/// The boundary edges of the pixels labelled `label`, object on the left.
fn boundary_edges(mask: &Mask, labels: &[u32], label: u32) -> Vec<Edge> {
    let (w, h) = (mask.width(), mask.height());
    let inside = |x: i64, y: i64| {
        x >= 0
            && y >= 0
            && x < w as i64
            && y < h as i64
            && labels[y as usize * w as usize + x as usize] == label
    };
    let mut edges = Vec::new();
    for y in 0..h {
        for x in 0..w {
            if labels[y as usize * w as usize + x as usize] != label {
                continue;
            }
            let (xi, yi) = (x as i64, y as i64);
            if !inside(xi, yi - 1) {
                edges.push(Edge {
                    from: (x + 1, y),
                    to: (x, y),
                    dir: Dir::Left,
                });
            }
            if !inside(xi - 1, yi) {
                edges.push(Edge {
                    from: (x, y),
                    to: (x, y + 1),
                    dir: Dir::Down,
                });
            }
            if !inside(xi, yi + 1) {
                edges.push(Edge {
                    from: (x, y + 1),
                    to: (x + 1, y + 1),
                    dir: Dir::Right,
                });
            }
            if !inside(xi + 1, yi) {
                edges.push(Edge {
                    from: (x + 1, y + 1),
                    to: (x + 1, y),
                    dir: Dir::Up,
                });
            }
        }
    }
    edges
}

/// Links the boundary edges of one part into closed loops of corner vertices
/// (collinear vertices dropped). A loop closes as soon as it is back at its
/// first corner; where two diagonal pixels meet at a corner the walk turns
/// towards the object, so loops never cross themselves.
fn trace_loops(mask: &Mask, labels: &[u32], label: u32) -> Vec<Vec<Corner>> {
    let edges = boundary_edges(mask, labels, label);
    let mut outgoing: HashMap<Corner, Vec<usize>> = HashMap::new();
    for (i, e) in edges.iter().enumerate() {
        outgoing.entry(e.from).or_default().push(i);
    }
    let mut used = vec![false; edges.len()];
    let mut loops = Vec::new();
    for start in 0..edges.len() {
        if used[start] {
            continue;
        }
        let mut corners = Vec::new();
        let mut current = start;
        loop {
            used[current] = true;
            let e = edges[current];
            corners.push(e.from);
            if e.to == edges[start].from {
                break;
            }
            let Some(next) = next_edge(&edges, &outgoing, &used, e) else {
                break;
            };
            current = next;
        }
        loops.push(drop_collinear(corners));
    }
    loops
}

/// The unused edge leaving `e.to`, preferring the turn towards the object.
fn next_edge(
    edges: &[Edge],
    outgoing: &HashMap<Corner, Vec<usize>>,
    used: &[bool],
    e: Edge,
) -> Option<usize> {
    let candidates: Vec<usize> = outgoing
        .get(&e.to)
        .map(|v| v.iter().copied().filter(|&i| !used[i]).collect())
        .unwrap_or_default();
    candidates
        .iter()
        .copied()
        .find(|&i| edges[i].dir == e.dir.turned_in())
        .or_else(|| candidates.first().copied())
}

/// Keeps only the corners where the outline turns.
fn drop_collinear(corners: Vec<Corner>) -> Vec<Corner> {
    let n = corners.len();
    if n < 3 {
        return corners;
    }
    (0..n)
        .filter(|&i| {
            let (p, c, q) = (corners[(i + n - 1) % n], corners[i], corners[(i + 1) % n]);
            let cross = (c.0 as i64 - p.0 as i64) * (q.1 as i64 - c.1 as i64)
                - (c.1 as i64 - p.1 as i64) * (q.0 as i64 - c.0 as i64);
            cross != 0
        })
        .map(|i| corners[i])
        .collect()
}

/// Twice the signed area (shoelace); outer boundaries come out negative with
/// the object on the left in y-down coordinates, holes positive.
fn twice_signed_area(ring: &[Corner]) -> i64 {
    let n = ring.len();
    (0..n)
        .map(|i| {
            let (p, q) = (ring[i], ring[(i + 1) % n]);
            p.0 as i64 * q.1 as i64 - q.0 as i64 * p.1 as i64
        })
        .sum()
}

/// One ring: the outer loop (the first: loops are sorted by signed area, the
/// outer boundary most negative), then every other loop entered through a cut
/// from the first vertex and left back along it.
fn keyhole(loops: &[Vec<Corner>]) -> Vec<Corner> {
    let Some(outer) = loops.first() else {
        return Vec::new();
    };
    let anchor = outer[0];
    let mut ring = outer.clone();
    for inner in &loops[1..] {
        // Enter the loop at a vertex other than the anchor: no zero-length cut.
        let Some(start) = inner.iter().position(|&c| c != anchor) else {
            continue;
        };
        ring.push(anchor);
        ring.extend(inner[start..].iter().chain(&inner[..start]));
        ring.push(inner[start]);
    }
    ring
}

fn flatten(ring: Vec<Corner>) -> Vec<f64> {
    ring.into_iter()
        .flat_map(|(x, y)| [x as f64, y as f64])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::rle::Rle;

    /// What pycocotools' `annToMask` makes of the polygons (same rasteriser).
    fn rasterise(polygons: &[Vec<f64>], w: u32, h: u32) -> Mask {
        let rles: Vec<Rle> = polygons
            .iter()
            .map(|p| Rle::from_polygon(p, h, w).unwrap())
            .collect();
        if rles.is_empty() {
            return Mask::new(w, h);
        }
        Rle::union(&rles).unwrap().decode()
    }

    fn assert_round_trip(mask: &Mask) -> Vec<Vec<f64>> {
        let polygons = mask_to_polygons(mask);
        assert_eq!(
            rasterise(&polygons, mask.width(), mask.height()),
            *mask,
            "{polygons:?}"
        );
        polygons
    }

    #[test]
    fn a_rectangle_is_four_corners() {
        let m = Mask::from_fn(6, 5, |x, y| (1..4).contains(&x) && (2..4).contains(&y));
        let p = assert_round_trip(&m);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].len(), 8);
        assert!(!Outline::of(&m).has_holes());
    }

    #[test]
    fn a_ring_keeps_its_hole() {
        let m = Mask::from_fn(9, 9, |x, y| {
            (1..8).contains(&x)
                && (1..8).contains(&y)
                && !((3..6).contains(&x) && (3..6).contains(&y))
        });
        let p = assert_round_trip(&m);
        assert_eq!(p.len(), 1, "one part, one ring");
        assert!(Outline::of(&m).has_holes());
    }

    #[test]
    fn nested_islands_holes_and_diagonal_touches() {
        // A ring with an island inside its hole, two holes, a hole touching the
        // outer boundary at a corner and pixels touching only diagonally.
        let m = Mask::from_fn(16, 12, |x, y| {
            let ring = (1..11).contains(&x) && (1..11).contains(&y);
            let hole1 = (2..7).contains(&x) && (2..7).contains(&y);
            let island = (3..6).contains(&x) && (3..6).contains(&y) && !(x == 4 && y == 4);
            let hole2 = (8..10).contains(&x) && (8..10).contains(&y);
            let diag = (x == 12 && y == 1) || (x == 13 && y == 2) || (x == 12 && y == 3);
            let corner_hole = x == 1 && y == 1;
            (ring && !hole1 && !hole2 && !corner_hole) || island || diag
        });
        let p = assert_round_trip(&m);
        assert_eq!(p.len(), 5, "ring, island, three diagonal pixels");
    }

    #[test]
    fn checkerboards_and_random_masks_round_trip() {
        assert_round_trip(&Mask::from_fn(7, 6, |x, y| (x + y) % 2 == 0));
        let mut s = 7u64;
        for _ in 0..30 {
            let m = Mask::from_fn(13, 9, |_, _| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (s >> 33).is_multiple_of(2)
            });
            assert_round_trip(&m);
        }
    }

    #[test]
    fn full_and_empty_masks() {
        assert_round_trip(&Mask::from_fn(4, 3, |_, _| true));
        assert!(mask_to_polygons(&Mask::new(4, 3)).is_empty());
    }
}
