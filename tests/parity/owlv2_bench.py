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

import argparse
import json
import os
import subprocess
import sys

import numpy as np
import torch
from bench_rounds import median_rounds
from grounding_dino_bench import median_time
from report import write_section
from transformers import CLIPTokenizer, Owlv2ForObjectDetection, Owlv2ImageProcessor, Owlv2Processor

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
VOCAB = os.path.join(REPO, "models/vocab/clip")
FORWARD_GFLOP = 1116.0  # torch FLOP counter, owlv2-base-patch16 at 960² (REFERENCES.md)
QUERIES = ["car", "truck", "bus", "pedestrian", "bicycle", "traffic light", "traffic cone"]
SIDE = 960
BEGIN = "<!-- owlv2-bench:begin -->"
END = "<!-- owlv2-bench:end -->"


def image():
    """The Rust example's image: the same bytes."""
    n = SIDE * SIDE * 3
    return (np.arange(n, dtype=np.uint64) * 2654435761 >> 13).astype(np.uint8).reshape(SIDE, SIDE, 3)


def pytorch(work, iters):
    model = Owlv2ForObjectDetection.from_pretrained(work).eval()
    image_processor = Owlv2ImageProcessor.from_pretrained(work)
    proc = Owlv2Processor(image_processor=image_processor, tokenizer=CLIPTokenizer.from_pretrained(VOCAB))
    picture = image()

    def detect():
        inputs = proc(images=picture, text=[QUERIES], return_tensors="pt")
        assert list(inputs["pixel_values"].shape[2:]) == [SIDE, SIDE]
        outputs = model(**inputs)
        image_processor.post_process_object_detection(outputs, threshold=0.1, target_sizes=[(SIDE, SIDE)])

    out = {}
    with torch.no_grad():
        out["detect_s"] = median_time(detect, iters)
    a = torch.randn(2048, 2048)
    gemm = median_time(lambda: a @ a, max(iters, 5))
    out["gemm_2048_gflops"] = 2 * 2048**3 / gemm / 1e9
    out["threads"] = torch.get_num_threads()
    out["torch"] = torch.__version__
    return out


def rust(work, device, iters):
    env = dict(os.environ)
    env.setdefault("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/autolabel/target"))
    run = subprocess.run(
        ["cargo", "run", "-q", "--release", "-p", "autolabel", "--example", "owlv2_bench", "--",
         "--model", work, "--iters", str(iters), "--device", device],
        cwd=REPO, env=env, capture_output=True, text=True,
    )
    if run.returncode != 0:
        sys.stderr.write(run.stdout + run.stderr)
        return {"error": "failed"}
    return json.loads(run.stdout.strip().splitlines()[-1])


def table(torch_numbers, runs):
    peak = torch_numbers["gemm_2048_gflops"]
    t = torch_numbers["detect_s"]
    lines = [
        f"PyTorch {torch_numbers['torch']} ({torch_numbers['threads']} threads) vs the port on Burn, same weights, "
        f"same run"
        + (f", median of {runs['rounds']} alternating rounds" if runs["rounds"] > 1 else "")
        + f"; fp32 GEMM 2048³ peak here: {peak:.0f} GFLOP/s.",
        "",
        "| backend | runs | detect, 960², 7 queries | ÷ PyTorch | GFLOP/s (1116 GFLOP) | % of GEMM peak | warm-up | peak RSS |",
        "|---|---|---|---|---|---|---|---|",
        f"| PyTorch CPU | median of {runs['pytorch_iters']} | {t:.1f} s | 1.00× | {FORWARD_GFLOP / t:.0f} | "
        f"{100 * FORWARD_GFLOP / t / peak:.0f} % | – | – |",
    ]
    for name, r in runs["rust"]:
        if "error" in r:
            lines.append(f"| {name} | failed: `{r['error']}` | | | | | | |")
            continue
        d = r["detect_s"]
        rss = f"{r['peak_rss_mib']:.0f} MiB" if r.get("peak_rss_mib") else "–"
        lines.append(
            f"| {name} | median of {len(r['detect_runs_s'])} | {d:.1f} s | {d / t:.2f}× | {FORWARD_GFLOP / d:.0f} | "
            f"{100 * FORWARD_GFLOP / d / peak:.0f} % | {r['warm_up_s']:.1f} s | {rss} |"
        )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", default=os.path.expanduser("~/.cache/autolabel/owlv2-full"))
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=1, help="alternate PyTorch and the CPU port this many times")
    parser.add_argument("--wgpu-iters", type=int, default=0, help="0 skips wgpu")
    parser.add_argument("--write", help="Markdown file whose marked section receives the table")
    args = parser.parse_args()

    torch_rounds, flex_rounds = [], []
    for _ in range(args.rounds):
        torch_rounds.append(pytorch(args.work, args.iters))
        flex_rounds.append(rust(args.work, "cpu", args.iters))
        if "error" in flex_rounds[-1]:
            break
    torch_numbers = median_rounds(torch_rounds)
    flex = flex_rounds[-1] if "error" in flex_rounds[-1] else median_rounds(flex_rounds)
    rust_runs = [("Burn flex (CPU)", flex)]
    if args.wgpu_iters > 0:
        rust_runs.append(("Burn wgpu", rust(args.work, "wgpu", args.wgpu_iters)))
    text = table(torch_numbers, {"pytorch_iters": args.iters, "rounds": len(torch_rounds), "rust": rust_runs})
    print(text)
    if args.write:
        write_section(args.write, BEGIN, END, text)


if __name__ == "__main__":
    main()
