"""What the PyTorch-beside-Burn benchmark scripts (`sam2_bench.py`,
`grounding_dino_bench.py`, `owlv2_bench.py`) share: timing a function, the machine's
fp32 GEMM peak, running a Rust benchmark example, and alternating rounds on a machine
whose speed drifts (a shared VM): each round runs PyTorch and then the port, and the
reported numbers are the medians of the rounds, so both see the same conditions.
Detector benchmarks also share their Markdown table (`detector_table`)."""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def arguments(doc, work, wgpu_iters):
    """The command line every benchmark script reads; `work` is the default checkpoint
    directory (under ~/.cache/autolabel), `wgpu_iters` the default runs on wgpu."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", default=os.path.expanduser(f"~/.cache/autolabel/{work}"))
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=1, help="alternate PyTorch and the CPU port this many times")
    parser.add_argument("--wgpu-iters", type=int, default=wgpu_iters, help="runs on wgpu (lavapipe is slow); 0 skips wgpu")
    parser.add_argument("--write", help="Markdown file whose marked section receives the table")
    return parser.parse_args()


def median_time(fn, iters):
    """The median wall time of `iters` calls of `fn`, after one untimed warm-up call."""
    fn()
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(statistics.median(times))


def test_image(height, width):
    """The Rust examples' image, `[height, width, 3]` uint8: the same bytes."""
    import numpy as np

    n = height * width * 3
    return (np.arange(n, dtype=np.uint64) * 2654435761 >> 13).astype(np.uint8).reshape(height, width, 3)


def torch_machine(iters):
    """fp32 GEMM 2048³ in PyTorch as the machine's attainable peak (GFLOP/s), the thread
    count and torch's version."""
    import torch

    a = torch.randn(2048, 2048)
    gemm = median_time(lambda: a @ a, max(iters, 5))
    return {
        "gemm_2048_gflops": 2 * 2048**3 / gemm / 1e9,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }


def error_of(stderr):
    """What failed, from a Rust example's stderr: the innermost cause of Burn's error
    chain (e.g. "can't allocate buffer of size: N"), else the last line."""
    causes = re.findall(r"Caused by:\\n\s*([^\\]+)", stderr)
    if causes:
        return causes[-1].strip()
    last = (stderr.strip().splitlines() or ["no output"])[-1]
    allocation = re.search(r"can't allocate buffer of size: \d+", last)
    return allocation.group(0) if allocation else last


def rust_example(example, work, device, iters):
    """Runs `cargo run --release --example EXAMPLE -- --model WORK --iters N --device D`
    and returns its JSON line, or `{"error": …}` when it fails."""
    env = dict(os.environ)
    env.setdefault("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/autolabel/target"))
    run = subprocess.run(
        ["cargo", "run", "-q", "--release", "-p", "autolabel", "--example", example, "--",
         "--model", work, "--iters", str(iters), "--device", device],
        cwd=REPO, env=env, capture_output=True, text=True,
    )
    if run.returncode != 0:
        sys.stderr.write(run.stdout + run.stderr)
        return {"error": error_of(run.stderr)}
    return json.loads(run.stdout.strip().splitlines()[-1])


def median_rounds(rounds):
    """The first round's record with every float replaced by its median over the rounds."""
    merged = dict(rounds[0])
    for key, value in merged.items():
        if isinstance(value, float):
            merged[key] = float(statistics.median([r[key] for r in rounds]))
    return merged


def alternate_rounds(rounds, pytorch, port):
    """Runs `pytorch()` then `port()` `rounds` times (stopping when the port fails) and
    returns the medians of each one's records; the port's failed record as it is."""
    torch_rounds, port_rounds = [], []
    for _ in range(rounds):
        torch_rounds.append(pytorch())
        port_rounds.append(port())
        if "error" in port_rounds[-1]:
            return median_rounds(torch_rounds), port_rounds[-1], len(torch_rounds)
    return median_rounds(torch_rounds), median_rounds(port_rounds), len(torch_rounds)


def detector_table(torch_numbers, runs, column, gflop):
    """A detector benchmark's Markdown table: PyTorch's `detect_s` and each Rust run
    (`runs["rust"]`: `(name, record)`) against it, `column` naming the workload and `gflop`
    the forward pass's FLOP count."""
    peak = torch_numbers["gemm_2048_gflops"]
    t = torch_numbers["detect_s"]
    lines = [
        f"PyTorch {torch_numbers['torch']} ({torch_numbers['threads']} threads) vs the port on Burn, same weights, "
        f"same run"
        + (f", median of {runs['rounds']} alternating rounds" if runs["rounds"] > 1 else "")
        + f"; fp32 GEMM 2048³ peak here: {peak:.0f} GFLOP/s.",
        "",
        f"| backend | runs | {column} | ÷ PyTorch | GFLOP/s ({gflop:.0f} GFLOP) | % of GEMM peak | warm-up | peak RSS |",
        "|---|---|---|---|---|---|---|---|",
        f"| PyTorch CPU | median of {runs['pytorch_iters']} | {t:.1f} s | 1.00× | {gflop / t:.0f} | "
        f"{100 * gflop / t / peak:.0f} % | – | – |",
    ]
    for name, r in runs["rust"]:
        if "error" in r:
            lines.append(f"| {name} | failed: `{r['error']}` | | | | | | |")
            continue
        d = r["detect_s"]
        rss = f"{r['peak_rss_mib']:.0f} MiB" if r.get("peak_rss_mib") else "–"
        lines.append(
            f"| {name} | median of {len(r['detect_runs_s'])} | {d:.1f} s | {d / t:.2f}× | {gflop / d:.0f} | "
            f"{100 * gflop / d / peak:.0f} % | {r['warm_up_s']:.1f} s | {rss} |"
        )
    return "\n".join(lines)


def detector_main(args, pytorch, example, column, gflop, markers):
    """A detector benchmark end to end: alternating rounds of `pytorch(work, iters)` and the
    CPU port (`example`), wgpu if asked, the table printed and written between `markers`."""
    from report import write_section

    torch_numbers, flex, rounds = alternate_rounds(
        args.rounds,
        lambda: pytorch(args.work, args.iters),
        lambda: rust_example(example, args.work, "cpu", args.iters),
    )
    rust_runs = [("Burn flex (CPU)", flex)]
    if args.wgpu_iters > 0:
        rust_runs.append(("Burn wgpu", rust_example(example, args.work, "wgpu", args.wgpu_iters)))
    runs = {"pytorch_iters": args.iters, "rounds": rounds, "rust": rust_runs}
    text = detector_table(torch_numbers, runs, column, gflop)
    print(text)
    if args.write:
        write_section(args.write, *markers, text)
