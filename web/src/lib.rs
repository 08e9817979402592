//! autolabel-web: the JS-facing types the page's worker (`web/worker.js`) calls.
//!
//! Thin by design: every value comes from the core crate (`autolabel`); this
//! crate only owns data between calls and converts to what JS wants (plain
//! objects, RGBA pixels). A dropped image file is decoded by the core's
//! decoder ([`decode_image_file`]), completely or not at all, and the error
//! names the file and why (the browser's decoder names neither, and may show
//! a cut JPEG's missing rows as grey). It compiles natively too, so the
//! native halves (`build`, `open`, `scene_clip`, …) are tested with `cargo
//! test`.
//!
//! Every clip reaches JS in one shape, [`ClipView`]:
//! `{name, width, height, frames: [FrameInfo], groundTruth: [KeyframeGt]}`, where
//! a frame is `{index, timestamp_us, name, is_key_frame}` and a keyframe's ground
//! truth is matched to its frame by `image == name`.

use autolabel::data::classes::ClassMap;
use autolabel::data::clip::{Clip, ClipError, FrameInfo};
use autolabel::data::image_file::decode_rgb;
use autolabel::data::nuscenes::tables::TABLE_NAMES;
use autolabel::data::nuscenes::{
    DEFAULT_CHANNEL, DataSource, KeyframeGt, MemorySource, NuScenes, ReadError,
};
use autolabel::data::synthetic::{SceneConfig, SyntheticScene};
use serde::Serialize;
use wasm_bindgen::prelude::*;

pub mod batch;
pub mod checkpoint;
pub mod detector;
#[cfg(target_arch = "wasm32")]
pub mod page_files;
pub mod pipeline;
pub mod pixels;
pub mod sam2;
#[cfg(target_arch = "wasm32")]
pub mod video;

/// Routes Rust panics to `console.error` with their message, once per instance.
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

/// The threaded build's pool: `initThreadPool(n)` starts `n` web workers that
/// share this instance's memory. The worker calls it before anything else, as
/// rayon's pool can be built only once.
#[cfg(all(target_arch = "wasm32", target_feature = "atomics"))]
pub use wasm_bindgen_rayon::init_thread_pool;

/// A copy of a safetensors checkpoint with its F32 tensors stored as F16:
/// what the page keeps in the browser cache when asked to save space.
#[wasm_bindgen(js_name = halfPrecisionCopy)]
pub fn half_precision_copy(bytes: &[u8]) -> Result<Vec<u8>, JsError> {
    autolabel::models::checkpoint::half_precision_copy(bytes).map_err(|e| JsError::new(&e))
}

/// How many threads the CPU backend runs on: the pool's size in the threaded
/// build, 1 in the default wasm build.
#[wasm_bindgen(js_name = cpuThreads)]
pub fn cpu_threads() -> usize {
    rayon::current_num_threads()
}

/// A clip as the page shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClipView {
    pub name: String,
    /// Frame size in pixels, `None` when only decoding a frame tells (image folders).
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub frames: Vec<FrameInfo>,
    /// One entry per annotated keyframe; empty when the clip has no ground truth.
    pub ground_truth: Vec<KeyframeGt>,
}

/// The frames of `scene` on `channel` and their ground truth.
fn nuscenes_clip(
    db: &NuScenes,
    scene: &str,
    channel: &str,
    max_frames: Option<usize>,
) -> Result<ClipView, String> {
    let frames = db
        .camera_frames(scene, channel, max_frames)
        .map_err(|e| e.to_string())?;
    let ground_truth = db
        .ground_truth(&frames, &ClassMap::nuscenes_default())
        .map_err(|e| e.to_string())?;
    let first = frames.first();
    Ok(ClipView {
        name: scene.to_string(),
        width: first.map(|f| f.width),
        height: first.map(|f| f.height),
        frames: FrameInfo::of_camera_chain(&frames),
        ground_truth,
    })
}

// ----------------------------------------------------------------- demo scene

/// The embedded synthetic demo scene: its clip and frames rendered on demand.
#[wasm_bindgen]
pub struct DemoScene {
    scene: SyntheticScene,
    clip: ClipView,
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
        let clip = nuscenes_clip(&db, &scene.config.name, DEFAULT_CHANNEL, None)?;
        Ok(DemoScene { scene, clip })
    }

    /// The scene as a clip.
    pub fn clip_view(&self) -> &ClipView {
        &self.clip
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

    /// The scene as a `ClipView` object.
    pub fn clip(&self) -> Result<JsValue, JsError> {
        to_js(&self.clip)
    }

    /// Renders frame `index` as RGBA bytes (`width × height × 4`), ready for `ImageData`.
    pub fn render(&self, index: usize) -> Result<Vec<u8>, JsError> {
        self.render_rgba(index).map_err(|e| JsError::new(&e))
    }
}

// ------------------------------------------------------------ nuScenes folder

/// The table files of one nuScenes version, collected from dropped files
/// before loading (`v1.0-mini/scene.json`, … — paths relative to the dataroot).
#[wasm_bindgen]
#[derive(Default)]
pub struct NuScenesFiles {
    pub(crate) source: MemorySource,
}

#[wasm_bindgen]
impl NuScenesFiles {
    #[wasm_bindgen(constructor)]
    pub fn new() -> NuScenesFiles {
        NuScenesFiles::default()
    }

    /// Adds one file's bytes under its dataroot-relative `path`.
    pub fn insert(&mut self, path: String, bytes: Vec<u8>) {
        self.source.insert(path, bytes);
    }
}

/// The table files (without `.json`) a `v1.0-*` directory must hold.
#[wasm_bindgen(js_name = nuscenesTableNames)]
pub fn nuscenes_table_names() -> Vec<String> {
    TABLE_NAMES.iter().map(|t| t.to_string()).collect()
}

/// A scene as the scene picker lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SceneSummary {
    pub name: String,
    pub description: String,
    pub nbr_samples: u32,
}

/// A loaded, validated nuScenes version. Holds the tables only: frame images
/// stay in the dropped files and are decoded by the browser when shown.
#[wasm_bindgen]
pub struct NuScenesDataset {
    db: NuScenes,
}

impl NuScenesDataset {
    /// Loads and validates `version` from files in memory; a missing or broken
    /// table is an error naming it.
    pub fn open(files: &MemorySource, version: &str) -> Result<Self, String> {
        let db = NuScenes::load(files, version).map_err(|e| e.to_string())?;
        Ok(NuScenesDataset { db })
    }

    /// The scenes, in table order.
    pub fn scene_list(&self) -> Vec<SceneSummary> {
        self.db
            .scene
            .rows
            .iter()
            .map(|s| SceneSummary {
                name: s.name.clone(),
                description: s.description.clone(),
                nbr_samples: s.nbr_samples,
            })
            .collect()
    }

    /// The camera channels of the sensor table, [`DEFAULT_CHANNEL`] first, then by name.
    pub fn camera_channels(&self) -> Vec<String> {
        let mut channels: Vec<String> = self
            .db
            .sensor
            .rows
            .iter()
            .filter(|s| s.modality == "camera")
            .map(|s| s.channel.clone())
            .collect();
        channels.sort_by_key(|c| (c != DEFAULT_CHANNEL, c.clone()));
        channels.dedup();
        channels
    }

    /// The frames of `scene` on `channel` (at most `max_frames`) with their ground truth.
    pub fn scene_clip(
        &self,
        scene: &str,
        channel: &str,
        max_frames: Option<usize>,
    ) -> Result<ClipView, String> {
        nuscenes_clip(&self.db, scene, channel, max_frames)
    }
}

#[wasm_bindgen]
impl NuScenesDataset {
    /// Loads `version` from the collected table files (consumed: their bytes are
    /// freed once parsed).
    pub fn load(files: NuScenesFiles, version: &str) -> Result<NuScenesDataset, JsError> {
        Self::open(&files.source, version).map_err(|e| JsError::new(&e))
    }

    /// `[{name, description, nbrSamples}]`.
    pub fn scenes(&self) -> Result<JsValue, JsError> {
        to_js(&self.scene_list())
    }

    /// The camera channels, `CAM_FRONT` first.
    pub fn cameras(&self) -> Vec<String> {
        self.camera_channels()
    }

    /// A scene's camera frames and ground truth as a `ClipView` object.
    pub fn clip(
        &self,
        scene: &str,
        channel: &str,
        max_frames: Option<u32>,
    ) -> Result<JsValue, JsError> {
        let clip = self
            .scene_clip(scene, channel, max_frames.map(|n| n as usize))
            .map_err(|e| JsError::new(&e))?;
        to_js(&clip)
    }
}

// ------------------------------------------------------------- image folders

/// A folder listing: names only, no bytes (the browser decodes the frames).
struct Listing {
    folder: String,
}

impl DataSource for Listing {
    fn read(&self, path: &str) -> Result<Vec<u8>, ReadError> {
        Err(ReadError {
            location: self.locate(path),
            message: "frames of a dropped folder are decoded by the browser, not read into wasm"
                .into(),
        })
    }

    fn locate(&self, path: &str) -> String {
        if path.is_empty() {
            format!("folder '{}'", self.folder)
        } else {
            format!("{}/{path}", self.folder)
        }
    }
}

/// The frames of an image folder: its JPG/PNG `names` in natural order
/// (`frame_2` before `frame_10`), stamped at `fps`, at most `max_frames`.
pub fn folder_frames(
    folder: &str,
    names: Vec<String>,
    fps: f64,
    max_frames: Option<usize>,
) -> Result<Vec<FrameInfo>, String> {
    let listing = Listing {
        folder: folder.to_string(),
    };
    let clip = Clip::image_files(Box::new(listing), names, fps).map_err(|e| e.to_string())?;
    let mut frames = clip.infos().to_vec();
    frames.truncate(max_frames.unwrap_or(usize::MAX));
    Ok(frames)
}

/// `folder_frames` for JS: an array of `FrameInfo` objects.
#[wasm_bindgen(js_name = folderFrames)]
pub fn folder_frames_js(
    folder: &str,
    names: Vec<String>,
    fps: f64,
    max_frames: Option<u32>,
) -> Result<JsValue, JsError> {
    let frames = folder_frames(folder, names, fps, max_frames.map(|n| n as usize))
        .map_err(|e| JsError::new(&e))?;
    to_js(&frames)
}

// ---------------------------------------------------------------- image files

/// A JPG/PNG file decoded by the core (`autolabel::data::image_file`), as
/// RGBA (`width × height × 4`, opaque); a truncated or corrupt file is an
/// error naming `name`, worded as the core's clips word it.
pub fn decode_image_file(name: &str, bytes: &[u8]) -> Result<(u32, u32, Vec<u8>), String> {
    let rgb = decode_rgb(bytes).map_err(|e| {
        ClipError::Decode {
            location: name.to_string(),
            message: e.to_string(),
        }
        .to_string()
    })?;
    let (width, height) = rgb.dimensions();
    let rgba = rgb
        .into_raw()
        .chunks_exact(3)
        .flat_map(|p| [p[0], p[1], p[2], 255])
        .collect();
    Ok((width, height, rgba))
}

/// `decode_image_file` for JS: `{width, height, rgba: Uint8Array}`.
#[wasm_bindgen(js_name = decodeImageFile)]
pub fn decode_image_file_js(name: &str, bytes: &[u8]) -> Result<JsValue, JsError> {
    let (width, height, rgba) = decode_image_file(name, bytes).map_err(|e| JsError::new(&e))?;
    let out = js_sys::Object::new();
    let set = |key: &str, value: JsValue| js_sys::Reflect::set(&out, &key.into(), &value);
    set("width", width.into())
        .and_then(|_| set("height", height.into()))
        .and_then(|_| set("rgba", js_sys::Uint8Array::from(rgba.as_slice()).into()))
        .map_err(|_| JsError::new("decodeImageFile: no object"))?;
    Ok(out.into())
}

// -------------------------------------------------------------------- helpers

/// Calls a JS `progress(done, total)`; its exceptions are ignored (progress is advisory).
fn js_progress(f: &js_sys::Function) -> impl FnMut(usize, usize) + '_ {
    move |done, total| {
        let _ = f.call2(&JsValue::NULL, &JsValue::from(done), &JsValue::from(total));
    }
}

/// An error for JS, with `e`'s message.
#[cfg(target_arch = "wasm32")]
pub(crate) fn js_error(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

/// Serialises like JSON: `None` → `null`, maps → plain objects.
pub(crate) fn to_js<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, JsError> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| JsError::new(&e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small_scene_tables() -> MemorySource {
        let scene = SyntheticScene::generate(&SceneConfig::small(7, 160, 90));
        let mut files = MemorySource::default();
        for (name, bytes) in scene.tables.to_json() {
            files.insert(format!("{}/{name}.json", scene.config.version), bytes);
        }
        files
    }

    #[test]
    fn small_scene_has_frames_ground_truth_and_pixels() {
        let config = SceneConfig::small(7, 160, 90);
        let mut calls = Vec::new();
        let demo = DemoScene::build(&config, |done, total| calls.push((done, total)))
            .expect("scene builds");
        assert_eq!(calls, [(1, 2), (2, 2)]);
        let clip = demo.clip_view();
        assert_eq!((clip.width, clip.height), (Some(160), Some(90)));
        assert_eq!(clip.frames.len(), 7);
        assert!(clip.frames[0].is_key_frame);
        assert!(!clip.frames[1].is_key_frame);
        assert_eq!(clip.ground_truth.len(), 2);
        assert_eq!(clip.ground_truth[0].image, clip.frames[0].name);
        let rgba = demo.render_rgba(0).expect("frame 0 renders");
        assert_eq!(rgba.len(), 160 * 90 * 4);
        assert!(rgba.chunks_exact(4).all(|p| p[3] == 255));
        assert!(demo.render_rgba(7).is_err());
    }

    #[test]
    fn dataset_lists_scenes_and_cameras_and_opens_a_scene() {
        let dataset = NuScenesDataset::open(&small_scene_tables(), "v1.0-mini").expect("loads");
        let scenes = dataset.scene_list();
        assert_eq!(scenes.len(), 1);
        assert_eq!(scenes[0].name, "scene-demo");
        assert_eq!(dataset.camera_channels(), ["CAM_FRONT"]);
        let clip = dataset
            .scene_clip("scene-demo", "CAM_FRONT", Some(5))
            .expect("scene opens");
        assert_eq!(clip.frames.len(), 5);
        assert_eq!(clip.ground_truth.len(), 1);
        assert!(clip.frames[0].name.starts_with("samples/CAM_FRONT/"));
        let err = dataset
            .scene_clip("scene-nope", "CAM_FRONT", None)
            .unwrap_err();
        assert!(err.contains("scene-demo"), "{err}");
    }

    #[test]
    fn dataset_missing_a_table_names_it() {
        let mut files = small_scene_tables();
        files.files.remove("v1.0-mini/sample_data.json");
        let err = NuScenesDataset::open(&files, "v1.0-mini")
            .err()
            .expect("a missing table fails the load");
        assert!(err.contains("'sample_data'"), "{err}");
        assert!(err.contains("v1.0-mini/sample_data.json"), "{err}");
    }

    fn jpeg(width: u32, height: u32) -> Vec<u8> {
        let rgb = image::RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([(x * 7) as u8, (y * 5) as u8, 90])
        });
        let mut out = std::io::Cursor::new(Vec::new());
        rgb.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
        out.into_inner()
    }

    #[test]
    fn image_files_decode_completely_or_name_the_file() {
        let bytes = jpeg(32, 24);
        let (w, h, rgba) = decode_image_file("a.jpg", &bytes).expect("a whole JPEG decodes");
        assert_eq!((w, h, rgba.len()), (32, 24, 32 * 24 * 4));
        assert!(rgba.chunks_exact(4).all(|p| p[3] == 255));
        let err = decode_image_file("frame_2.jpg", &bytes[..bytes.len() / 2]).unwrap_err();
        assert!(
            err.starts_with("frame_2.jpg: cannot decode image: JPEG is truncated"),
            "{err}"
        );
    }

    #[test]
    fn folder_frames_are_images_in_natural_order() {
        let names = ["f10.png", "notes.txt", "f2.jpg", "f1.PNG"].map(String::from);
        let frames = folder_frames("clip", names.to_vec(), 4.0, None).expect("has frames");
        let order: Vec<&str> = frames.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(order, ["f1.PNG", "f2.jpg", "f10.png"]);
        assert_eq!(frames[2].timestamp_us, 500_000);
        let first_two = folder_frames("clip", names.to_vec(), 4.0, Some(2)).expect("has frames");
        assert_eq!(first_two.len(), 2);
        let err = folder_frames("clip", vec!["a.txt".into()], 4.0, None).unwrap_err();
        assert_eq!(err, "folder 'clip': no JPG or PNG frames found");
    }
}
