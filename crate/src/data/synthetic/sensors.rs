//! What the annotation fields need beyond geometry: a simulated spinning lidar
//! for `num_lidar_pts` and a 360° visibility panorama for the visibility bin.
//!
//! nuScenes defines visibility as the visible fraction of an object over all six
//! cameras, binned 0–40, 40–60, 60–80, 80–100 %. Here rays are cast on a 360°
//! panorama from the camera: the fraction is rays that see the object first over
//! rays that pass through it at all.

use super::render::Prepared;
use crate::geometry::{OrientedBox, Vec3, norm, sub};

/// Per solid: rays that hit it first and rays that pass through it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RayCounts {
    pub first: u32,
    pub any: u32,
}

/// Casts rays from `origin` in the given directions (elevation, azimuth in
/// radians, global frame) against `boxes` and the ground plane `z = 0`, up to `range`.
fn cast(
    origin: Vec3,
    elevations: &[f64],
    azimuths: usize,
    boxes: &[OrientedBox],
    range: f64,
) -> Vec<RayCounts> {
    // Only boxes some part of which is within range can be hit.
    let reachable: Vec<(usize, Prepared)> = boxes
        .iter()
        .enumerate()
        .filter(|(_, b)| norm(sub(b.center, origin)) - norm(b.size_wlh) / 2.0 <= range)
        .map(|(i, b)| (i, Prepared::new(b, origin)))
        .collect();
    let mut counts = vec![RayCounts::default(); boxes.len()];
    for &el in elevations {
        let (sin_el, cos_el) = el.sin_cos();
        for a in 0..azimuths {
            let az = a as f64 * std::f64::consts::TAU / azimuths as f64;
            let dir = [cos_el * az.cos(), cos_el * az.sin(), sin_el];
            let ground = if dir[2] < 0.0 {
                -origin[2] / dir[2]
            } else {
                f64::INFINITY
            };
            let limit = ground.min(range);
            let mut nearest: Option<(usize, f64)> = None;
            for (i, p) in &reachable {
                let Some(hit) = p.hit(dir) else { continue };
                if hit.t > limit {
                    continue;
                }
                counts[*i].any += 1;
                if nearest.is_none_or(|(_, t)| hit.t < t) {
                    nearest = Some((*i, hit.t));
                }
            }
            if let Some((i, _)) = nearest {
                counts[i].first += 1;
            }
        }
    }
    counts
}

/// A 32-beam lidar (beams from −30.67° to +10.67°, 1,000 points a revolution,
/// 70 m range): points returned by each box.
pub fn lidar_points(origin: Vec3, boxes: &[OrientedBox]) -> Vec<u32> {
    let elevations: Vec<f64> = (0..32)
        .map(|i| (-30.67 + 41.34 * i as f64 / 31.0).to_radians())
        .collect();
    cast(origin, &elevations, 1000, boxes, 70.0)
        .into_iter()
        .map(|c| c.first)
        .collect()
}

/// Visible fraction of each box within `range` metres on a 360° panorama from
/// `origin` (0.5° steps, −25° to +25°); `None` for boxes no ray reaches.
pub fn visible_fraction(origin: Vec3, boxes: &[OrientedBox], range: f64) -> Vec<Option<f64>> {
    let elevations: Vec<f64> = (0..100)
        .map(|i| (-25.0 + 0.5 * i as f64).to_radians())
        .collect();
    cast(origin, &elevations, 720, boxes, range)
        .into_iter()
        .map(|c| (c.any > 0).then(|| c.first as f64 / c.any as f64))
        .collect()
}

/// The nuScenes visibility token of a visible fraction.
pub fn visibility_token(fraction: f64) -> &'static str {
    match fraction {
        f if f < 0.4 => "1",
        f if f < 0.6 => "2",
        f if f < 0.8 => "3",
        _ => "4",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::Quat;

    fn unit_box(center: Vec3) -> OrientedBox {
        OrientedBox {
            center,
            size_wlh: [2.0, 2.0, 2.0],
            rotation: Quat::IDENTITY.rotation_matrix(),
        }
    }

    #[test]
    fn a_box_behind_another_is_occluded() {
        let boxes = [
            unit_box([10.0, 0.0, 1.0]),
            unit_box([20.0, 0.0, 1.0]),
            unit_box([0.0, 30.0, 1.0]),
        ];
        let vis = visible_fraction([0.0, 0.0, 1.5], &boxes, 60.0);
        assert_eq!(vis[0], Some(1.0));
        assert!(vis[1].unwrap() < 0.4, "{vis:?}");
        assert_eq!(vis[2], Some(1.0));
        let pts = lidar_points([0.0, 0.0, 1.8], &boxes);
        assert!(pts[0] > pts[2] && pts[2] > 0, "{pts:?}");
        assert_eq!(visibility_token(0.5), "2");
    }
}
