//! The demo world: a straight urban road with parked and moving traffic,
//! pedestrians, cyclists, look-alike classes and buildings, laid out from a seed.
//!
//! Positions are in road coordinates `(s, d)`: `s` metres along the road, `d`
//! metres to its left. The road runs through `ROAD_ORIGIN` at heading `ROAD_YAW`
//! in the global frame (not axis-aligned on purpose, so every transform matters).

use crate::geometry::{Quat, Vec3};

pub const ROAD_ORIGIN: [f64; 2] = [411.3, 1180.7];
pub const ROAD_YAW: f64 = 0.62;
/// Lane centres (right-hand traffic: negative `d` drives with the ego).
pub const LANES: [f64; 4] = [-5.25, -1.75, 1.75, 5.25];
pub const PARKING_D: f64 = 7.6;
pub const CURB_D: f64 = 8.75;
pub const SIDEWALK_D: f64 = 12.0;
pub const BUILDING_D: f64 = 14.0;

/// Deterministic pseudo-random numbers (SplitMix64): the world must not change
/// when a dependency's RNG does.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[lo, hi)`.
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[(self.next_u64() % items.len() as u64) as usize]
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.range(0.0, 1.0) < p
    }
}

/// Road coordinates → global `[x, y]`.
pub fn road_to_global(s: f64, d: f64) -> [f64; 2] {
    let (sin, cos) = ROAD_YAW.sin_cos();
    [
        ROAD_ORIGIN[0] + s * cos - d * sin,
        ROAD_ORIGIN[1] + s * sin + d * cos,
    ]
}

/// Global `[x, y]` → road coordinates `(s, d)`.
pub fn global_to_road(p: [f64; 2]) -> (f64, f64) {
    let (sin, cos) = ROAD_YAW.sin_cos();
    let (x, y) = (p[0] - ROAD_ORIGIN[0], p[1] - ROAD_ORIGIN[1]);
    (x * cos + y * sin, -x * sin + y * cos)
}

/// How a surface is painted; the renderer turns it into texels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Look {
    Car { paint: [u8; 3] },
    Van { paint: [u8; 3] },
    Police,
    Truck { cab: [u8; 3], cargo: [u8; 3] },
    Bus { paint: [u8; 3] },
    Ambulance,
    Trailer { paint: [u8; 3] },
    Construction,
    Pedestrian { shirt: [u8; 3], trousers: [u8; 3] },
    Cyclist { shirt: [u8; 3], frame: [u8; 3] },
    Bicycle { frame: [u8; 3] },
    Cone,
    Barrier,
    Animal { fur: [u8; 3] },
    Building { wall: [u8; 3] },
}

/// Straight-line motion in road coordinates, clamped to a range of `d`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Motion {
    pub s0: f64,
    pub d0: f64,
    /// Speed along the road, m/s.
    pub vs: f64,
    /// Speed across the road, m/s.
    pub vd: f64,
    /// Heading relative to the road when standing still.
    pub rest_yaw: f64,
    /// Lateral limits: a crossing pedestrian stops at the far curb.
    pub d_limits: (f64, f64),
}

impl Motion {
    pub fn parked(s: f64, d: f64, rest_yaw: f64) -> Self {
        Motion {
            s0: s,
            d0: d,
            vs: 0.0,
            vd: 0.0,
            rest_yaw,
            d_limits: (d, d),
        }
    }

    pub fn along(s: f64, d: f64, speed: f64) -> Self {
        Motion {
            s0: s,
            d0: d,
            vs: speed,
            vd: 0.0,
            rest_yaw: if speed < 0.0 {
                std::f64::consts::PI
            } else {
                0.0
            },
            d_limits: (d, d),
        }
    }

    pub fn crossing(s: f64, d: f64, speed: f64, to_d: f64) -> Self {
        Motion {
            s0: s,
            d0: d,
            vs: 0.0,
            vd: speed,
            rest_yaw: speed.signum() * std::f64::consts::FRAC_PI_2,
            d_limits: (d.min(to_d), d.max(to_d)),
        }
    }

    /// `(s, d)` at time `t` seconds.
    pub fn at(&self, t: f64) -> (f64, f64) {
        let d = (self.d0 + self.vd * t).clamp(self.d_limits.0, self.d_limits.1);
        (self.s0 + self.vs * t, d)
    }

    pub fn is_moving_at(&self, t: f64) -> bool {
        let d = self.d0 + self.vd * t;
        self.vs != 0.0 || (self.vd != 0.0 && d > self.d_limits.0 && d < self.d_limits.1)
    }

    /// Heading relative to the road: along the velocity, or `rest_yaw` when parked.
    pub fn yaw(&self) -> f64 {
        if self.vs != 0.0 || self.vd != 0.0 {
            self.vd.atan2(self.vs)
        } else {
            self.rest_yaw
        }
    }
}

/// Something in the world: an annotated road user or an unannotated building.
#[derive(Debug, Clone, PartialEq)]
pub struct Actor {
    /// nuScenes category, or `None` for scenery that is never annotated.
    pub category: Option<&'static str>,
    /// `[w, l, h]`, metres.
    pub size: Vec3,
    pub motion: Motion,
    pub look: Look,
}

impl Actor {
    /// Centre and rotation at time `t`, in the global frame.
    pub fn pose_at(&self, t: f64) -> (Vec3, Quat) {
        let (s, d) = self.motion.at(t);
        let [x, y] = road_to_global(s, d);
        let yaw = ROAD_YAW + self.motion.yaw();
        ([x, y, self.size[2] / 2.0], Quat::from_yaw(yaw))
    }

    /// nuScenes attribute names for the annotation at time `t`.
    pub fn attributes_at(&self, t: f64) -> Vec<&'static str> {
        let moving = self.motion.is_moving_at(t);
        match self.category {
            Some("vehicle.bicycle") | Some("vehicle.motorcycle") => {
                vec![if matches!(self.look, Look::Cyclist { .. }) {
                    "cycle.with_rider"
                } else {
                    "cycle.without_rider"
                }]
            }
            Some(c) if c.starts_with("vehicle.") => {
                vec![if moving {
                    "vehicle.moving"
                } else if self.motion.d0.abs() > 7.0 {
                    "vehicle.parked"
                } else {
                    "vehicle.stopped"
                }]
            }
            Some(c) if c.starts_with("human.") => vec![if moving {
                "pedestrian.moving"
            } else {
                "pedestrian.standing"
            }],
            _ => vec![],
        }
    }
}

/// Every attribute the world uses, with its nuScenes description.
pub const ATTRIBUTES: [(&str, &str); 7] = [
    ("vehicle.moving", "Vehicle is moving."),
    (
        "vehicle.stopped",
        "Vehicle, with a driver/rider in/on it, is currently stationary but has an intent to move.",
    ),
    (
        "vehicle.parked",
        "Vehicle is stationary (usually for longer duration) with no immediate intent to move.",
    ),
    (
        "cycle.with_rider",
        "There is a rider on the bicycle or motorcycle.",
    ),
    (
        "cycle.without_rider",
        "There is NO rider on the bicycle or motorcycle.",
    ),
    ("pedestrian.moving", "The human is moving."),
    ("pedestrian.standing", "The human is standing."),
];

const PAINTS: [[u8; 3]; 8] = [
    [180, 30, 35],
    [30, 60, 150],
    [225, 225, 228],
    [30, 30, 34],
    [140, 145, 150],
    [40, 110, 60],
    [200, 160, 40],
    [90, 50, 40],
];
const CLOTHES: [[u8; 3]; 7] = [
    [200, 40, 40],
    [40, 70, 160],
    [230, 200, 60],
    [60, 60, 65],
    [240, 240, 240],
    [50, 130, 80],
    [150, 80, 160],
];

fn car(rng: &mut Rng, motion: Motion) -> Actor {
    Actor {
        category: Some("vehicle.car"),
        size: [
            rng.range(1.75, 1.95),
            rng.range(4.2, 4.8),
            rng.range(1.42, 1.6),
        ],
        motion,
        look: Look::Car {
            paint: rng.pick(&PAINTS),
        },
    }
}

fn pedestrian(rng: &mut Rng, category: &'static str, motion: Motion) -> Actor {
    let child = category == "human.pedestrian.child";
    let worker = category == "human.pedestrian.construction_worker";
    Actor {
        category: Some(category),
        size: if child {
            [0.45, 0.45, rng.range(1.05, 1.3)]
        } else {
            [
                rng.range(0.55, 0.7),
                rng.range(0.6, 0.8),
                rng.range(1.6, 1.9),
            ]
        },
        motion,
        look: Look::Pedestrian {
            shirt: if worker {
                [255, 140, 0]
            } else {
                rng.pick(&CLOTHES)
            },
            trousers: rng.pick(&[[40, 45, 70], [30, 30, 30], [110, 95, 80]]),
        },
    }
}

fn actor(category: &'static str, size: Vec3, motion: Motion, look: Look) -> Actor {
    Actor {
        category: Some(category),
        size,
        motion,
        look,
    }
}

/// Lays out the world for an ego that drives from `s = 0` along lane `LANES[1]`
/// at `ego_speed` for `duration` seconds.
pub fn build_world(seed: u64, ego_speed: f64, duration: f64) -> Vec<Actor> {
    let mut rng = Rng::new(seed);
    let end = ego_speed * duration + 110.0;
    let mut actors = Vec::new();
    parked_rows(&mut rng, end, &mut actors);
    traffic(&mut rng, ego_speed, duration, &mut actors);
    people(&mut rng, end, &mut actors);
    construction_zone(&mut rng, &mut actors);
    buildings(&mut rng, end, &mut actors);
    actors
}

/// Parked vehicles along both curbs, with look-alikes among them (vans, a police
/// car, a trailer, an ambulance, parked bicycles) and a bus at a stop.
fn parked_rows(rng: &mut Rng, end: f64, out: &mut Vec<Actor>) {
    for side in [-1.0, 1.0] {
        let mut s = rng.range(8.0, 16.0);
        while s < end {
            let d = side * PARKING_D;
            let yaw = if side < 0.0 {
                0.0
            } else {
                std::f64::consts::PI
            };
            let roll = rng.range(0.0, 1.0);
            let a = if roll < 0.62 {
                car(rng, Motion::parked(s, d, yaw))
            } else if roll < 0.74 {
                actor(
                    "vehicle.car",
                    [
                        rng.range(1.95, 2.05),
                        rng.range(4.9, 5.3),
                        rng.range(1.95, 2.3),
                    ],
                    Motion::parked(s, d, yaw),
                    Look::Van {
                        paint: rng.pick(&PAINTS),
                    },
                )
            } else if roll < 0.78 {
                actor(
                    "vehicle.emergency.police",
                    [1.9, 4.9, 1.55],
                    Motion::parked(s, d, yaw),
                    Look::Police,
                )
            } else if roll < 0.82 {
                actor(
                    "vehicle.trailer",
                    [2.4, 7.5, 3.4],
                    Motion::parked(s, d, yaw),
                    Look::Trailer {
                        paint: rng.pick(&PAINTS),
                    },
                )
            } else if roll < 0.85 {
                actor(
                    "vehicle.emergency.ambulance",
                    [2.2, 6.0, 2.7],
                    Motion::parked(s, d, yaw),
                    Look::Ambulance,
                )
            } else if roll < 0.93 {
                let bike = Motion::parked(
                    s,
                    side * (CURB_D + 0.6),
                    yaw + std::f64::consts::FRAC_PI_2 * 0.9,
                );
                actor(
                    "vehicle.bicycle",
                    [0.55, 1.75, 1.05],
                    bike,
                    Look::Bicycle {
                        frame: rng.pick(&PAINTS),
                    },
                )
            } else {
                s += rng.range(3.0, 8.0);
                continue;
            };
            s += a.size[1] + rng.range(1.0, 4.0);
            out.push(a);
        }
    }
    out.push(actor(
        "vehicle.bus.rigid",
        [2.6, 11.8, 3.2],
        Motion::parked(rng.range(58.0, 64.0), -PARKING_D + 0.4, 0.0),
        Look::Bus {
            paint: [250, 205, 40],
        },
    ));
}

/// Moving traffic: a lead car, an overtaking car, a slow truck, distant cars ahead,
/// oncoming cars, a bus and a truck, cyclists.
fn traffic(rng: &mut Rng, ego_speed: f64, duration: f64, out: &mut Vec<Actor>) {
    let (lead, overtaking) = (rng.range(18.0, 24.0), -rng.range(14.0, 22.0));
    out.push(car(rng, Motion::along(lead, LANES[1], ego_speed)));
    out.push(car(
        rng,
        Motion::along(overtaking, LANES[0], ego_speed + 3.5),
    ));
    out.push(actor(
        "vehicle.truck",
        [2.5, rng.range(7.5, 9.0), 3.4],
        Motion::along(rng.range(30.0, 40.0), LANES[0], ego_speed - 2.5),
        Look::Truck {
            cab: rng.pick(&PAINTS),
            cargo: [235, 235, 230],
        },
    ));
    for i in 0..4 {
        let lane = if i % 2 == 0 { LANES[1] } else { LANES[0] };
        let (s, v) = (
            55.0 + 16.0 * i as f64 + rng.range(0.0, 6.0),
            ego_speed + rng.range(-0.5, 0.5),
        );
        out.push(car(rng, Motion::along(s, lane, v)));
    }
    let span = ego_speed * duration + 120.0;
    let mut s = rng.range(40.0, 70.0);
    while s < span + 2.0 * 9.0 * duration {
        let lane = rng.pick(&[LANES[2], LANES[3]]);
        let speed = -rng.range(7.0, 10.0);
        let roll = rng.range(0.0, 1.0);
        out.push(if roll < 0.7 {
            car(rng, Motion::along(s, lane, speed))
        } else if roll < 0.85 {
            actor(
                "vehicle.bus.rigid",
                [2.6, 12.0, 3.3],
                Motion::along(s, lane, speed),
                Look::Bus {
                    paint: rng.pick(&[[40, 120, 200], [200, 40, 40]]),
                },
            )
        } else {
            actor(
                "vehicle.truck",
                [2.5, 8.5, 3.5],
                Motion::along(s, lane, speed),
                Look::Truck {
                    cab: rng.pick(&PAINTS),
                    cargo: rng.pick(&PAINTS),
                },
            )
        });
        s += rng.range(20.0, 45.0);
    }
    let cyclist = |rng: &mut Rng, s: f64, d: f64, v: f64| {
        actor(
            "vehicle.bicycle",
            [0.65, 1.8, 1.75],
            Motion::along(s, d, v),
            Look::Cyclist {
                shirt: rng.pick(&CLOTHES),
                frame: rng.pick(&PAINTS),
            },
        )
    };
    let (ahead, oncoming) = (rng.range(30.0, 40.0), rng.range(90.0, 110.0));
    out.push(cyclist(rng, ahead, -CURB_D + 1.6, 4.0));
    out.push(cyclist(rng, oncoming, CURB_D - 1.6, -4.5));
    out.push(actor(
        "vehicle.motorcycle",
        [0.8, 2.1, 1.6],
        Motion::along(rng.range(70.0, 80.0), LANES[2], -8.0),
        Look::Cyclist {
            shirt: [30, 30, 30],
            frame: [20, 20, 20],
        },
    ));
}

/// Pedestrians walking the sidewalks, a group crossing ahead, people waiting at
/// the bus stop (behind the bus) and a dog.
fn people(rng: &mut Rng, end: f64, out: &mut Vec<Actor>) {
    let kinds = [
        "human.pedestrian.adult",
        "human.pedestrian.adult",
        "human.pedestrian.adult",
        "human.pedestrian.child",
    ];
    let mut s = rng.range(5.0, 12.0);
    while s < end {
        let side = rng.pick(&[-1.0, 1.0]);
        let d = side * rng.range(CURB_D + 0.8, SIDEWALK_D - 0.5);
        let v = rng.pick(&[-1.0, 1.0]) * rng.range(1.0, 1.6);
        let kind = rng.pick(&kinds);
        out.push(pedestrian(rng, kind, Motion::along(s, d, v)));
        s += rng.range(5.0, 14.0);
    }
    let crossing_s = rng.range(75.0, 85.0);
    for (i, kind) in kinds.iter().take(3).enumerate() {
        let start_d = -CURB_D - 0.5 - 0.8 * i as f64;
        out.push(pedestrian(
            rng,
            kind,
            Motion::crossing(crossing_s + 0.9 * i as f64, start_d, 1.3, CURB_D + 1.0),
        ));
    }
    for i in 0..3 {
        let m = Motion::parked(
            60.0 + 2.5 * i as f64,
            -CURB_D - 1.2 - rng.range(0.0, 1.0),
            std::f64::consts::FRAC_PI_2,
        );
        out.push(pedestrian(rng, "human.pedestrian.adult", m));
    }
    let officer = Motion::parked(
        rng.range(100.0, 110.0),
        CURB_D + 1.0,
        -std::f64::consts::FRAC_PI_2,
    );
    out.push(pedestrian(rng, "human.pedestrian.police_officer", officer));
    out.push(actor(
        "animal",
        [0.3, 0.85, 0.6],
        Motion::along(rng.range(20.0, 30.0), CURB_D + 2.0, 1.2),
        Look::Animal { fur: [120, 85, 50] },
    ));
}

/// Cones and barriers with a construction vehicle and a worker, on the left curb.
fn construction_zone(rng: &mut Rng, out: &mut Vec<Actor>) {
    let s0 = rng.range(120.0, 130.0);
    for i in 0..6 {
        out.push(actor(
            "movable_object.trafficcone",
            [0.4, 0.4, 0.7],
            Motion::parked(s0 + 2.5 * i as f64, CURB_D - 1.0, 0.0),
            Look::Cone,
        ));
    }
    out.push(actor(
        "movable_object.barrier",
        [0.5, 2.4, 1.0],
        Motion::parked(s0 + 16.0, CURB_D - 0.6, 0.0),
        Look::Barrier,
    ));
    out.push(actor(
        "vehicle.construction",
        [2.8, 7.0, 3.3],
        Motion::parked(s0 + 6.0, CURB_D + 2.4, std::f64::consts::PI),
        Look::Construction,
    ));
    out.push(pedestrian(
        rng,
        "human.pedestrian.construction_worker",
        Motion::parked(s0 + 11.0, CURB_D + 0.6, 0.3),
    ));
}

/// Unannotated blocks of buildings behind the sidewalks.
fn buildings(rng: &mut Rng, end: f64, out: &mut Vec<Actor>) {
    for side in [-1.0, 1.0] {
        let mut s = -40.0;
        while s < end + 80.0 {
            let len = rng.range(14.0, 30.0);
            let depth = rng.range(10.0, 16.0);
            let height = rng.range(8.0, 24.0);
            let wall = rng.pick(&[
                [190, 170, 150],
                [150, 150, 155],
                [170, 120, 100],
                [210, 205, 190],
                [120, 110, 100],
            ]);
            out.push(Actor {
                category: None,
                size: [depth, len, height],
                motion: Motion::parked(s + len / 2.0, side * (BUILDING_D + depth / 2.0), 0.0),
                look: Look::Building { wall },
            });
            s += len + rng.range(0.5, 6.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn road_coordinates_round_trip() {
        let (s, d) = global_to_road(road_to_global(12.5, -3.0));
        assert!((s - 12.5).abs() < 1e-9 && (d + 3.0).abs() < 1e-9);
    }

    #[test]
    fn the_world_is_a_function_of_the_seed() {
        assert_eq!(build_world(7, 7.0, 10.0), build_world(7, 7.0, 10.0));
        assert_ne!(build_world(7, 7.0, 10.0), build_world(8, 7.0, 10.0));
    }

    #[test]
    fn crossing_pedestrians_stop_at_the_far_curb() {
        let m = Motion::crossing(0.0, -9.0, 1.5, 9.0);
        assert_eq!(m.at(100.0).1, 9.0);
        assert!(m.is_moving_at(1.0) && !m.is_moving_at(100.0));
    }
}
