"""SAM 2 speed: the Rust port on each native Burn backend (`flex` CPU, and
`wgpu` — on a GPU-less machine that is mesa's lavapipe, software Vulkan)
beside PyTorch, same full-size random weights (sam2.1-hiera-tiny config),
same machine, same run.

    python tests/parity/sam2_bench.py [--work DIR] [--iters 3] [--rounds 1] [--wgpu-iters 1] [--write docs/BENCHMARKS.md]

Needs the checkpoint directory `sam2_full.py` (or `sam2_fixtures.py --preset
sam2.1-hiera-tiny`) wrote. Measures, each as the median of --iters runs after
one warm-up: the image encoder at 1024² (`set_image` / `get_image_embeddings`
incl. preprocessing), and the decoder with 1 and 16 boxes incl. the upscaling of
the masks to the image size (`predict` / `model(...)` + `post_process_masks`);
also fp32 GEMM 2048³ in PyTorch as the machine's attainable peak. PyTorch runs
with as many threads as Burn may use (`torch.get_num_threads()`, all cores).
On a machine whose speed drifts (a shared VM), `--rounds N` alternates PyTorch
and the CPU port N times and reports the median of each one's round medians,
so both see the same conditions.
Paper: Ravi et al., "SAM 2", 2024.
"""

import sys

import torch
from transformers import Sam2ImageProcessor, Sam2Model, Sam2Processor

from bench_rounds import alternate_rounds, arguments, median_time, rust_example, test_image, torch_machine
from report import write_section

ENCODER_GFLOP = 293.0  # torch FLOP counter, hiera-tiny image encoder at 1024² (REFERENCES.md)
MARKERS = ("<!-- sam2-bench:begin -->", "<!-- sam2-bench:end -->")


def boxes(n, size):
    q = size / 4
    return [[(i % 4) * q, (i // 4 % 4) * q, (i % 4) * q + q, (i // 4 % 4) * q + q] for i in range(n)]


def pytorch(work, iters):
    model = Sam2Model.from_pretrained(work).eval()
    size = model.config.prompt_encoder_config.image_size
    processor = Sam2Processor(
        image_processor=Sam2ImageProcessor(size={"height": size, "width": size}), target_size=size
    )
    image = test_image(size, size)
    inputs = processor(images=image, return_tensors="pt")
    out = {}
    with torch.no_grad():
        out["encoder_s"] = median_time(
            lambda: model.get_image_embeddings(processor(images=image, return_tensors="pt")["pixel_values"]), iters
        )
        embeddings = model.get_image_embeddings(inputs["pixel_values"])
        for n, key in [(1, "decoder_1_box_s"), (16, "decoder_16_boxes_s")]:
            prompt = processor(images=image, input_boxes=[boxes(n, size)], return_tensors="pt")

            def decode():
                o = model(image_embeddings=embeddings, input_boxes=prompt["input_boxes"], multimask_output=False)
                processor.post_process_masks(o.pred_masks, prompt["original_sizes"])

            out[key] = median_time(decode, iters)
    return {**out, **torch_machine(iters)}


def main():
    args = arguments(__doc__, "sam2-full", wgpu_iters=1)
    torch_numbers, flex, _ = alternate_rounds(
        args.rounds,
        lambda: pytorch(args.work, args.iters),
        lambda: rust_example("sam2_bench", args.work, "cpu", args.iters),
    )
    if "error" in flex:
        sys.exit(f"the Rust benchmark failed on the CPU: {flex['error']}")
    wgpu = rust_example("sam2_bench", args.work, "wgpu", args.wgpu_iters) if args.wgpu_iters > 0 else {"skipped": True}
    peak = torch_numbers["gemm_2048_gflops"]
    rows = [
        ("image encoder, 1024²", "encoder_s"),
        ("decoder, 1 box", "decoder_1_box_s"),
        ("decoder, 16 boxes", "decoder_16_boxes_s"),
    ]
    lines = [
        f"PyTorch {torch_numbers['torch']} ({torch_numbers['threads']} threads) vs the port on Burn `flex` "
        f"(medians of {args.iters}"
        + (f", median of {args.rounds} alternating rounds" if args.rounds > 1 else "")
        + ") and "
        + (f"Burn `wgpu` on lavapipe ({args.wgpu_iters} run(s) after a warm-up), " if args.wgpu_iters > 0
           else "not on Burn `wgpu` (`--wgpu-iters 0`), ")
        + f"same weights, same run; fp32 GEMM 2048³ peak here: {peak:.0f} GFLOP/s.",
        "",
        "| stage | PyTorch | Burn flex (CPU) | flex ÷ PyTorch | flex GFLOP/s | Burn wgpu (lavapipe) |",
        "|---|---|---|---|---|---|",
    ]
    for label, key in rows:
        t, r = torch_numbers[key], flex[key]
        g = "not run" if "skipped" in wgpu else "failed" if "error" in wgpu else f"{wgpu[key]:.3f} s"
        gflops = f"{ENCODER_GFLOP / r:.0f} ({100 * ENCODER_GFLOP / r / peak:.0f} % of peak)" if key == "encoder_s" else "–"
        lines.append(f"| {label} | {t:.3f} s | {r:.3f} s | {r / t:.2f}× | {gflops} | {g} |")
    if "error" in wgpu:
        lines += ["", f"Burn wgpu failed: `{wgpu['error'][:300]}`"]
    lines += ["", "Peak resident memory of each Rust process (load + encoder runs + 1- and 16-box predicts): "
              + ", ".join(f"{name} {n['peak_rss_mib']:.0f} MiB" for name, n in [("flex", flex), ("wgpu", wgpu)]
                          if n.get("peak_rss_mib")) + "."]
    table = "\n".join(lines)
    print(table)
    if args.write:
        write_section(args.write, *MARKERS, table)


if __name__ == "__main__":
    main()
