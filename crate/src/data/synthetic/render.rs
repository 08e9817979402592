//! A small ray caster for the demo world: sky, a textured road plane and
//! shaded, textured cuboids, seen through a pinhole camera.
//!
//! Every object is exactly its annotated cuboid, so the devkit's projected 2D box
//! of an unoccluded object is the bounding box of its rendered pixels. The same
//! ray–box test drives the simulated lidar and the visibility panorama
//! (`sensors.rs`).

use image::{Rgb, RgbImage};

use super::world::{CURB_D, LANES, Look, SIDEWALK_D, global_to_road};
use crate::data::nuscenes::ground_truth::CameraModel;
use crate::geometry::{OrientedBox, Vec3, add, dot, mat_vec, norm, scale, transpose};

/// Rays that start closer than this (metres) do not hit.
const NEAR: f64 = 0.05;
/// Sun direction in the global frame (normalised at use).
const SUN: Vec3 = [0.35, -0.5, 0.8];
const HAZE: [f64; 3] = [178.0, 196.0, 214.0];

/// A cuboid to draw: its box in the global frame and how it is painted.
#[derive(Debug, Clone, Copy)]
pub struct Solid {
    pub shape: OrientedBox,
    pub look: Look,
}

/// Which face of a box a ray enters, in the box's own axes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Face {
    Front,
    Back,
    Left,
    Right,
    Top,
    Bottom,
}

/// Where a ray meets a box: the ray parameter, the face, and the hit point in
/// face coordinates `u` (horizontal, 0..1; along the length on the sides, from
/// the back) and `v` (0 at the bottom, 1 at the top).
#[derive(Debug, Clone, Copy)]
pub struct Hit {
    pub t: f64,
    pub face: Face,
    pub u: f64,
    pub v: f64,
}

/// Slab test of the ray `origin + t·dir` against a box centred at the origin with
/// half extents `half` (local x = length, y = width, z = height), all local.
pub fn ray_box(origin: Vec3, dir: Vec3, half: Vec3) -> Option<Hit> {
    let (mut t_min, mut t_max) = (f64::NEG_INFINITY, f64::INFINITY);
    let mut axis = 0;
    for i in 0..3 {
        if dir[i].abs() < 1e-12 {
            if origin[i].abs() > half[i] {
                return None;
            }
            continue;
        }
        let t1 = (-half[i] - origin[i]) / dir[i];
        let t2 = (half[i] - origin[i]) / dir[i];
        let (lo, hi) = if t1 < t2 { (t1, t2) } else { (t2, t1) };
        if lo > t_min {
            t_min = lo;
            axis = i;
        }
        t_max = t_max.min(hi);
    }
    if t_max < t_min || t_min < NEAR {
        return None;
    }
    let p = add(origin, scale(dir, t_min));
    let face = match (axis, dir[axis] < 0.0) {
        (0, true) => Face::Front,
        (0, false) => Face::Back,
        (1, true) => Face::Left,
        (1, false) => Face::Right,
        (_, true) => Face::Top,
        (_, false) => Face::Bottom,
    };
    let frac = |i: usize| ((p[i] + half[i]) / (2.0 * half[i])).clamp(0.0, 1.0);
    let (u, v) = match face {
        Face::Front | Face::Back => (frac(1), frac(2)),
        Face::Left | Face::Right => (frac(0), frac(2)),
        Face::Top | Face::Bottom => (frac(0), frac(1)),
    };
    Some(Hit {
        t: t_min,
        face,
        u,
        v,
    })
}

/// A solid prepared for casting rays from one origin: the ray origin in its
/// local frame and the global → local rotation.
pub struct Prepared {
    pub origin_local: Vec3,
    pub to_local: [[f64; 3]; 3],
    pub half: Vec3,
}

impl Prepared {
    pub fn new(shape: &OrientedBox, origin: Vec3) -> Self {
        let to_local = transpose(&shape.rotation);
        let rel = [
            origin[0] - shape.center[0],
            origin[1] - shape.center[1],
            origin[2] - shape.center[2],
        ];
        let [w, l, h] = shape.size_wlh;
        Prepared {
            origin_local: mat_vec(&to_local, rel),
            to_local,
            half: [l / 2.0, w / 2.0, h / 2.0],
        }
    }

    /// The hit of a ray with global direction `dir` from the prepared origin.
    pub fn hit(&self, dir: Vec3) -> Option<Hit> {
        ray_box(self.origin_local, mat_vec(&self.to_local, dir), self.half)
    }
}

/// A rendered frame and, per pixel, the index of the solid seen there.
pub struct Rendered {
    pub rgb: RgbImage,
    /// `ids[y * width + x]`: index into the solids, `u32::MAX` for road and sky.
    pub ids: Vec<u32>,
}

/// Renders `solids` through `camera` at `width × height`.
pub fn render(camera: &CameraModel, width: u32, height: u32, solids: &[Solid]) -> Rendered {
    let cam_to_global =
        crate::geometry::mat_mul(&camera.ego_pose.rotation, &camera.sensor_pose.rotation);
    let origin = camera.ego_pose.apply(camera.sensor_pose.translation);
    let ray = |x: u32, y: u32| {
        mat_vec(
            &cam_to_global,
            camera.intrinsics.unproject(x as f64 + 0.5, y as f64 + 0.5),
        )
    };
    let n = (width * height) as usize;
    let mut depth = vec![f64::INFINITY; n];
    let mut ids = vec![u32::MAX; n];
    let mut rgb = RgbImage::new(width, height);
    for y in 0..height {
        for x in 0..width {
            let d = ray(x, y);
            let (color, t) = background(origin, d);
            let i = (y * width + x) as usize;
            depth[i] = t;
            rgb.put_pixel(x, y, to_rgb(color, x, y));
        }
    }
    for (id, solid) in solids.iter().enumerate() {
        let Some([x0, y0, x1, y1]) = screen_rect(camera, &solid.shape, width, height) else {
            continue;
        };
        let prepared = Prepared::new(&solid.shape, origin);
        let sun = scale(SUN, 1.0 / norm(SUN));
        for y in y0..y1 {
            for x in x0..x1 {
                let d = ray(x, y);
                let Some(hit) = prepared.hit(d) else { continue };
                let i = (y * width + x) as usize;
                if hit.t >= depth[i] {
                    continue;
                }
                depth[i] = hit.t;
                ids[i] = id as u32;
                let normal = mat_vec(&solid.shape.rotation, face_normal(hit.face));
                let light = 0.5 + 0.5 * dot(normal, sun).max(0.0);
                let texel = paint(solid.look, hit, solid.shape.size_wlh);
                let lit = texel.map(|c| c * light);
                rgb.put_pixel(x, y, to_rgb(fog(lit, hit.t * norm(d)), x, y));
            }
        }
    }
    Rendered { rgb, ids }
}

/// The pixel rectangle a box can cover (whole image when it reaches behind the camera).
fn screen_rect(
    camera: &CameraModel,
    shape: &OrientedBox,
    width: u32,
    height: u32,
) -> Option<[u32; 4]> {
    let in_cam = shape
        .into_child_frame(&camera.ego_pose)
        .into_child_frame(&camera.sensor_pose);
    let corners = in_cam.corners();
    if corners.iter().all(|c| c[2] <= NEAR) {
        return None;
    }
    if corners.iter().any(|c| c[2] <= NEAR) {
        return Some([0, 0, width, height]);
    }
    let (mut x0, mut y0, mut x1, mut y1) = (
        f64::INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NEG_INFINITY,
    );
    for c in corners {
        let [u, v] = camera.intrinsics.project(c);
        (x0, y0, x1, y1) = (x0.min(u), y0.min(v), x1.max(u), y1.max(v));
    }
    let clamp_x = |v: f64| v.clamp(0.0, width as f64) as u32;
    let clamp_y = |v: f64| v.clamp(0.0, height as f64) as u32;
    let rect = [
        clamp_x(x0.floor() - 1.0),
        clamp_y(y0.floor() - 1.0),
        clamp_x(x1.ceil() + 1.0),
        clamp_y(y1.ceil() + 1.0),
    ];
    (rect[0] < rect[2] && rect[1] < rect[3]).then_some(rect)
}

fn face_normal(face: Face) -> Vec3 {
    match face {
        Face::Front => [1.0, 0.0, 0.0],
        Face::Back => [-1.0, 0.0, 0.0],
        Face::Left => [0.0, 1.0, 0.0],
        Face::Right => [0.0, -1.0, 0.0],
        Face::Top => [0.0, 0.0, 1.0],
        Face::Bottom => [0.0, 0.0, -1.0],
    }
}

/// Sky or ground along a global ray: colour and ray parameter (∞ for sky).
fn background(origin: Vec3, d: Vec3) -> ([f64; 3], f64) {
    if d[2] >= -1e-9 {
        let up = (d[2] / norm(d)).clamp(0.0, 1.0);
        let sky = [150.0 - 90.0 * up, 185.0 - 70.0 * up, 225.0 - 30.0 * up];
        return (sky, f64::INFINITY);
    }
    let t = -origin[2] / d[2];
    let p = add(origin, scale(d, t));
    (fog(ground(p), t * norm(d)), t)
}

/// The road surface at a global point: asphalt with lane markings, curbs,
/// sidewalk tiles and verges.
pub fn ground(p: Vec3) -> [f64; 3] {
    let (s, d) = global_to_road([p[0], p[1]]);
    let grain = hash2(p[0] * 7.0, p[1] * 7.0) * 18.0 - 9.0;
    let ad = d.abs();
    let base = if (0.06..0.18).contains(&ad) {
        [215.0, 180.0, 40.0]
    } else if ad < CURB_D - 0.35 {
        let dashed = LANES.iter().any(|&l| ((d - l).abs() - 1.75).abs() < 0.08)
            && s.rem_euclid(9.0) < 3.0
            && ad > 1.0;
        let edge = (ad - (CURB_D - 0.5)).abs() < 0.1;
        if dashed || edge {
            [220.0, 220.0, 215.0]
        } else {
            [88.0, 88.0, 92.0]
        }
    } else if ad < CURB_D {
        [175.0, 172.0, 165.0]
    } else if ad < SIDEWALK_D {
        let joint = s.rem_euclid(1.5) < 0.05 || (ad - CURB_D).rem_euclid(1.5) < 0.05;
        if joint {
            [120.0, 118.0, 112.0]
        } else {
            [158.0, 155.0, 148.0]
        }
    } else {
        [96.0, 120.0, 70.0]
    };
    base.map(|c| c + grain)
}

fn fog(color: [f64; 3], distance: f64) -> [f64; 3] {
    let f = 1.0 - (-distance / 260.0).exp();
    std::array::from_fn(|i| color[i] * (1.0 - f) + HAZE[i] * f)
}

fn to_rgb(c: [f64; 3], x: u32, y: u32) -> Rgb<u8> {
    let noise = hash2(x as f64, y as f64) * 6.0 - 3.0;
    Rgb(c.map(|v| (v + noise).clamp(0.0, 255.0) as u8))
}

/// A hash of two numbers into `[0, 1)`, the texture noise.
fn hash2(a: f64, b: f64) -> f64 {
    let h = (a.floor() as i64 as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (b.floor() as i64 as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    let h = (h ^ (h >> 29)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    ((h ^ (h >> 32)) & 0xFFFF) as f64 / 65536.0
}

fn rgbf(c: [u8; 3]) -> [f64; 3] {
    c.map(f64::from)
}

const GLASS: [f64; 3] = [45.0, 60.0, 75.0];
const TYRE: [f64; 3] = [22.0, 22.0, 24.0];

/// The texel of a look at a hit: windows, wheels, lights, clothes, facades.
fn paint(look: Look, hit: Hit, size_wlh: Vec3) -> [f64; 3] {
    let [_, l, h] = size_wlh;
    let (u, v) = (hit.u, hit.v);
    let side = matches!(hit.face, Face::Left | Face::Right);
    let front = hit.face == Face::Front;
    let back = hit.face == Face::Back;
    let wheel = |u: f64, v: f64| {
        let r = 0.33 / h;
        [0.8 / l, 1.0 - 0.8 / l]
            .iter()
            .any(|&c| ((u - c) * l / h).powi(2) + (v - r).powi(2) < r * r)
    };
    match look {
        Look::Car { paint } | Look::Van { paint } => vehicle(
            rgbf(paint),
            hit,
            side && wheel(u, v),
            matches!(look, Look::Van { .. }),
        ),
        Look::Police => {
            let body = if side && (0.35..0.55).contains(&v) {
                [30.0, 40.0, 140.0]
            } else {
                [235.0, 235.0, 235.0]
            };
            let bar = hit.face == Face::Top && (0.45..0.55).contains(&u);
            if bar {
                [40.0, 80.0, 230.0]
            } else {
                vehicle(body, hit, side && wheel(u, v), false)
            }
        }
        Look::Ambulance => {
            let stripe = side && (0.4..0.5).contains(&v);
            vehicle(
                if stripe {
                    [220.0, 40.0, 40.0]
                } else {
                    [240.0, 240.0, 235.0]
                },
                hit,
                side && wheel(u, v),
                true,
            )
        }
        Look::Truck { cab, cargo } => {
            let in_cab = (side && u > 1.0 - 2.2 / l) || front;
            let base = if in_cab { rgbf(cab) } else { rgbf(cargo) };
            if side && wheel(u, v) {
                TYRE
            } else if (in_cab
                && (side || front)
                && v > 0.6
                && v < 0.85
                && !(side && u < 1.0 - 2.0 / l))
                || (front && v > 0.55 && v < 0.85)
            {
                GLASS
            } else {
                base
            }
        }
        Look::Bus { paint } => {
            let window = (side && v > 0.5 && v < 0.85 && (u * l).rem_euclid(1.6) > 0.2)
                || ((front || back) && v > 0.45 && v < 0.9 && (0.05..0.95).contains(&u));
            if side && wheel(u, v) {
                TYRE
            } else if window {
                GLASS
            } else {
                rgbf(paint)
            }
        }
        Look::Trailer { paint } => {
            if side && wheel(u, v) {
                TYRE
            } else if side && (0.3..0.36).contains(&v) {
                [200.0, 200.0, 200.0]
            } else {
                rgbf(paint)
            }
        }
        Look::Construction => {
            let arm = side && u > 0.6 && v > 0.55 && (v - 0.55) < (u - 0.6) * 1.5;
            if side && v < 0.3 {
                TYRE
            } else if arm {
                [60.0, 60.0, 60.0]
            } else {
                [235.0, 175.0, 20.0]
            }
        }
        Look::Pedestrian { shirt, trousers } => person(rgbf(shirt), rgbf(trousers), v),
        Look::Cyclist { shirt, frame } => {
            if v > 0.45 {
                person(
                    rgbf(shirt),
                    [40.0, 40.0, 60.0],
                    (v - 0.45) / 0.55 * 0.5 + 0.5,
                )
            } else if side && cycle_wheel(u, v / 0.45) {
                TYRE
            } else {
                rgbf(frame).map(|c| c * 0.8)
            }
        }
        Look::Bicycle { frame } => {
            if side && cycle_wheel(u, v) {
                TYRE
            } else if v > 0.8 {
                [30.0, 30.0, 30.0]
            } else {
                rgbf(frame)
            }
        }
        Look::Cone => {
            if ((v * 4.0) as i32) % 2 == 1 {
                [245.0, 245.0, 245.0]
            } else {
                [250.0, 100.0, 20.0]
            }
        }
        Look::Barrier => {
            if ((u * 8.0 + v * 2.0) as i32) % 2 == 0 {
                [230.0, 30.0, 30.0]
            } else {
                [245.0, 245.0, 245.0]
            }
        }
        Look::Animal { fur } => {
            if front && v > 0.6 {
                [60.0, 40.0, 25.0]
            } else {
                rgbf(fur)
            }
        }
        Look::Building { wall } => facade(rgbf(wall), hit, size_wlh),
    }
}

/// A car-like body: windows in the upper band, lights front and back, wheels.
fn vehicle(body: [f64; 3], hit: Hit, wheel: bool, tall: bool) -> [f64; 3] {
    let (u, v) = (hit.u, hit.v);
    let glass_lo = if tall { 0.55 } else { 0.6 };
    match hit.face {
        _ if wheel => TYRE,
        Face::Left | Face::Right if v > glass_lo && v < 0.92 && (0.18..0.8).contains(&u) => GLASS,
        Face::Front | Face::Back if v > glass_lo && v < 0.92 && (0.08..0.92).contains(&u) => GLASS,
        Face::Front if (0.4..0.5).contains(&v) && !(0.2..=0.8).contains(&u) => {
            [250.0, 250.0, 220.0]
        }
        Face::Back if (0.42..0.52).contains(&v) && !(0.2..=0.8).contains(&u) => [200.0, 20.0, 20.0],
        Face::Top => body.map(|c| c * 0.9),
        _ if v < 0.12 => [35.0, 35.0, 38.0],
        _ => body,
    }
}

fn person(shirt: [f64; 3], trousers: [f64; 3], v: f64) -> [f64; 3] {
    if v > 0.87 {
        [90.0, 60.0, 40.0]
    } else if v > 0.78 {
        [225.0, 185.0, 150.0]
    } else if v > 0.47 {
        shirt
    } else if v > 0.05 {
        trousers
    } else {
        [25.0, 25.0, 25.0]
    }
}

fn cycle_wheel(u: f64, v: f64) -> bool {
    [0.2, 0.8].iter().any(|&c| {
        let r = ((u - c) * 3.0).powi(2) + ((v - 0.3) * 1.6).powi(2);
        (0.55..0.8).contains(&r.sqrt())
    })
}

fn facade(wall: [f64; 3], hit: Hit, size_wlh: Vec3) -> [f64; 3] {
    let [w, l, h] = size_wlh;
    let horizontal = if matches!(hit.face, Face::Left | Face::Right) {
        l
    } else {
        w
    };
    let (x, z) = (hit.u * horizontal, hit.v * h);
    let window = x.rem_euclid(3.0) > 1.0
        && x.rem_euclid(3.0) < 2.2
        && z.rem_euclid(3.2) > 1.0
        && z.rem_euclid(3.2) < 2.5
        && z > 3.0;
    let door = z < 2.6 && (x - horizontal / 2.0).abs() < 0.8;
    if hit.face == Face::Top {
        wall.map(|c| c * 0.7)
    } else if window || door {
        [70.0, 80.0, 95.0]
    } else {
        wall
    }
}
