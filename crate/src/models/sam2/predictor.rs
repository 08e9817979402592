//! `Sam2ImagePredictor`: encode an image once with [`Sam2ImagePredictor::set_image`],
//! then answer many cheap [`Sam2ImagePredictor::predict`] calls; all the prompt
//! sets of one call that have the same layout go through one decoder call.
//!
//! Paper: Ravi et al., "SAM 2", 2024. Reference: SAM 2's `SAM2ImagePredictor`
//! (`sam2/sam2_image_predictor.py`: `set_image`, `predict`) for the interface,
//! and transformers' `Sam2Processor` / `Sam2Model.forward` /
//! `Sam2ImageProcessor.post_process_masks` for the arithmetic.

use burn::tensor::Tensor;

use super::processing::{self, MASK_THRESHOLD};
use super::prompt_encoder::{LABEL_PAD, PromptTokens};
use super::{ImageFeatures, Sam2Error, Sam2Model};
use crate::export::mask::Mask;

/// One prompt set in original-image pixels: points with labels (1 = object,
/// 0 = background) and/or a box `[x0, y0, x1, y1]`. An empty prompt asks
/// for the model's guess with no hint, as the reference does.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Prompt {
    /// `((x, y), label)`.
    pub points: Vec<([f32; 2], i32)>,
    /// `[x0, y0, x1, y1]`.
    pub bbox: Option<[f32; 4]>,
}

/// The answer to one [`Prompt`].
#[derive(Debug, Clone)]
pub struct Prediction {
    /// Binary masks at the original resolution (3 in multimask mode, else 1).
    pub masks: Vec<Mask>,
    /// Predicted IoU of each mask.
    pub iou_scores: Vec<f32>,
    /// Object-presence logit (> 0: an object is there).
    pub object_score_logit: f32,
    /// Low-resolution mask logits `[M, 4h, 4w]` as row-major values, e.g. to
    /// feed back as a mask input.
    pub low_res_logits: Vec<f32>,
}

/// The encoded image a predictor holds.
struct Encoded {
    features: ImageFeatures,
    /// `[height, width]` of the original image.
    original: [usize; 2],
}

/// `set_image` once, `predict` many times.
pub struct Sam2ImagePredictor {
    model: Sam2Model,
    image: Option<Encoded>,
}

impl Sam2ImagePredictor {
    pub fn new(model: Sam2Model) -> Self {
        Sam2ImagePredictor { model, image: None }
    }

    pub fn model(&self) -> &Sam2Model {
        &self.model
    }

    /// Encodes an interleaved RGB image (`width × height`, row-major).
    pub fn set_image(&mut self, rgb: &[u8], width: usize, height: usize) -> Result<(), Sam2Error> {
        if width == 0 || height == 0 || rgb.len() != width * height * 3 {
            return Err(Sam2Error::Image(format!(
                "{} bytes for a {width}×{height} RGB image (expected {})",
                rgb.len(),
                width * height * 3
            )));
        }
        let size = self.model.config().image_size();
        let pixels = processing::preprocess(rgb, width, height, size, self.model.device());
        let features = self.model.image_features(pixels);
        self.image = Some(Encoded {
            features,
            original: [height, width],
        });
        Ok(())
    }

    /// `[height, width]` of the image set, if any.
    pub fn original_size(&self) -> Option<[usize; 2]> {
        self.image.as_ref().map(|e| e.original)
    }

    /// Predicts masks for every prompt set. Sets with a box and sets without
    /// are decoded in (at most) two decoder calls; within a call, point lists
    /// are padded to the longest.
    pub fn predict(
        &self,
        prompts: &[Prompt],
        multimask_output: bool,
    ) -> Result<Vec<Prediction>, Sam2Error> {
        let encoded = self.image.as_ref().ok_or(Sam2Error::NoImage)?;
        let size = self.model.config().image_size();
        let mut results: Vec<Option<Prediction>> = vec![None; prompts.len()];
        for with_box in [true, false] {
            let members: Vec<usize> = (0..prompts.len())
                .filter(|&i| prompts[i].bbox.is_some() == with_box)
                .collect();
            if members.is_empty() {
                continue;
            }
            let longest = members
                .iter()
                .map(|&i| prompts[i].points.len())
                .max()
                .unwrap_or(0);
            let tokens: Vec<PromptTokens> = members
                .iter()
                .map(|&i| {
                    let p = &prompts[i];
                    let mut points: Vec<([f32; 2], i32)> = p
                        .points
                        .iter()
                        .map(|&(xy, label)| {
                            (processing::scale_point(xy, encoded.original, size), label)
                        })
                        .collect();
                    if points.is_empty() && p.bbox.is_none() {
                        // The reference's "no prompt": one not-a-point at the origin.
                        points.push(([0.0, 0.0], -1));
                    }
                    points.resize(longest.max(points.len()), ([0.0, 0.0], LABEL_PAD));
                    PromptTokens {
                        points,
                        bbox: p
                            .bbox
                            .map(|b| processing::scale_box(b, encoded.original, size)),
                    }
                })
                .collect();
            let predictions = self.decode(encoded, &tokens, multimask_output)?;
            for (slot, prediction) in members.into_iter().zip(predictions) {
                results[slot] = Some(prediction);
            }
        }
        Ok(results.into_iter().flatten().collect())
    }

    fn decode(
        &self,
        encoded: &Encoded,
        tokens: &[PromptTokens],
        multimask_output: bool,
    ) -> Result<Vec<Prediction>, Sam2Error> {
        let out = self
            .model
            .decode(&encoded.features, 0, tokens, None, multimask_output)?;
        let [p, m, lh, lw] = out.masks.dims();
        let [height, width] = encoded.original;
        let upscaled = processing::upscale_masks(out.masks.clone(), encoded.original); // [P, M, H, W]
        let logits = read(upscaled)?;
        let low_res = read(out.masks)?;
        let iou = read(out.iou_scores)?;
        let objects = read(out.object_score_logits)?;
        let plane = height * width;
        let low_plane = m * lh * lw;
        Ok((0..p)
            .map(|i| {
                let masks = (0..m)
                    .map(|j| {
                        let plane = &logits[(i * m + j) * plane..(i * m + j + 1) * plane];
                        Mask::from_fn(width as u32, height as u32, |x, y| {
                            plane[y as usize * width + x as usize] > MASK_THRESHOLD
                        })
                    })
                    .collect();
                Prediction {
                    masks,
                    iou_scores: iou[i * m..(i + 1) * m].to_vec(),
                    object_score_logit: objects[i],
                    low_res_logits: low_res[i * low_plane..(i + 1) * low_plane].to_vec(),
                }
            })
            .collect())
    }
}

/// Reads a tensor back to the host (synchronously: native backends only).
pub(crate) fn read<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>, Sam2Error> {
    let data = t
        .try_into_data()
        .map_err(|e| Sam2Error::Readback(format!("{e:?}")))?;
    data.try_to_vec::<f32>()
        .map_err(|e| Sam2Error::Readback(format!("{e:?}")))
}
