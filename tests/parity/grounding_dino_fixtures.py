"""Grounding DINO parity fixtures: a random-weight checkpoint directory plus
inputs and the reference's intermediate and final outputs, as safetensors.

Reference: Hugging Face transformers 5.23.0 (`GroundingDinoForObjectDetection`,
`GroundingDinoImageProcessor`, `GroundingDinoProcessor.post_process_grounded_object_detection`);
paper: Liu et al., "Grounding DINO: Marrying DINO with Grounded Pre-Training
for Open-Set Object Detection", 2023.

    python tests/parity/grounding_dino_fixtures.py --preset test --out models/fixtures/grounding-dino-tiny
    python tests/parity/grounding_dino_fixtures.py --preset grounding-dino-tiny --out /tmp/gd-full

`test` is a tiny config (Swin with embed dim 8 and 5-token windows, a
2-layer BERT of width 32 with an 8192-token vocabulary, d_model 64, 30
queries, 4 feature levels, 2 encoder and 2 decoder layers, a 150×200 image
resized to 96×128; weights stored as float16) whose files are committed and checked by
`tests/integration/grounding_dino.rs` in CI (which needs no torch).
`grounding-dino-tiny` is the full-size default config (Swin-T, BERT-base, 900
queries) at 800×1066 for `tests/parity/grounding_dino_full.py`; its files are
not committed.

The checkpoint is written by `save_pretrained`, i.e. with the on-disk key
names (Swin's old `attention.self.query` names) and without the tied
`bbox_embed.1…` / `model.decoder.bbox_embed.*` copies, and re-read with
`from_pretrained` so the fixture outputs come from what the file holds.

Default initialisation makes useless fixtures (fusion layer scale 1e-4, zero
sampling offsets and box deltas, zero relative position bias), so every
parameter is redrawn at a scale that keeps activations O(1); the decoder's
final norm is shrunk so the contrastive logits spread over the sigmoid
instead of saturating. The prompt ids are bert-base-uncased WordPiece ids
of "a cat. a remote control." plus two padding tokens, so the phrase mask,
the text position ids and the attention mask all matter.
"""

import argparse
import json
import math
import os
import tempfile

import numpy as np
import torch
from safetensors.torch import save_file
from transformers import GroundingDinoConfig, GroundingDinoForObjectDetection, GroundingDinoImageProcessor
from transformers.models.grounding_dino.modeling_grounding_dino import generate_masks_with_special_tokens_and_transfer_map
from transformers.models.grounding_dino.processing_grounding_dino import get_phrases_from_posmap

SEED = 20236
# "a cat. a remote control." (bert-base-uncased) and two [PAD] tokens.
PROMPT_IDS = [101, 1037, 4937, 1012, 1037, 6556, 2491, 1012, 102, 0, 0]
PROMPT_REAL = 9


def tiny_config():
    return GroundingDinoConfig(
        backbone_config=dict(
            model_type="swin",
            embed_dim=8,
            depths=[2, 2, 2, 2],
            num_heads=[1, 2, 2, 4],
            window_size=5,
            out_indices=[2, 3, 4],
        ),
        text_config=dict(
            model_type="bert",
            vocab_size=8192,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=64,
        ),
        d_model=64,
        num_queries=30,
        encoder_layers=2,
        decoder_layers=2,
        encoder_ffn_dim=128,
        decoder_ffn_dim=128,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_n_points=2,
        decoder_n_points=3,
        max_text_len=32,
    )


def redraw(model, generator):
    """Every parameter at a scale that keeps activations O(1)."""
    with torch.no_grad():
        seen = set()
        for name, p in model.named_parameters():
            if id(p) in seen:
                continue
            seen.add(id(p))
            noise = torch.randn(p.shape, generator=generator)
            if name.endswith(("vision_param", "text_param")):
                p.copy_(0.5 + 0.2 * noise)
            elif name.endswith("relative_position_bias_table"):
                p.copy_(noise)
            elif name.endswith("sampling_offsets.bias"):
                p.copy_(2.0 * noise)
            elif name.endswith("bias"):
                p.copy_(0.1 * noise)
            elif p.dim() == 1:  # layer / group norm scales
                p.copy_(1.0 + 0.1 * noise)
            elif "embeddings" in name or name.endswith("level_embed"):
                p.copy_(noise)
            else:
                p.copy_(noise / math.sqrt(p[0].numel()))
        # Contrastive logits are dot products of two unit-variance d_model
        # vectors: shrink one side so they land on the sigmoid's slope.
        model.model.decoder.layer_norm.weight.mul_(0.2)
        model.model.enc_output_norm.weight.mul_(0.2)


def test_image(h, w, generator):
    """A smooth colourful image with a few shapes, deterministic."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 127 + 100 * np.sin(x / 9.0) * np.cos(y / 13.0)
    g = 127 + 90 * np.cos((x + y) / 17.0)
    b = 127 + 80 * np.sin(np.hypot(x - w / 3, y - h / 2) / 6.0)
    img = np.stack([r, g, b], -1)
    img[(x - 0.6 * w) ** 2 + (y - 0.4 * h) ** 2 < (0.15 * h) ** 2] = [230, 40, 40]
    img[int(0.6 * h) : int(0.85 * h), int(0.1 * w) : int(0.35 * w)] = [30, 200, 60]
    noise = torch.randint(-12, 13, (h, w, 3), generator=generator).numpy()
    return np.clip(img + noise, 0, 255).astype(np.uint8)


def capture(module, store, key):
    """Records the keyword inputs of `module` into `store[key]`."""

    def hook(_module, args, kwargs):
        store[key] = kwargs

    return module.register_forward_pre_hook(hook, with_kwargs=True)


def per_layer_outputs(model, out, attention_mask):
    """The class logits and boxes of every decoder layer, as the detection
    head computes them for the last one."""
    hidden = out.intermediate_hidden_states
    logits, boxes = [], []
    for level in range(hidden.shape[1]):
        reference = out.init_reference_points if level == 0 else out.intermediate_reference_points[:, level - 1]
        reference = torch.special.logit(reference, eps=1e-5)
        logits.append(model.class_embed[level](hidden[:, level], out.encoder_last_hidden_state_text, attention_mask.bool()))
        boxes.append((model.bbox_embed[level](hidden[:, level]) + reference).sigmoid())
    return logits, boxes


def finite(t):
    """`-inf` → 0 plus a mask of the finite entries (safetensors readers and
    the comparison both want finite numbers)."""
    mask = torch.isfinite(t)
    return torch.where(mask, t, torch.zeros_like(t)), mask.to(torch.uint8)


def midpoint(values, k):
    """Halfway between the k-th and (k+1)-th largest of `values`."""
    ranked = values.flatten().sort(descending=True)[0]
    return float((ranked[k - 1] + ranked[k]) / 2)


def size_cases():
    """(height, width) → resized (height, width) by the default processor
    (shortest edge 800, longest 1333)."""
    processor = GroundingDinoImageProcessor()
    cases = []
    for hw in [(480, 640), (900, 1600), (1600, 900), (800, 1333), (333, 1000), (1000, 1000), (427, 640), (1080, 1920)]:
        image = torch.zeros(3, *hw, dtype=torch.uint8)
        cases.append({"in": list(hw), "out": list(processor(images=image, return_tensors="pt")["pixel_values"].shape[-2:])})
    return cases


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=["test", "grounding-dino-tiny"], default="test")
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)

    if args.preset == "test":
        config, image_hw, size = tiny_config(), (150, 200), {"shortest_edge": 96, "longest_edge": 1333}
    else:
        config, image_hw, size = GroundingDinoConfig(), (600, 800), {"shortest_edge": 800, "longest_edge": 1333}
    config.backbone_config._attn_implementation = "eager"
    config.text_config._attn_implementation = "eager"
    model = GroundingDinoForObjectDetection(config).eval()
    redraw(model, generator)

    os.makedirs(args.out, exist_ok=True)
    if args.preset == "test":
        model = model.half()  # halves the committed file; the loader reads F16
    model.save_pretrained(args.out)
    # Run what the file holds (in f32): tied weights restored by the reference's loader.
    model = GroundingDinoForObjectDetection.from_pretrained(args.out, dtype=torch.float32).eval()

    processor = GroundingDinoImageProcessor(size=size)
    image = test_image(*image_hw, generator)
    pixel_values = processor(images=torch.from_numpy(image).permute(2, 0, 1), return_tensors="pt")["pixel_values"]
    input_ids = torch.tensor([PROMPT_IDS])
    attention_mask = (input_ids != 0).long()
    token_type_ids = torch.zeros_like(input_ids)

    seen = {}
    hooks = [
        capture(model.model.encoder, seen, "encoder"),
        capture(model.model.decoder, seen, "decoder"),
    ]
    text_out = {}
    hooks.append(model.model.text_backbone.register_forward_hook(lambda _m, _a, o: text_out.update(bert=o.last_hidden_state)))
    with torch.no_grad():
        features = model.model.backbone.conv_encoder(pixel_values, torch.ones(pixel_values.shape[0], *pixel_values.shape[2:], dtype=torch.long))
        out = model(pixel_values=pixel_values, input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        logits_per_layer, boxes_per_layer = per_layer_outputs(model, out, attention_mask)
        topk = torch.topk(out.enc_outputs_class.max(-1)[0], config.num_queries, dim=1)[1]
    for h in hooks:
        h.remove()
    assert torch.allclose(logits_per_layer[-1], out.logits, equal_nan=True)
    assert torch.allclose(boxes_per_layer[-1], out.pred_boxes)

    phrase_mask, position_ids = generate_masks_with_special_tokens_and_transfer_map(input_ids, model.model.special_tokens)
    enc = seen["encoder"]
    logits, logits_finite = finite(out.logits)
    tensors = {
        "image_rgb": torch.from_numpy(image),  # [H, W, 3] u8
        "pixel_values": pixel_values,  # [1, 3, h, w]
        "input_ids": input_ids,  # [1, T] i64
        "attention_mask": attention_mask,
        "token_type_ids": token_type_ids,
        "text_self_attention_mask": phrase_mask.to(torch.uint8),  # [1, T, T]
        "text_position_ids": position_ids,  # [1, T]
        "text_backbone": text_out["bert"],  # [1, T, H_text], BERT output
        "text_features": enc["text_features"],  # [1, T, d], projected
        "vision_features": enc["vision_features"],  # [1, S, d], flattened projected levels
        "vision_position_embedding": enc["vision_position_embedding"],  # [1, S, d], sine + level embedding
        "encoder_vision": out.encoder_last_hidden_state_vision,  # [1, S, d]
        "encoder_text": out.encoder_last_hidden_state_text,  # [1, T, d]
        "topk_indices": topk,  # [1, Q] i64
        "init_reference_points": out.init_reference_points,  # [1, Q, 4]
        "decoder_hidden": out.intermediate_hidden_states,  # [1, L, Q, d], after the final norm
        "decoder_reference_points": out.intermediate_reference_points,  # [1, L, Q, 4]
        "logits": logits,  # [1, Q, max_text_len], -inf → 0
        "logits_finite": logits_finite,
        "pred_boxes": out.pred_boxes,  # [1, Q, 4] cx cy w h
    }
    for level, (feature, _mask) in enumerate(features):
        tensors[f"backbone.{level}"] = feature  # [1, C_l, h_l, w_l]
    for level, (lg, bx) in enumerate(zip(logits_per_layer, boxes_per_layer)):
        tensors[f"decoder_logits.{level}"] = finite(lg)[0]
        tensors[f"decoder_boxes.{level}"] = bx

    # Post-processing with thresholds inside the score range, so some
    # queries pass and some do not and labels differ in length; each halfway
    # between two neighbouring values, so rounding cannot flip a decision.
    probs = out.logits.sigmoid()[0]
    scores = probs.max(-1)[0]
    box_threshold = midpoint(scores, len(scores) // 3)
    kept = probs[scores > box_threshold]
    text_threshold = midpoint(kept[kept > 0], kept[kept > 0].numel() // 2)
    original = torch.tensor([image_hw])
    boxes = out.pred_boxes[0]
    xyxy = torch.cat([boxes[:, :2] - boxes[:, 2:] / 2, boxes[:, :2] + boxes[:, 2:] / 2], -1)
    xyxy = xyxy * torch.tensor([image_hw[1], image_hw[0], image_hw[1], image_hw[0]], dtype=torch.float32)
    keep = scores > box_threshold
    label_ids = get_phrases_from_posmap(probs[keep] > text_threshold, input_ids[0])
    posmap = (probs[keep] > text_threshold).clone()
    posmap[:, 0] = False
    posmap[:, -1] = False
    tensors["detections.scores"] = scores[keep]
    tensors["detections.boxes"] = xyxy[keep]  # [N, 4] x0 y0 x1 y1, original pixels
    tensors["detections.token_mask"] = posmap.to(torch.uint8)  # [N, max_text_len]
    save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(args.out, "reference.safetensors"))

    summary = {
        "seed": args.seed,
        "image_hw": list(image_hw),
        "original_sizes": original.tolist(),
        "prompt": "a cat. a remote control.",
        "box_threshold": box_threshold,
        "text_threshold": text_threshold,
        "detections": [
            {"score": float(s), "box": b.tolist(), "token_ids": [int(i) for i in ids]}
            for s, b, ids in zip(scores[keep], xyxy[keep], label_ids)
        ],
        "resize_cases": size_cases(),
    }
    with open(os.path.join(args.out, "cases.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print("pixel_values", tuple(pixel_values.shape), "spatial", [tuple(f.shape[-2:]) for f, _ in features])
    print("scores", [round(float(s), 3) for s in scores.sort(descending=True)[0]])
    print("box threshold", round(box_threshold, 4), "text threshold", round(text_threshold, 4), "detections", int(keep.sum()))
    print("boxes cx cy w h range", boxes.min(0)[0].tolist(), boxes.max(0)[0].tolist())
    print("label ids of the first detections", [[int(i) for i in ids] for ids in label_ids[:10]])


if __name__ == "__main__":
    main()
