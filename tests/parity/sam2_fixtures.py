"""SAM 2 parity fixtures: a random-weight checkpoint directory plus inputs and
the reference's intermediate and final outputs, all as safetensors.

Reference: Hugging Face transformers 5.23.0 (`Sam2Model`, `Sam2Processor`,
`Sam2ImageProcessor.post_process_masks`); paper: Ravi et al., "SAM 2", 2024.

    python tests/parity/sam2_fixtures.py --preset test --out models/fixtures/sam2-tiny
    python tests/parity/sam2_fixtures.py --preset sam2.1-hiera-tiny --out /tmp/sam2-full

`test` is a tiny config (128 px input, ~0.2 M parameters) whose files are
committed and checked by `tests/integration/sam2.rs` in CI (which needs no
torch). `sam2.1-hiera-tiny` is the full-size default config for the parity
script (`tests/parity/sam2_full.py`); its files are not committed.

Default initialisation makes useless fixtures (mask logits ~1e-4, every IoU
0.5), so every parameter is redrawn at a scale that keeps activations O(1),
the heads are widened so scores spread, and the stability threshold of the
tiny config is set between the prompts' stability scores so that the dynamic
multimask fallback both fires and does not fire.
"""

import argparse
import json
import math
import os

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from transformers import Sam2Config, Sam2ImageProcessor, Sam2Model, Sam2Processor

SEED = 20241
IMAGE_HW = (96, 160)  # non-square: width shrinks to the input, height grows


def tiny_config():
    return Sam2Config(
        vision_config=dict(
            backbone_config=dict(
                model_type="sam2_hiera_det_model",
                hidden_size=12,
                image_size=[128, 128],
                blocks_per_stage=[1, 1, 2, 1],
                embed_dim_per_stage=[12, 24, 48, 96],
                num_attention_heads_per_stage=[1, 2, 2, 4],
                # Stage 2 windows (6) pad the 8×8 grid to 12×12; block 3 is global.
                window_size_per_stage=[8, 4, 6, 2],
                global_attention_blocks=[3],
                window_positional_embedding_background_size=[7, 7],
            ),
            backbone_channel_list=[96, 48, 24, 12],
            backbone_feature_sizes=[[32, 32], [16, 16], [8, 8]],
            fpn_hidden_size=32,
        ),
        prompt_encoder_config=dict(hidden_size=32, image_size=128, patch_size=16, mask_input_channels=16),
        mask_decoder_config=dict(
            hidden_size=32,
            mlp_dim=64,
            num_attention_heads=2,
            iou_head_hidden_dim=32,
            dynamic_multimask_stability_delta=0.05,
        ),
    )


EMBEDDINGS = (
    "point_embed.weight",
    "not_a_point_embed.weight",
    "no_mask_embed.weight",
    "iou_token.weight",
    "mask_tokens.weight",
    "obj_score_token.weight",
    "no_memory_embedding",
    "positional_embedding",
)


def redraw(model, generator):
    """Every parameter and buffer at a scale that keeps activations O(1)."""
    with torch.no_grad():
        for name, p in list(model.named_parameters()) + list(model.named_buffers()):
            if not p.is_floating_point():
                continue
            noise = torch.randn(p.shape, generator=generator)
            if name.endswith("bias"):
                p.copy_(0.1 * noise)
            elif "layer_norm" in name:
                p.copy_(1.0 + 0.1 * noise)
            elif name.endswith(("pos_embed", "pos_embed_window")):
                p.copy_(0.5 * noise)
            elif name.endswith(EMBEDDINGS):
                p.copy_(noise)
            else:
                # Linear [out, in], Conv2d [out, in, k, k]: fan-in = in·k·k;
                # ConvTranspose2d [in, out, 2, 2] with stride 2: fan-in = in.
                fan_in = p.shape[0] if "upscale_conv" in name else p[0].numel()
                gain = 1.0
                if name.endswith(("iou_prediction_head.proj_out.weight", "pred_obj_score_head.proj_out.weight")):
                    gain = 4.0
                elif "output_hypernetworks_mlps" in name and "proj_out" in name:
                    gain = 2.0
                p.copy_(gain * noise / math.sqrt(fan_in))


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


def cases(h, w):
    """Prompt sets in original-image pixels. Each case is one model call."""
    return [
        {"name": "point_multi", "points": [[[0.6 * w, 0.4 * h]]], "labels": [[1]], "multimask": True},
        {
            "name": "points_single",
            "points": [[[0.6 * w, 0.4 * h], [0.2 * w, 0.7 * h], [0.9 * w, 0.9 * h]]],
            "labels": [[1, 1, 0]],
            "multimask": False,
        },
        {"name": "box_single", "boxes": [[0.1 * w, 0.55 * h, 0.4 * w, 0.9 * h]], "multimask": False},
        {
            "name": "box_point_multi",
            "boxes": [[0.45 * w, 0.2 * h, 0.8 * w, 0.65 * h]],
            "points": [[[0.6 * w, 0.4 * h]]],
            "labels": [[1]],
            "multimask": True,
        },
        {
            "name": "boxes_batch_single",
            "boxes": [
                [0.1 * w, 0.55 * h, 0.4 * w, 0.9 * h],
                [0.45 * w, 0.2 * h, 0.8 * w, 0.65 * h],
                [0.0, 0.0, w - 1.0, h - 1.0],
                [0.3 * w, 0.1 * h, 0.5 * w, 0.3 * h],
            ],
            "multimask": False,
        },
        {
            "name": "points_batch_padded_multi",
            "points": [[[0.2 * w, 0.7 * h]], [[0.6 * w, 0.4 * h], [0.7 * w, 0.8 * h]]],
            "labels": [[1], [1, 0]],
            "multimask": True,
        },
        # SAM2ImagePredictor's mask_input: box_single's low-res logits fed back
        # with its box (multimask, so the stability threshold stays as it is).
        {"name": "box_mask_input_multi", "boxes": [[0.1 * w, 0.55 * h, 0.4 * w, 0.9 * h]], "mask_from": "box_single", "multimask": True},
    ]


def run_case(model, processor, image, case, input_masks=None):
    kwargs = {}
    if "points" in case:
        kwargs["input_points"] = [case["points"]]
        kwargs["input_labels"] = [case["labels"]]
    if "boxes" in case:
        kwargs["input_boxes"] = [case["boxes"]]
    inputs = processor(images=image, return_tensors="pt", **kwargs)
    with torch.no_grad():
        out = model(
            pixel_values=inputs["pixel_values"],
            input_points=inputs.get("input_points"),
            input_labels=inputs.get("input_labels"),
            input_boxes=inputs.get("input_boxes"),
            input_masks=input_masks,
            multimask_output=case["multimask"],
        )
    original = inputs["original_sizes"][0].tolist()
    logits = F.interpolate(out.pred_masks[0], original, mode="bilinear", align_corners=False)
    binary = processor.post_process_masks(out.pred_masks, inputs["original_sizes"])[0]
    assert torch.equal(binary, logits > 0.0)
    tensors = {
        "pred_masks": out.pred_masks[0],  # [P, M, 4h, 4w]
        "iou_scores": out.iou_scores[0],  # [P, M]
        "object_score_logits": out.object_score_logits[0],  # [P, 1]
        "masks_logits": logits,  # [P, M, H, W]
        "masks": binary.to(torch.uint8),
    }
    for key in ("input_points", "input_labels", "input_boxes"):
        if inputs.get(key) is not None:
            tensors[key] = inputs[key][0].float()
    if input_masks is not None:
        tensors["input_masks"] = input_masks  # [1, 1, 4h, 4w] low-res logits
    return tensors, inputs


def single_mask_stability(model, inputs, delta):
    """Stability of the single-mask token for each prompt set of a case."""
    with torch.no_grad():
        model.mask_decoder.dynamic_multimask_via_stability = False
        out = model(
            pixel_values=inputs["pixel_values"],
            input_points=inputs.get("input_points"),
            input_labels=inputs.get("input_labels"),
            input_boxes=inputs.get("input_boxes"),
            multimask_output=False,
        )
        model.mask_decoder.dynamic_multimask_via_stability = True
    m = out.pred_masks.flatten(-2)
    return ((m > delta).sum(-1).float() / (m > -delta).sum(-1).float()).flatten().tolist()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=["test", "sam2.1-hiera-tiny"], default="test")
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    config = tiny_config() if args.preset == "test" else Sam2Config()
    config._attn_implementation = "eager"
    model = Sam2Model(config).eval()
    redraw(model, generator)
    size = config.prompt_encoder_config.image_size
    image_processor = Sam2ImageProcessor(size={"height": size, "width": size}, mask_size={"height": size // 4, "width": size // 4})
    processor = Sam2Processor(image_processor=image_processor, target_size=size)

    image = test_image(*IMAGE_HW, generator)
    all_cases = cases(*IMAGE_HW)

    if args.preset == "test":
        # Put the stability threshold between the single-mask prompts' scores.
        delta = config.mask_decoder_config.dynamic_multimask_stability_delta
        scores = []
        for case in all_cases:
            if not case["multimask"] and "mask_from" not in case:
                _, inputs = run_case(model, processor, image, case)
                scores += single_mask_stability(model, inputs, delta)
        scores = sorted(scores)
        mid = len(scores) // 2
        thresh = (scores[mid - 1] + scores[mid]) / 2
        print(f"single-mask stability scores {['%.4f' % s for s in scores]} -> threshold {thresh:.4f}")
        config.mask_decoder_config.dynamic_multimask_stability_thresh = thresh
        model.mask_decoder.dynamic_multimask_stability_thresh = thresh

    os.makedirs(args.out, exist_ok=True)
    model.config.mask_decoder_config.dynamic_multimask_stability_thresh = config.mask_decoder_config.dynamic_multimask_stability_thresh
    model.save_pretrained(args.out)

    inputs = processor(images=image, return_tensors="pt")
    with torch.no_grad():
        vision = model.get_image_features(inputs["pixel_values"])
        embeddings = model.get_image_embeddings(inputs["pixel_values"])
    intermediate = {
        "image_rgb": torch.from_numpy(image),  # [H, W, 3] u8
        "pixel_values": inputs["pixel_values"],  # [1, 3, S, S]
        "image_embeddings": embeddings[2],  # [1, C, h, w] with the no-memory embedding
        "high_res_s0": embeddings[0],  # [1, C/8, 4h, 4w]
        "high_res_s1": embeddings[1],  # [1, C/4, 2h, 2w]
        "backbone_last": vision.last_hidden_state,  # [1, h', w', C_last]
    }
    save_file({k: v.contiguous() for k, v in intermediate.items()}, os.path.join(args.out, "image.safetensors"))

    summary = []
    outputs = {}
    for case in all_cases:
        source = outputs[case["mask_from"]]["pred_masks"][:1, :1] if "mask_from" in case else None
        tensors, _ = run_case(model, processor, image, case, source)
        outputs[case["name"]] = tensors
        save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(args.out, f"case_{case['name']}.safetensors"))
        summary.append(
            {
                **case,
                "iou_scores": tensors["iou_scores"].tolist(),
                "object_score_logits": tensors["object_score_logits"].flatten().tolist(),
            }
        )
        print(case["name"], "iou", [[round(v, 3) for v in row] for row in tensors["iou_scores"].tolist()],
              "obj", [round(v, 3) for v in tensors["object_score_logits"].flatten().tolist()],
              "mask logit range", round(tensors["pred_masks"].min().item(), 2), round(tensors["pred_masks"].max().item(), 2))
    with open(os.path.join(args.out, "cases.json"), "w") as f:
        json.dump({"image_hw": IMAGE_HW, "seed": args.seed, "cases": summary}, f, indent=1)


if __name__ == "__main__":
    main()
