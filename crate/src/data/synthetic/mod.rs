//! The synthetic demo scene: a deterministic, seeded nuScenes-format dataset of
//! one CAM_FRONT scene (keyframes at 2 Hz, sweeps at 12 Hz) whose frames are
//! rendered from the very geometry its tables describe, so projected ground truth
//! sits on the rendered objects. It is the page's embedded demo and the tests'
//! fixture.
//!
//! Layout (`world.rs`), ray-cast renderer (`render.rs`), simulated lidar and
//! visibility (`sensors.rs`); this file turns them into the 13 tables.

pub mod render;
pub mod sensors;
pub mod world;

use image::RgbImage;

use crate::data::nuscenes::ground_truth::CameraModel;
use crate::data::nuscenes::tables::*;
use crate::geometry::{Intrinsics, Mat3, OrientedBox, Pose, Quat, mat_mul, norm};
use render::{Rendered, Solid};
use world::{Actor, LANES, build_world, road_to_global};

/// What to generate. Every field changes the output deterministically.
#[derive(Debug, Clone, PartialEq)]
pub struct SceneConfig {
    /// Seeds the layout of the world.
    pub seed: u64,
    /// The scene's `name` in `scene.json`.
    pub name: String,
    /// The `v1.0-*` version directory the tables are written to.
    pub version: String,
    /// Number of camera frames (keyframes and sweeps).
    pub frames: usize,
    /// Camera frame period, µs (12 Hz like nuScenes' cameras).
    pub frame_period_us: i64,
    /// Every `keyframe_every`-th frame is a keyframe (6 → 2 Hz).
    pub keyframe_every: usize,
    /// How much earlier than its camera keyframe a sample (the lidar sweep) is
    /// stamped, µs: the camera has its own ego pose, as in nuScenes.
    pub lidar_lead_us: i64,
    /// Image size; intrinsics scale with it from nuScenes' 1600×900 CAM_FRONT.
    pub width: u32,
    pub height: u32,
    /// Ego speed along the road, m/s.
    pub ego_speed: f64,
    /// JPEG quality of written frames, 1–100.
    pub jpeg_quality: u8,
}

impl SceneConfig {
    /// The embedded demo: 10 s, 120 frames at 1600×900.
    pub fn demo() -> Self {
        SceneConfig {
            seed: 2026,
            name: "scene-demo".into(),
            version: "v1.0-mini".into(),
            frames: 120,
            frame_period_us: 83_333,
            keyframe_every: 6,
            lidar_lead_us: 12_000,
            width: 1600,
            height: 900,
            ego_speed: 7.0,
            jpeg_quality: 88,
        }
    }

    /// A quick variant for tests: fewer, smaller frames, same world.
    pub fn small(frames: usize, width: u32, height: u32) -> Self {
        SceneConfig {
            frames,
            width,
            height,
            ..Self::demo()
        }
    }
}

/// Start of the log, µs since the epoch (2018-08-01, like nuScenes' Singapore logs).
const T0: i64 = 1_533_110_400_000_000;
/// CAM_FRONT mounting, as in nuScenes: metres in the ego frame.
const CAM_TRANSLATION: [f64; 3] = [1.70079, 0.0159, 1.51095];
/// The camera's downward pitch, radians.
const CAM_PITCH: f64 = 0.012;
const SENSOR_TOKEN: &str = "725903f5b62f56118f4094b46a4470d8";
const CALIB_TOKEN: &str = "1d31c729b073425e8e0202c5c6e66ee1";
/// Actors this close to the camera (horizontally, metres) are annotated.
const ANNOTATION_RANGE_M: f64 = 50.0;
const LOG_TOKEN: &str = "53cf9c55dd8644bea67b9f009fc1ee38";

/// A generated scene: its world, its tables and the timing of its frames.
#[derive(Debug, Clone)]
pub struct SyntheticScene {
    pub config: SceneConfig,
    pub actors: Vec<Actor>,
    pub tables: Tables,
    /// Per camera frame: the time (s from the start) at which objects are drawn.
    object_times: Vec<f64>,
    /// Per actor: its instance token (annotated actors have an `instance` row).
    instance_tokens: Vec<String>,
}

/// The 13 tables as rows.
#[derive(Debug, Clone, Default)]
pub struct Tables {
    pub attribute: Vec<Attribute>,
    pub calibrated_sensor: Vec<CalibratedSensor>,
    pub category: Vec<Category>,
    pub ego_pose: Vec<EgoPose>,
    pub instance: Vec<Instance>,
    pub log: Vec<Log>,
    pub map: Vec<Map>,
    pub sample: Vec<Sample>,
    pub sample_annotation: Vec<SampleAnnotation>,
    pub sample_data: Vec<SampleData>,
    pub scene: Vec<Scene>,
    pub sensor: Vec<Sensor>,
    pub visibility: Vec<Visibility>,
}

impl Tables {
    /// Each table as `(name, JSON bytes)`.
    pub fn to_json(&self) -> Vec<(&'static str, Vec<u8>)> {
        fn j<T: serde::Serialize>(rows: &[T]) -> Vec<u8> {
            serde_json::to_vec_pretty(rows).unwrap_or_default()
        }
        vec![
            ("attribute", j(&self.attribute)),
            ("calibrated_sensor", j(&self.calibrated_sensor)),
            ("category", j(&self.category)),
            ("ego_pose", j(&self.ego_pose)),
            ("instance", j(&self.instance)),
            ("log", j(&self.log)),
            ("map", j(&self.map)),
            ("sample", j(&self.sample)),
            ("sample_annotation", j(&self.sample_annotation)),
            ("sample_data", j(&self.sample_data)),
            ("scene", j(&self.scene)),
            ("sensor", j(&self.sensor)),
            ("visibility", j(&self.visibility)),
        ]
    }
}

/// Deterministic 32-hex-digit tokens, like nuScenes'.
struct Tokens(world::Rng);

impl Tokens {
    fn next(&mut self) -> String {
        format!("{:016x}{:016x}", self.0.next_u64(), self.0.next_u64())
    }
}

/// The ego's pose `t` seconds into the scene: driving lane `LANES[1]`.
fn ego_pose_at(config: &SceneConfig, t: f64) -> Pose {
    let [x, y] = road_to_global(config.ego_speed * t, LANES[1]);
    Pose::new(Quat::from_yaw(world::ROAD_YAW), [x, y, 0.0])
}

fn camera_rotation() -> Quat {
    // Camera axes (x right, y down, z forward) in the ego frame, pitched down.
    let nominal: Mat3 = [[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]];
    let (s, c) = CAM_PITCH.sin_cos();
    let pitch: Mat3 = [[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]];
    Quat::from_matrix(&mat_mul(&nominal, &pitch))
}

fn intrinsics(width: u32, height: u32) -> Vec<Vec<f64>> {
    let (sx, sy) = (width as f64 / 1600.0, height as f64 / 900.0);
    vec![
        vec![1266.417203046554 * sx, 0.0, 816.2670197447984 * sx],
        vec![0.0, 1266.417203046554 * sy, 491.50706579294757 * sy],
        vec![0.0, 0.0, 1.0],
    ]
}

impl SyntheticScene {
    /// Lays out the world and writes its tables; renders nothing yet.
    pub fn generate(config: &SceneConfig) -> Self {
        Self::generate_with_progress(config, |_, _| {})
    }

    /// As `generate`, calling `progress(keyframes_done, keyframes)` as the
    /// annotations of each keyframe are simulated (the slow part).
    pub fn generate_with_progress(
        config: &SceneConfig,
        progress: impl FnMut(usize, usize),
    ) -> Self {
        let duration = config.frames as f64 * config.frame_period_us as f64 / 1e6;
        let actors = build_world(config.seed, config.ego_speed, duration);
        let mut scene = SyntheticScene {
            config: config.clone(),
            actors,
            tables: Tables::default(),
            object_times: Vec::new(),
            instance_tokens: Vec::new(),
        };
        scene.build_tables(progress);
        scene
    }

    fn frame_time_us(&self, i: usize) -> i64 {
        T0 + i as i64 * self.config.frame_period_us
    }

    fn seconds(us: i64) -> f64 {
        (us - T0) as f64 / 1e6
    }

    fn build_tables(&mut self, progress: impl FnMut(usize, usize)) {
        let mut tokens = Tokens(world::Rng::new(
            self.config.seed.wrapping_mul(31).wrapping_add(7),
        ));
        let t = &mut self.tables;
        t.sensor.push(Sensor {
            token: SENSOR_TOKEN.into(),
            channel: "CAM_FRONT".into(),
            modality: "camera".into(),
        });
        t.calibrated_sensor.push(CalibratedSensor {
            token: CALIB_TOKEN.into(),
            sensor_token: SENSOR_TOKEN.into(),
            translation: CAM_TRANSLATION,
            rotation: camera_rotation(),
            camera_intrinsic: intrinsics(self.config.width, self.config.height),
        });
        t.log.push(Log {
            token: LOG_TOKEN.into(),
            logfile: "n000-2018-08-01-00-00-00+0000".into(),
            vehicle: "synthetic".into(),
            date_captured: "2018-08-01".into(),
            location: "synthetic-road".into(),
        });
        t.map.push(Map {
            token: "synthetic-road-map".into(),
            log_tokens: vec![LOG_TOKEN.into()],
            category: "semantic_prior".into(),
            filename: "maps/synthetic-road.png".into(),
        });
        for (token, level, description) in [
            (
                "1",
                "v0-40",
                "visibility of whole object is between 0 and 40%",
            ),
            (
                "2",
                "v40-60",
                "visibility of whole object is between 40 and 60%",
            ),
            (
                "3",
                "v60-80",
                "visibility of whole object is between 60 and 80%",
            ),
            (
                "4",
                "v80-100",
                "visibility of whole object is between 80 and 100%",
            ),
        ] {
            t.visibility.push(Visibility {
                token: token.into(),
                level: level.into(),
                description: description.into(),
            });
        }
        for (name, description) in world::ATTRIBUTES {
            t.attribute.push(Attribute {
                token: tokens.next(),
                name: name.into(),
                description: description.into(),
            });
        }
        for name in crate::data::classes::NUSCENES_CATEGORIES {
            t.category.push(Category {
                token: tokens.next(),
                name: name.into(),
                description: String::new(),
                index: None,
            });
        }
        self.build_frames(&mut tokens, progress);
    }

    /// Samples, sample_data, ego poses, annotations and instances.
    fn build_frames(&mut self, tokens: &mut Tokens, mut progress: impl FnMut(usize, usize)) {
        let scene_token = tokens.next();
        let n = self.config.frames;
        let sd_tokens: Vec<String> = (0..n).map(|_| tokens.next()).collect();
        let keyframes: Vec<usize> = (0..n).step_by(self.config.keyframe_every.max(1)).collect();
        let sample_tokens: Vec<String> = keyframes.iter().map(|_| tokens.next()).collect();
        let mut instance_anns: Vec<Vec<String>> = vec![Vec::new(); self.actors.len()];
        self.instance_tokens = self.actors.iter().map(|_| tokens.next()).collect();
        let instance_tokens = self.instance_tokens.clone();
        for (k, &frame) in keyframes.iter().enumerate() {
            let sample_time = self.frame_time_us(frame) - self.config.lidar_lead_us;
            self.tables.sample.push(Sample {
                token: sample_tokens[k].clone(),
                timestamp: sample_time,
                prev: if k > 0 {
                    sample_tokens[k - 1].clone()
                } else {
                    String::new()
                },
                next: sample_tokens.get(k + 1).cloned().unwrap_or_default(),
                scene_token: scene_token.clone(),
            });
            self.annotate(
                &sample_tokens[k],
                frame,
                sample_time,
                &instance_tokens,
                &mut instance_anns,
                tokens,
            );
            progress(k + 1, keyframes.len());
        }
        for i in 0..n {
            let is_key = i % self.config.keyframe_every.max(1) == 0;
            // As in nuScenes, a sweep belongs to the next keyframe's sample.
            let sample = &sample_tokens[i
                .div_ceil(self.config.keyframe_every.max(1))
                .min(sample_tokens.len() - 1)];
            let ts = self.frame_time_us(i);
            let ego_token = tokens.next();
            let pose = ego_pose_at(&self.config, Self::seconds(ts));
            self.tables.ego_pose.push(EgoPose {
                token: ego_token.clone(),
                timestamp: ts,
                rotation: Quat::from_matrix(&pose.rotation),
                translation: pose.translation,
            });
            let folder = if is_key { "samples" } else { "sweeps" };
            self.tables.sample_data.push(SampleData {
                token: sd_tokens[i].clone(),
                sample_token: sample.clone(),
                ego_pose_token: ego_token,
                calibrated_sensor_token: CALIB_TOKEN.into(),
                timestamp: ts,
                fileformat: "jpg".into(),
                is_key_frame: is_key,
                height: self.config.height,
                width: self.config.width,
                filename: format!(
                    "{folder}/CAM_FRONT/n000-2018-08-01-00-00-00+0000__CAM_FRONT__{ts}.jpg"
                ),
                prev: if i > 0 {
                    sd_tokens[i - 1].clone()
                } else {
                    String::new()
                },
                next: sd_tokens.get(i + 1).cloned().unwrap_or_default(),
            });
            let object_time = if is_key {
                Self::seconds(ts - self.config.lidar_lead_us)
            } else {
                Self::seconds(ts)
            };
            self.object_times.push(object_time);
        }
        self.link_instances(&instance_tokens, &instance_anns);
        self.tables.scene.push(Scene {
            token: scene_token,
            log_token: LOG_TOKEN.into(),
            nbr_samples: sample_tokens.len() as u32,
            first_sample_token: sample_tokens.first().cloned().unwrap_or_default(),
            last_sample_token: sample_tokens.last().cloned().unwrap_or_default(),
            name: self.config.name.clone(),
            description: format!("Synthetic urban road, seed {}; parked and moving traffic, pedestrians, cyclists, construction zone.", self.config.seed),
        });
    }

    /// Annotates, for one sample, every actor within `ANNOTATION_RANGE_M` that some
    /// camera ray reaches, with simulated visibility and lidar points.
    fn annotate(
        &mut self,
        sample_token: &str,
        frame: usize,
        sample_time: i64,
        instance_tokens: &[String],
        instance_anns: &mut [Vec<String>],
        tokens: &mut Tokens,
    ) {
        let t = Self::seconds(sample_time);
        let boxes: Vec<OrientedBox> = self.actors.iter().map(|a| actor_box(a, t)).collect();
        let cam_pose = ego_pose_at(&self.config, Self::seconds(self.frame_time_us(frame)));
        let cam_origin = cam_pose.apply(CAM_TRANSLATION);
        let lidar_origin = ego_pose_at(&self.config, t).apply([0.943713, 0.0, 1.84023]);
        let visible = sensors::visible_fraction(cam_origin, &boxes, ANNOTATION_RANGE_M + 10.0);
        let lidar = sensors::lidar_points(lidar_origin, &boxes);
        for (i, actor) in self.actors.iter().enumerate() {
            let Some(category) = actor.category else {
                continue;
            };
            let Some(fraction) = visible[i] else { continue };
            let offset = crate::geometry::sub(boxes[i].center, cam_origin);
            if norm([offset[0], offset[1], 0.0]) > ANNOTATION_RANGE_M {
                continue;
            }
            let token = tokens.next();
            let (translation, rotation) = actor.pose_at(t);
            let attribute_tokens = actor
                .attributes_at(t)
                .iter()
                .filter_map(|name| {
                    self.tables
                        .attribute
                        .iter()
                        .find(|a| a.name == *name)
                        .map(|a| a.token.clone())
                })
                .collect();
            self.tables.sample_annotation.push(SampleAnnotation {
                token: token.clone(),
                sample_token: sample_token.into(),
                instance_token: instance_tokens[i].clone(),
                visibility_token: sensors::visibility_token(fraction).into(),
                attribute_tokens,
                translation,
                size: actor.size,
                rotation,
                prev: String::new(),
                next: String::new(),
                num_lidar_pts: lidar[i] as i64,
                num_radar_pts: 0,
            });
            instance_anns[i].push(token);
            let _ = category;
        }
    }

    /// Instances for actors with annotations, and each track's prev/next links.
    fn link_instances(&mut self, instance_tokens: &[String], instance_anns: &[Vec<String>]) {
        let position: std::collections::HashMap<String, usize> = self
            .tables
            .sample_annotation
            .iter()
            .enumerate()
            .map(|(i, a)| (a.token.clone(), i))
            .collect();
        for (i, anns) in instance_anns.iter().enumerate() {
            let (Some(first), Some(last), Some(category)) =
                (anns.first(), anns.last(), self.actors[i].category)
            else {
                continue;
            };
            for (j, token) in anns.iter().enumerate() {
                let row = &mut self.tables.sample_annotation[position[token]];
                row.prev = if j > 0 {
                    anns[j - 1].clone()
                } else {
                    String::new()
                };
                row.next = anns.get(j + 1).cloned().unwrap_or_default();
            }
            let category_token = self
                .tables
                .category
                .iter()
                .find(|c| c.name == category)
                .map(|c| c.token.clone())
                .unwrap_or_default();
            self.tables.instance.push(Instance {
                token: instance_tokens[i].clone(),
                category_token,
                nbr_annotations: anns.len() as u32,
                first_annotation_token: first.clone(),
                last_annotation_token: last.clone(),
            });
        }
    }

    /// The actor an instance token stands for.
    pub fn actor_of_instance(&self, instance_token: &str) -> Option<usize> {
        self.instance_tokens
            .iter()
            .position(|t| t == instance_token)
    }

    /// The solids drawn in frame `i`: every actor's box at the frame's object time.
    pub fn solids(&self, i: usize) -> Option<Vec<Solid>> {
        let t = *self.object_times.get(i)?;
        Some(
            self.actors
                .iter()
                .map(|a| Solid {
                    shape: actor_box(a, t),
                    look: a.look,
                })
                .collect(),
        )
    }

    /// Number of camera frames.
    pub fn len(&self) -> usize {
        self.tables.sample_data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tables.sample_data.is_empty()
    }

    /// The camera model of frame `i`, from the tables.
    pub fn camera(&self, i: usize) -> Option<CameraModel> {
        let sd = self.tables.sample_data.get(i)?;
        let ego = self
            .tables
            .ego_pose
            .iter()
            .find(|e| e.token == sd.ego_pose_token)?;
        let cs = &self.tables.calibrated_sensor[0];
        Some(CameraModel {
            ego_pose: Pose::new(ego.rotation, ego.translation),
            sensor_pose: Pose::new(cs.rotation, cs.translation),
            intrinsics: Intrinsics(std::array::from_fn(|r| {
                std::array::from_fn(|c| cs.camera_intrinsic[r][c])
            })),
        })
    }

    /// Renders camera frame `i` (with its per-pixel object ids).
    pub fn render(&self, i: usize) -> Option<Rendered> {
        let camera = self.camera(i)?;
        let solids = self.solids(i)?;
        Some(render::render(
            &camera,
            self.config.width,
            self.config.height,
            &solids,
        ))
    }

    /// Frame `i` as RGB pixels.
    pub fn frame_rgb(&self, i: usize) -> Option<RgbImage> {
        self.render(i).map(|r| r.rgb)
    }

    /// Frame `i` encoded as it is written to disk.
    pub fn frame_jpeg(&self, i: usize) -> Result<Vec<u8>, SceneError> {
        let rgb = self.frame_rgb(i).ok_or(SceneError::NoFrame {
            index: i,
            frames: self.len(),
        })?;
        let mut out = Vec::new();
        let encoder =
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, self.config.jpeg_quality);
        rgb.write_with_encoder(encoder)
            .map_err(|source| SceneError::Encode {
                what: format!("frame {i}"),
                source,
            })?;
        Ok(out)
    }

    /// A top-down picture of the road for `map.json`'s file (0.5 m per pixel).
    pub fn map_png(&self) -> Result<Vec<u8>, SceneError> {
        let (w, h) = (400u32, 60u32);
        let img = RgbImage::from_fn(w, h, |x, y| {
            let [gx, gy] = road_to_global(x as f64 * 0.5 - 20.0, 15.0 - y as f64 * 0.5);
            image::Rgb(render::ground([gx, gy, 0.0]).map(|c| c.clamp(0.0, 255.0) as u8))
        });
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png)
            .map_err(|source| SceneError::Encode {
                what: "the map".into(),
                source,
            })?;
        Ok(out.into_inner())
    }

    /// The tables and the map file as `(path relative to the root, bytes)`.
    pub fn metadata_files(&self) -> Result<Vec<(String, Vec<u8>)>, SceneError> {
        let mut files: Vec<(String, Vec<u8>)> = self
            .tables
            .to_json()
            .into_iter()
            .map(|(name, bytes)| (format!("{}/{name}.json", self.config.version), bytes))
            .collect();
        files.push(("maps/synthetic-road.png".to_string(), self.map_png()?));
        Ok(files)
    }

    /// Every file of the dataset as `(path relative to the root, bytes)`, the
    /// frames rendered and encoded one at a time as the iterator advances. A
    /// file that cannot be made is an error in its place, never empty bytes.
    pub fn files(&self) -> impl Iterator<Item = Result<(String, Vec<u8>), SceneError>> + '_ {
        let metadata = match self.metadata_files() {
            Ok(files) => files.into_iter().map(Ok).collect(),
            Err(e) => vec![Err(e)],
        };
        let frames = (0..self.len()).map(|i| {
            let path = self.tables.sample_data[i].filename.clone();
            self.frame_jpeg(i).map(|bytes| (path, bytes))
        });
        metadata.into_iter().chain(frames)
    }

    /// Writes the dataset under `root`, calling `progress(done, total)` per file.
    #[cfg(feature = "native")]
    pub fn write_to(
        &self,
        root: &std::path::Path,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<(), String> {
        if root.exists() && !root.is_dir() {
            return Err(format!("{}: is a file, not a directory", root.display()));
        }
        let total = 14 + self.len();
        for (i, file) in self.files().enumerate() {
            let (path, bytes) = file.map_err(|e| format!("{}: {e}", root.display()))?;
            let full = root.join(&path);
            if let Some(parent) = full.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| format!("{}: cannot create it: {e}", parent.display()))?;
            }
            std::fs::write(&full, bytes).map_err(|e| format!("{}: {e}", full.display()))?;
            progress(i + 1, total);
        }
        Ok(())
    }
}

/// Why a file of the demo scene could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SceneError {
    #[error("frame {index} is past the scene's {frames} frames")]
    NoFrame { index: usize, frames: usize },
    #[error("cannot encode {what}: {source}")]
    Encode {
        what: String,
        source: image::ImageError,
    },
}

/// An actor's box at time `t`.
fn actor_box(actor: &Actor, t: f64) -> OrientedBox {
    let (center, rotation) = actor.pose_at(t);
    OrientedBox {
        center,
        size_wlh: actor.size,
        rotation: rotation.rotation_matrix(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_that_cannot_be_encoded_is_an_error_not_an_empty_file() {
        // JPEG stops at 65 535 pixels a side; one row keeps the render cheap.
        let scene = SyntheticScene::generate(&SceneConfig {
            frames: 1,
            width: 65_536,
            height: 1,
            ..SceneConfig::demo()
        });
        let files: Vec<_> = scene.files().collect();
        assert!(files[..files.len() - 1].iter().all(Result::is_ok));
        let e = files.last().unwrap().as_ref().unwrap_err().to_string();
        assert!(e.starts_with("cannot encode frame 0:"), "{e}");

        #[cfg(feature = "native")]
        {
            let root = std::env::temp_dir().join(format!("autolabel-scene-{}", std::process::id()));
            let e = scene.write_to(&root, |_, _| {}).unwrap_err();
            let written = walk(&root);
            std::fs::remove_dir_all(&root).ok();
            assert!(e.contains("cannot encode frame 0"), "{e}");
            assert!(!written.iter().any(|(_, len)| *len == 0), "{written:?}");
        }
    }

    /// Every file under `root` with its length.
    #[cfg(feature = "native")]
    fn walk(root: &std::path::Path) -> Vec<(std::path::PathBuf, u64)> {
        let Ok(entries) = std::fs::read_dir(root) else {
            return Vec::new();
        };
        entries
            .flatten()
            .flat_map(|e| match e.metadata() {
                Ok(m) if m.is_dir() => walk(&e.path()),
                Ok(m) => vec![(e.path(), m.len())],
                Err(_) => Vec::new(),
            })
            .collect()
    }
}
