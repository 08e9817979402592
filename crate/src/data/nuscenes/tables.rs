//! The 13 nuScenes tables, one struct per JSON file, field names as in the
//! published schema (<https://www.nuscenes.org/nuscenes#data-format>).
//! Unknown extra fields are accepted and ignored; the structs also serialise, so
//! the synthetic scene generator writes the same files the loader reads.

use serde::{Deserialize, Serialize};

use crate::geometry::{Quat, Vec3};

/// Every table file a `v1.0-*` version directory must hold.
pub const TABLE_NAMES: [&str; 13] = [
    "attribute",
    "calibrated_sensor",
    "category",
    "ego_pose",
    "instance",
    "log",
    "map",
    "sample",
    "sample_annotation",
    "sample_data",
    "scene",
    "sensor",
    "visibility",
];

/// A row with a unique `token`.
pub trait Row {
    const TABLE: &'static str;
    fn token(&self) -> &str;
}

macro_rules! row {
    ($ty:ident, $table:literal) => {
        impl Row for $ty {
            const TABLE: &'static str = $table;
            fn token(&self) -> &str {
                &self.token
            }
        }
    };
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Attribute {
    pub token: String,
    pub name: String,
    pub description: String,
}
row!(Attribute, "attribute");

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CalibratedSensor {
    pub token: String,
    pub sensor_token: String,
    /// Sensor position in the ego frame, metres.
    pub translation: Vec3,
    /// Sensor → ego rotation.
    pub rotation: Quat,
    /// 3×3 pinhole matrix for cameras, empty for other sensors.
    pub camera_intrinsic: Vec<Vec<f64>>,
}
row!(CalibratedSensor, "calibrated_sensor");

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Category {
    pub token: String,
    /// Dotted taxonomy name, e.g. `vehicle.car`.
    pub name: String,
    pub description: String,
    /// Index used by lidarseg (newer releases only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
}
row!(Category, "category");

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EgoPose {
    pub token: String,
    pub timestamp: i64,
    /// Ego → global rotation.
    pub rotation: Quat,
    /// Ego position in the global frame, metres.
    pub translation: Vec3,
}
row!(EgoPose, "ego_pose");

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Instance {
    pub token: String,
    pub category_token: String,
    pub nbr_annotations: u32,
    pub first_annotation_token: String,
    pub last_annotation_token: String,
}
row!(Instance, "instance");

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Log {
    pub token: String,
    pub logfile: String,
    pub vehicle: String,
    pub date_captured: String,
    pub location: String,
}
row!(Log, "log");

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Map {
    pub token: String,
    pub log_tokens: Vec<String>,
    pub category: String,
    pub filename: String,
}
row!(Map, "map");

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sample {
    pub token: String,
    pub timestamp: i64,
    pub prev: String,
    pub next: String,
    pub scene_token: String,
}
row!(Sample, "sample");

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SampleAnnotation {
    pub token: String,
    pub sample_token: String,
    pub instance_token: String,
    /// `"1"`…`"4"`, or `""` when unknown.
    pub visibility_token: String,
    pub attribute_tokens: Vec<String>,
    /// Box centre in the global frame, metres.
    pub translation: Vec3,
    /// `[width, length, height]`, metres.
    pub size: Vec3,
    /// Box → global rotation.
    pub rotation: Quat,
    pub prev: String,
    pub next: String,
    pub num_lidar_pts: i64,
    pub num_radar_pts: i64,
}
row!(SampleAnnotation, "sample_annotation");

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SampleData {
    pub token: String,
    pub sample_token: String,
    pub ego_pose_token: String,
    pub calibrated_sensor_token: String,
    pub timestamp: i64,
    pub fileformat: String,
    pub is_key_frame: bool,
    pub height: u32,
    pub width: u32,
    /// Path relative to the dataset root, e.g. `samples/CAM_FRONT/….jpg`.
    pub filename: String,
    pub prev: String,
    pub next: String,
}
row!(SampleData, "sample_data");

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Scene {
    pub token: String,
    pub log_token: String,
    pub nbr_samples: u32,
    pub first_sample_token: String,
    pub last_sample_token: String,
    pub name: String,
    pub description: String,
}
row!(Scene, "scene");

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sensor {
    pub token: String,
    /// e.g. `CAM_FRONT`, `LIDAR_TOP`.
    pub channel: String,
    /// `camera`, `lidar` or `radar`.
    pub modality: String,
}
row!(Sensor, "sensor");

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Visibility {
    pub token: String,
    /// e.g. `v80-100`: the percentage of the object visible over all six cameras.
    pub level: String,
    pub description: String,
}
row!(Visibility, "visibility");
