//! The page's Grounding DINO detector: weights from bytes the worker fetched
//! or the user dropped, then `detect` on any frame with a class-list prompt.
//! On WebGPU the readback is asynchronous (a synchronous one cannot complete
//! in a browser), so `detect` returns a promise.
//!
//! The arithmetic, the prompt normalisation and the JSON are the core's
//! `autolabel::models::grounding_dino::Detector` (a port of transformers'
//! `GroundingDinoForObjectDetection`, proved against it) — the very report
//! `autolabel detect` prints; this file only converts.

use autolabel::models::BackendKind;
use autolabel::models::grounding_dino::GroundingDinoConfig;
use serde::Serialize;

/// What the page shows about a loaded model.
#[derive(Debug, Serialize)]
pub struct ModelInfo {
    /// The published checkpoint the config matches (`grounding-dino-tiny`,
    /// `grounding-dino-base`) or `custom`.
    pub variant: &'static str,
    pub backend: &'static str,
    /// Object queries, i.e. the most boxes one image can get.
    pub num_queries: usize,
    /// The most prompt tokens, `[CLS]` and `[SEP]` included.
    pub max_text_len: usize,
}

impl ModelInfo {
    pub fn new(config: &GroundingDinoConfig, backend: BackendKind) -> Self {
        let variant = if *config == GroundingDinoConfig::tiny() {
            "grounding-dino-tiny"
        } else if *config == GroundingDinoConfig::base() {
            "grounding-dino-base"
        } else {
            "custom"
        };
        ModelInfo {
            variant,
            backend: match backend {
                BackendKind::Cpu => "cpu",
                BackendKind::Wgpu => "webgpu",
            },
            num_queries: config.num_queries,
            max_text_len: config.max_text_len,
        }
    }
}

#[cfg(target_arch = "wasm32")]
pub use session::GroundingDinoSession;

#[cfg(target_arch = "wasm32")]
mod session {
    use std::rc::Rc;

    use autolabel::models::BackendKind;
    use autolabel::models::device::init_device_async;
    use autolabel::models::grounding_dino::{DetectOptions, Detector, Thresholds};
    use js_sys::Promise;
    use wasm_bindgen::prelude::*;
    use wasm_bindgen_futures::future_to_promise;

    use super::ModelInfo;
    use crate::pixels::rgb_of_rgba;

    /// A loaded Grounding DINO model with its tokenizer.
    #[wasm_bindgen]
    pub struct GroundingDinoSession {
        detector: Rc<Detector>,
        info: ModelInfo,
    }

    fn js_error(e: impl std::fmt::Display) -> JsValue {
        JsError::new(&e.to_string()).into()
    }

    #[wasm_bindgen]
    impl GroundingDinoSession {
        /// Builds the model from `config.json` text and `model.safetensors`
        /// bytes on `backend` (`"webgpu"` or `"cpu"`).
        pub async fn load(
            config_json: String,
            weights: Vec<u8>,
            backend: String,
        ) -> Result<GroundingDinoSession, JsError> {
            let kind: BackendKind = backend.parse().map_err(|e: String| JsError::new(&e))?;
            let device = init_device_async(kind)
                .await
                .map_err(|e| JsError::new(&e))?;
            let detector = Detector::from_bytes(&config_json, &weights, &device)
                .map_err(|e| JsError::new(&e.to_string()))?;
            let info = ModelInfo::new(detector.model().config(), kind);
            Ok(GroundingDinoSession {
                detector: Rc::new(detector),
                info,
            })
        }

        /// `{variant, backend, num_queries, max_text_len}`.
        pub fn info(&self) -> Result<JsValue, JsError> {
            serde_wasm_bindgen::to_value(&self.info).map_err(|e| JsError::new(&e.to_string()))
        }

        /// Detects the prompt's phrases in an RGBA frame. Resolves to what
        /// `autolabel detect` prints: `{prompt, phrases, width, height,
        /// detections: [{box: [x0, y0, x1, y1], score, label}]}`, `prompt`
        /// normalised (`"car . truck ."`), boxes in frame pixels; `nms` is an
        /// optional per-label NMS IoU.
        #[allow(clippy::too_many_arguments)]
        pub fn detect(
            &self,
            rgba: Vec<u8>,
            width: usize,
            height: usize,
            prompt: String,
            box_threshold: f32,
            text_threshold: f32,
            nms: Option<f32>,
        ) -> Promise {
            let detector = self.detector.clone();
            let options = DetectOptions {
                thresholds: Thresholds {
                    box_threshold,
                    text_threshold,
                },
                nms_iou: nms,
            };
            future_to_promise(async move {
                let rgb = rgb_of_rgba(&rgba, width, height).map_err(js_error)?;
                drop(rgba);
                let report = detector
                    .detect_async(&rgb, width, height, &prompt, options)
                    .await
                    .map_err(js_error)?;
                serde_wasm_bindgen::to_value(&report).map_err(js_error)
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_configs_are_named() {
        let info = ModelInfo::new(&GroundingDinoConfig::base(), BackendKind::Wgpu);
        assert_eq!(info.variant, "grounding-dino-base");
        assert_eq!(info.backend, "webgpu");
        let tiny = ModelInfo::new(&GroundingDinoConfig::tiny(), BackendKind::Cpu);
        assert_eq!((tiny.variant, tiny.backend), ("grounding-dino-tiny", "cpu"));
        assert_eq!(tiny.num_queries, 900);
        let other = GroundingDinoConfig {
            num_queries: 30,
            ..GroundingDinoConfig::tiny()
        };
        assert_eq!(ModelInfo::new(&other, BackendKind::Cpu).variant, "custom");
    }
}
