//! `Sam2ImagePredictor`: encode an image once with [`Sam2ImagePredictor::set_image`],
//! then answer many cheap [`Sam2ImagePredictor::predict`] calls; all the prompt
//! sets of one call that have the same layout go through one decoder call.
//!
//! Paper: Ravi et al., "SAM 2", 2024. Reference: SAM 2's `SAM2ImagePredictor`
//! (`sam2/sam2_image_predictor.py`: `set_image`, `predict`) for the interface,
//! and transformers' `Sam2Processor` / `Sam2Model.forward` /
//! `Sam2ImageProcessor.post_process_masks` for the arithmetic.

use burn::tensor::{Tensor, TensorData, Transaction};

use super::processing::{self, MASK_THRESHOLD};
use super::prompt_encoder::{LABEL_PAD, PromptTokens};
use super::{ImageFeatures, Sam2Error, Sam2Model};
use crate::labels::mask::Mask;
use crate::limits;
use crate::models::kernels::on_pool;

/// One prompt set in original-image pixels: points with labels (1 = object,
/// 0 = background) and/or a box `[x0, y0, x1, y1]`, optionally with a mask
/// input. An empty prompt asks for the model's guess with no hint, as the
/// reference does.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Prompt {
    /// `((x, y), label)`.
    pub points: Vec<([f32; 2], i32)>,
    /// `[x0, y0, x1, y1]`.
    pub bbox: Option<[f32; 4]>,
    /// Low-resolution mask logits `[4h × 4w]` row-major (256 × 256 for the
    /// published checkpoints), typically one of a previous
    /// [`Prediction::low_res_logits`] masks: SAM2ImagePredictor's `mask_input`.
    pub mask_input: Option<Vec<f32>>,
}

impl TryFrom<&crate::labels::Prompt> for Prompt {
    type Error = crate::labels::prompt::PromptError;

    /// The model's prompt for a checked [`crate::labels::Prompt`].
    fn try_from(p: &crate::labels::Prompt) -> Result<Self, Self::Error> {
        p.check()?;
        Ok(Prompt {
            points: p
                .points
                .iter()
                .map(|&[x, y, label]| ([x as f32, y as f32], label as i32))
                .collect(),
            bbox: p.bbox.map(|b| b.map(|v| v as f32)),
            mask_input: None,
        })
    }
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

    /// Encodes an interleaved RGB image (`width × height`, row-major), inside
    /// rayon's pool ([`on_pool`]).
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
        let model = &self.model;
        let features = on_pool(|| model.image_features(pixels));
        self.image = Some(Encoded {
            features,
            original: [height, width],
        });
        Ok(())
    }

    /// Waits until the device has computed the encoding of the image set:
    /// a no-op on the CPU backend, which computes eagerly, and what a GPU
    /// caller awaits to time the encoder or to know it is done.
    pub async fn ready_async(&self) -> Result<(), Sam2Error> {
        let encoded = self.image.as_ref().ok_or(Sam2Error::NoImage)?;
        let probe = encoded
            .features
            .image_embeddings
            .clone()
            .slice([0..1, 0..1, 0..1, 0..1]);
        probe.into_data_async().await.map_err(readback)?;
        Ok(())
    }

    /// `[height, width]` of the image set, if any.
    pub fn original_size(&self) -> Option<[usize; 2]> {
        self.image.as_ref().map(|e| e.original)
    }

    /// Predicts masks for every prompt set. Sets with a box and sets without
    /// are decoded in (at most) two decoder calls; within a call, point lists
    /// are padded to the longest. Reads results back synchronously (native
    /// backends; in the browser use [`Self::predict_async`]).
    pub fn predict(
        &self,
        prompts: &[Prompt],
        multimask_output: bool,
    ) -> Result<Vec<Prediction>, Sam2Error> {
        let encoded = self.image.as_ref().ok_or(Sam2Error::NoImage)?;
        let mut results: Vec<Option<Prediction>> = vec![None; prompts.len()];
        for group in self.groups(encoded, prompts) {
            let masks = self.mask_inputs(prompts, &group.members)?;
            let decoded = self.decode(encoded, &group.tokens, masks, multimask_output)?;
            let data = decoded.transaction().try_execute().map_err(readback)?;
            place(&mut results, group.members, decoded.assemble(data)?);
        }
        Ok(results.into_iter().flatten().collect())
    }

    /// [`Self::predict`] with asynchronous readback: what WebGPU in a browser
    /// needs (a synchronous read there cannot complete).
    pub async fn predict_async(
        &self,
        prompts: &[Prompt],
        multimask_output: bool,
    ) -> Result<Vec<Prediction>, Sam2Error> {
        let encoded = self.image.as_ref().ok_or(Sam2Error::NoImage)?;
        let mut results: Vec<Option<Prediction>> = vec![None; prompts.len()];
        for group in self.groups(encoded, prompts) {
            let masks = self.mask_inputs(prompts, &group.members)?;
            let decoded = self.decode(encoded, &group.tokens, masks, multimask_output)?;
            let data = decoded
                .transaction()
                .execute_async()
                .await
                .map_err(readback)?;
            place(&mut results, group.members, decoded.assemble(data)?);
        }
        Ok(results.into_iter().flatten().collect())
    }

    /// Splits the prompt sets into the (at most four) decoder calls: with and
    /// without a box, with and without a mask input; each as `(indices into
    /// prompts, scaled tokens)`.
    fn groups(&self, encoded: &Encoded, prompts: &[Prompt]) -> Vec<Group> {
        let size = self.model.config().image_size();
        [(true, false), (false, false), (true, true), (false, true)]
            .into_iter()
            .filter_map(|(with_box, with_mask)| {
                let members: Vec<usize> = (0..prompts.len())
                    .filter(|&i| {
                        prompts[i].bbox.is_some() == with_box
                            && prompts[i].mask_input.is_some() == with_mask
                    })
                    .collect();
                if members.is_empty() {
                    return None;
                }
                let longest = members
                    .iter()
                    .map(|&i| prompts[i].points.len())
                    .max()
                    .unwrap_or(0);
                let tokens = members
                    .iter()
                    .map(|&i| tokens_of(&prompts[i], encoded.original, size, longest))
                    .collect();
                Some(Group { members, tokens })
            })
            .collect()
    }

    /// The mask inputs of a group as `[P, 1, 4h, 4w]`, if it has them.
    fn mask_inputs(
        &self,
        prompts: &[Prompt],
        members: &[usize],
    ) -> Result<Option<Tensor<4>>, Sam2Error> {
        let side = self.model.mask_input_size();
        let mut values = Vec::new();
        for &i in members {
            let Some(mask) = &prompts[i].mask_input else {
                return Ok(None);
            };
            if mask.len() != side * side {
                return Err(Sam2Error::Prompt(format!(
                    "prompt set {i}: mask input has {} values, expected {side}×{side}",
                    mask.len()
                )));
            }
            values.extend_from_slice(mask);
        }
        let data = TensorData::new(values, [members.len(), 1, side, side]);
        Ok(Some(Tensor::from_data(data, self.model.device())))
    }

    fn decode(
        &self,
        encoded: &Encoded,
        tokens: &[PromptTokens],
        mask_input: Option<Tensor<4>>,
        multimask_output: bool,
    ) -> Result<Decoded, Sam2Error> {
        let out = self
            .model
            .decode(&encoded.features, 0, tokens, mask_input, multimask_output)?;
        let [p, m, _, _] = out.masks.dims();
        let [height, width] = encoded.original;
        let bytes = p * m * height * width * size_of::<f32>();
        let upscaled = limits::blocks(out.masks.clone(), 0, bytes)
            .into_iter()
            .map(|block| processing::upscale_masks(block, encoded.original))
            .collect(); // [P_i, M, H, W] each
        Ok(Decoded {
            low_res_dims: out.masks.dims(),
            original: encoded.original,
            upscaled,
            low_res: out.masks,
            iou: out.iou_scores,
            objects: out.object_score_logits,
        })
    }
}

/// Prompt sets decoded in one call: their indices and their tokens.
struct Group {
    members: Vec<usize>,
    tokens: Vec<PromptTokens>,
}

/// One prompt set as decoder tokens in model-input coordinates, its point
/// list padded to `longest`.
fn tokens_of(p: &Prompt, original: [usize; 2], size: usize, longest: usize) -> PromptTokens {
    let mut points: Vec<([f32; 2], i32)> = p
        .points
        .iter()
        .map(|&(xy, label)| (processing::scale_point(xy, original, size), label))
        .collect();
    if points.is_empty() && p.bbox.is_none() {
        // The reference's "no prompt": one not-a-point at the origin.
        points.push(([0.0, 0.0], -1));
    }
    points.resize(longest.max(points.len()), ([0.0, 0.0], LABEL_PAD));
    PromptTokens {
        points,
        bbox: p.bbox.map(|b| processing::scale_box(b, original, size)),
    }
}

fn place(results: &mut [Option<Prediction>], members: Vec<usize>, predictions: Vec<Prediction>) {
    for (slot, prediction) in members.into_iter().zip(predictions) {
        results[slot] = Some(prediction);
    }
}

/// One decoder call's outputs, still on the device.
struct Decoded {
    /// `[P, M, 4h, 4w]` of the low-resolution logits.
    low_res_dims: [usize; 4],
    /// `[height, width]` of the original image.
    original: [usize; 2],
    /// Mask logits at the original resolution, `[P, M, H, W]` in blocks of
    /// prompts (each read back in its own buffer, within WebGPU's limit).
    upscaled: Vec<Tensor<4>>,
    low_res: Tensor<4>,
    /// `[P, M]`.
    iou: Tensor<2>,
    /// `[P, 1]`.
    objects: Tensor<2>,
}

impl Decoded {
    /// One readback of all four outputs.
    fn transaction(&self) -> Transaction {
        self.upscaled
            .iter()
            .fold(Transaction::default(), |t, block| t.register(block.clone()))
            .register(self.low_res.clone())
            .register(self.iou.clone())
            .register(self.objects.clone())
    }

    /// Thresholds the read-back logits into per-prompt [`Prediction`]s.
    fn assemble(&self, data: Vec<TensorData>) -> Result<Vec<Prediction>, Sam2Error> {
        let mut values = data
            .into_iter()
            .map(|d| d.try_into_vec::<f32>().map_err(readback));
        let mut next = || {
            values
                .next()
                .unwrap_or_else(|| Err(readback("missing output")))
        };
        let mut logits = Vec::new();
        for _ in &self.upscaled {
            logits.extend(next()?);
        }
        let (low_res, iou, objects) = (next()?, next()?, next()?);
        for (what, values) in [
            ("mask logits", &logits),
            ("low-resolution mask logits", &low_res),
            ("IoU scores", &iou),
            ("object scores", &objects),
        ] {
            if values.iter().any(|v| !v.is_finite()) {
                return Err(Sam2Error::NonFinite(what));
            }
        }
        let [p, m, lh, lw] = self.low_res_dims;
        let [height, width] = self.original;
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

fn readback(e: impl std::fmt::Debug) -> Sam2Error {
    Sam2Error::Readback(format!("{e:?}"))
}
