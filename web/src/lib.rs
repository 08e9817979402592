//! autolabel-web: the JS-facing types the page's worker (`web/worker.js`) calls.
//!
//! Thin by design: every value comes from the core crate (`autolabel`); this
//! crate only owns the scene between calls and converts to what JS wants
//! (plain objects, RGBA pixels). It compiles natively too, so the native part
//! ([`DemoScene::build`], [`DemoScene::render_rgba`]) is tested with `cargo test`.

use autolabel::data::classes::ClassMap;
use autolabel::data::nuscenes::{CameraFrame, DEFAULT_CHANNEL, KeyframeGt, MemorySource, NuScenes};
use autolabel::data::synthetic::{SceneConfig, SyntheticScene};
use serde::Serialize;
use wasm_bindgen::prelude::*;

/// Routes Rust panics to `console.error` with their message, once per instance.
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

/// The embedded synthetic demo scene: its camera frames, their 2D ground truth,
/// and frames rendered on demand.
#[wasm_bindgen]
pub struct DemoScene {
    scene: SyntheticScene,
    frames: Vec<CameraFrame>,
    ground_truth: Vec<KeyframeGt>,
}

impl DemoScene {
    /// Generates the scene for `config` and loads its tables back through the
    /// nuScenes loader, exactly as a dataset on disk would be read.
    pub fn build(config: &SceneConfig, progress: impl FnMut(usize, usize)) -> Result<Self, String> {
        let scene = SyntheticScene::generate_with_progress(config, progress);
        let mut source = MemorySource::default();
        for (name, bytes) in scene.tables.to_json() {
            source.insert(format!("{}/{name}.json", scene.config.version), bytes);
        }
        let db = NuScenes::load(&source, &scene.config.version).map_err(|e| e.to_string())?;
        let frames = db
            .camera_frames(&scene.config.name, DEFAULT_CHANNEL, None)
            .map_err(|e| e.to_string())?;
        let ground_truth = db
            .ground_truth(&frames, &ClassMap::nuscenes_default())
            .map_err(|e| e.to_string())?;
        Ok(DemoScene {
            scene,
            frames,
            ground_truth,
        })
    }

    /// The camera frames in time order.
    pub fn camera_frames(&self) -> &[CameraFrame] {
        &self.frames
    }

    /// The ground truth of every keyframe.
    pub fn keyframe_ground_truth(&self) -> &[KeyframeGt] {
        &self.ground_truth
    }

    /// Frame `index` as RGBA bytes, row-major, `width × height × 4`.
    pub fn render_rgba(&self, index: usize) -> Result<Vec<u8>, String> {
        let rgb = self.scene.frame_rgb(index).ok_or_else(|| {
            format!(
                "frame {index} out of range: the scene has {} frames",
                self.scene.len()
            )
        })?;
        Ok(rgb
            .into_raw()
            .chunks_exact(3)
            .flat_map(|p| [p[0], p[1], p[2], 255])
            .collect())
    }
}

#[wasm_bindgen]
impl DemoScene {
    /// The embedded demo (120 frames, 1600×900). Slow: it lays out the world
    /// and simulates a lidar sweep per keyframe; call it off the main thread.
    /// `progress(done, total)` is called after each keyframe is annotated.
    pub fn generate(progress: &js_sys::Function) -> Result<DemoScene, JsError> {
        Self::build(&SceneConfig::demo(), js_progress(progress)).map_err(|e| JsError::new(&e))
    }

    /// A smaller variant of the demo (same world): `frames` frames of `width × height`.
    pub fn small(
        frames: usize,
        width: u32,
        height: u32,
        progress: &js_sys::Function,
    ) -> Result<DemoScene, JsError> {
        Self::build(
            &SceneConfig::small(frames, width, height),
            js_progress(progress),
        )
        .map_err(|e| JsError::new(&e))
    }

    /// Number of camera frames.
    pub fn len(&self) -> usize {
        self.scene.len()
    }

    /// Whether the scene has no frames.
    #[wasm_bindgen(js_name = isEmpty)]
    pub fn is_empty(&self) -> bool {
        self.scene.is_empty()
    }

    /// Frame width in pixels.
    #[wasm_bindgen(getter)]
    pub fn width(&self) -> u32 {
        self.scene.config.width
    }

    /// Frame height in pixels.
    #[wasm_bindgen(getter)]
    pub fn height(&self) -> u32 {
        self.scene.config.height
    }

    /// The scene's name (`scene.json`).
    #[wasm_bindgen(getter)]
    pub fn name(&self) -> String {
        self.scene.config.name.clone()
    }

    /// The camera frames: an array of `CameraFrame` objects
    /// (`{sample_data_token, sample_token, timestamp, image, is_key_frame, width, height}`).
    pub fn frames(&self) -> Result<JsValue, JsError> {
        to_js(&self.frames)
    }

    /// The keyframes' ground truth: an array of `KeyframeGt` objects
    /// (`{sample_token, timestamp, image, annotations: [{…, class, box, visibility, …}]}`).
    #[wasm_bindgen(js_name = groundTruth)]
    pub fn ground_truth(&self) -> Result<JsValue, JsError> {
        to_js(&self.ground_truth)
    }

    /// Renders frame `index` as RGBA bytes (`width × height × 4`), ready for `ImageData`.
    pub fn render(&self, index: usize) -> Result<Vec<u8>, JsError> {
        self.render_rgba(index).map_err(|e| JsError::new(&e))
    }
}

/// Calls a JS `progress(done, total)`; its exceptions are ignored (progress is advisory).
fn js_progress(f: &js_sys::Function) -> impl FnMut(usize, usize) + '_ {
    move |done, total| {
        let _ = f.call2(&JsValue::NULL, &JsValue::from(done), &JsValue::from(total));
    }
}

/// Serialises like JSON: `None` → `null`, maps → plain objects.
fn to_js<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, JsError> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| JsError::new(&e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_scene_has_frames_ground_truth_and_pixels() {
        let config = SceneConfig::small(7, 160, 90);
        let mut calls = Vec::new();
        let demo = DemoScene::build(&config, |done, total| calls.push((done, total)))
            .expect("scene builds");
        assert_eq!(calls, [(1, 2), (2, 2)]);
        assert_eq!(demo.len(), 7);
        assert_eq!(demo.camera_frames().len(), 7);
        assert!(demo.camera_frames()[0].is_key_frame);
        assert!(!demo.camera_frames()[1].is_key_frame);
        assert_eq!(demo.keyframe_ground_truth().len(), 2);
        let rgba = demo.render_rgba(0).expect("frame 0 renders");
        assert_eq!(rgba.len(), 160 * 90 * 4);
        assert!(rgba.chunks_exact(4).all(|p| p[3] == 255));
        assert!(demo.render_rgba(7).is_err());
    }
}
