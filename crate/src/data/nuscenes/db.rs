//! Loading and validating the tables of one nuScenes version, with the reverse
//! indexes the devkit builds (`NuScenes.__make_reverse_index__`).

use std::collections::HashMap;

use serde::de::DeserializeOwned;

use super::source::{DataSource, ReadError};
use super::tables::*;

/// Everything that can be wrong with a dataset. Each variant names the file and
/// the row or token.
#[derive(Debug, thiserror::Error)]
pub enum NuScenesError {
    #[error("table '{table}' is missing: {source}")]
    MissingTable { table: String, source: ReadError },
    #[error("{file}: not valid JSON: {message}")]
    Json { file: String, message: String },
    #[error("{file}: row {row}{token}: {message}")]
    Row {
        file: String,
        row: usize,
        /// ` (token 'abc')` when the row has a readable token.
        token: String,
        message: String,
    },
    #[error("{file}: token '{token}' appears twice (rows {first} and {second})")]
    DuplicateToken {
        file: String,
        token: String,
        first: usize,
        second: usize,
    },
    #[error(
        "{file}: row with token '{token}': field '{field}' refers to '{target}', which is not in {target_table}.json"
    )]
    DanglingToken {
        file: String,
        token: String,
        field: &'static str,
        target: String,
        target_table: &'static str,
    },
    #[error("{file}: row with token '{token}': {message}")]
    Invalid {
        file: String,
        token: String,
        message: String,
    },
    #[error("no scene named '{name}' in {version}; scenes: {available}")]
    SceneNotFound {
        name: String,
        version: String,
        available: String,
    },
    #[error("scene '{scene}': no {channel} data (channels present: {available})")]
    ChannelNotFound {
        scene: String,
        channel: String,
        available: String,
    },
    #[error("{file}: the {channel} chain of scene '{scene}' loops back to '{token}'")]
    ChainCycle {
        file: String,
        scene: String,
        channel: String,
        token: String,
    },
}

/// One table: its rows in file order and a token index.
#[derive(Debug, Clone)]
pub struct Table<T> {
    pub rows: Vec<T>,
    index: HashMap<String, usize>,
}

impl<T: Row> Table<T> {
    fn new(rows: Vec<T>, file: &str) -> Result<Self, NuScenesError> {
        let mut index = HashMap::with_capacity(rows.len());
        for (i, row) in rows.iter().enumerate() {
            if let Some(first) = index.insert(row.token().to_string(), i) {
                return Err(NuScenesError::DuplicateToken {
                    file: file.to_string(),
                    token: row.token().to_string(),
                    first,
                    second: i,
                });
            }
        }
        Ok(Table { rows, index })
    }

    pub fn get(&self, token: &str) -> Option<&T> {
        self.index.get(token).map(|&i| &self.rows[i])
    }

    pub fn position(&self, token: &str) -> Option<usize> {
        self.index.get(token).copied()
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// A loaded, validated nuScenes version (`v1.0-mini`, `v1.0-trainval`, …).
#[derive(Debug, Clone)]
pub struct NuScenes {
    pub version: String,
    /// How the version directory is named in messages (a path natively).
    pub location: String,
    pub attribute: Table<Attribute>,
    pub calibrated_sensor: Table<CalibratedSensor>,
    pub category: Table<Category>,
    pub ego_pose: Table<EgoPose>,
    pub instance: Table<Instance>,
    pub log: Table<Log>,
    pub map: Table<Map>,
    pub sample: Table<Sample>,
    pub sample_annotation: Table<SampleAnnotation>,
    pub sample_data: Table<SampleData>,
    pub scene: Table<Scene>,
    pub sensor: Table<Sensor>,
    pub visibility: Table<Visibility>,
    /// Annotation row indexes of each sample, in table order (the devkit's `sample['anns']`).
    sample_anns: HashMap<String, Vec<usize>>,
    /// Keyframe sample_data of each sample, by channel (the devkit's `sample['data']`).
    sample_keyframes: HashMap<String, HashMap<String, usize>>,
}

fn load_table<T: Row + DeserializeOwned>(
    source: &dyn DataSource,
    version: &str,
) -> Result<Table<T>, NuScenesError> {
    let path = format!("{version}/{}.json", T::TABLE);
    let file = source.locate(&path);
    let bytes = source
        .read(&path)
        .map_err(|source| NuScenesError::MissingTable {
            table: T::TABLE.to_string(),
            source,
        })?;
    let values: Vec<serde_json::Value> =
        serde_json::from_slice(&bytes).map_err(|e| NuScenesError::Json {
            file: file.clone(),
            message: e.to_string(),
        })?;
    let rows = values
        .into_iter()
        .enumerate()
        .map(|(row, value)| {
            let token = match value.get("token").and_then(|t| t.as_str()) {
                Some(t) => format!(" (token '{t}')"),
                None => String::new(),
            };
            T::deserialize(value).map_err(|e| NuScenesError::Row {
                file: file.clone(),
                row,
                token,
                message: e.to_string(),
            })
        })
        .collect::<Result<Vec<T>, _>>()?;
    Table::new(rows, &file)
}

/// Checks that `target` names a row of `table` (the empty token is allowed where `optional`).
struct RefCheck<'a> {
    location: &'a str,
}

impl RefCheck<'_> {
    fn check<R: Row, T: Row>(
        &self,
        row: &R,
        field: &'static str,
        target: &str,
        table: &Table<T>,
        optional: bool,
    ) -> Result<(), NuScenesError> {
        if (optional && target.is_empty()) || table.get(target).is_some() {
            return Ok(());
        }
        Err(NuScenesError::DanglingToken {
            file: format!("{}/{}.json", self.location, R::TABLE),
            token: row.token().to_string(),
            field,
            target: target.to_string(),
            target_table: T::TABLE,
        })
    }

    fn invalid<R: Row>(&self, row: &R, message: String) -> NuScenesError {
        NuScenesError::Invalid {
            file: format!("{}/{}.json", self.location, R::TABLE),
            token: row.token().to_string(),
            message,
        }
    }
}

impl NuScenes {
    /// Loads `DATAROOT/VERSION/*.json` from a directory.
    #[cfg(feature = "native")]
    pub fn open(dataroot: &std::path::Path, version: &str) -> Result<Self, NuScenesError> {
        let source = super::source::DirSource {
            root: dataroot.to_path_buf(),
        };
        Self::load(&source, version)
    }

    /// Loads and validates the 13 tables of `version` from any source.
    pub fn load(source: &dyn DataSource, version: &str) -> Result<Self, NuScenesError> {
        let location = source.locate(version);
        let mut db = NuScenes {
            version: version.to_string(),
            attribute: load_table(source, version)?,
            calibrated_sensor: load_table(source, version)?,
            category: load_table(source, version)?,
            ego_pose: load_table(source, version)?,
            instance: load_table(source, version)?,
            log: load_table(source, version)?,
            map: load_table(source, version)?,
            sample: load_table(source, version)?,
            sample_annotation: load_table(source, version)?,
            sample_data: load_table(source, version)?,
            scene: load_table(source, version)?,
            sensor: load_table(source, version)?,
            visibility: load_table(source, version)?,
            location,
            sample_anns: HashMap::new(),
            sample_keyframes: HashMap::new(),
        };
        db.validate()?;
        db.build_reverse_index();
        Ok(db)
    }

    fn validate(&self) -> Result<(), NuScenesError> {
        let c = RefCheck {
            location: &self.location,
        };
        for r in &self.scene.rows {
            c.check(r, "log_token", &r.log_token, &self.log, false)?;
            c.check(
                r,
                "first_sample_token",
                &r.first_sample_token,
                &self.sample,
                false,
            )?;
            c.check(
                r,
                "last_sample_token",
                &r.last_sample_token,
                &self.sample,
                false,
            )?;
        }
        for r in &self.sample.rows {
            c.check(r, "scene_token", &r.scene_token, &self.scene, false)?;
            c.check(r, "prev", &r.prev, &self.sample, true)?;
            c.check(r, "next", &r.next, &self.sample, true)?;
        }
        for r in &self.sample_data.rows {
            c.check(r, "sample_token", &r.sample_token, &self.sample, false)?;
            c.check(
                r,
                "ego_pose_token",
                &r.ego_pose_token,
                &self.ego_pose,
                false,
            )?;
            c.check(
                r,
                "calibrated_sensor_token",
                &r.calibrated_sensor_token,
                &self.calibrated_sensor,
                false,
            )?;
            c.check(r, "prev", &r.prev, &self.sample_data, true)?;
            c.check(r, "next", &r.next, &self.sample_data, true)?;
        }
        for r in &self.sample_annotation.rows {
            c.check(r, "sample_token", &r.sample_token, &self.sample, false)?;
            c.check(
                r,
                "instance_token",
                &r.instance_token,
                &self.instance,
                false,
            )?;
            c.check(
                r,
                "visibility_token",
                &r.visibility_token,
                &self.visibility,
                true,
            )?;
            for a in &r.attribute_tokens {
                c.check(r, "attribute_tokens", a, &self.attribute, false)?;
            }
            if !r.rotation.is_valid() {
                return Err(c.invalid(
                    r,
                    format!(
                        "rotation {:?} is not a rotation quaternion",
                        <[f64; 4]>::from(r.rotation)
                    ),
                ));
            }
            if !r.size.iter().chain(&r.translation).all(|v| v.is_finite())
                || r.size.iter().any(|&s| s < 0.0)
            {
                return Err(c.invalid(
                    r,
                    format!(
                        "size {:?} / translation {:?} must be finite, sizes ≥ 0",
                        r.size, r.translation
                    ),
                ));
            }
        }
        for r in &self.instance.rows {
            c.check(
                r,
                "category_token",
                &r.category_token,
                &self.category,
                false,
            )?;
        }
        for r in &self.calibrated_sensor.rows {
            c.check(r, "sensor_token", &r.sensor_token, &self.sensor, false)?;
            if !r.rotation.is_valid() {
                return Err(c.invalid(r, "rotation is not a rotation quaternion".into()));
            }
            let is_camera = self
                .sensor
                .get(&r.sensor_token)
                .is_some_and(|s| s.modality == "camera");
            if is_camera && !intrinsic_is_valid(&r.camera_intrinsic) {
                return Err(c.invalid(
                    r,
                    format!(
                        "camera_intrinsic {:?} is not a 3×3 pinhole matrix",
                        r.camera_intrinsic
                    ),
                ));
            }
        }
        for r in &self.ego_pose.rows {
            if !r.rotation.is_valid() {
                return Err(c.invalid(r, "rotation is not a rotation quaternion".into()));
            }
        }
        for r in &self.map.rows {
            for l in &r.log_tokens {
                c.check(r, "log_tokens", l, &self.log, false)?;
            }
        }
        Ok(())
    }

    fn build_reverse_index(&mut self) {
        for (i, ann) in self.sample_annotation.rows.iter().enumerate() {
            self.sample_anns
                .entry(ann.sample_token.clone())
                .or_default()
                .push(i);
        }
        for (i, sd) in self.sample_data.rows.iter().enumerate() {
            if sd.is_key_frame {
                let channel = self.channel_of(sd).to_string();
                self.sample_keyframes
                    .entry(sd.sample_token.clone())
                    .or_default()
                    .insert(channel, i);
            }
        }
    }

    /// The sensor channel (`CAM_FRONT`, …) a sample_data row was recorded on.
    pub fn channel_of(&self, sd: &SampleData) -> &str {
        self.calibrated_sensor
            .get(&sd.calibrated_sensor_token)
            .and_then(|cs| self.sensor.get(&cs.sensor_token))
            .map_or("", |s| s.channel.as_str())
    }

    /// The annotations of a sample, in table order.
    pub fn sample_annotations(
        &self,
        sample_token: &str,
    ) -> impl Iterator<Item = &SampleAnnotation> {
        self.sample_anns
            .get(sample_token)
            .into_iter()
            .flatten()
            .map(|&i| &self.sample_annotation.rows[i])
    }

    /// The keyframe sample_data of `sample_token` on `channel`.
    pub fn keyframe_data(&self, sample_token: &str, channel: &str) -> Option<&SampleData> {
        let i = *self.sample_keyframes.get(sample_token)?.get(channel)?;
        Some(&self.sample_data.rows[i])
    }

    pub fn scene_by_name(&self, name: &str) -> Result<&Scene, NuScenesError> {
        self.scene
            .rows
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| NuScenesError::SceneNotFound {
                name: name.to_string(),
                version: self.version.clone(),
                available: self
                    .scene
                    .rows
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// The category of an annotation (its instance's; both are checked at load).
    pub fn category_of(&self, ann: &SampleAnnotation) -> Option<&Category> {
        let instance = self.instance.get(&ann.instance_token)?;
        self.category.get(&instance.category_token)
    }
}

fn intrinsic_is_valid(k: &[Vec<f64>]) -> bool {
    k.len() == 3
        && k.iter()
            .all(|r| r.len() == 3 && r.iter().all(|v| v.is_finite()))
        && k[0][0] != 0.0
        && k[1][1] != 0.0
        && k[2] == [0.0, 0.0, 1.0]
}
