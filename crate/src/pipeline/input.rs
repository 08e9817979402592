//! What a run labels: a clip, its ground truth when it has one, and how to
//! describe it. Every kind of clip — a nuScenes scene (from a directory or
//! from files in memory), the embedded demo scene, a frame folder, an MP4 —
//! becomes an [`Input`] here, so the CLI and the page open clips the same way.

use crate::data::classes::ClassMap;
use crate::data::clip::{Clip, ClipError};
use crate::data::mp4::VideoFrames;
use crate::data::nuscenes::{DataSource, GroundTruthError, MemorySource, NuScenes, NuScenesError};
use crate::data::synthetic::{SceneConfig, SceneError, SyntheticScene};
use crate::eval::data::GroundTruth;

/// A clip ready to label.
pub struct Input {
    pub clip: Clip,
    /// Projected ground truth of its keyframes (`image_id` = clip index).
    pub truth: Option<GroundTruth>,
    /// For people: `"nuScenes scene-0061 (CAM_FRONT, v1.0-mini)"`.
    pub description: String,
    /// What identifies the input in a run's settings (stable across runs).
    pub identity: String,
}

/// A clip that cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error(transparent)]
    Clip(#[from] ClipError),
    #[error(transparent)]
    NuScenes(#[from] NuScenesError),
    #[error(transparent)]
    GroundTruth(#[from] GroundTruthError),
    #[error("the demo scene: {0}")]
    Scene(#[from] SceneError),
}

impl Input {
    /// A nuScenes scene's camera chain (its first `max_frames`, all without)
    /// read through `source`, with the ground truth of its keyframes mapped
    /// by `classes`.
    pub fn nuscenes(
        db: &NuScenes,
        source: Box<dyn DataSource>,
        scene: &str,
        channel: &str,
        max_frames: Option<usize>,
        classes: &ClassMap,
    ) -> Result<Self, InputError> {
        let clip = Clip::nuscenes(db, source, scene, channel, max_frames)?;
        let frames = db.camera_frames(scene, channel, max_frames)?;
        let keyframes = db.ground_truth(&frames, classes)?;
        Ok(Input {
            clip,
            truth: Some(GroundTruth::from_nuscenes(&frames, &keyframes, classes)),
            description: format!("nuScenes {scene} ({channel}, {})", db.version),
            identity: format!("nuscenes:{}:{scene}:{channel}", db.version),
        })
    }

    /// The synthetic demo scene, rendered frame by frame, with its ground
    /// truth.
    pub fn demo(config: &SceneConfig, classes: &ClassMap) -> Result<Self, InputError> {
        let scene = SyntheticScene::generate(config);
        let mut metadata = MemorySource::default();
        for (path, bytes) in scene.metadata_files()? {
            metadata.insert(&path, bytes);
        }
        let db = NuScenes::load(&metadata, &config.version)?;
        let channel = crate::data::nuscenes::DEFAULT_CHANNEL;
        let frames = db.camera_frames(&config.name, channel, None)?;
        let keyframes = db.ground_truth(&frames, classes)?;
        let truth = GroundTruth::from_nuscenes(&frames, &keyframes, classes);
        Ok(Input {
            description: format!(
                "the demo scene ({} frames at {}×{}, seed {})",
                config.frames, config.width, config.height, config.seed
            ),
            identity: format!(
                "demo:{}:{}:{}x{}",
                config.seed, config.frames, config.width, config.height
            ),
            clip: Clip::demo(scene),
            truth: Some(truth),
        })
    }

    /// A frame folder (stamped at `fps`) or an MP4 file, without ground truth.
    #[cfg(feature = "native")]
    pub fn path(path: &std::path::Path, fps: f64) -> Result<Self, InputError> {
        let name = path.display().to_string();
        if path.is_dir() {
            Ok(Self::without_truth(
                Clip::folder(path, fps)?,
                "frame folder",
                &name,
            ))
        } else {
            Ok(Self::without_truth(Clip::video(path)?, "video", &name))
        }
    }

    /// The JPG/PNG files `names` of folder `folder`, read through `source`
    /// (the page's dropped files) as [`Clip::image_files`] orders and stamps
    /// them, without ground truth: the same clip `autolabel run --clip`
    /// makes of that folder.
    pub fn image_files(
        source: Box<dyn DataSource>,
        folder: &str,
        names: Vec<String>,
        fps: f64,
    ) -> Result<Self, InputError> {
        let clip = Clip::image_files(source, names, fps)?;
        Ok(Self::without_truth(clip, "frame folder", folder))
    }

    /// The frames of a video (its first `max_frames`, all without), decoded
    /// by `video` (OpenH264 natively, the browser's decoder in the page),
    /// without ground truth: named by its file, as `autolabel run --clip
    /// VIDEO` names it.
    pub fn video(video: Box<dyn VideoFrames>, max_frames: Option<usize>) -> Self {
        let name = video.track().path().display().to_string();
        let clip = Clip::of_video(video, max_frames);
        Self::without_truth(clip, "video", &name)
    }

    fn without_truth(clip: Clip, kind: &str, name: &str) -> Self {
        Input {
            description: format!("{kind} {name} ({} frames)", clip.len()),
            identity: format!("{kind}:{name}"),
            clip,
            truth: None,
        }
    }
}
