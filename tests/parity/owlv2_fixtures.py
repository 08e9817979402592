"""OWLv2 parity fixtures: a random-weight checkpoint directory plus inputs and
the reference's intermediate and final outputs, as safetensors.

Reference: Hugging Face transformers 5.23.0 (`Owlv2ForObjectDetection`,
`Owlv2Processor` = `Owlv2ImageProcessor` + `CLIPTokenizer`,
`Owlv2ImageProcessor.post_process_object_detection`); paper: Minderer et al.,
"Scaling Open-Vocabulary Object Detection", NeurIPS 2023.

    python tests/parity/owlv2_fixtures.py --preset test --out models/fixtures/owlv2-tiny
    python tests/parity/owlv2_fixtures.py --preset owlv2-base-patch16 --out /tmp/owlv2-full

`test` is a tiny config (a 2-layer ViT of width 32 on 8-pixel patches of a
64×64 input, a 2-layer text tower of width 16 over the full 49,408-token CLIP
vocabulary, projection 16; weights stored as float16) whose files are
committed and checked by `tests/integration/owlv2.rs` in CI (which needs no
torch). Its image is 150×200, so pad-to-square, the gaussian anti-aliasing
(σ = 1.06, a 9-tap kernel) and the bilinear resize all matter.
`owlv2-base-patch16` is the published base config (ViT-B/16 at 960², CLIP
text tower 512 wide) on a 900×1600 image; its files are not committed.

The checkpoint is written by `save_pretrained` and re-read with
`from_pretrained`, so the outputs come from what the file holds. Default
initialisation gives near-constant outputs, so every parameter is redrawn at
a scale that keeps activations O(1); the box head's last layer is shrunk so
boxes stay inside the image around their patch (the grid box bias) instead of
saturating the sigmoid, and widened so that neighbouring boxes overlap (the
image-guided NMS then suppresses some). The queries are tokenised by the processor with the
CLIP vocabulary of `models/vocab/clip` (OWLv2 pads with `!`, id 0, which is
also a special token: `"remote control!"` ends in that id).
"""

import argparse
import json
import math
import os

import numpy as np
import torch
from safetensors.torch import save_file
from transformers import CLIPTokenizer, Owlv2Config, Owlv2ForObjectDetection, Owlv2ImageProcessor, Owlv2Processor

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SEED = 20238
QUERIES = ["a photo of a cat", "remote control!", "Traffic light"]
# Image-guided NMS IoU: the post-processor's default.
GUIDED_NMS = 0.3


def tiny_config():
    return Owlv2Config(
        text_config=dict(
            vocab_size=49408,
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            max_position_embeddings=16,
        ),
        vision_config=dict(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=64,
            patch_size=8,
        ),
        projection_dim=16,
    )


def redraw(model, generator):
    """Every parameter at a scale that keeps activations O(1)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=generator)
            if name.endswith("bias"):
                p.copy_(0.1 * noise)
            elif name.endswith("logit_scale") and p.dim() == 0:
                p.copy_(2.6592 + 0.1 * noise)
            elif p.dim() == 1:  # layer norm scales, the class embedding
                p.copy_((1.0 + 0.1 * noise) if "norm" in name else noise)
            elif "embedding" in name and p.dim() == 2:
                p.copy_(noise)
            else:
                fan_in = p[0].numel()
                p.copy_(noise / math.sqrt(fan_in))
        # Boxes: a fraction of a patch around the grid bias, not saturated,
        # and a few patches wide, so neighbours overlap and the image-guided
        # NMS has work to do.
        model.box_head.dense2.weight.mul_(0.3)
        model.box_head.dense2.bias[2:].add_(1.5)


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


def midpoint(values, k):
    """Halfway between the k-th and (k+1)-th largest of `values`."""
    ranked = values.flatten().sort(descending=True)[0]
    return float((ranked[k - 1] + ranked[k]) / 2)


def case_image(h, w):
    """A deterministic RGB pattern with edges (`rgb[y, x, c]`), rebuilt by
    the Rust test."""
    y, x, c = np.mgrid[0:h, 0:w, 0:3]
    return ((y * 37 + x * 11 + c * 89 + (x * y) % 7 * 13) % 256).astype(np.uint8)


def preprocess_cases(processor):
    """Pixel checksums of the processor on other sizes: upscaling (no blur),
    tall and wide padding, a large downscale (wide blur kernel)."""
    cases = []
    for hw in [(20, 30), (45, 20), (64, 64), (300, 170)]:
        image = torch.from_numpy(case_image(*hw))
        pixels = processor(images=image.permute(2, 0, 1), return_tensors="pt")["pixel_values"][0]
        cases.append({"hw": list(hw), "sum": float(pixels.double().sum()), "abs_sum": float(pixels.double().abs().sum()),
                      "first": [float(v) for v in pixels[:, 0, 0]], "centre": [float(v) for v in pixels[:, pixels.shape[1] // 2, pixels.shape[2] // 3]]})
    return cases


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=["test", "owlv2-base-patch16"], default="test")
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--vocab", default=os.path.join(REPO, "models", "vocab", "clip"))
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)

    if args.preset == "test":
        config, image_hw = tiny_config(), (150, 200)
    else:
        config, image_hw = Owlv2Config(vision_config=dict(image_size=960)), (900, 1600)
    side = config.vision_config.image_size
    config.text_config._attn_implementation = "eager"
    config.vision_config._attn_implementation = "eager"
    model = Owlv2ForObjectDetection(config).eval()
    redraw(model, generator)

    os.makedirs(args.out, exist_ok=True)
    if args.preset == "test":
        model = model.half()  # halves the committed file; the loader reads F16
    model.save_pretrained(args.out)
    model = Owlv2ForObjectDetection.from_pretrained(args.out, dtype=torch.float32).eval()

    image_processor = Owlv2ImageProcessor(size={"height": side, "width": side})
    image_processor.save_pretrained(args.out)
    tokenizer = CLIPTokenizer.from_pretrained(args.vocab)
    processor = Owlv2Processor(image_processor=image_processor, tokenizer=tokenizer)
    image = test_image(*image_hw, generator)
    inputs = processor(text=[QUERIES], images=torch.from_numpy(image).permute(2, 0, 1), return_tensors="pt")

    with torch.no_grad():
        out = model(**inputs)
        vision = out.vision_model_output.last_hidden_state
        pooled_text = out.text_model_output.pooler_output

    # Post-processing with a threshold inside the score range, halfway between
    # two neighbouring scores so rounding cannot flip a decision.
    scores = out.logits[0].max(-1)[0].sigmoid()
    threshold = midpoint(scores, max(1, len(scores) // 4))
    results = image_processor.post_process_object_detection(out, threshold=threshold, target_sizes=[image_hw])[0]

    # Image-guided detection: the query image is a crop of the image (the red
    # disc and its surroundings), no RNG involved.
    h, w = image_hw
    query = np.ascontiguousarray(image[int(0.2 * h) : int(0.6 * h), int(0.45 * w) : int(0.75 * w)])
    query_pixels = image_processor(images=torch.from_numpy(query).permute(2, 0, 1), return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        guided = model.image_guided_detection(pixel_values=inputs["pixel_values"], query_pixel_values=query_pixels)
    guided_scores = guided.logits[0].max(-1)[0].sigmoid()
    guided_threshold = midpoint(guided_scores, max(1, len(guided_scores) // 3))
    guided_results = image_processor.post_process_image_guided_detection(
        guided, threshold=guided_threshold, nms_threshold=GUIDED_NMS, target_sizes=torch.tensor([image_hw])
    )[0]

    tensors = {
        "query_rgb": torch.from_numpy(query),  # [h, w, 3] u8
        "query_pixel_values": query_pixels,  # [1, 3, S, S]
        "guided.logits": guided.logits,  # [1, P, 1]
        "guided.target_pred_boxes": guided.target_pred_boxes,  # [1, P, 4]
        "guided.query_pred_boxes": guided.query_pred_boxes,  # [1, P, 4]
        "guided.class_embeds": guided.class_embeds,  # [1, P, D]
        "guided.detections.scores": guided_results["scores"],  # [N], the display alphas
        "guided.detections.boxes": guided_results["boxes"],  # [N, 4] x0 y0 x1 y1, original pixels
        "image_rgb": torch.from_numpy(image),  # [H, W, 3] u8
        "pixel_values": inputs["pixel_values"],  # [1, 3, S, S]
        "input_ids": inputs["input_ids"],  # [Q, 16] i64
        "attention_mask": inputs["attention_mask"],  # [Q, 16] i64
        "vision_last_hidden_state": vision,  # [1, 1 + P, C_v], before the post layer norm
        "text_pooled": pooled_text,  # [Q, C_t], final-normed EOS token
        "text_embeds": out.text_embeds,  # [1, Q, D], projected and normalised queries
        "image_embeds": out.image_embeds,  # [1, h, w, C_v], the feature map
        "class_embeds": out.class_embeds,  # [1, P, D], normalised
        "logits": out.logits,  # [1, P, Q]
        "objectness_logits": out.objectness_logits,  # [1, P]
        "pred_boxes": out.pred_boxes,  # [1, P, 4] cx cy w h, of the padded square
        "detections.scores": results["scores"],  # [N]
        "detections.labels": results["labels"],  # [N] i64
        "detections.boxes": results["boxes"],  # [N, 4] x0 y0 x1 y1, original pixels (not clipped)
    }
    save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(args.out, "reference.safetensors"))

    summary = {
        "seed": args.seed,
        "image_hw": list(image_hw),
        "queries": QUERIES,
        "threshold": threshold,
        "guided_threshold": guided_threshold,
        "guided_nms": GUIDED_NMS,
        "input_ids": inputs["input_ids"].tolist(),
        "detections": [
            {"score": float(s), "label": int(l), "box": b.tolist()}
            for s, l, b in zip(results["scores"], results["labels"], results["boxes"])
        ],
        "preprocess_cases": preprocess_cases(image_processor) if args.preset == "test" else [],
    }
    with open(os.path.join(args.out, "cases.json"), "w") as f:
        json.dump(summary, f, indent=1)
    boxes = out.pred_boxes[0]
    print("pixel_values", tuple(inputs["pixel_values"].shape), "input_ids", inputs["input_ids"].tolist())
    print("scores", [round(float(s), 3) for s in scores.sort(descending=True)[0][:12]])
    print("threshold", round(threshold, 4), "detections", len(results["scores"]))
    print("boxes cx cy w h range", boxes.min(0)[0].tolist(), boxes.max(0)[0].tolist())
    unsuppressed = image_processor.post_process_image_guided_detection(
        guided, threshold=guided_threshold, nms_threshold=1.0, target_sizes=torch.tensor([image_hw])
    )[0]
    print("image-guided threshold", round(guided_threshold, 4), "detections", len(guided_results["scores"]),
          "without NMS", len(unsuppressed["scores"]))
    print("objectness range", float(out.objectness_logits.min()), float(out.objectness_logits.max()))


if __name__ == "__main__":
    main()
