"""Grounding DINO speed: the Rust port on Burn (CPU `flex`, and wgpu) beside
PyTorch, same full-size random weights (grounding-dino-tiny config), same
machine, same run.

    python tests/parity/grounding_dino_bench.py [--work DIR] [--iters 3] [--rounds 1] [--wgpu-iters 1] [--write docs/BENCHMARKS.md]

Needs the checkpoint directory `grounding_dino_full.py` (or
`grounding_dino_fixtures.py --preset grounding-dino-tiny`) wrote. Measures
detection on an 800×1333 input with the prompt "a cat. a remote control.":
processor (resize/normalise, tokenize), forward pass, post-processing with
thresholds 0.4 / 0.3 (`GroundingDinoProcessor` + `GroundingDinoForObjectDetection`
+ `post_process_grounded_object_detection`; the Rust side `Detector::detect`),
each the median of --iters runs after one warm-up (wgpu: --wgpu-iters, on a
software Vulkan driver it is slow); also fp32 GEMM 2048³ in PyTorch as the
machine's attainable peak. GFLOP/s use the torch FLOP counter's 812 GFLOP for
the forward pass at this size. PyTorch runs with as many threads as Burn may
use (`torch.get_num_threads()`, all cores). On a machine whose speed drifts,
`--rounds N` alternates PyTorch and the CPU port N times and reports the
medians of the rounds. Paper: Liu et al., "Grounding DINO", 2023.
"""

import os

import torch
from bench_rounds import arguments, detector_main, median_time, test_image, torch_machine
from transformers import (
    BertTokenizer,
    GroundingDinoForObjectDetection,
    GroundingDinoImageProcessor,
    GroundingDinoProcessor,
)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
VOCAB = os.path.join(REPO, "models/vocab/bert-base-uncased/vocab.txt")
FORWARD_GFLOP = 812.0  # torch FLOP counter, grounding-dino-tiny at 800×1333 (REFERENCES.md)
PROMPT = "a cat. a remote control."
HEIGHT, WIDTH = 800, 1333
MARKERS = ("<!-- grounding-dino-bench:begin -->", "<!-- grounding-dino-bench:end -->")


def processor():
    # transformers 5 ignores BertTokenizer(vocab_file=...): pass the vocabulary itself.
    with open(VOCAB, encoding="utf-8") as f:
        vocab = {line.rstrip("\n"): i for i, line in enumerate(f)}
    return GroundingDinoProcessor(image_processor=GroundingDinoImageProcessor(), tokenizer=BertTokenizer(vocab=vocab))


def pytorch(work, iters):
    model = GroundingDinoForObjectDetection.from_pretrained(work).eval()
    proc = processor()
    picture = test_image(HEIGHT, WIDTH)

    def detect():
        inputs = proc(images=picture, text=PROMPT, return_tensors="pt")
        assert list(inputs["pixel_values"].shape[2:]) == [HEIGHT, WIDTH]
        outputs = model(**inputs)
        proc.post_process_grounded_object_detection(
            outputs, inputs["input_ids"], threshold=0.4, text_threshold=0.3, target_sizes=[(HEIGHT, WIDTH)]
        )

    with torch.no_grad():
        detect_s = median_time(detect, iters)
    return {"detect_s": detect_s, **torch_machine(iters)}


def main():
    args = arguments(__doc__, "grounding-dino-full", wgpu_iters=1)
    detector_main(args, pytorch, "grounding_dino_bench", "detect, 800×1333", FORWARD_GFLOP, MARKERS)


if __name__ == "__main__":
    main()
