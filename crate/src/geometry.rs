//! Small 3D geometry: vectors, unit quaternions, oriented boxes and the 2D box of
//! a projected cuboid. Conventions follow nuScenes: quaternions are `[w, x, y, z]`,
//! box sizes are `[width, length, height]`, a box's local x axis points along its
//! length.

use serde::{Deserialize, Serialize};

pub use crate::labels::Box2;

/// A 3-vector of `f64`.
pub type Vec3 = [f64; 3];

/// A 3×3 matrix, row-major.
pub type Mat3 = [[f64; 3]; 3];

pub fn add(a: Vec3, b: Vec3) -> Vec3 {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}

pub fn sub(a: Vec3, b: Vec3) -> Vec3 {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

pub fn scale(a: Vec3, s: f64) -> Vec3 {
    [a[0] * s, a[1] * s, a[2] * s]
}

pub fn dot(a: Vec3, b: Vec3) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

pub fn norm(a: Vec3) -> f64 {
    dot(a, a).sqrt()
}

pub fn mat_vec(m: &Mat3, v: Vec3) -> Vec3 {
    [dot(m[0], v), dot(m[1], v), dot(m[2], v)]
}

pub fn transpose(m: &Mat3) -> Mat3 {
    [
        [m[0][0], m[1][0], m[2][0]],
        [m[0][1], m[1][1], m[2][1]],
        [m[0][2], m[1][2], m[2][2]],
    ]
}

/// A rotation quaternion `w + xi + yj + zk`, stored as nuScenes writes it: `[w, x, y, z]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(from = "[f64; 4]", into = "[f64; 4]")]
pub struct Quat {
    pub w: f64,
    pub x: f64,
    pub y: f64,
    pub z: f64,
}

impl From<[f64; 4]> for Quat {
    fn from([w, x, y, z]: [f64; 4]) -> Self {
        Quat { w, x, y, z }
    }
}

impl From<Quat> for [f64; 4] {
    fn from(q: Quat) -> Self {
        [q.w, q.x, q.y, q.z]
    }
}

impl Quat {
    pub const IDENTITY: Quat = Quat {
        w: 1.0,
        x: 0.0,
        y: 0.0,
        z: 0.0,
    };

    /// Rotation by `angle` radians about the global z axis (a heading, "yaw").
    pub fn from_yaw(angle: f64) -> Self {
        let (s, c) = (angle / 2.0).sin_cos();
        Quat {
            w: c,
            x: 0.0,
            y: 0.0,
            z: s,
        }
    }

    /// The quaternion (with `w ≥ 0`) of a rotation matrix (Shepperd's method; `m`
    /// must be orthonormal).
    pub fn from_matrix(m: &Mat3) -> Self {
        let trace = m[0][0] + m[1][1] + m[2][2];
        let q = if trace > 0.0 {
            let s = 2.0 * (1.0 + trace).sqrt();
            [
                s / 4.0,
                (m[2][1] - m[1][2]) / s,
                (m[0][2] - m[2][0]) / s,
                (m[1][0] - m[0][1]) / s,
            ]
        } else if m[0][0] > m[1][1] && m[0][0] > m[2][2] {
            let s = 2.0 * (1.0 + m[0][0] - m[1][1] - m[2][2]).sqrt();
            [
                (m[2][1] - m[1][2]) / s,
                s / 4.0,
                (m[0][1] + m[1][0]) / s,
                (m[0][2] + m[2][0]) / s,
            ]
        } else if m[1][1] > m[2][2] {
            let s = 2.0 * (1.0 + m[1][1] - m[0][0] - m[2][2]).sqrt();
            [
                (m[0][2] - m[2][0]) / s,
                (m[0][1] + m[1][0]) / s,
                s / 4.0,
                (m[1][2] + m[2][1]) / s,
            ]
        } else {
            let s = 2.0 * (1.0 + m[2][2] - m[0][0] - m[1][1]).sqrt();
            [
                (m[1][0] - m[0][1]) / s,
                (m[0][2] + m[2][0]) / s,
                (m[1][2] + m[2][1]) / s,
                s / 4.0,
            ]
        };
        // q and −q are the same rotation: keep w ≥ 0.
        let sign = if q[0] < 0.0 { -1.0 } else { 1.0 };
        Quat::from(q.map(|c| c * sign))
    }

    pub fn norm(&self) -> f64 {
        (self.w * self.w + self.x * self.x + self.y * self.y + self.z * self.z).sqrt()
    }

    /// True when every component is finite and the norm is not (near) zero.
    pub fn is_valid(&self) -> bool {
        [self.w, self.x, self.y, self.z]
            .iter()
            .all(|v| v.is_finite())
            && self.norm() > 1e-9
    }

    /// The rotation matrix of the normalised quaternion.
    pub fn rotation_matrix(&self) -> Mat3 {
        let n = self.norm();
        let (w, x, y, z) = (self.w / n, self.x / n, self.y / n, self.z / n);
        [
            [
                1.0 - 2.0 * (y * y + z * z),
                2.0 * (x * y - w * z),
                2.0 * (x * z + w * y),
            ],
            [
                2.0 * (x * y + w * z),
                1.0 - 2.0 * (x * x + z * z),
                2.0 * (y * z - w * x),
            ],
            [
                2.0 * (x * z - w * y),
                2.0 * (y * z + w * x),
                1.0 - 2.0 * (x * x + y * y),
            ],
        ]
    }

    /// Heading: the angle of the rotated x axis in the xy plane.
    pub fn yaw(&self) -> f64 {
        let m = self.rotation_matrix();
        m[1][0].atan2(m[0][0])
    }
}

/// A rigid transform `p ↦ R p + t` from a child frame to its parent
/// (nuScenes `ego_pose`: ego → global; `calibrated_sensor`: sensor → ego).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pose {
    pub rotation: Mat3,
    pub translation: Vec3,
}

impl Pose {
    pub fn new(rotation: Quat, translation: Vec3) -> Self {
        Pose {
            rotation: rotation.rotation_matrix(),
            translation,
        }
    }

    /// Child → parent.
    pub fn apply(&self, p: Vec3) -> Vec3 {
        add(mat_vec(&self.rotation, p), self.translation)
    }

    /// Parent → child.
    pub fn apply_inverse(&self, p: Vec3) -> Vec3 {
        mat_vec(&transpose(&self.rotation), sub(p, self.translation))
    }

    /// Rotates a direction from parent to child (no translation).
    pub fn rotate_inverse(&self, d: Vec3) -> Vec3 {
        mat_vec(&transpose(&self.rotation), d)
    }
}

/// An oriented 3D box in some frame: centre, size `[w, l, h]` and the rotation of
/// its local axes (x along the length, y across, z up).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OrientedBox {
    pub center: Vec3,
    pub size_wlh: Vec3,
    pub rotation: Mat3,
}

impl OrientedBox {
    /// The 8 corners, in the devkit's order (`Box.corners()`): the four at +x
    /// first, each face going +y/+z, −y/+z, −y/−z, +y/−z.
    pub fn corners(&self) -> [Vec3; 8] {
        let [w, l, h] = self.size_wlh;
        let xs = [1.0, 1.0, 1.0, 1.0, -1.0, -1.0, -1.0, -1.0];
        let ys = [1.0, -1.0, -1.0, 1.0, 1.0, -1.0, -1.0, 1.0];
        let zs = [1.0, 1.0, -1.0, -1.0, 1.0, 1.0, -1.0, -1.0];
        std::array::from_fn(|i| {
            let local = [l / 2.0 * xs[i], w / 2.0 * ys[i], h / 2.0 * zs[i]];
            add(mat_vec(&self.rotation, local), self.center)
        })
    }

    /// The same box seen from the child frame of `pose` (parent → child).
    pub fn into_child_frame(&self, pose: &Pose) -> OrientedBox {
        let rt = transpose(&pose.rotation);
        OrientedBox {
            center: pose.apply_inverse(self.center),
            size_wlh: self.size_wlh,
            rotation: mat_mul(&rt, &self.rotation),
        }
    }
}

pub fn mat_mul(a: &Mat3, b: &Mat3) -> Mat3 {
    std::array::from_fn(|i| std::array::from_fn(|j| (0..3).map(|k| a[i][k] * b[k][j]).sum()))
}

/// Pinhole intrinsics `K` (3×3), as nuScenes' `camera_intrinsic`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Intrinsics(pub Mat3);

impl Intrinsics {
    /// Projects a camera-frame point (x right, y down, z forward) to pixels; `z` must be > 0.
    pub fn project(&self, p: Vec3) -> [f64; 2] {
        let q = mat_vec(&self.0, p);
        [q[0] / q[2], q[1] / q[2]]
    }

    /// The camera-frame ray direction through pixel `(u, v)` (not normalised, z = 1).
    pub fn unproject(&self, u: f64, v: f64) -> Vec3 {
        let k = &self.0;
        let y = (v - k[1][2]) / k[1][1];
        let x = (u - k[0][2] - k[0][1] * y) / k[0][0];
        [x, y, 1.0]
    }
}

/// The devkit's 2D box of a projected cuboid (`export_2d_annotations_as_json.py`):
/// keep the corners in front of the camera (`z > 0`), project them, take their convex
/// hull, intersect it with the image `[0, width] × [0, height]` and return the bounds of
/// the intersection. `None` when the intersection has no area: the hull misses the
/// image, fewer than three corners are in front, or the hull only touches the
/// image border. The devkit skips the first case and crashes on the others
/// (shapely gives a Point or LineString without `.exterior`); see `docs/nuscenes.md`.
pub fn projected_box(
    corners_cam: &[Vec3; 8],
    k: &Intrinsics,
    width: f64,
    height: f64,
) -> Option<Box2> {
    let pts: Vec<[f64; 2]> = corners_cam
        .iter()
        .filter(|c| c[2] > 0.0)
        .map(|c| k.project(*c))
        .collect();
    let hull = convex_hull(&pts);
    if hull.len() < 3 {
        return None;
    }
    let clipped = clip_convex_polygon(&hull, [0.0, 0.0, width, height]);
    if polygon_area(&clipped) <= 0.0 {
        return None;
    }
    let mut b = [
        f64::INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NEG_INFINITY,
    ];
    for p in &clipped {
        b[0] = b[0].min(p[0]);
        b[1] = b[1].min(p[1]);
        b[2] = b[2].max(p[0]);
        b[3] = b[3].max(p[1]);
    }
    Some(b)
}

/// Area of a simple polygon (shoelace), 0 for fewer than three points.
pub fn polygon_area(poly: &[[f64; 2]]) -> f64 {
    let n = poly.len();
    let twice: f64 = (0..n)
        .map(|i| {
            let (p, q) = (poly[i], poly[(i + 1) % n]);
            p[0] * q[1] - q[0] * p[1]
        })
        .sum();
    (twice / 2.0).abs()
}

fn cross(o: [f64; 2], a: [f64; 2], b: [f64; 2]) -> f64 {
    (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])
}

/// Convex hull (Andrew's monotone chain), counter-clockwise, collinear points dropped.
pub fn convex_hull(points: &[[f64; 2]]) -> Vec<[f64; 2]> {
    let mut pts: Vec<[f64; 2]> = points.to_vec();
    pts.sort_by(|a, b| a[0].total_cmp(&b[0]).then(a[1].total_cmp(&b[1])));
    pts.dedup();
    if pts.len() < 3 {
        return pts;
    }
    let mut hull: Vec<[f64; 2]> = Vec::with_capacity(2 * pts.len());
    for pass in 0..2 {
        let start = hull.len();
        let iter: Box<dyn Iterator<Item = &[f64; 2]>> = if pass == 0 {
            Box::new(pts.iter())
        } else {
            Box::new(pts.iter().rev())
        };
        for &p in iter {
            while hull.len() >= start + 2
                && cross(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0.0
            {
                hull.pop();
            }
            hull.push(p);
        }
        hull.pop();
    }
    hull
}

/// Sutherland–Hodgman clipping of a convex polygon to the rectangle `[x0, y0, x1, y1]`.
pub fn clip_convex_polygon(poly: &[[f64; 2]], rect: Box2) -> Vec<[f64; 2]> {
    // Each edge: (axis, bound, keep_greater).
    let edges = [
        (0, rect[0], true),
        (0, rect[2], false),
        (1, rect[1], true),
        (1, rect[3], false),
    ];
    let mut out = poly.to_vec();
    for (axis, bound, keep_greater) in edges {
        let inside = |p: &[f64; 2]| {
            if keep_greater {
                p[axis] >= bound
            } else {
                p[axis] <= bound
            }
        };
        let input = std::mem::take(&mut out);
        for (i, cur) in input.iter().enumerate() {
            let prev = &input[(i + input.len() - 1) % input.len()];
            let crossing = |a: &[f64; 2], b: &[f64; 2]| {
                let t = (bound - a[axis]) / (b[axis] - a[axis]);
                [a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])]
            };
            match (inside(prev), inside(cur)) {
                (true, true) => out.push(*cur),
                (true, false) => out.push(crossing(prev, cur)),
                (false, true) => {
                    out.push(crossing(prev, cur));
                    out.push(*cur);
                }
                (false, false) => {}
            }
        }
        if out.is_empty() {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn quaternion_round_trips_through_matrix() {
        let q = Quat::from([0.5, -0.5, 0.5, -0.5]);
        let m = q.rotation_matrix();
        // Camera axes in ego: x → −y_ego, y → −z_ego, z → +x_ego.
        assert_eq!(m, [[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]]);
        let back = Quat::from_matrix(&m);
        for (a, b) in [(back.w, q.w), (back.x, q.x), (back.y, q.y), (back.z, q.z)] {
            assert!(close(a, b), "{back:?} != {q:?}");
        }
        assert!(close(Quat::from_yaw(0.3).yaw(), 0.3));
    }

    #[test]
    fn pose_inverse_undoes_pose() {
        let pose = Pose::new(Quat::from_yaw(1.1), [3.0, -2.0, 0.5]);
        let p = [1.0, 2.0, 3.0];
        let back = pose.apply_inverse(pose.apply(p));
        assert!((0..3).all(|i| close(back[i], p[i])));
    }

    #[test]
    fn clipping_keeps_the_part_inside() {
        let square = [[-5.0, -5.0], [5.0, -5.0], [5.0, 5.0], [-5.0, 5.0]];
        let clipped = clip_convex_polygon(&square, [0.0, 0.0, 10.0, 10.0]);
        let xs: Vec<f64> = clipped.iter().map(|p| p[0]).collect();
        assert!(xs.iter().all(|x| (0.0..=5.0).contains(x)));
        assert_eq!(clipped.len(), 4);
        assert!(clip_convex_polygon(&square, [20.0, 20.0, 30.0, 30.0]).is_empty());
    }

    #[test]
    fn hull_drops_interior_and_collinear_points() {
        let pts = [
            [0.0, 0.0],
            [2.0, 0.0],
            [1.0, 0.0],
            [1.0, 1.0],
            [2.0, 2.0],
            [0.0, 2.0],
        ];
        let hull = convex_hull(&pts);
        assert_eq!(hull.len(), 4);
        assert!(convex_hull(&[[1.0, 1.0], [1.0, 1.0]]).len() == 1);
    }
}
