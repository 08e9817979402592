//! A scene's camera frames in time order and, for its keyframes, the 3D
//! annotations projected to 2D boxes exactly as the devkit's
//! `export_2d_annotations_as_json.py` (`get_2d_boxes` + `post_process_coords`) does:
//! global → ego with the camera sample_data's own `ego_pose`, ego → camera with its
//! `calibrated_sensor`, the 8 corners, those with `z > 0` projected with
//! `camera_intrinsic`, their convex hull clipped to the image, its bounds.

use serde::{Deserialize, Serialize};

use super::db::{NuScenes, NuScenesError};
use super::tables::{SampleAnnotation, SampleData};
use crate::data::classes::{ClassMap, ClassMapError, Mapped};
use crate::geometry::{Box2, Intrinsics, OrientedBox, Pose, norm, projected_box};

/// One frame of a camera's sample_data chain (keyframe or sweep).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CameraFrame {
    pub sample_data_token: String,
    pub sample_token: String,
    pub timestamp: i64,
    /// Image path relative to the dataset root.
    pub image: String,
    pub is_key_frame: bool,
    pub width: u32,
    pub height: u32,
}

/// The 2D ground truth of one keyframe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyframeGt {
    pub sample_token: String,
    /// The camera image's timestamp, µs.
    pub timestamp: i64,
    /// Image path relative to the dataset root.
    pub image: String,
    pub annotations: Vec<GtAnnotation>,
}

/// One annotation whose projection meets the image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GtAnnotation {
    pub annotation_token: String,
    /// The track: the same object across samples.
    pub instance_token: String,
    /// Full nuScenes category, e.g. `vehicle.car`.
    pub category: String,
    /// Prompt class from the class table; `None` when the table ignores the category.
    pub class: Option<String>,
    /// `[x0, y0, x1, y1]` in image pixels.
    #[serde(rename = "box")]
    pub bbox: Box2,
    /// Visibility level (`v0-40`, `v40-60`, `v60-80`, `v80-100`), `None` if unknown.
    pub visibility: Option<String>,
    pub num_lidar_pts: i64,
    /// Distance from the camera centre to the box centre, metres.
    pub distance_m: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum GroundTruthError {
    #[error(transparent)]
    Dataset(#[from] NuScenesError),
    #[error("{file}: annotation '{token}': {source}")]
    Class {
        file: String,
        token: String,
        source: ClassMapError,
    },
}

impl NuScenes {
    /// The frames of `channel` in scene `scene_name`, in time order: the chain of
    /// sample_data from the first sample's keyframe along `next`, while it stays in
    /// the scene, at most `max_frames` of them.
    pub fn camera_frames(
        &self,
        scene_name: &str,
        channel: &str,
        max_frames: Option<usize>,
    ) -> Result<Vec<CameraFrame>, NuScenesError> {
        let scene = self.scene_by_name(scene_name)?;
        let first = self
            .keyframe_data(&scene.first_sample_token, channel)
            .ok_or_else(|| self.channel_not_found(scene_name, channel))?;
        let limit = max_frames.unwrap_or(usize::MAX);
        let mut frames = Vec::new();
        let mut current = Some(first);
        while let Some(sd) = current {
            if frames.len() >= limit || !self.in_scene(sd, &scene.token) {
                break;
            }
            if frames.len() > self.sample_data.len() {
                return Err(NuScenesError::ChainCycle {
                    file: format!("{}/sample_data.json", self.location),
                    scene: scene_name.to_string(),
                    channel: channel.to_string(),
                    token: sd.token.clone(),
                });
            }
            frames.push(CameraFrame {
                sample_data_token: sd.token.clone(),
                sample_token: sd.sample_token.clone(),
                timestamp: sd.timestamp,
                image: sd.filename.clone(),
                is_key_frame: sd.is_key_frame,
                width: sd.width,
                height: sd.height,
            });
            current = self.sample_data.get(&sd.next);
        }
        Ok(frames)
    }

    fn in_scene(&self, sd: &SampleData, scene_token: &str) -> bool {
        self.sample
            .get(&sd.sample_token)
            .is_some_and(|s| s.scene_token == scene_token)
    }

    fn channel_not_found(&self, scene: &str, channel: &str) -> NuScenesError {
        let mut channels: Vec<&str> = self
            .sensor
            .rows
            .iter()
            .map(|s| s.channel.as_str())
            .collect();
        channels.sort_unstable();
        NuScenesError::ChannelNotFound {
            scene: scene.to_string(),
            channel: channel.to_string(),
            available: channels.join(", "),
        }
    }

    /// The projected ground truth of every keyframe among `frames`.
    pub fn ground_truth(
        &self,
        frames: &[CameraFrame],
        classes: &ClassMap,
    ) -> Result<Vec<KeyframeGt>, GroundTruthError> {
        frames
            .iter()
            .filter(|f| f.is_key_frame)
            .map(|f| self.keyframe_ground_truth(f, classes))
            .collect()
    }

    /// The projected ground truth of one keyframe.
    pub fn keyframe_ground_truth(
        &self,
        frame: &CameraFrame,
        classes: &ClassMap,
    ) -> Result<KeyframeGt, GroundTruthError> {
        let sd = self
            .sample_data
            .get(&frame.sample_data_token)
            .ok_or_else(|| self.missing("sample_data", &frame.sample_data_token))?;
        let camera = self.camera_of(sd)?;
        let mut annotations = Vec::new();
        for ann in self.sample_annotations(&sd.sample_token) {
            let in_camera = self
                .global_box(ann)
                .into_child_frame(&camera.ego_pose)
                .into_child_frame(&camera.sensor_pose);
            let Some(bbox) = projected_box(
                &in_camera.corners(),
                &camera.intrinsics,
                sd.width as f64,
                sd.height as f64,
            ) else {
                continue;
            };
            annotations.push(self.annotation(ann, bbox, norm(in_camera.center), classes)?);
        }
        Ok(KeyframeGt {
            sample_token: sd.sample_token.clone(),
            timestamp: sd.timestamp,
            image: sd.filename.clone(),
            annotations,
        })
    }

    fn annotation(
        &self,
        ann: &SampleAnnotation,
        bbox: Box2,
        distance_m: f64,
        classes: &ClassMap,
    ) -> Result<GtAnnotation, GroundTruthError> {
        let category = self
            .category_of(ann)
            .ok_or_else(|| self.missing("instance", &ann.instance_token))?;
        let attributes: Vec<&str> = ann
            .attribute_tokens
            .iter()
            .filter_map(|t| self.attribute.get(t))
            .map(|a| a.name.as_str())
            .collect();
        let class = match classes.map(&category.name, &attributes) {
            Ok(Mapped::Class(c)) => Some(c.to_string()),
            Ok(Mapped::Ignored) => None,
            Err(source) => {
                return Err(GroundTruthError::Class {
                    file: format!("{}/category.json", self.location),
                    token: ann.token.clone(),
                    source,
                });
            }
        };
        Ok(GtAnnotation {
            annotation_token: ann.token.clone(),
            instance_token: ann.instance_token.clone(),
            category: category.name.clone(),
            class,
            bbox,
            visibility: self
                .visibility
                .get(&ann.visibility_token)
                .map(|v| v.level.clone()),
            num_lidar_pts: ann.num_lidar_pts,
            distance_m,
        })
    }

    /// An annotation's box in the global frame.
    pub fn global_box(&self, ann: &SampleAnnotation) -> OrientedBox {
        OrientedBox {
            center: ann.translation,
            size_wlh: ann.size,
            rotation: ann.rotation.rotation_matrix(),
        }
    }

    /// The poses and intrinsics of the camera that took `sd`.
    pub fn camera_of(&self, sd: &SampleData) -> Result<CameraModel, NuScenesError> {
        let ego = self
            .ego_pose
            .get(&sd.ego_pose_token)
            .ok_or_else(|| self.missing("ego_pose", &sd.ego_pose_token))?;
        let cs = self
            .calibrated_sensor
            .get(&sd.calibrated_sensor_token)
            .ok_or_else(|| self.missing("calibrated_sensor", &sd.calibrated_sensor_token))?;
        let k = &cs.camera_intrinsic;
        if k.len() != 3 || k.iter().any(|r| r.len() != 3) {
            return Err(NuScenesError::Invalid {
                file: format!("{}/calibrated_sensor.json", self.location),
                token: cs.token.clone(),
                message: format!(
                    "sample_data '{}' is not from a camera (no 3×3 camera_intrinsic)",
                    sd.token
                ),
            });
        }
        Ok(CameraModel {
            ego_pose: Pose::new(ego.rotation, ego.translation),
            sensor_pose: Pose::new(cs.rotation, cs.translation),
            intrinsics: Intrinsics(std::array::from_fn(|i| std::array::from_fn(|j| k[i][j]))),
        })
    }

    fn missing(&self, table: &'static str, token: &str) -> NuScenesError {
        NuScenesError::Invalid {
            file: format!("{}/{table}.json", self.location),
            token: token.to_string(),
            message: "no such row".into(),
        }
    }
}

/// Where a camera was and how it projects.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CameraModel {
    /// Ego → global at the image's timestamp.
    pub ego_pose: Pose,
    /// Camera → ego.
    pub sensor_pose: Pose,
    pub intrinsics: Intrinsics,
}
