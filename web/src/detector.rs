//! The page's Detect panel model: Grounding DINO or OWLv2, as the checkpoint's
//! `config.json` names it, from bytes the worker fetched or the user
//! dropped, then `detect` on any frame with a class-list prompt. On WebGPU
//! the readback is asynchronous (a synchronous one cannot complete in a
//! browser), so `detect` returns a promise.
//!
//! The detection is the core's `DetectorModel::detect_prompt` (Grounding
//! DINO reads the phrases as one caption, OWLv2 as one query each, both
//! proved against transformers) — the very report `autolabel detect
//! --prompt` prints; this file only converts.

use autolabel::models::BackendKind;
use autolabel::models::grounding_dino::GroundingDinoConfig;
use autolabel::models::owlv2::Owlv2Config;
use autolabel::pipeline::detect::DetectorModel;
use serde::Serialize;

/// What the page shows about a loaded model.
#[derive(Debug, Serialize)]
pub struct ModelInfo {
    /// `grounding-dino` or `owlv2`, as `config.json` names it.
    pub model_type: &'static str,
    /// The published checkpoint the config matches (`grounding-dino-tiny`,
    /// `grounding-dino-base`, `owlv2-base-patch16`, `owlv2-large-patch14`)
    /// or `custom`.
    pub variant: &'static str,
    pub backend: &'static str,
    /// The most boxes one image can get: Grounding DINO's object queries,
    /// OWLv2's patches.
    pub num_queries: usize,
    /// The most tokens of the caption (Grounding DINO, `[CLS]` and `[SEP]`
    /// included) or of each query (OWLv2).
    pub max_text_len: usize,
}

impl ModelInfo {
    pub fn new(model: &DetectorModel, backend: BackendKind) -> Self {
        let backend = match backend {
            BackendKind::Cpu => "cpu",
            BackendKind::Wgpu => "webgpu",
        };
        match model {
            DetectorModel::GroundingDino(d) => Self::grounding_dino(d.model().config(), backend),
            DetectorModel::Owlv2(d) => Self::owlv2(d.model().config(), backend),
        }
    }

    fn grounding_dino(config: &GroundingDinoConfig, backend: &'static str) -> Self {
        let variant = if *config == GroundingDinoConfig::tiny() {
            "grounding-dino-tiny"
        } else if *config == GroundingDinoConfig::base() {
            "grounding-dino-base"
        } else {
            "custom"
        };
        ModelInfo {
            model_type: "grounding-dino",
            variant,
            backend,
            num_queries: config.num_queries,
            max_text_len: config.max_text_len,
        }
    }

    fn owlv2(config: &Owlv2Config, backend: &'static str) -> Self {
        let variant = if *config == Owlv2Config::base_patch16() {
            "owlv2-base-patch16"
        } else if *config == Owlv2Config::large_patch14() {
            "owlv2-large-patch14"
        } else {
            "custom"
        };
        ModelInfo {
            model_type: "owlv2",
            variant,
            backend,
            num_queries: config.vision.grid().pow(2),
            max_text_len: config.text.max_position_embeddings,
        }
    }
}

#[cfg(target_arch = "wasm32")]
pub use session::DetectorSession;

#[cfg(target_arch = "wasm32")]
mod session {
    use std::rc::Rc;

    use autolabel::models::BackendKind;
    use autolabel::models::device::init_device_async;
    use autolabel::pipeline::detect::DetectorModel;
    use autolabel::pipeline::detect::prompted::PromptOptions;
    use js_sys::Promise;
    use wasm_bindgen::prelude::*;
    use wasm_bindgen_futures::future_to_promise;

    use super::ModelInfo;
    use crate::pixels::rgb_of_rgba;

    /// A loaded detector with its tokenizer.
    #[wasm_bindgen]
    pub struct DetectorSession {
        detector: Rc<DetectorModel>,
        info: ModelInfo,
    }

    fn js_error(e: impl std::fmt::Display) -> JsValue {
        crate::js_error(e).into()
    }

    #[wasm_bindgen]
    impl DetectorSession {
        /// Builds the model `config.json` names from its text and the
        /// `model.safetensors` bytes on `backend` (`"webgpu"` or `"cpu"`).
        pub async fn load(
            config_json: String,
            weights: Vec<u8>,
            backend: String,
        ) -> Result<DetectorSession, JsError> {
            let kind: BackendKind = backend.parse().map_err(|e: String| JsError::new(&e))?;
            let device = init_device_async(kind)
                .await
                .map_err(|e| JsError::new(&e))?;
            let detector = DetectorModel::from_bytes(&config_json, &weights, &device)
                .map_err(crate::js_error)?;
            let info = ModelInfo::new(&detector, kind);
            Ok(DetectorSession {
                detector: Rc::new(detector),
                info,
            })
        }

        /// `{model_type, variant, backend, num_queries, max_text_len}`.
        pub fn info(&self) -> Result<JsValue, JsError> {
            serde_wasm_bindgen::to_value(&self.info).map_err(crate::js_error)
        }

        /// Detects the prompt's phrases in an RGBA frame. Resolves to what
        /// `autolabel detect` prints: `{prompt, phrases, width, height,
        /// detections: [{box: [x0, y0, x1, y1], score, label}]}` (Grounding
        /// DINO: `prompt` normalised, `"car . truck ."`; OWLv2: `queries`
        /// instead), boxes in frame pixels. A threshold left out is the
        /// model's default; the text threshold is Grounding DINO's only;
        /// `nms` is an optional per-label NMS IoU.
        #[allow(clippy::too_many_arguments)]
        pub fn detect(
            &self,
            rgba: Vec<u8>,
            width: usize,
            height: usize,
            prompt: String,
            box_threshold: Option<f32>,
            text_threshold: Option<f32>,
            nms: Option<f32>,
        ) -> Promise {
            let detector = self.detector.clone();
            let options = PromptOptions {
                box_threshold,
                text_threshold,
                nms_iou: nms,
            };
            future_to_promise(async move {
                let rgb = rgb_of_rgba(&rgba, width, height).map_err(js_error)?;
                drop(rgba);
                let report = detector
                    .detect_prompt_async(&rgb, [width, height], &prompt, options)
                    .await
                    .map_err(js_error)?;
                serde_wasm_bindgen::to_value(&report).map_err(js_error)
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use autolabel::models::device::init_device;

    use super::*;

    fn fixture(name: &str) -> DetectorModel {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../models/fixtures")
            .join(name);
        let read = |f: &str| std::fs::read(dir.join(f)).unwrap();
        let config = String::from_utf8(read("config.json")).unwrap();
        let device = init_device(BackendKind::Cpu).unwrap();
        DetectorModel::from_bytes(&config, &read("model.safetensors"), &device).unwrap()
    }

    #[test]
    fn each_detector_says_what_it_is() {
        let gd = ModelInfo::new(&fixture("grounding-dino-tiny"), BackendKind::Wgpu);
        assert_eq!(
            (gd.model_type, gd.variant, gd.backend),
            ("grounding-dino", "custom", "webgpu")
        );
        let owl = ModelInfo::new(&fixture("owlv2-tiny"), BackendKind::Cpu);
        assert_eq!(
            (owl.model_type, owl.variant, owl.backend),
            ("owlv2", "custom", "cpu")
        );
        let patches = owl.num_queries;
        assert!(
            patches > 0 && (patches as f64).sqrt().fract() == 0.0,
            "a square grid: {patches}"
        );
    }

    #[test]
    fn published_configs_are_named() {
        let base = ModelInfo::grounding_dino(&GroundingDinoConfig::base(), "webgpu");
        assert_eq!(base.variant, "grounding-dino-base");
        let tiny = ModelInfo::grounding_dino(&GroundingDinoConfig::tiny(), "cpu");
        assert_eq!(
            (tiny.variant, tiny.num_queries),
            ("grounding-dino-tiny", 900)
        );
        let other = GroundingDinoConfig {
            num_queries: 30,
            ..GroundingDinoConfig::tiny()
        };
        assert_eq!(ModelInfo::grounding_dino(&other, "cpu").variant, "custom");
        let owl = ModelInfo::owlv2(&Owlv2Config::base_patch16(), "cpu");
        assert_eq!(
            (owl.variant, owl.num_queries, owl.max_text_len),
            ("owlv2-base-patch16", 3600, 16)
        );
    }
}
