//! The page's SAM 2 image predictor: weights from bytes the worker fetched or
//! the user dropped, `setImage` once per frame, then many cheap `predict`
//! calls. On WebGPU every readback is asynchronous (a synchronous one cannot
//! complete in a browser), so the JS methods return promises.
//!
//! The arithmetic is the core's `autolabel::models::sam2` (a port of
//! transformers' `Sam2Model`, proved against it); this file only converts.

use autolabel::labels::{self, Rle};
use autolabel::models::BackendKind;
use autolabel::models::sam2::{Prediction, Prompt, Sam2Config};
use serde::Serialize;

/// A prompt set from the page: `{points: [[x, y, label]], box: [x0, y0, x1, y1]}`
/// in frame pixels, as the core's [`labels::Prompt`], checked into the
/// model's prompt; a bad label is an error naming the set.
pub fn to_prompt(p: &labels::Prompt, index: usize) -> Result<Prompt, String> {
    Prompt::try_from(p).map_err(|e| format!("prompt {index}: {e}"))
}

/// One mask of a prediction: COCO RLE (as `autolabel segment` prints it)
/// and its predicted IoU. The pixels travel beside it as a `Uint8Array`.
#[derive(Debug, Serialize)]
pub struct MaskJs {
    pub rle: Rle,
    pub area: u64,
    pub score: f32,
    /// `[x0, y0, x1, y1]` of the mask's pixels (COCO `toBbox`, as corners).
    pub bbox: [f64; 4],
}

/// The answer to one prompt set.
#[derive(Debug, Serialize)]
pub struct PredictionJs {
    pub masks: Vec<MaskJs>,
    pub object_score: f32,
}

impl From<&Prediction> for PredictionJs {
    fn from(p: &Prediction) -> Self {
        let masks = p
            .masks
            .iter()
            .zip(&p.iou_scores)
            .map(|(m, &score)| {
                let rle = Rle::encode(m);
                MaskJs {
                    area: rle.area(),
                    bbox: rle.to_xyxy(),
                    rle,
                    score,
                }
            })
            .collect();
        PredictionJs {
            masks,
            object_score: p.object_score_logit,
        }
    }
}

/// What the page shows about a loaded model.
#[derive(Debug, Serialize)]
pub struct ModelInfo {
    /// The preset the config matches (`sam2.1-hiera-tiny`, …) or `custom`.
    pub variant: String,
    pub image_size: usize,
    pub backend: &'static str,
}

impl ModelInfo {
    pub fn new(config: &Sam2Config, backend: BackendKind) -> Self {
        let variant = ["tiny", "small", "base_plus", "large"]
            .into_iter()
            .find(|name| Sam2Config::preset(name).as_ref() == Some(config))
            .map(|name| format!("sam2.1-hiera-{}", name.replace('_', "-")))
            .unwrap_or_else(|| "custom".into());
        ModelInfo {
            variant,
            image_size: config.image_size(),
            backend: match backend {
                BackendKind::Cpu => "cpu",
                BackendKind::Wgpu => "webgpu",
            },
        }
    }
}

#[cfg(target_arch = "wasm32")]
pub use session::Sam2Session;

#[cfg(target_arch = "wasm32")]
mod session {
    use std::cell::RefCell;
    use std::rc::Rc;

    use autolabel::labels;
    use autolabel::models::BackendKind;
    use autolabel::models::device::init_device_async;
    use autolabel::models::sam2::{Prompt, Sam2Config, Sam2ImagePredictor, Sam2Model};
    use js_sys::{Array, Promise, Reflect, Uint8Array};
    use wasm_bindgen::prelude::*;
    use wasm_bindgen_futures::future_to_promise;

    use super::{ModelInfo, PredictionJs, to_prompt};
    use crate::pixels::rgb_of_rgba;

    /// A loaded SAM 2 model and the frame it has encoded.
    #[wasm_bindgen]
    pub struct Sam2Session {
        predictor: Rc<RefCell<Sam2ImagePredictor>>,
        info: ModelInfo,
    }

    fn js_error(e: impl std::fmt::Display) -> JsValue {
        crate::js_error(e).into()
    }

    #[wasm_bindgen]
    impl Sam2Session {
        /// Builds the model from `config.json` text and `model.safetensors`
        /// bytes on `backend` (`"webgpu"` or `"cpu"`).
        pub async fn load(
            config_json: String,
            weights: Vec<u8>,
            backend: String,
        ) -> Result<Sam2Session, JsError> {
            let kind: BackendKind = backend.parse().map_err(|e: String| JsError::new(&e))?;
            let device = init_device_async(kind)
                .await
                .map_err(|e| JsError::new(&e))?;
            let config = Sam2Config::from_json(&config_json)
                .map_err(|e| JsError::new(&format!("config.json: {e}")))?;
            let info = ModelInfo::new(&config, kind);
            let model = Sam2Model::from_safetensors(config, &weights, &device)
                .map_err(|e| JsError::new(&format!("model.safetensors: {e}")))?;
            Ok(Sam2Session {
                predictor: Rc::new(RefCell::new(Sam2ImagePredictor::new(model))),
                info,
            })
        }

        /// `{variant, image_size, backend}`.
        pub fn info(&self) -> Result<JsValue, JsError> {
            serde_wasm_bindgen::to_value(&self.info).map_err(|e| JsError::new(&e.to_string()))
        }

        /// Encodes an RGBA frame; the promise resolves when the device is done.
        // The shared borrow held across the readback is the busy flag: a call
        // that needs the predictor mutably meanwhile gets "busy", not a panic.
        #[allow(clippy::await_holding_refcell_ref)]
        #[wasm_bindgen(js_name = setImage)]
        pub fn set_image(&self, rgba: Vec<u8>, width: usize, height: usize) -> Promise {
            let predictor = self.predictor.clone();
            future_to_promise(async move {
                let rgb = rgb_of_rgba(&rgba, width, height).map_err(js_error)?;
                drop(rgba);
                predictor
                    .try_borrow_mut()
                    .map_err(|_| js_error("SAM 2 is busy: wait for the running call"))?
                    .set_image(&rgb, width, height)
                    .map_err(js_error)?;
                let p = predictor
                    .try_borrow()
                    .map_err(|_| js_error("SAM 2 is busy: wait for the running call"))?;
                p.ready_async().await.map_err(js_error)?;
                Ok(JsValue::UNDEFINED)
            })
        }

        /// Masks for prompt sets `[{points: [[x, y, label]], box: [x0, y0, x1, y1]}]`:
        /// resolves to `[{masks: [{rle, area, score, bbox, data: Uint8Array}],
        /// object_score}]`, `data` holding one 0/1 byte per frame pixel.
        #[allow(clippy::await_holding_refcell_ref)] // as in `set_image`
        pub fn predict(&self, prompts: JsValue, multimask: bool) -> Promise {
            let predictor = self.predictor.clone();
            future_to_promise(async move {
                let sets: Vec<labels::Prompt> = serde_wasm_bindgen::from_value(prompts)
                    .map_err(|e| js_error(format!("prompts: {e}")))?;
                let prompts: Vec<Prompt> = sets
                    .iter()
                    .enumerate()
                    .map(|(i, p)| to_prompt(p, i))
                    .collect::<Result<_, _>>()
                    .map_err(js_error)?;
                let p = predictor
                    .try_borrow()
                    .map_err(|_| js_error("SAM 2 is busy: wait for the running call"))?;
                let predictions = p
                    .predict_async(&prompts, multimask)
                    .await
                    .map_err(js_error)?;
                let out = Array::new();
                for prediction in &predictions {
                    out.push(&prediction_value(prediction)?);
                }
                Ok(out.into())
            })
        }
    }

    /// A prediction as a JS object, each mask's pixels attached as `data`.
    fn prediction_value(p: &autolabel::models::sam2::Prediction) -> Result<JsValue, JsValue> {
        let value = serde_wasm_bindgen::to_value(&PredictionJs::from(p)).map_err(js_error)?;
        let masks = Reflect::get(&value, &"masks".into())?;
        for (i, mask) in p.masks.iter().enumerate() {
            let entry = Reflect::get(&masks, &(i as u32).into())?;
            Reflect::set(&entry, &"data".into(), &Uint8Array::from(mask.data()))?;
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_labels_must_be_zero_or_one() {
        let ok = labels::Prompt {
            points: vec![[1.0, 2.0, 1.0], [3.0, 4.0, 0.0]],
            bbox: Some([0.0, 0.0, 5.0, 5.0]),
        };
        let prompt = to_prompt(&ok, 0).unwrap();
        assert_eq!(prompt.points, vec![([1.0, 2.0], 1), ([3.0, 4.0], 0)]);
        let bad = labels::Prompt {
            points: vec![[1.0, 2.0, 7.0]],
            bbox: None,
        };
        assert!(
            to_prompt(&bad, 3)
                .unwrap_err()
                .starts_with("prompt 3: point label 7")
        );
    }

    #[test]
    fn presets_are_named() {
        let info = ModelInfo::new(&Sam2Config::base_plus(), BackendKind::Wgpu);
        assert_eq!(info.variant, "sam2.1-hiera-base-plus");
        assert_eq!(info.backend, "webgpu");
        assert_eq!(info.image_size, 1024);
    }
}
