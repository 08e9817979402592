"""SAM 2 video-predictor parity fixtures: a random-weight `Sam2VideoModel`
checkpoint directory, a synthetic clip, a prompt scenario and the reference's
per-step outputs and sub-network inputs/outputs, all as safetensors + JSON.

Reference: Hugging Face transformers 5.23.0 (`Sam2VideoModel`,
`Sam2VideoProcessor`, `models/sam2_video/`); paper: Ravi et al., "SAM 2", 2024.

    python tests/parity/sam2_video_fixtures.py --preset test --out models/fixtures/sam2-video-tiny
    python tests/parity/sam2_video_fixtures.py --preset sam2.1-hiera-tiny --out /tmp/sam2-video-full [--frames 3]
    python tests/parity/sam2_video_fixtures.py --preset test --out /tmp/x --variants   # + noise floor, wrong trackers

Needs torch + torchvision (the video processor requires torchvision) in a venv
of its own, e.g. ~/.cache/autolabel/torch-venv. CI does not run this script.

`test` is a tiny config (128 px, hidden 128, ~1.2 M parameters: hidden 128 is
the floor — the memory attention's kv input is hard-wired to 64 channels and
the hidden size must be a multiple of 64 above it — so the weights alone are
~4.8 MB) whose files are committed. `sam2.1-hiera-tiny` is the published
sam2.1-hiera-tiny video config (the `Sam2VideoConfig` defaults) with random
weights, a 24-frame 540x960 clip and two objects; its files are not committed.

Default initialisation zeroes the memory temporal encodings, the no-object
pointer, the occlusion embedding and the fuser layer scale, and makes mask
logits ~1e-4, so every parameter is redrawn at O(1) scale after seeding. The
tiny config then (1) puts the dynamic-multimask stability threshold between
the stability scores of the two single-mask prompts (object 1: three points,
object 2: a box) so the fallback fires for one and not the other (seed 5:
stability 0.9735 vs 0.9829, threshold 0.9782: object 1 falls back to the best
multimask output), and (2)
shifts the object-score head's bias until the tracked (frame, object) pairs
are a mix of present (logit > 0) and absent, so the -1024 mask gating, the
no-object pointer and the occlusion embedding all run.

Files written to OUT
-------------------
config.json, model.safetensors   `save_pretrained` output (on-disk names, f32).
clip/00000.png ...               the clip, RGB, read back with PIL and given to
                                 `Sam2VideoProcessor.init_video_session(video=[H,W,3] u8 frames)`.
mask_o3.png                      object 3's mask prompt (L, 0/255) at the frame size (outside
                                 clip/, so that a frame-folder reader sees only frames).
scenario.json                    clip size, prompts in original-frame pixels
                                 `{"frame", "object_id", "points": [[x, y, label], ...]?,
                                 "box": [x0, y0, x1, y1]?, "mask": "mask_o3.png"?}`,
                                 the propagation passes, the tuned values.
steps.json                       one entry per step, in order: kind (prompt |
                                 propagate), frame, direction, object ids, per object:
                                 storage ("cond" | "non_cond"), recomputed (false when a
                                 conditioning output was reused), present (score > 0),
                                 the memory frames read (frame, temporal row) and the
                                 object-pointer frames read (frame, temporal offset),
                                 num_object_pointer_tokens, and the key names.
expected.safetensors             per step `s{step:03}_o{object_id}_...` (C = 128 hidden,
                                 M = 64 memory channels, S = 128 input, h = w = S/16,
                                 H x W = 96 x 160 frame):
    pred_masks        [1, 4h, 4w] f32  low-res mask logits as `model(...)` returns
                                       them (after the -1024 gating)
    masks             [1, H, W]  f32   the same post-processed to the frame size
                                       (`processor.post_process_masks(binarize=False)`: one
                                       bilinear resize, align_corners=False); kept (size)
                                       only for the prompted object of each prompt step and
                                       for every object of the last step of each pass
                                       (every step in the full preset)
    object_score_logits [1, 1]   f32
    object_pointer    [1, 1, C]  f32   as stored in the session for that frame
    maskmem_features  [M, h, w]  f32   as stored: the reference casts them to bf16, so
                                       these are bf16 values widened to f32 (exact); taken
                                       right after the step (a backward pass overwrites
                                       entries); stored layout is (h*w, 1, M), saved here
                                       as [M, h, w]
    plus once: `maskmem_pos_enc` [M, h, w] f32 (the same for every frame and object:
    checked), `pixel_values_f{f}` [3, S, S] f32 for frames 0 and 13 (the processor
    resizes u8 -> u8 with torchvision's antialiased bilinear, then /255 and ImageNet
    mean/std; checked on every frame), `prompt_o{k}_point_coords` [1, 1, P, 2] f32 /
    `_point_labels` [1, 1, P] i32 as the processor hands them to the model (x * S/W,
    y * S/H; a box is two points labelled 2, 3).
subnets.safetensors              each sub-network alone (f32 unless stated):
    vision_f{f}_s0 [1, C/8, 4h, 4w], _s1 [1, C/4, 2h, 2w]: high-res features after
        conv_s0/conv_s1 (as the model caches them); vision_f{f}_top [1, C, h, w]:
        top-level features (no no-memory embedding); for frame 0 (mask path) and
        frame 9 (memory attention / encoder). vision_pos [1, C, h, w]: the top
        level's sine position encoding (the same for every frame).
    memenc_*: `_encode_new_memory` on vision_f9_top for two objects sharing one mask:
        memenc_high_res_masks [1, 1, S, S] (a tracked object's high-res logits),
        memenc_object_score_logits [2, 1] (+3, -3; the model passes [N, 1, 1]),
        memenc_raw_features / memenc_pos_enc [1, M, h, w]: the output of
        `memory_encoder(vision_f9_top, sigmoid(m) * 20 - 10)` (f32; sigmoid and the
        config's scale 20 / bias -10 are applied outside the memory encoder),
        memenc_features_sigmoid [2, M, h, w] (+ occlusion embedding for the absent
        one, then bf16, saved as f32), memenc_features_binary [2, M, h, w] (the same
        with is_mask_from_pts: (m > 0) * 20 - 10).
    memattn_*: a real memory-attention call (forward step on frame 9, object 1;
        details under "subnets" in steps.json). Its current features / position
        encoding are vision_f9_top / vision_pos flattened to [h*w, 1, C]
        (row-major); memattn_memory [N, 1, M] (spatial memories then pointer
        tokens, f32 after the session's cast), memattn_memory_pos [N, 1, M],
        memattn_num_object_pointer_tokens [1] i64, memattn_output [1, 1, h*w, C].
        memattnB_*: a backward-pass call (frame 3, object 4) with its own
        memattnB_current / memattnB_current_pos [h*w, 1, C].
    objptr_*: `_process_object_pointers` of the frame-9 call: objptr_temporal_offsets
        [K] i64, objptr_max_ptrs [1] i64, objptr_tokens [K, 1, C] (stored pointers in
        order), objptr_sine_pe [K, C] = get_1d_sine_pe(offsets / (max_ptrs - 1), C),
        objptr_pos_proj [K, M] (temporal_positional_encoding_projection_layer),
        objptr_out [K*C/M, 1, M], objptr_out_pos [K*C/M, 1, M].
    ptrproj_*: `object_pointer_proj` on two real SAM output tokens: ptrproj_in [2, C],
        ptrproj_out [2, C], ptrproj_score [2, 1] (+2, -2), ptrproj_final [2, C] =
        score > 0 ? out : no_object_pointer.
    maskprompt_*: the mask-prompt path (`_use_mask_as_output`, object 3, frame 0):
        maskprompt_input u8 [1, 1, S, S] (processor: antialiased bilinear resize of the
        0/1 mask to S x S, then >= 0.5), maskprompt_low_res [1, 1, 4h, 4w]
        (antialiased bilinear downsample of mask * 20 - 10), maskprompt_downsampled
        [1, 1, 4h, 4w] (`mask_downsample` conv on the 0/1 mask), maskprompt_dense
        [1, C, h, w] (prompt encoder's mask embedding of it), maskprompt_pointer [1, 1, C],
        maskprompt_score [1, 1] (+10 if any pixel set, else -10).
cond_select.json                 `_select_closest_cond_frames` on a few cases
                                 (max_cond_frame_num is -1 in both presets, so
                                 the scenario never selects).

Tolerances: the reference's own noise floor (`--variants`)
----------------------------------------------------------
The outputs are reproduced bit-exactly by `Sam2VideoModel(config.json)` +
`load_state_dict(model.safetensors)`. The same weights through
`from_pretrained` (other tensor storage, so some GEMMs take another kernel and
differ by one f32 ulp) give, over the whole scenario: maskmem_features 0.031
(one bf16 ulp flipped: values ~4-8), pred_masks 8e-4, object scores 2.3e-3,
object pointers 4e-5; the first difference > 1e-4 is a flipped bf16 memory
element at step 4. Any f32 port differs by more than an ulp, so compare stored
memories to within one bf16 ulp (|d| <= 2^-8 |ref| + 1e-5, a few elements) and
tracked-frame masks/scores/pointers to ~1e-2 absolute; prompt frames (no
memory read) to 1e-4. The wrong trackers (`--variants`: no object pointers,
memory sigmoid without scale/bias, all past memories instead of the window, no
occlusion embedding, zero no-object pointer) all move some mask by ~1e3 (a
flipped -1024 gate) and scores by 6-14.

Reference behaviour the port must match (found while writing this)
------------------------------------------------------------------
- Each `model(inference_session=s, frame_idx=f)` runs EVERY object known to the
  session on frame f. An object with a conditioning output on f and no new
  input reuses it (no recompute, no new memory). So the frame-6 prompt step for
  object 4 also tracks objects 1-3 on frame 6 (stored as non-conditioning
  outputs, memory encoded; the forward pass recomputes and overwrites them
  before anything reads them).
- The memory encoder is batched over the objects run on a frame, and its
  `is_mask_from_pts` is `any(...)` over that batch: on a prompt step every
  object encoded on that frame gets a binarised mask (m > 0), not sigmoid(m).
  The frame-6 prompt step therefore binarises objects 1-3's tracked masks too.
- A prompt's frame is a conditioning frame only if the object was not yet
  tracked on it (`frames_tracked_per_obj`): prompts are all added before any
  propagation here, so every prompt frame is a conditioning frame.
- Object 4 (first prompted on frame 6) is tracked on frames 0-5 of the forward
  pass from its future conditioning memory: at frame 0 it reads only the
  frame-6 memory and no object pointer (pointers are taken only from
  conditioning frames <= t forward, >= t backward).
- Memory read at frame t: all conditioning frames (temporal row
  num_maskmem-1, i.e. `memory_temporal_positional_encoding[-1]`), then
  non-conditioning frames t-(num_maskmem-1) .. t-1 (offset k uses row k-1;
  t+k when reversed), oldest first; missing ones are skipped. Pointers:
  conditioning frames first (offset (t - c) * (reverse ? -1 : 1)), then
  non-conditioning frames at offsets 1 .. max_ptrs-1; offsets are divided by
  min(num_frames, max_object_pointers_in_encoder) - 1 and NOT clipped (a
  conditioning frame 13 frames away gives 13/3). Each C-dim pointer is split
  into C/64 tokens (reshape (K, C/64, 64)) that share its position encoding;
  pointer tokens come last and get no RoPE.
- The backward pass (`reverse=True`, from the last frame) recomputes every frame
  that has no conditioning output, including the last: at frame 13 it reads
  only the conditioning memories (t+1.. are beyond the clip) and no pointer,
  so its frame-13 result differs from the forward one. From then on the window
  t+1..t+3 holds backward results (already overwritten): in this scenario the
  backward pass reads no forward result. Frames with a conditioning output
  (0 for objects 1-3, 6 for object 4) are reused, not recomputed.
- Stored `maskmem_features` are bf16 (the memory attention casts them back to
  the session dtype, f32); `maskmem_pos_enc` stays f32. The occlusion embedding
  is added (object score <= 0) before the bf16 cast.
- Mask prompts skip SAM for the mask: high-res = mask * 20 - 10, low-res =
  antialiased bilinear downsample of that; the pointer comes from the SAM
  decoder run on the RAW top-level features (no no-memory embedding, no memory
  attention), prompted only by `mask_downsample(mask)` as a dense prompt and a
  padding point, multimask (best IoU); the object score is +/-10 from "any
  pixel set". Its memory is encoded from the binarised high-res mask.
- Prompt frames with 2+ points (a box counts as 2) use single-mask output with
  the dynamic stability fallback; 0-1 points (and all tracking frames) use
  multimask, best predicted IoU; the object pointer comes from that mask's
  output token. Tracking frames have no prompt: the sparse prompt is the
  (0, 0) label -1 point plus the padding point, i.e. two not-a-point tokens.
- `max_cond_frame_num` (-1 = all, as published; not exercised by the scenario,
  see cond_select.json): keeps the closest conditioning frame < t, the closest
  >= t, then the nearest others, in that order (= memory order); the others
  become ordinary memories if in the window. Quirk kept by transformers: with
  max 1 and frames on both sides, `[:max - 2]` = `[:-1]` keeps all but the
  farthest (frame 10, conds 0/3/8/12, max 1 -> 8, 12, 3).
- Initial conditioning frames add `no_memory_embedding` to the top-level
  features; tracking frames replace them by the memory attention's output.
- Memory attention: queries = features + 0.1 * their sine position encoding;
  pre-norm layers (self-attn with RoPE on q and k, cross-attn with RoPE on q
  and on the spatial memory keys, the same grid repeated for every memory
  frame, none on the trailing pointer tokens; keys = memory + memory pos, values
  = memory), then a final LayerNorm. RoPE is axial and pairwise-interleaved
  (rotate (x0, x1) -> (-x1, x0)); the first half of each head's dims uses the
  column (x) index, the second half the row (y) index, inv_freq = theta^(-2i/(d/2)),
  i < d/4, each repeated twice (d = head dim).
"""

import argparse
import copy
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import save_file
from transformers import (
    Sam2ImageProcessor,
    Sam2VideoConfig,
    Sam2VideoModel,
    Sam2VideoProcessor,
    Sam2VideoVideoProcessor,
)
from transformers.models.sam2_video import modeling_sam2_video as msv

SEED = 5  # chosen (seeds 1-15 scanned) so every prompted object is present on its prompt frame
# Object-score logits come out ~0.1 at gain 4: too close to 0 (a 1e-4 error
# would flip the -1024 gating). This spreads them to ~10 units.
OBJ_SCORE_GAIN = 100.0
MARGIN = 0.1


def tiny_config():
    return Sam2VideoConfig(
        vision_config=dict(
            model_type="sam2_vision_model",
            backbone_config=dict(
                model_type="sam2_hiera_det_model",
                hidden_size=12,
                image_size=[128, 128],
                blocks_per_stage=[1, 1, 2, 1],
                embed_dim_per_stage=[12, 24, 48, 96],
                num_attention_heads_per_stage=[1, 2, 2, 4],
                # Stage 2 windows (6) pad the 8x8 grid to 12x12; block 3 is global.
                window_size_per_stage=[8, 4, 6, 2],
                global_attention_blocks=[3],
                window_positional_embedding_background_size=[7, 7],
            ),
            backbone_channel_list=[96, 48, 24, 12],
            backbone_feature_sizes=[[32, 32], [16, 16], [8, 8]],
            fpn_hidden_size=128,
        ),
        prompt_encoder_config=dict(hidden_size=128, image_size=128, patch_size=16, mask_input_channels=16),
        mask_decoder_config=dict(hidden_size=128, mlp_dim=64, num_attention_heads=2, iou_head_hidden_dim=32),
        image_size=128,
        num_maskmem=4,
        max_object_pointers_in_encoder=4,
        # Two heads and downsample 2 (head dim 32, RoPE over 16+16) where the
        # published config has 1 and 1: the port must read them from config.
        memory_attention_hidden_size=128,
        memory_attention_num_layers=2,
        memory_attention_num_attention_heads=2,
        memory_attention_downsample_rate=2,
        memory_attention_feed_forward_hidden_size=64,
        memory_attention_rope_feat_sizes=[8, 8],
        memory_encoder_hidden_size=128,
        memory_encoder_output_channels=64,
        mask_downsampler_embed_dim=128,
        memory_fuser_embed_dim=128,
        memory_fuser_intermediate_dim=64,
    )


def full_config():
    # The Sam2VideoConfig defaults are the published sam2.1-hiera-tiny video
    # config: hiera 96, stages [1, 2, 7, 2], global blocks [5, 7, 9], windows
    # [8, 4, 14, 7], FPN 256, num_maskmem 7, 16 object pointers, RoPE 64x64.
    config = Sam2VideoConfig()
    bb = config.vision_config.backbone_config
    assert bb.hidden_size == 96 and list(bb.blocks_per_stage) == [1, 2, 7, 2], bb
    assert list(bb.global_attention_blocks) == [5, 7, 9] and list(bb.window_size_per_stage) == [8, 4, 14, 7], bb
    return config


EMBEDDINGS = (
    "point_embed.weight",
    "not_a_point_embed.weight",
    "no_mask_embed.weight",
    "iou_token.weight",
    "mask_tokens.weight",
    "obj_score_token.weight",
    "no_memory_embedding",
    "no_memory_positional_encoding",
    "positional_embedding",
    "no_object_pointer",
    "occlusion_spatial_embedding_parameter",
)


def redraw(model, generator):
    """Every parameter and persistent float buffer at a scale that keeps activations O(1)."""
    with torch.no_grad():
        for name, p in list(model.named_parameters()) + list(model.named_buffers()):
            if not p.is_floating_point() or "inv_freq" in name:
                continue  # RoPE frequencies are derived, not weights
            noise = torch.randn(p.shape, generator=generator)
            if name.endswith("bias"):
                p.copy_(0.1 * noise)
            elif "layer_norm" in name:
                p.copy_(1.0 + 0.1 * noise)
            elif name.endswith(("pos_embed", "pos_embed_window")):
                p.copy_(0.5 * noise)
            elif name == "memory_temporal_positional_encoding":
                p.copy_(0.5 * noise)
            elif name.endswith(".scale"):  # memory fuser layer scale (default 1e-6)
                p.copy_(0.5 + 0.1 * noise)
            elif name.endswith(EMBEDDINGS):
                p.copy_(noise)
            else:
                # Linear [out, in], Conv2d [out, in/groups, k, k]: fan-in = in·k·k;
                # ConvTranspose2d [in, out, 2, 2] with stride 2: fan-in = in.
                fan_in = p.shape[0] if "upscale_conv" in name else p[0].numel()
                gain = 1.0
                if name.endswith("iou_prediction_head.proj_out.weight"):
                    gain = 4.0
                elif name.endswith("pred_obj_score_head.proj_out.weight"):
                    gain = OBJ_SCORE_GAIN
                elif "output_hypernetworks_mlps" in name and "proj_out" in name:
                    gain = 2.0
                p.copy_(gain * noise / math.sqrt(fan_in))


# ---------------------------------------------------------------- the clip


def shapes_at(t, h, w):
    """Boolean masks of the moving shapes at frame t (shared by the clip and the prompts)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    s = h / 96.0  # geometry scales with the frame
    disc = (x - (0.19 * w + 0.0375 * w * t)) ** 2 + (y - 0.36 * h) ** 2 < (12 * s) ** 2
    rx0, ry0 = 0.69 * w - 0.025 * w * t, 0.55 * h + 0.01 * h * t
    rect = (x >= rx0) & (x < rx0 + 0.19 * w) & (y >= ry0) & (y < ry0 + 0.21 * h)
    ell = ((x - 0.44 * w) / (16 * s)) ** 2 + ((y - (0.72 * h - 0.02 * h * t)) / (10 * s)) ** 2 < 1
    sq = np.zeros((h, w), bool)
    if t >= 4:  # appears mid-clip
        cx, cy = 0.84 * w - 0.01 * w * t, 0.2 * h + 0.03 * h * t
        sq = (np.abs(x - cx) < 9 * s) & (np.abs(y - cy) < 9 * s)
    return {"disc": disc, "rect": rect, "ellipse": ell, "square": sq}


def frame_at(t, h, w):
    """A smooth background with coloured shapes; the rectangle occludes the disc mid-clip."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 150 + 60 * np.sin(x / (0.12 * w) + 0.2 * t) * np.cos(y / (0.15 * h))
    g = 140 + 50 * np.cos((x + y) / (0.1 * w) - 0.1 * t)
    b = 130 + 70 * np.sin(y / (0.08 * h) + x / (0.3 * w))
    img = np.stack([r, g, b], -1)
    m = shapes_at(t, h, w)
    img[m["ellipse"]] = [40, 60, 220]
    img[m["disc"]] = [230, 40, 40]
    img[m["rect"]] = [30, 200, 60]
    img[m["square"]] = [240, 220, 30]
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def centre(mask):
    ys, xs = np.nonzero(mask)
    return float(np.round(xs.mean(), 1)), float(np.round(ys.mean(), 1))


def box_of(mask):
    ys, xs = np.nonzero(mask)
    return [float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())]


def make_scenario(preset, h, w, num_frames):
    m0 = shapes_at(0, h, w)
    if preset == "test":
        mid = 6
        m6 = shapes_at(mid, h, w)
        (dx, dy), (rx, ry) = centre(m0["disc"]), centre(m0["rect"])
        prompts = [
            # Two positive points on the disc, one negative on the rectangle.
            {"frame": 0, "object_id": 1, "points": [[dx, dy, 1], [dx + 4 * h / 96, dy - 3 * h / 96, 1], [rx, ry, 0]]},
            {"frame": 0, "object_id": 2, "box": box_of(m0["rect"])},
            {"frame": 0, "object_id": 3, "mask": "mask_o3.png"},
            {"frame": mid, "object_id": 4, "points": [[*centre(m6["square"]), 1]]},
        ]
        masks = {"mask_o3.png": m0["ellipse"]}
    else:
        (dx, dy) = centre(m0["disc"])
        prompts = [
            {"frame": 0, "object_id": 1, "points": [[dx, dy, 1]]},
            {"frame": 0, "object_id": 2, "box": box_of(m0["rect"])},
        ]
        masks = {}
    passes = [
        {"direction": "forward", "start_frame": 0},
        {"direction": "backward", "start_frame": num_frames - 1},
    ]
    return prompts, masks, passes


# ---------------------------------------------------------------- recording


class Recorder:
    """Wraps a few model methods to see which memories/pointers each object reads."""

    def __init__(self, model):
        self.model = model
        self.calls = []  # per (object, frame) memory-conditioned call
        self.capture = set()  # (step, obj_idx) whose memory attention tensors to keep
        self.captured = {}
        self.step = None
        self.ctx = None
        orig_gather = model._gather_memory_frame_outputs
        orig_ptrs = model._get_object_pointers
        orig_proc = model._process_object_pointers
        orig_attn = model.memory_attention.forward

        def gather(session, obj_idx, frame_idx, track_in_reverse_time=False):
            out = orig_gather(session, obj_idx, frame_idx, track_in_reverse_time)
            od = session.output_dict_per_obj[obj_idx]
            ident = {id(v): (f, k) for k in ("cond_frame_outputs", "non_cond_frame_outputs") for f, v in od[k].items()}
            mems = []
            for off, data in out:
                if data is None:
                    continue
                f, kind = ident[id(data)]
                mems.append({"frame": f, "temporal_row": (off - 1) % self.model.num_maskmem, "cond": kind == "cond_frame_outputs"})
            self.ctx = {"step": self.step, "obj_idx": obj_idx, "frame": frame_idx, "reverse": bool(track_in_reverse_time), "memories": mems}
            self.calls.append(self.ctx)
            return out

        def ptrs(session, obj_idx, frame_idx, num_total_frames, device, track_in_reverse_time=False, streaming=False):
            offs, toks, mx = orig_ptrs(session, obj_idx, frame_idx, num_total_frames, device, track_in_reverse_time, streaming)
            sign = -1 if track_in_reverse_time else 1
            cond = session.output_dict_per_obj[obj_idx]["cond_frame_outputs"]
            n_cond = sum(1 for c in cond if (c >= frame_idx if track_in_reverse_time else c <= frame_idx))
            frames = [frame_idx - o * sign for o in offs]
            self.ctx["pointers"] = [{"frame": f, "offset": o, "cond": i < n_cond} for i, (f, o) in enumerate(zip(frames, offs))]
            self.ctx["max_ptrs"] = mx
            if (self.step, obj_idx) in self.capture:
                self.captured[(self.step, obj_idx)] = {
                    "objptr_temporal_offsets": torch.tensor(offs, dtype=torch.int64),
                    "objptr_max_ptrs": torch.tensor([mx], dtype=torch.int64),
                    "objptr_tokens": torch.stack(toks, 0).clone() if toks else torch.zeros(0),
                }
            return offs, toks, mx

        def proc(offs, toks, mx, batch_size, num_channels, device):
            out = orig_proc(offs, toks, mx, batch_size, num_channels, device)
            key = (self.step, self.ctx["obj_idx"])
            if key in self.captured and out[0] is not None:
                sine = msv.get_1d_sine_pe(torch.tensor(offs, dtype=torch.float32) / float(mx - 1), dim=num_channels)
                self.captured[key].update(
                    objptr_sine_pe=sine,
                    objptr_pos_proj=self.model.temporal_positional_encoding_projection_layer(sine),
                    objptr_out=out[0].clone(),
                    objptr_out_pos=out[1].clone(),
                )
            return out

        def attn(current_vision_features, memory, current_vision_position_embeddings=None, memory_posision_embeddings=None, num_object_pointer_tokens=0):
            out = orig_attn(current_vision_features, memory, current_vision_position_embeddings, memory_posision_embeddings, num_object_pointer_tokens)
            self.ctx["num_memory_tokens"] = int(memory.shape[0])
            self.ctx["num_object_pointer_tokens"] = int(num_object_pointer_tokens)
            key = (self.step, self.ctx["obj_idx"])
            if key in self.captured:
                self.captured[key].update(
                    memattn_current=current_vision_features.clone(),
                    memattn_current_pos=current_vision_position_embeddings.clone(),
                    memattn_memory=memory.clone(),
                    memattn_memory_pos=memory_posision_embeddings.clone(),
                    memattn_num_object_pointer_tokens=torch.tensor([num_object_pointer_tokens], dtype=torch.int64),
                    memattn_output=out.clone(),
                )
            return out

        model._gather_memory_frame_outputs = gather
        model._get_object_pointers = ptrs
        model._process_object_pointers = proc
        model.memory_attention.forward = attn


def load_clip(clip_dir, num_frames):
    """The clip as the processor gets it: [T, H, W, 3] u8 read back from the PNGs."""
    return np.stack([np.array(Image.open(os.path.join(clip_dir, f"{t:05d}.png")).convert("RGB")) for t in range(num_frames)])


def add_prompt(processor, session, prompt, out_dir):
    kw = {}
    if "points" in prompt:
        kw["input_points"] = [[[p[:2] for p in prompt["points"]]]]
        kw["input_labels"] = [[[int(p[2]) for p in prompt["points"]]]]
    if "box" in prompt:
        kw["input_boxes"] = [[prompt["box"]]]
    if "mask" in prompt:
        kw["input_masks"] = np.array(Image.open(os.path.join(out_dir, prompt["mask"]))) > 127
    processor.add_inputs_to_inference_session(
        inference_session=session, frame_idx=prompt["frame"], obj_ids=prompt["object_id"], **kw
    )


def run_scenario(model, processor, video, prompts, passes, out_dir, recorder=None, keep=None):
    """Runs the scenario; returns a list of steps with per-object tensors.

    keep(step_index, kind) -> whether to keep the original-size masks."""
    session = processor.init_video_session(video=video, inference_device="cpu", dtype=torch.float32)
    h, w = session.video_height, session.video_width
    steps = []

    def record(kind, direction, out, before):
        idx = len(steps)
        post = processor.post_process_masks([out.pred_masks], original_sizes=[[h, w]], binarize=False)[0]
        objs = []
        for i, oid in enumerate(out.object_ids):
            obj_idx = session._obj_id_to_idx[oid]
            od = session.output_dict_per_obj[obj_idx]
            cond = out.frame_idx in od["cond_frame_outputs"]
            data = od["cond_frame_outputs" if cond else "non_cond_frame_outputs"][out.frame_idx]
            objs.append(
                {
                    "object_id": oid,
                    "obj_idx": obj_idx,
                    "storage": "cond" if cond else "non_cond",
                    "recomputed": before.get(obj_idx) != id(data),
                    "pred_masks": out.pred_masks[i].clone(),
                    "masks": post[i].clone(),
                    "object_score_logits": out.object_score_logits[i : i + 1].clone(),
                    "object_pointer": data["object_pointer"].clone(),
                    "maskmem_features": data["maskmem_features"].clone(),
                    "maskmem_pos_enc": data["maskmem_pos_enc"].clone(),
                    "high_res_masks": data["high_res_masks"],
                }
            )
        steps.append({"kind": kind, "frame": out.frame_idx, "direction": direction, "objects": objs})
        if recorder is not None:
            recorder.step = idx + 1

    def ids_before(frame):
        res = {}
        for obj_idx, od in session.output_dict_per_obj.items():
            d = od["cond_frame_outputs"].get(frame, od["non_cond_frame_outputs"].get(frame))
            res[obj_idx] = id(d) if d is not None else None
        return res

    if recorder is not None:
        recorder.step = 0
    for prompt in prompts:
        add_prompt(processor, session, prompt, out_dir)
        before = ids_before(prompt["frame"])
        out = model(inference_session=session, frame_idx=prompt["frame"])
        record("prompt", "none", out, before)
    for p in passes:
        reverse = p["direction"] == "backward"
        # ids are taken before each frame runs: the iterator is lazy.
        it = model.propagate_in_video_iterator(session, start_frame_idx=p["start_frame"], reverse=reverse)
        frame = p["start_frame"]
        while True:
            before = ids_before(frame)
            try:
                out = next(it)
            except StopIteration:
                break
            assert out.frame_idx == frame
            record("propagate", p["direction"], out, before)
            frame += -1 if reverse else 1
    return session, steps


def score_summary(steps):
    tracked = [o["object_score_logits"].item() for s in steps for o in s["objects"] if o["recomputed"]]
    pos = sum(1 for v in tracked if v > 0)
    return pos, len(tracked) - pos, tracked


def centre_prompt_scores(model, processor, video, prompts, out_dir, probe_frames=2, rounds=3):
    """Full preset (a full tuning run is too slow): shift the object-score bias until
    every prompted object is present on its prompt frame (score >= +1) and the median
    score of the first `probe_frames` tracked frames is in [0, 5] (random weights tend
    to say "absent" everywhere otherwise, which empties every tracked mask). The
    scores feed back through the memories, hence a few rounds."""
    bias = model.mask_decoder.pred_obj_score_head.proj_out.bias
    start = min(p["frame"] for p in prompts)
    for _ in range(rounds):
        session = processor.init_video_session(video=video, inference_device="cpu", dtype=torch.float32)
        prompt_scores = []
        for prompt in prompts:
            add_prompt(processor, session, prompt, out_dir)
            out = model(inference_session=session, frame_idx=prompt["frame"])
            prompt_scores.append(out.object_score_logits[-1].item())
        tracked = []
        for out in model.propagate_in_video_iterator(session, start_frame_idx=start, max_frame_num_to_track=probe_frames):
            if out.frame_idx != start:
                tracked += out.object_score_logits.flatten().tolist()
        med = float(np.median(tracked)) if tracked else 2.0
        shift = max(1.0 - min(prompt_scores), 2.0 - med)
        print(f"prompt-frame object scores {['%.2f' % v for v in prompt_scores]}, first tracked "
              f"{['%.2f' % v for v in tracked]}; bias {bias.item():+.3f}, shift {shift:+.3f}", flush=True)
        if min(prompt_scores) >= 1.0 and 0.0 <= med <= 5.0:
            break
        with torch.no_grad():
            bias += shift


def tune(model, processor, video, prompts, passes, out_dir, preset):
    """Stability threshold between the single-mask prompts, then an object-score bias giving both signs."""
    decoder = model.mask_decoder
    scores = []
    orig = decoder._get_stability_scores

    def spy(mask_logits):
        s = orig(mask_logits)
        scores.extend(s.flatten().tolist())
        return s

    decoder._get_stability_scores = spy
    session = processor.init_video_session(video=video, inference_device="cpu", dtype=torch.float32)
    for prompt in prompts[:2]:  # the two single-mask prompts (3 points, a box)
        add_prompt(processor, session, prompt, out_dir)
        model(inference_session=session, frame_idx=prompt["frame"])
    del decoder._get_stability_scores
    thresh = (scores[0] + scores[1]) / 2 if len(scores) >= 2 and scores[0] != scores[1] else None
    print(f"single-mask stability scores {['%.4f' % s for s in scores]} -> threshold {thresh}")
    if thresh is not None:
        decoder.dynamic_multimask_stability_thresh = thresh
        model.config.mask_decoder_config.dynamic_multimask_stability_thresh = thresh

    # Object-score bias: centre the tracked scores on 0, then step it until (a) both signs
    # make up >= 30 % of the computed (object, frame) pairs, (b) every prompted object is
    # present on its own prompt frame, (c) no score is within MARGIN of 0 (a sign that a
    # small numeric error could flip).
    bias = decoder.pred_obj_score_head.proj_out.bias
    _, steps = run_scenario(model, processor, video, prompts, passes, out_dir)
    with torch.no_grad():
        bias -= float(np.median(score_summary(steps)[2]))
    base = bias.item()
    # A later-prompted point object: pick, among points inside its shape, the one whose
    # prompt frame (an initial conditioning frame: no memory) scores highest.
    if preset == "test":
        late = prompts[-1]
        cx, cy, lab = late["points"][0]
        best = None
        for dx, dy in [(0, 0), (-4, -4), (4, -4), (-4, 4), (4, 4), (0, -5), (0, 5), (-5, 0), (5, 0)]:
            cand = {**late, "points": [[cx + dx, cy + dy, lab]]}
            session = processor.init_video_session(video=video, inference_device="cpu", dtype=torch.float32)
            add_prompt(processor, session, cand, out_dir)
            sc = model(inference_session=session, frame_idx=cand["frame"]).object_score_logits.item()
            if best is None or sc > best[0]:
                best = (sc, cand["points"])
        late["points"] = best[1]
        print(f"object {late['object_id']} point {best[1]}: prompt-frame score {best[0]:+.2f}")
    for k in [0, 1, -1, 2, -2, 3, -3, 4, -4, 5, -5, 6, -6, 7, -7, 8, -8]:
        with torch.no_grad():
            bias.fill_(base + 0.05 * k)
        _, steps = run_scenario(model, processor, video, prompts, passes, out_dir)
        pos, neg, tracked = score_summary(steps)
        margin = min(abs(v) for v in tracked)
        prompted = all(s["objects"][-1]["object_score_logits"].item() > 0 for s in steps if s["kind"] == "prompt")
        ok = min(pos, neg) >= 0.3 * (pos + neg) and prompted and margin >= MARGIN
        print(f"object-score bias {bias.item():+.4f}: {pos} present, {neg} absent of {pos + neg} computed "
              f"(object, frame); prompted objects present: {prompted}; min |score| {margin:.3f}")
        if ok or preset != "test":
            break
    else:
        raise SystemExit("no object-score bias satisfies the criteria; change the seed")
    return thresh


# ---------------------------------------------------------------- outputs


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=["test", "sam2.1-hiera-tiny"], default="test")
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--frames", type=int, help="clip length (default 14 test / 24 full)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--variants", action="store_true",
                        help="after writing, reload the checkpoint and show that deliberately wrong trackers change the outputs")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    t_start = time.time()

    test = args.preset == "test"
    h, w = (96, 160) if test else (540, 960)
    num_frames = args.frames or (14 if test else 24)
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    config = tiny_config() if test else full_config()
    config._attn_implementation = "eager"
    model = Sam2VideoModel(config).eval()
    redraw(model, generator)
    size = config.image_size
    low = config.prompt_encoder_config.image_size // config.prompt_encoder_config.patch_size * 4
    processor = Sam2VideoProcessor(
        image_processor=Sam2ImageProcessor(size={"height": size, "width": size}, mask_size={"height": low, "width": low}),
        video_processor=Sam2VideoVideoProcessor(size={"height": size, "width": size}),
        target_size=size,
    )

    out_dir = args.out
    clip_dir = os.path.join(out_dir, "clip")
    os.makedirs(clip_dir, exist_ok=True)
    for t in range(num_frames):
        Image.fromarray(frame_at(t, h, w)).save(os.path.join(clip_dir, f"{t:05d}.png"), optimize=True)
    prompts, masks, passes = make_scenario(args.preset, h, w, num_frames)
    for rel, m in masks.items():
        Image.fromarray((m * 255).astype(np.uint8), mode="L").save(os.path.join(out_dir, rel), optimize=True)
    video = load_clip(clip_dir, num_frames)

    thresh = None
    if test:
        thresh = tune(model, processor, video, prompts, passes, out_dir, args.preset)
    else:
        centre_prompt_scores(model, processor, video, prompts, out_dir)
    model.save_pretrained(out_dir)

    # The recorded run.
    recorder = Recorder(model)
    last_fwd = num_frames  # step index of the forward pass's last frame
    n_prompt = len(prompts)
    ma_frame = min(9, num_frames - 1)
    ma_step = n_prompt + ma_frame  # forward step on frame ma_frame
    # Backward step on frame 3: object 4 reads its conditioning frame 6 as a pointer
    # (offset 3) and memories 4, 5 (6 is conditioning, so not in the window).
    mb_frame = max(1, min(3, num_frames - 2))
    mb_step = n_prompt + num_frames + (num_frames - 1 - mb_frame)
    ma_key, mb_key = (ma_step, 0), (mb_step, min(3, len(prompts) - 1))
    recorder.capture = {ma_key, mb_key}
    t0 = time.time()
    session, steps = run_scenario(model, processor, video, prompts, passes, out_dir, recorder)
    elapsed = time.time() - t0
    n_frames_run = len(steps)
    print(f"scenario: {n_frames_run} steps in {elapsed:.1f} s ({elapsed / n_frames_run:.2f} s per step)")

    last_steps = {n_prompt + num_frames - 1, len(steps) - 1}
    expected = {}
    pos_enc = steps[0]["objects"][0]["maskmem_pos_enc"]
    summary_rows = []
    steps_json = []
    calls = {}
    for c in recorder.calls:
        calls[(c["step"], c["obj_idx"])] = c
    for si, s in enumerate(steps):
        entry = {"step": si, "kind": s["kind"], "frame": s["frame"], "direction": s["direction"], "objects": []}
        for o in s["objects"]:
            p = f"s{si:03d}_o{o['object_id']}_"
            keys = {}
            mm = o["maskmem_features"]  # (h*w, 1, M) bf16
            fh, fw = config.vision_config.backbone_feature_sizes[-1]
            keys["pred_masks"] = o["pred_masks"]
            keep_masks = (s["kind"] == "prompt" and o["object_id"] == s["objects"][-1]["object_id"]) or si in last_steps or not test
            if keep_masks:
                keys["masks"] = o["masks"]
            keys["object_score_logits"] = o["object_score_logits"]
            keys["object_pointer"] = o["object_pointer"]
            keys["maskmem_features"] = mm[:, 0, :].T.reshape(-1, fh, fw).float()
            assert mm.dtype == torch.bfloat16
            assert torch.equal(o["maskmem_pos_enc"], pos_enc)
            for k, v in keys.items():
                expected[p + k] = v
            c = calls.get((si, o["obj_idx"]))
            oe = {
                "object_id": o["object_id"],
                "storage": o["storage"],
                "recomputed": o["recomputed"],
                "present": o["object_score_logits"].item() > 0,
                "object_score": round(o["object_score_logits"].item(), 4),
                "keys": [p + k for k in keys],
            }
            if o["recomputed"] and c is not None:
                oe.update(
                    memories=[[m["frame"], m["temporal_row"]] for m in c["memories"]],
                    pointers=[[q["frame"], q["offset"]] for q in c.get("pointers", [])],
                    num_memory_tokens=c.get("num_memory_tokens"),
                    num_object_pointer_tokens=c.get("num_object_pointer_tokens"),
                )
            elif o["recomputed"]:
                oe["memories"] = "none (initial conditioning frame or mask prompt)"
            entry["objects"].append(oe)
            summary_rows.append((si, s["frame"], o["object_id"], o["recomputed"], o["object_score_logits"].item()))
        steps_json.append(entry)
    expected["maskmem_pos_enc"] = pos_enc[:, 0, :].T.reshape(-1, *config.vision_config.backbone_feature_sizes[-1])
    for f in sorted({0, num_frames - 1}):
        expected[f"pixel_values_f{f}"] = session.processed_frames[f]
    for prompt in prompts:
        obj_idx = session._obj_id_to_idx[prompt["object_id"]]
        pi = session.point_inputs_per_obj[obj_idx].get(prompt["frame"])
        if pi is not None:
            expected[f"prompt_o{prompt['object_id']}_point_coords"] = pi["point_coords"]
            expected[f"prompt_o{prompt['object_id']}_point_labels"] = pi["point_labels"].to(torch.int32)
    check_pixels(session, video, size)

    # Sub-networks.
    subnets = {}
    subnet_info = {}
    if num_frames >= 3:
        subnets, subnet_info = build_subnets(model, session, steps, recorder, ma_frame, ma_key, mb_key, config)
    save_file({k: v.contiguous() for k, v in expected.items()}, os.path.join(out_dir, "expected.safetensors"))
    if subnets:
        save_file({k: v.contiguous() for k, v in subnets.items()}, os.path.join(out_dir, "subnets.safetensors"))
        with open(os.path.join(out_dir, "cond_select.json"), "w") as f:
            json.dump(cond_select_cases(model), f, indent=1)

    tracked = [r for r in summary_rows if r[3]]
    pos = sum(1 for r in tracked if r[4] > 0)
    summary = {
        "computed_object_frames": len(tracked),
        "present": pos,
        "absent": len(tracked) - pos,
        "present_by_object": {
            str(k): [sum(1 for r in tracked if r[2] == k and r[4] > 0), sum(1 for r in tracked if r[2] == k)]
            for k in sorted({r[2] for r in tracked})
        },
    }
    print("object scores:", json.dumps(summary))
    for si, s in enumerate(steps):
        print(f"  step {si:2d} {s['kind']:9s} {s['direction']:8s} f{s['frame']:2d}: "
              + " ".join(f"o{o['object_id']}{'*' if o['recomputed'] else ' '}{o['object_score_logits'].item():+7.2f}" for o in s["objects"]))
    with open(os.path.join(out_dir, "steps.json"), "w") as f:
        json.dump({"steps": steps_json, "subnets": subnet_info, "score_summary": summary}, f, indent=1)
    with open(os.path.join(out_dir, "scenario.json"), "w") as f:
        json.dump(
            {
                "clip": "clip", "num_frames": num_frames, "frame_hw": [h, w], "seed": args.seed,
                "prompts": prompts, "passes": passes,
                "note": "Each prompt is added for one object and its frame run at once (model(inference_session, frame_idx)); "
                        "then the passes run in the same session (propagate_in_video_iterator, reverse for backward).",
                "dynamic_multimask_stability_thresh": thresh,
                "object_score_head_bias": model.mask_decoder.pred_obj_score_head.proj_out.bias.item(),
            },
            f, indent=1,
        )
    if args.variants:
        check_variants(out_dir, processor, video, prompts, passes, steps)
    print(f"total {time.time() - t_start:.1f} s")


def check_variants(out_dir, processor, video, prompts, passes, steps):
    """Reload the written checkpoint and re-run the scenario: the model built from
    config.json + load_state_dict must reproduce every output bit-exactly. The
    same weights through `from_pretrained` do not: their storage differs (alignment),
    some GEMMs take another kernel and differ by an ulp, and the bf16 rounding of
    stored memories amplifies that over the clip. That run is the reference's own
    noise floor; then each deliberately wrong tracker must stand far above it."""
    from safetensors.torch import load_file

    keys = ("pred_masks", "object_score_logits", "object_pointer", "maskmem_features")

    def compare(tag, got):
        worst = {k: 0.0 for k in keys}
        first = None
        for si, (s_ref, s_got) in enumerate(zip(steps, got)):
            for a, b in zip(s_ref["objects"], s_got["objects"]):
                for k in keys:
                    d = (a[k].float() - b[k].float()).abs().max().item()
                    worst[k] = max(worst[k], d)
                    if d > 1e-4 and first is None:
                        first = (si, a["object_id"], k)
        print(f"  {tag:44s} " + ", ".join(f"{k} {v:.2g}" for k, v in worst.items()) + f"; first > 1e-4: {first}")
        return worst

    config = Sam2VideoConfig.from_pretrained(out_dir)
    config._attn_implementation = "eager"

    def fresh():
        m = Sam2VideoModel(copy.deepcopy(config)).eval()
        m.load_state_dict(load_file(os.path.join(out_dir, "model.safetensors")))
        return m

    print("max |reference - variant| over every step and object:")
    got = run_scenario(fresh(), processor, video, prompts, passes, out_dir)[1]
    assert all(v == 0.0 for v in compare("config.json + load_state_dict (must be 0)", got).values())
    m = Sam2VideoModel.from_pretrained(out_dir, attn_implementation="eager").eval()
    compare("from_pretrained (noise floor, see docstring)", run_scenario(m, processor, video, prompts, passes, out_dir)[1])

    m = fresh()
    m._get_object_pointers = lambda *a, **k: ([], [], 1)
    compare("no object pointers", run_scenario(m, processor, video, prompts, passes, out_dir)[1])

    m = fresh()
    m.config.sigmoid_scale_for_mem_enc, m.config.sigmoid_bias_for_mem_enc = 1.0, 0.0
    compare("memory sigmoid without scale/bias", run_scenario(m, processor, video, prompts, passes, out_dir)[1])

    m = fresh()
    orig = m._gather_memory_frame_outputs

    def all_past(session, obj_idx, frame_idx, track_in_reverse_time=False):
        out = [x for x in orig(session, obj_idx, frame_idx, track_in_reverse_time) if x[0] == 0]
        for f, data in sorted(session.output_dict_per_obj[obj_idx]["non_cond_frame_outputs"].items()):
            off = (f - frame_idx) if track_in_reverse_time else (frame_idx - f)
            if off > 0:
                out.append((min(off, m.num_maskmem - 1), data))
        return out

    m._gather_memory_frame_outputs = all_past
    compare("all past memories instead of the window", run_scenario(m, processor, video, prompts, passes, out_dir)[1])

    m = fresh()
    m.occlusion_spatial_embedding_parameter = None
    compare("no occlusion embedding", run_scenario(m, processor, video, prompts, passes, out_dir)[1])

    m = fresh()
    with torch.no_grad():
        m.no_object_pointer.zero_()
    compare("no-object pointer zero", run_scenario(m, processor, video, prompts, passes, out_dir)[1])


def check_pixels(session, video, size):
    """pixel_values = normalise(u8 antialiased bilinear resize of the u8 frame): verify on every frame."""
    import torchvision.transforms.v2.functional as tvF

    mean = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
    std = torch.tensor([0.229, 0.224, 0.225])[:, None, None]
    for t in range(len(video)):
        u8 = tvF.resize(torch.from_numpy(video[t]).permute(2, 0, 1), [size, size], antialias=True)
        assert u8.dtype == torch.uint8
        ref = (u8.float() / 255.0 - mean) / std
        err = (ref - session.processed_frames[t]).abs().max().item()
        assert err < 1e-5, err


def build_subnets(model, session, steps, recorder, ma_frame, ma_key, mb_key, config):
    sub = {}
    info = {}
    fh, fw = config.vision_config.backbone_feature_sizes[-1]
    C = model.hidden_dim

    def vision(frame):
        feats, pos = model._prepare_vision_features(session, frame, 1)
        s0 = feats[0].permute(1, 2, 0).reshape(1, -1, *config.vision_config.backbone_feature_sizes[0])
        s1 = feats[1].permute(1, 2, 0).reshape(1, -1, *config.vision_config.backbone_feature_sizes[1])
        top = feats[-1].permute(1, 2, 0).reshape(1, C, fh, fw)
        p = pos[-1].permute(1, 2, 0).reshape(1, C, fh, fw)
        return s0, s1, top, p, feats

    with torch.inference_mode():
        for f in (0, ma_frame):
            s0, s1, top, p, _ = vision(f)
            sub[f"vision_f{f}_s0"], sub[f"vision_f{f}_s1"], sub[f"vision_f{f}_top"] = s0, s1, top
            if "vision_pos" in sub:
                assert torch.equal(sub["vision_pos"], p)
            sub["vision_pos"] = p

        # Memory encoder on frame ma_frame, one object's tracked high-res mask, two scores.
        ma_step = ma_key[0]
        s = steps[ma_step]
        assert s["frame"] == ma_frame
        obj = max(s["objects"], key=lambda o: o["object_score_logits"].item())
        m = obj["high_res_masks"].float()  # [1, 1, S, S]
        _, _, _, _, feats = vision(ma_frame)
        vf = feats[-1].expand(-1, 2, -1)
        scores = torch.tensor([[3.0], [-3.0]])
        # The model passes scores as [N, 1, 1] (batch, point batch, 1).
        mm_sig, pe = model._encode_new_memory(vf, m.expand(2, -1, -1, -1), scores[:, :, None], is_mask_from_pts=False)
        mm_bin, _ = model._encode_new_memory(vf, m.expand(2, -1, -1, -1), scores[:, :, None], is_mask_from_pts=True)
        mask_for_mem = torch.sigmoid(m) * config.sigmoid_scale_for_mem_enc + config.sigmoid_bias_for_mem_enc
        raw, raw_pe = model.memory_encoder(sub[f"vision_f{ma_frame}_top"], mask_for_mem)
        to_chw = lambda t: t.float().permute(1, 2, 0).reshape(t.shape[1], -1, fh, fw)
        assert torch.equal(to_chw(pe)[:1], raw_pe)
        sub.update(
            memenc_high_res_masks=m, memenc_object_score_logits=scores,
            memenc_raw_features=raw, memenc_pos_enc=raw_pe,
            memenc_features_sigmoid=to_chw(mm_sig), memenc_features_binary=to_chw(mm_bin),
        )
        info["memenc"] = {"frame": ma_frame, "mask_from_step": ma_step, "mask_of_object": obj["object_id"]}

        # Memory attention + pointer encoding, as captured from the run.
        for tag, (st, oi) in (("memattn", ma_key), ("memattnB", mb_key)):
            cap = recorder.captured[(st, oi)]
            for k, v in cap.items():
                if tag == "memattn" and k in ("memattn_current", "memattn_current_pos"):
                    flat = sub["vision_f%d_top" % ma_frame] if k == "memattn_current" else sub["vision_pos"]
                    assert torch.equal(flat.flatten(2).permute(2, 0, 1), v), k  # saved once, as vision_*
                elif k.startswith("memattn_"):
                    sub[tag + k[len("memattn"):]] = v
                elif tag == "memattn":
                    sub[k] = v
            c = next(c for c in recorder.calls if c["step"] == st and c["obj_idx"] == oi)
            info[tag] = {"step": st, "frame": c["frame"], "object_id": session.obj_idx_to_id(oi), "reverse": c["reverse"],
                         "memories": c["memories"], "pointers": c["pointers"],
                         "num_object_pointer_tokens": c["num_object_pointer_tokens"]}
        if "objptr_tokens" in sub:
            sub["objptr_tokens"] = sub["objptr_tokens"].reshape(-1, 1, C)

        # Object-pointer projection on two real SAM output tokens (frames ma_frame and 0, no
        # prompt, multimask best-IoU token), then the present/absent mix with no_object_pointer.
        toks = []
        hook = model.object_pointer_proj.register_forward_hook(lambda mod, inp, out: toks.append(inp[0].reshape(1, C).clone()))
        for f in (ma_frame, 0):
            s0, s1, top, p, _ = vision(f)
            model._single_frame_forward(image_embeddings=[s0, s1, top], multimask_output=True)
        hook.remove()
        ptr_in = torch.cat(toks, 0)
        ptr_out = model.object_pointer_proj(ptr_in)
        ptr_score = torch.tensor([[2.0], [-2.0]])
        lam = (ptr_score > 0).float()
        final = lam * ptr_out + (1 - lam) * model.no_object_pointer
        sub.update(ptrproj_in=ptr_in, ptrproj_out=ptr_out, ptrproj_score=ptr_score, ptrproj_final=final)

        # Mask prompt (object 3 on frame 0), when the scenario has one.
        if 3 not in session._obj_id_to_idx:
            return {k: v.float() if v.dtype in (torch.bfloat16, torch.float16) else v for k, v in sub.items()}, info
        oi = session._obj_id_to_idx[3]
        mask_in = session.mask_inputs_per_obj[oi][0]  # [1, 1, S, S] float 0/1
        s0, s1, top, p, _ = vision(0)
        res = model._use_mask_as_output(top, [s0, s1], mask_in)
        ds = model.mask_downsample(mask_in)
        dense = model.prompt_encoder.mask_embed(ds)
        st0 = next(s for s in steps if s["kind"] == "prompt" and s["objects"][-1]["object_id"] == 3)
        o3 = st0["objects"][-1]
        assert torch.equal(res.pred_masks, o3["pred_masks"][None]) or torch.allclose(res.pred_masks, o3["pred_masks"][None])
        assert torch.allclose(res.object_pointer, o3["object_pointer"], atol=1e-6)
        sub.update(
            maskprompt_input=mask_in.to(torch.uint8), maskprompt_low_res=res.pred_masks,
            maskprompt_downsampled=ds, maskprompt_dense=dense, maskprompt_pointer=res.object_pointer,
            maskprompt_score=res.object_score_logits.reshape(1, 1),
        )
    return {k: v.float() if v.dtype in (torch.bfloat16, torch.float16) else v for k, v in sub.items()}, info


def cond_select_cases(model):
    cases = []
    for frame, conds, mx in [(5, [0, 3, 8, 12], 2), (5, [0, 3, 8, 12], 3), (10, [0, 3, 8, 12], 1), (2, [4, 6, 9], 2), (7, [0, 7], -1)]:
        d = {c: {"frame": c} for c in conds}
        sel, unsel = model._select_closest_cond_frames(frame, d, mx)
        cases.append({"frame": frame, "cond_frames": conds, "max_cond_frame_num": mx, "selected": list(sel), "unselected": list(unsel)})
    return cases


if __name__ == "__main__":
    main()
