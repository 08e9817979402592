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

import argparse
import json
import os
import re
import subprocess
import sys
import time

import numpy as np
import torch
from bench_rounds import median_rounds
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
BEGIN = "<!-- grounding-dino-bench:begin -->"
END = "<!-- grounding-dino-bench:end -->"


def median_time(fn, iters):
    fn()
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def image():
    """The Rust example's image: the same bytes."""
    n = HEIGHT * WIDTH * 3
    return (np.arange(n, dtype=np.uint64) * 2654435761 >> 13).astype(np.uint8).reshape(HEIGHT, WIDTH, 3)


def processor():
    # transformers 5 ignores BertTokenizer(vocab_file=...): pass the vocabulary itself.
    with open(VOCAB, encoding="utf-8") as f:
        vocab = {line.rstrip("\n"): i for i, line in enumerate(f)}
    return GroundingDinoProcessor(image_processor=GroundingDinoImageProcessor(), tokenizer=BertTokenizer(vocab=vocab))


def pytorch(work, iters):
    model = GroundingDinoForObjectDetection.from_pretrained(work).eval()
    proc = processor()
    picture = image()

    def detect():
        inputs = proc(images=picture, text=PROMPT, return_tensors="pt")
        assert list(inputs["pixel_values"].shape[2:]) == [HEIGHT, WIDTH]
        outputs = model(**inputs)
        proc.post_process_grounded_object_detection(
            outputs, inputs["input_ids"], threshold=0.4, text_threshold=0.3, target_sizes=[(HEIGHT, WIDTH)]
        )

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
        ["cargo", "run", "-q", "--release", "-p", "autolabel", "--example", "grounding_dino_bench", "--",
         "--model", work, "--iters", str(iters), "--device", device],
        cwd=REPO, env=env, capture_output=True, text=True,
    )
    if run.returncode != 0:
        sys.stderr.write(run.stdout + run.stderr)
        # The innermost cause of Burn's error chain, e.g. "can't allocate buffer of size: N".
        causes = re.findall(r"Caused by:\\n\s*([^\\]+)", run.stderr)
        return {"error": causes[-1].strip() if causes else "failed"}
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
        "| backend | runs | detect, 800×1333 | ÷ PyTorch | GFLOP/s (812 GFLOP) | % of GEMM peak | warm-up | peak RSS |",
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


def write_section(path, text):
    with open(path) as f:
        doc = f.read()
    if BEGIN not in doc or END not in doc:
        sys.exit(f"{path} lacks the {BEGIN} … {END} markers")
    head, rest = doc.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    with open(path, "w") as f:
        f.write(f"{head}{BEGIN}\n{text}\n{END}{tail}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", default=os.path.expanduser("~/.cache/autolabel/grounding-dino-full"))
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=1, help="alternate PyTorch and the CPU port this many times")
    parser.add_argument("--wgpu-iters", type=int, default=1, help="0 skips wgpu")
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
        write_section(args.write, text)


if __name__ == "__main__":
    main()
