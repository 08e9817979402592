"""OWLv2 speed: the Rust port on Burn (CPU `flex`, and wgpu) beside PyTorch, same
full-size random weights (owlv2-base-patch16 config), same machine, same run.

    python tests/parity/owlv2_bench.py [--work DIR] [--iters 3] [--rounds 1] [--wgpu-iters 0] [--write docs/BENCHMARKS.md]

Needs the checkpoint directory `owlv2_full.py` (or `owlv2_fixtures.py --preset
owlv2-base-patch16`) wrote. Measures detection on a 960×960 image with 7 driving-class
queries: processor (pad/resize/normalise, tokenize), forward pass, post-processing at
threshold 0.1 (`Owlv2Processor` + `Owlv2ForObjectDetection` +
`post_process_object_detection`; the Rust side `Detector::detect`), each the median of
--iters runs after one warm-up; also fp32 GEMM 2048³ in PyTorch as the machine's
attainable peak. GFLOP/s use the torch FLOP counter's 1116 GFLOP for the forward pass
at 960² (REFERENCES.md; measured with 2 queries, 7 add under 0.1 %). PyTorch runs with
as many threads as Burn may use. `--rounds N` alternates PyTorch and the CPU port N
times and reports the medians of the rounds. Paper: Minderer et al., "Scaling
Open-Vocabulary Object Detection", 2023.
"""

import os

import torch
from bench_rounds import arguments, detector_main, median_time, test_image, torch_machine
from transformers import CLIPTokenizer, Owlv2ForObjectDetection, Owlv2ImageProcessor, Owlv2Processor

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
VOCAB = os.path.join(REPO, "models/vocab/clip")
FORWARD_GFLOP = 1116.0  # torch FLOP counter, owlv2-base-patch16 at 960² (REFERENCES.md)
QUERIES = ["car", "truck", "bus", "pedestrian", "bicycle", "traffic light", "traffic cone"]
SIDE = 960
MARKERS = ("<!-- owlv2-bench:begin -->", "<!-- owlv2-bench:end -->")


def pytorch(work, iters):
    model = Owlv2ForObjectDetection.from_pretrained(work).eval()
    image_processor = Owlv2ImageProcessor.from_pretrained(work)
    proc = Owlv2Processor(image_processor=image_processor, tokenizer=CLIPTokenizer.from_pretrained(VOCAB))
    picture = test_image(SIDE, SIDE)

    def detect():
        inputs = proc(images=picture, text=[QUERIES], return_tensors="pt")
        assert list(inputs["pixel_values"].shape[2:]) == [SIDE, SIDE]
        outputs = model(**inputs)
        image_processor.post_process_object_detection(outputs, threshold=0.1, target_sizes=[(SIDE, SIDE)])

    with torch.no_grad():
        detect_s = median_time(detect, iters)
    return {"detect_s": detect_s, **torch_machine(iters)}


def main():
    args = arguments(__doc__, "owlv2-full", wgpu_iters=0)
    detector_main(args, pytorch, "owlv2_bench", "detect, 960², 7 queries", FORWARD_GFLOP, MARKERS)


if __name__ == "__main__":
    main()
