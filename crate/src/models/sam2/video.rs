//! `Sam2VideoModel`: the image model plus what tracking adds — the memory
//! encoder, the memory attention, object pointers and their temporal
//! encodings, the no-object pointer, the occlusion embedding and the
//! mask-prompt downsampler — as the per-frame, per-object steps the video
//! session ([`super::video_session`]) strings together.
//!
//! Paper: Ravi et al., "SAM 2: Segment Anything in Images and Videos", 2024
//! (§4). Reference: transformers v5.23.0
//! `models/sam2_video/modeling_sam2_video.py` (`Sam2VideoModel`:
//! `_single_frame_forward`, `_use_mask_as_output`,
//! `_prepare_memory_conditioned_features`, `_process_object_pointers`,
//! `_encode_new_memory`); facebookresearch/sam2 `sam2/modeling/sam2_base.py`
//! for intent.

use burn::tensor::{Device, Int, Tensor, TensorData, bf16};

use super::layers::{Activation, Conv2d, FeedForward, Linear, sine_position_embedding};
use super::memory_attention::MemoryAttention;
use super::memory_encoder::MemoryEncoder;
use super::prompt_encoder::PromptTokens;
use super::video_config::{MEMORY_CHANNELS, Sam2VideoConfig};
use super::{ImageFeatures, Sam2Error, Sam2Model, WeightProblems, processing};
use crate::models::checkpoint::Loader;
use crate::models::resample::{antialiased_bilinear_resize, bilinear_resize};

/// The reference's mask logit for "no object here" (`NO_OBJ_SCORE`).
pub const NO_OBJECT_SCORE: f32 = -1024.0;

/// A mask prompt becomes logits `±` these (`_use_mask_as_output`).
const MASK_PROMPT_SCALE: f32 = 20.0;
const MASK_PROMPT_BIAS: f32 = -10.0;

/// Prefixes of the modules only the video model has; a checkpoint without
/// any of them is an image-only one.
const VIDEO_MODULES: &[&str] = &[
    "memory_attention",
    "memory_encoder",
    "memory_temporal_positional_encoding",
    "object_pointer_proj",
    "no_object_pointer",
    "mask_downsample",
];

/// Keys a published video checkpoint holds that inference never reads.
fn ignorable(key: &str) -> bool {
    key == "no_memory_positional_encoding"
}

/// One frame through the image encoder: what every object on it reads.
#[derive(Debug, Clone)]
pub struct FrameFeatures {
    /// The top FPN level without the no-memory embedding (`[1, C, h, w]`) and
    /// the projected high-resolution levels.
    pub(crate) levels: ImageFeatures,
}

/// A prompt on a frame, in model-input pixels.
#[derive(Debug, Clone)]
pub(crate) enum StepInput {
    /// Points (box corners first, labels 2 and 3), as `PromptTokens` without a box.
    Points(PromptTokens),
    /// A binary mask `[1, 1, S, S]` (1 = object).
    Mask(Box<Tensor<4>>),
}

/// The memories one object reads on one frame, gathered by the session.
#[derive(Debug, Clone, Default)]
pub(crate) struct MemoryRead {
    /// Each spatial memory `[1, hw, 64]` with its temporal offset (0 for a
    /// conditioning frame, else 1 ..= num_maskmem − 1 frames away).
    pub(crate) spatial: Vec<(Tensor<3>, usize)>,
    /// Each object pointer `[1, C]` with its signed temporal offset.
    pub(crate) pointers: Vec<(Tensor<2>, i64)>,
    /// The pointer window the offsets are normalised by.
    pub(crate) max_pointers: usize,
}

/// One object on one frame.
#[derive(Debug, Clone)]
pub(crate) struct ObjectStep {
    /// Low-resolution mask logits `[1, 1, 4h, 4w]` (−1024 where absent).
    pub(crate) low_res: Tensor<4>,
    /// The same at the model input size `[1, 1, S, S]`.
    pub(crate) high_res: Tensor<4>,
    /// `[1, C]`.
    pub(crate) object_pointer: Tensor<2>,
    /// `[1, 1]`.
    pub(crate) object_score: Tensor<2>,
}

/// `Sam2VideoModel`.
#[derive(Debug, Clone)]
pub struct Sam2VideoModel {
    config: Sam2VideoConfig,
    image: Sam2Model,
    memory_attention: MemoryAttention,
    memory_encoder: MemoryEncoder,
    /// `[num_maskmem, 64]`; row `k − 1` for a memory `k` frames away, the last
    /// row for conditioning frames.
    memory_temporal_positional_encoding: Tensor<2>,
    /// `[1, C]`.
    no_object_pointer: Tensor<2>,
    mask_downsample: Conv2d,
    object_pointer_proj: FeedForward,
    temporal_positional_encoding_projection_layer: Option<Linear>,
    /// `[1, 64]`.
    occlusion_spatial_embedding_parameter: Option<Tensor<2>>,
    /// Sine position encoding of the embedding grid, `[1, hw, C]`.
    vision_pos: Tensor<3>,
    /// Sine position encoding of a memory, `[1, hw, 64]`.
    memory_pos: Tensor<3>,
}

impl Sam2VideoModel {
    /// Builds the model from a config and the bytes of a transformers-format
    /// `model.safetensors` holding the video modules (the official
    /// `facebook/sam2.1-hiera-*` files do). Fails listing every missing,
    /// mismatched or unexpected key.
    pub fn from_safetensors(
        config: Sam2VideoConfig,
        bytes: &[u8],
        device: &Device,
    ) -> Result<Self, Sam2Error> {
        config.validate()?;
        let mut l = Loader::new(bytes, device, ignorable).map_err(Sam2Error::Safetensors)?;
        let image = Sam2Model::load(&mut l, config.image.clone(), device);
        let model = Self::load_video(&mut l, config, image, device);
        l.finish().map_err(image_only)?;
        Ok(model)
    }

    fn load_video(
        l: &mut Loader,
        config: Sam2VideoConfig,
        image: Sam2Model,
        device: &Device,
    ) -> Self {
        let v = &config.video;
        let hidden = config.image.vision.fpn_hidden_size;
        let [h, w] = config.image.vision.backbone_feature_sizes[2];
        let flat = |pe: Tensor<4>| {
            let [_, c, _, _] = pe.dims();
            pe.reshape([1, c, h * w]).swap_dims(1, 2)
        };
        Sam2VideoModel {
            memory_attention: MemoryAttention::load(l, "memory_attention", v),
            memory_encoder: MemoryEncoder::load(l, "memory_encoder", v),
            memory_temporal_positional_encoding: l
                .tensor::<4>(
                    "memory_temporal_positional_encoding",
                    [v.num_maskmem, 1, 1, MEMORY_CHANNELS],
                )
                .reshape([v.num_maskmem, MEMORY_CHANNELS]),
            no_object_pointer: l.tensor("no_object_pointer", [1, hidden]),
            mask_downsample: Conv2d::load(l, "mask_downsample", 1, 1, [4, 4], [4, 4], [0, 0]),
            object_pointer_proj: FeedForward::load(
                l,
                "object_pointer_proj",
                hidden,
                hidden,
                hidden,
                3,
                Activation::Relu,
                false,
            ),
            temporal_positional_encoding_projection_layer: v
                .enable_temporal_pos_encoding_for_object_pointers
                .then(|| {
                    Linear::load(
                        l,
                        "temporal_positional_encoding_projection_layer",
                        hidden,
                        MEMORY_CHANNELS,
                    )
                }),
            occlusion_spatial_embedding_parameter: v.enable_occlusion_spatial_embedding.then(
                || {
                    l.tensor(
                        "occlusion_spatial_embedding_parameter",
                        [1, MEMORY_CHANNELS],
                    )
                },
            ),
            vision_pos: flat(sine_position_embedding(h, w, hidden / 2, device)),
            memory_pos: flat(sine_position_embedding(h, w, MEMORY_CHANNELS / 2, device)),
            image,
            config,
        }
    }

    /// Loads a Hugging Face model directory (`config.json`, `model.safetensors`),
    /// e.g. a download of `facebook/sam2.1-hiera-tiny`.
    #[cfg(feature = "native")]
    pub fn from_dir(dir: &std::path::Path, device: &Device) -> Result<Self, Sam2Error> {
        super::load_dir(dir, Sam2VideoConfig::from_json, |config, weights| {
            Self::from_safetensors(config, weights, device)
        })
    }

    /// The configuration the model was built with.
    pub fn config(&self) -> &Sam2VideoConfig {
        &self.config
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        self.image.device()
    }

    /// Side of the square model input.
    pub fn image_size(&self) -> usize {
        self.image.config().image_size()
    }

    /// Encodes an interleaved RGB frame (`width × height`) as the video
    /// processor and the image encoder do.
    pub fn encode_frame(&self, rgb: &[u8], width: usize, height: usize) -> FrameFeatures {
        let pixels = processing::preprocess(rgb, width, height, self.image_size(), self.device());
        self.encode_pixels(pixels)
    }

    /// Encodes normalised pixels `[1, 3, S, S]`.
    pub fn encode_pixels(&self, pixels: Tensor<4>) -> FrameFeatures {
        FrameFeatures {
            levels: self.image.backbone_features(pixels),
        }
    }

    /// Whether three masks are decoded (the best by predicted IoU kept): on
    /// prompted frames with few points, and on tracked frames if configured
    /// (`_use_multimask`).
    pub(crate) fn multimask(&self, initial: bool, points: usize) -> bool {
        let v = &self.config.video;
        v.multimask_output_in_sam
            && (initial || v.multimask_output_for_tracking)
            && (v.multimask_min_pt_num..=v.multimask_max_pt_num).contains(&points)
    }

    /// One object on one frame (`_run_single_frame_inference`): a mask prompt
    /// is taken as the output; otherwise the frame's features, conditioned on
    /// `memory` (`None` on a frame the object is first prompted on), go
    /// through the SAM head with the points, if any.
    pub(crate) fn track_step(
        &self,
        frame: &FrameFeatures,
        input: Option<StepInput>,
        memory: Option<MemoryRead>,
    ) -> Result<ObjectStep, Sam2Error> {
        let tokens = match input {
            Some(StepInput::Mask(mask)) => return self.mask_as_output(frame, *mask),
            Some(StepInput::Points(tokens)) => tokens,
            None => PromptTokens {
                points: vec![([0.0, 0.0], -1)],
                bbox: None,
            },
        };
        let initial = memory.is_none();
        let points = tokens.points.iter().filter(|p| p.1 != -1).count();
        let multimask = self.multimask(initial, points);
        let conditioned = self.conditioned_features(frame, memory);
        self.sam_head(frame, conditioned, &tokens, None, multimask)
    }

    /// `_prepare_memory_conditioned_features`: `[1, C, h, w]`.
    fn conditioned_features(&self, frame: &FrameFeatures, memory: Option<MemoryRead>) -> Tensor<4> {
        let current = frame.levels.image_embeddings.clone();
        if self.config.video.num_maskmem == 0 {
            return current;
        }
        let Some(memory) = memory else {
            let [_, c, _, _] = current.dims();
            return current + self.image.no_memory_embedding.clone().reshape([1, c, 1, 1]);
        };
        let [_, c, h, w] = current.dims();
        let current = current.reshape([1, c, h * w]).swap_dims(1, 2); // [1, hw, C]
        let (tokens, positions, pointer_tokens) = self.memory_tokens(memory);
        self.memory_attention
            .forward(
                current,
                self.vision_pos.clone(),
                tokens,
                positions,
                pointer_tokens,
            )
            .swap_dims(1, 2)
            .reshape([1, c, h, w])
    }

    /// The memory bank as attention inputs: `[1, M, 64]` tokens, their
    /// position encodings, and how many trailing tokens are pointers.
    fn memory_tokens(&self, memory: MemoryRead) -> (Tensor<3>, Tensor<3>, usize) {
        let n = self.config.video.num_maskmem;
        let mut tokens = Vec::new();
        let mut positions = Vec::new();
        for (features, offset) in memory.spatial {
            let row = (offset + n - 1) % n;
            let temporal = self
                .memory_temporal_positional_encoding
                .clone()
                .narrow(0, row, 1)
                .unsqueeze::<3>(); // [1, 1, 64]
            tokens.push(features);
            positions.push(self.memory_pos.clone() + temporal);
        }
        let mut pointer_tokens = 0;
        if !memory.pointers.is_empty() {
            let (pointers, pointer_pos) = self.pointer_tokens(memory.pointers, memory.max_pointers);
            pointer_tokens = pointers.dims()[1];
            tokens.push(pointers);
            positions.push(pointer_pos);
        }
        (
            Tensor::cat(tokens, 1),
            Tensor::cat(positions, 1),
            pointer_tokens,
        )
    }

    /// `_process_object_pointers`: `N` pointers `[1, C]` → `[1, N·C/64, 64]`
    /// tokens (each pointer split into `C/64` consecutive tokens) and their
    /// temporal encodings.
    fn pointer_tokens(
        &self,
        pointers: Vec<(Tensor<2>, i64)>,
        max_pointers: usize,
    ) -> (Tensor<3>, Tensor<3>) {
        let hidden = self.no_object_pointer.dims()[1];
        let splits = hidden / MEMORY_CHANNELS;
        let n = pointers.len();
        let offsets: Vec<i64> = pointers.iter().map(|p| p.1).collect();
        let stacked = Tensor::cat(pointers.into_iter().map(|p| p.0).collect(), 0); // [N, C]
        let tokens = stacked.reshape([1, n * splits, MEMORY_CHANNELS]);
        let device = self.device();
        let pos = match &self.temporal_positional_encoding_projection_layer {
            Some(projection) => {
                let denominator = (max_pointers as f32) - 1.0;
                let sine = temporal_sine(&offsets, denominator, hidden);
                let sine = Tensor::<2>::from_data(TensorData::new(sine, [n, hidden]), device);
                projection.forward(sine) // [N, 64]
            }
            None => Tensor::zeros([n, MEMORY_CHANNELS], device),
        };
        let pos = pos.unsqueeze_dim::<3>(1).repeat_dim(1, splits).reshape([
            1,
            n * splits,
            MEMORY_CHANNELS,
        ]);
        (tokens, pos)
    }

    /// The SAM head on conditioned features (`_single_frame_forward` with
    /// image embeddings given): masks gated by the object score, the best of
    /// three by predicted IoU in multimask mode, and the object pointer.
    fn sam_head(
        &self,
        frame: &FrameFeatures,
        conditioned: Tensor<4>,
        tokens: &PromptTokens,
        mask_input: Option<Tensor<4>>,
        multimask: bool,
    ) -> Result<ObjectStep, Sam2Error> {
        let features = ImageFeatures {
            image_embeddings: conditioned,
            high_res_s0: frame.levels.high_res_s0.clone(),
            high_res_s1: frame.levels.high_res_s1.clone(),
        };
        let out = self.image.decode(
            &features,
            0,
            std::slice::from_ref(tokens),
            mask_input,
            multimask,
        )?;
        let appearing = out.object_score_logits.clone().greater_elem(0.0); // [1, 1]
        let [_, m, lh, lw] = out.masks.dims();
        let gate = appearing
            .clone()
            .reshape([1, 1, 1, 1])
            .expand([1, m, lh, lw]);
        let masks = Tensor::full([1, m, lh, lw], NO_OBJECT_SCORE, self.device())
            .mask_where(gate, out.masks); // [1, M, 4h, 4w]
        let (low_res, token) = if m > 1 {
            let best: Tensor<2, Int> = out.iou_scores.argmax(1); // [1, 1]
            let low_res = masks
                .reshape([1, m, lh * lw])
                .gather(1, best.clone().unsqueeze_dim::<3>(2).repeat_dim(2, lh * lw))
                .reshape([1, 1, lh, lw]);
            let c = out.mask_tokens.dims()[2];
            let token = out
                .mask_tokens
                .gather(1, best.unsqueeze_dim::<3>(2).repeat_dim(2, c))
                .reshape([1, c]);
            (low_res, token)
        } else {
            let c = out.mask_tokens.dims()[2];
            (masks, out.mask_tokens.reshape([1, c]))
        };
        let size = self.image_size();
        let high_res = bilinear_resize(low_res.clone(), [size, size]);
        let pointer = self.gate_pointer(self.object_pointer_proj.forward(token), appearing);
        Ok(ObjectStep {
            low_res,
            high_res,
            object_pointer: pointer,
            object_score: out.object_score_logits,
        })
    }

    /// The pointer where the object appears, the no-object pointer elsewhere.
    fn gate_pointer(
        &self,
        pointer: Tensor<2>,
        appearing: Tensor<2, burn::tensor::Bool>,
    ) -> Tensor<2> {
        let [_, c] = pointer.dims();
        let lambda = appearing.float(); // [1, 1]
        pointer * lambda.clone().expand([1, c])
            + (lambda.neg() + 1.0).expand([1, c]) * self.no_object_pointer.clone()
    }

    /// `_use_mask_as_output`: a binary mask prompt `[1, 1, S, S]` taken as
    /// the prediction (logits −10 / +10), its pointer from the SAM head with
    /// the downsampled mask as a dense prompt on the unconditioned features.
    fn mask_as_output(
        &self,
        frame: &FrameFeatures,
        mask: Tensor<4>,
    ) -> Result<ObjectStep, Sam2Error> {
        let high_res = mask.clone() * MASK_PROMPT_SCALE + MASK_PROMPT_BIAS;
        let side = self.image.mask_input_size();
        let low_res = antialiased_bilinear_resize(high_res.clone(), [side, side]);
        let dense = self.mask_downsample.forward(mask.clone()); // [1, 1, S/4, S/4]
        let no_points = PromptTokens {
            points: vec![([0.0, 0.0], -1)],
            bbox: None,
        };
        let head = self.sam_head(
            frame,
            frame.levels.image_embeddings.clone(),
            &no_points,
            Some(dense),
            true,
        )?;
        let [_, _, s, _] = mask.dims();
        let appearing = mask
            .reshape([1, s * s])
            .greater_elem(0.0)
            .float()
            .max_dim(1)
            .greater_elem(0.0); // [1, 1]
        let object_score = appearing.clone().float() * MASK_PROMPT_SCALE + MASK_PROMPT_BIAS;
        Ok(ObjectStep {
            low_res,
            high_res,
            object_pointer: self.gate_pointer(head.object_pointer, appearing),
            object_score,
        })
    }

    /// `_encode_new_memory` for the objects run on one frame: their masks
    /// at the model input size `[N, 1, S, S]` and object scores `[N, 1]` →
    /// memories `[N, hw, 64]`, rounded to bfloat16 as the reference stores
    /// them. `from_prompts`: some object had a prompt on this frame, and the
    /// masks are binarised rather than squashed by a sigmoid (the reference
    /// decides for the whole batch).
    pub(crate) fn encode_memories(
        &self,
        frame: &FrameFeatures,
        high_res: Tensor<4>,
        object_scores: Tensor<2>,
        from_prompts: bool,
    ) -> Result<Vec<Vec<bf16>>, Sam2Error> {
        let v = &self.config.video;
        let [n, _, s, _] = high_res.dims();
        let masks = if from_prompts {
            high_res.greater_elem(0.0).float()
        } else {
            burn::tensor::activation::sigmoid(high_res)
        };
        let masks =
            masks * (v.sigmoid_scale_for_mem_enc as f32) + (v.sigmoid_bias_for_mem_enc as f32);
        let features = frame.levels.image_embeddings.clone();
        let [_, c, h, w] = features.dims();
        let features = features.expand([n, c, h, w]);
        let mut memory = self
            .memory_encoder
            .forward(features, masks.reshape([n, 1, s, s])); // [N, 64, h, w]
        if let Some(occlusion) = &self.occlusion_spatial_embedding_parameter {
            let absent = object_scores
                .lower_equal_elem(0.0)
                .float()
                .reshape([n, 1, 1, 1]);
            memory = memory + absent * occlusion.clone().reshape([1, MEMORY_CHANNELS, 1, 1]);
        }
        let values = memory
            .swap_dims(1, 2)
            .swap_dims(2, 3) // [N, h, w, 64]
            .into_data()
            .try_into_vec::<f32>()
            .map_err(|e| Sam2Error::Readback(format!("{e:?}")))?;
        let plane = h * w * MEMORY_CHANNELS;
        Ok(values
            .chunks(plane)
            .map(|m| m.iter().map(|&x| bf16::from_f32(x)).collect())
            .collect())
    }

    /// A stored memory back on the device: `[1, hw, 64]`.
    pub(crate) fn memory_tensor(&self, memory: &[bf16]) -> Tensor<3> {
        let values: Vec<f32> = memory.iter().map(|x| x.to_f32()).collect();
        let hw = values.len() / MEMORY_CHANNELS;
        Tensor::from_data(
            TensorData::new(values, [1, hw, MEMORY_CHANNELS]),
            self.device(),
        )
    }

    /// Side of the low-resolution masks.
    pub fn mask_size(&self) -> usize {
        self.image.mask_input_size()
    }
}

/// `get_1d_sine_pe(offsets / denominator, dim)`: `[N, dim]` row-major, the
/// sines of the `dim/2` frequencies then their cosines.
fn temporal_sine(offsets: &[i64], denominator: f32, dim: usize) -> Vec<f32> {
    let half = dim / 2;
    let dim_t: Vec<f32> = (0..half)
        .map(|i| 10_000f32.powf(2.0 * (i / 2) as f32 / half as f32))
        .collect();
    let mut out = Vec::with_capacity(offsets.len() * dim);
    for &offset in offsets {
        let position = offset as f32 / denominator;
        out.extend(dim_t.iter().map(|d| (position / d).sin()));
        out.extend(dim_t.iter().map(|d| (position / d).cos()));
    }
    out
}

/// A weight problem report, saying so where the whole video half is missing.
fn image_only(problems: WeightProblems) -> Sam2Error {
    let missing_modules: Vec<&str> = VIDEO_MODULES
        .iter()
        .copied()
        .filter(|m| problems.missing.iter().any(|k| k.starts_with(m)))
        .collect();
    if missing_modules.len() == VIDEO_MODULES.len() {
        return Sam2Error::Config(format!(
            "the checkpoint has no video modules ({}): an image-only SAM 2 file; \
             the tracker needs a sam2_video checkpoint such as facebook/sam2.1-hiera-tiny",
            missing_modules.join(", ")
        ));
    }
    Sam2Error::Weights(problems)
}
