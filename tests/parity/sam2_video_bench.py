"""SAM 2 video propagation benchmark: per-frame time of transformers 5.23.0
`Sam2VideoModel.propagate_in_video_iterator` with 1 and 8 objects at
1024x1024, and the process's resident memory per frame, as JSON; with `--port`,
the Rust port (`autolabel track`) on the same weights, clip and prompts in the
same run, rounds alternating, and a side-by-side Markdown table on stderr.

    python tests/parity/sam2_video_bench.py [--model DIR] [--objects 1 8] [--frames 12] [--threads 2]
        [--port target/release/autolabel --rounds 2] [--attn sdpa|eager]

Weights: `--model DIR` loads a checkpoint directory (e.g. the one written by
`sam2_video_fixtures.py --preset sam2.1-hiera-tiny --out DIR`, so the Rust
port can be timed on the very same weights); without it the same random
weights are rebuilt in memory (sam2.1-hiera-tiny config, the fixture script's
seed and redraw, no file written).

Workflow per object count: a fresh session on a synthetic 1024x1024 clip; each
object gets one positive point on frame 0 (added and run one object at a time,
as transformers requires); then a forward propagation from frame 0. Every
yielded frame is timed (wall clock around `next()`; the vision encoder is
included, as in a real propagation). "Steady state" is every frame from
`num_maskmem` on (the spatial memory window is full then: 1 conditioning +
num_maskmem - 1 recent memories, ~7 x 4096 keys; the pointer window keeps
growing until `max_object_pointers_in_encoder`, but pointer tokens are ~64 keys
against ~28.7k). RSS: current resident set (from /proc/self/statm) after each
frame and the peak (getrusage ru_maxrss); growth per frame is the least-squares
slope of RSS over the steady frames (transformers keeps every frame's pixels,
high-res masks and memories, so it grows). Use --frames > num_maskmem + 2 for a
steady-state number; with fewer frames the steady fields are null.

The port (`--port BIN`, needs `--model DIR`): the clip is written as PNG frames
and the same points as a prompts file; `BIN track` runs forward from frame 0
with `RAYON_NUM_THREADS=--threads`; each frame is timed from its progress line
on stderr (wall clock between lines, the first one from "loaded"), and the peak
RSS is the child's VmHWM, read at each progress line (the last after the
"tracked" line, before the JSON is written). Its frame 0 holds the prompts, so
the steady frames are compared.

Prints one JSON object: {"config", "threads", "runs": [{"objects", "round", "frames": [{"frame",
"seconds", "rss_mib"}], "prompt_seconds", "steady": {"frames", "mean_s", "median_s",
"min_s"}, "rss_growth_mib_per_frame", "peak_rss_mib", "rss_before_mib"}], "port": [{"objects",
"round", "frames": [{"frame", "seconds"}], "steady": {...}, "peak_rss_mib"}]}.
"""

import argparse
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from transformers import Sam2ImageProcessor, Sam2VideoModel, Sam2VideoProcessor, Sam2VideoVideoProcessor

HERE = os.path.dirname(os.path.abspath(__file__))


def fixtures_module():
    spec = importlib.util.spec_from_file_location("sam2_video_fixtures", os.path.join(HERE, "sam2_video_fixtures.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def rss_mib():
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def build_model(args, fx):
    if args.model:
        model = Sam2VideoModel.from_pretrained(args.model, attn_implementation=args.attn).eval()
    else:
        torch.manual_seed(args.seed)
        generator = torch.Generator().manual_seed(args.seed)
        config = fx.full_config()
        config._attn_implementation = args.attn
        model = Sam2VideoModel(config).eval()
        fx.redraw(model, generator)
    return model


def slope(xs, ys):
    if len(xs) < 2:
        return None
    x = np.asarray(xs, float)
    y = np.asarray(ys, float)
    return float(np.polyfit(x, y, 1)[0])


def object_points(num_objects, w, h):
    """One positive point per object, on a grid over the frame."""
    side = int(np.ceil(np.sqrt(num_objects)))
    return [((k % side + 0.5) / side * w, (k // side + 0.5) / side * h) for k in range(num_objects)]


def steady_stats(frames, num_maskmem):
    times = [f["seconds"] for f in frames if f["frame"] >= num_maskmem]
    return {
        "frames": [f["frame"] for f in frames if f["frame"] >= num_maskmem],
        "mean_s": round(statistics.mean(times), 4) if times else None,
        "median_s": round(statistics.median(times), 4) if times else None,
        "min_s": round(min(times), 4) if times else None,
    }


def run(model, processor, video, num_objects, num_frames):
    h, w = video.shape[1:3]
    session = processor.init_video_session(video=video, inference_device="cpu", dtype=torch.float32)
    t0 = time.perf_counter()
    for k, (x, y) in enumerate(object_points(num_objects, w, h)):
        processor.add_inputs_to_inference_session(
            inference_session=session, frame_idx=0, obj_ids=k + 1, input_points=[[[[x, y]]]], input_labels=[[[1]]]
        )
        model(inference_session=session, frame_idx=0)
    prompt_seconds = time.perf_counter() - t0
    rss_before = rss_mib()
    frames = []
    it = model.propagate_in_video_iterator(session, start_frame_idx=0)
    for _ in range(num_frames):
        t = time.perf_counter()
        try:
            out = next(it)
        except StopIteration:
            break
        frames.append({"frame": out.frame_idx, "seconds": round(time.perf_counter() - t, 4), "rss_mib": round(rss_mib(), 1)})
        print(f"  {num_objects} objects, frame {out.frame_idx}: {frames[-1]['seconds']:.2f} s, RSS {frames[-1]['rss_mib']:.0f} MiB",
              file=sys.stderr, flush=True)
    steady = [f for f in frames if f["frame"] >= model.config.num_maskmem]
    return {
        "objects": num_objects,
        "prompt_seconds": round(prompt_seconds, 3),
        "frames": frames,
        "steady": steady_stats(frames, model.config.num_maskmem),
        "rss_growth_mib_per_frame": (
            round(slope([f["frame"] for f in steady], [f["rss_mib"] for f in steady]), 2) if len(steady) >= 2
            else (round(slope([f["frame"] for f in frames[1:]], [f["rss_mib"] for f in frames[1:]]), 2) if len(frames) >= 3 else None)
        ),
        "rss_growth_over": "steady frames" if len(steady) >= 2 else "frames 1.. (no steady state reached)",
        "rss_before_mib": round(rss_before, 1),
        "peak_rss_mib": round(peak_rss_mib(), 1),
    }


def write_clip(video, num_objects, directory):
    """The clip as PNG frames and one point prompt per object, for `autolabel track`."""
    from PIL import Image

    clip = os.path.join(directory, "clip")
    os.makedirs(clip, exist_ok=True)
    for t, frame in enumerate(video):
        Image.fromarray(frame).save(os.path.join(clip, f"{t:05d}.png"))
    h, w = video.shape[1:3]
    prompts = [
        {"frame": 0, "object_id": k + 1, "points": [[x, y, 1]]}
        for k, (x, y) in enumerate(object_points(num_objects, w, h))
    ]
    path = os.path.join(directory, f"prompts-{num_objects}.json")
    with open(path, "w") as f:
        json.dump(prompts, f)
    return clip, path


def vm_hwm_mib(pid):
    """The process's peak resident set so far (VmHWM: per address space, so not the forking parent's)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmHWM"))
    except (OSError, StopIteration):
        return 0.0


def run_port(binary, model_dir, clip, prompts, threads, num_maskmem):
    """`binary track` on the clip; each frame timed from its progress line."""
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
    command = [binary, "track", "--model", model_dir, "--clip", clip, "--prompts", prompts, "--out", os.devnull]
    child = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    seconds, last, tail, peak = {}, None, [], 0.0
    for line in child.stderr:
        now = time.perf_counter()
        peak = max(peak, vm_hwm_mib(child.pid))
        tail = (tail + [line])[-5:]
        if line.startswith("loaded"):
            last = now
        elif line.startswith("frame") and last is not None:
            # Frame 0 reports once per prompt and once propagated: its time is their sum.
            frame = int(line.split()[1].rstrip(":"))
            seconds[frame] = round(seconds.get(frame, 0.0) + now - last, 4)
            print(f"  port, frame {frame}: {now - last:.2f} s", file=sys.stderr, flush=True)
            last = now
    if child.wait() != 0:
        sys.exit(f"{' '.join(command)} failed:\n{''.join(tail)}")
    frames = [{"frame": f, "seconds": t} for f, t in sorted(seconds.items())]
    return {"frames": frames, "steady": steady_stats(frames, num_maskmem), "peak_rss_mib": round(peak, 1)}


def markdown(result):
    """Per object count and round: each side's frames, steady median, ratio and peak RSS."""
    frames = result["runs"][0]["frames"]
    lines = ["| objects | round | side | " + " | ".join(f"frame {f['frame']}" for f in frames) +
             " | steady median | port ÷ reference | peak RSS |",
             "|---" * (len(frames) + 6) + "|"]
    for ref in result["runs"]:
        port = next(p for p in result["port"] if (p["objects"], p["round"]) == (ref["objects"], ref["round"]))
        ratio = port["steady"]["median_s"] / ref["steady"]["median_s"] if ref["steady"]["median_s"] else None
        for side, run_ in [("transformers", ref), ("autolabel", port)]:
            times = " | ".join(f"{f['seconds']:.2f}" for f in run_["frames"])
            shown = f"{ratio:.2f}×" if side == "autolabel" and ratio else ""
            lines.append(f"| {ref['objects']} | {ref['round']} | {side} | {times} | {run_['steady']['median_s']} s | "
                         f"{shown} | {run_['peak_rss_mib']:.0f} MiB |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="checkpoint directory (default: rebuild the fixture script's full-size random weights)")
    parser.add_argument("--objects", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--frames", type=int, default=12, help="frames to propagate (frame 0 included)")
    parser.add_argument("--size", type=int, default=1024, help="clip frame size (square)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=None, help="default: the fixture script's seed")
    parser.add_argument("--attn", default="sdpa", choices=["sdpa", "eager"],
                        help="the reference's attention (sdpa: what from_pretrained picks by default)")
    parser.add_argument("--port", help="the autolabel binary to time beside the reference (needs --model)")
    parser.add_argument("--rounds", type=int, default=1, help="alternating reference/port rounds (with --port)")
    args = parser.parse_args()
    if args.port and not args.model:
        parser.error("--port needs --model DIR: both sides read the same checkpoint")
    torch.set_num_threads(args.threads)
    fx = fixtures_module()
    if args.seed is None:
        args.seed = fx.SEED

    model = build_model(args, fx)
    size = model.config.image_size
    low = model.config.prompt_encoder_config.image_size // model.config.prompt_encoder_config.patch_size * 4
    processor = Sam2VideoProcessor(
        image_processor=Sam2ImageProcessor(size={"height": size, "width": size}, mask_size={"height": low, "width": low}),
        video_processor=Sam2VideoVideoProcessor(size={"height": size, "width": size}),
        target_size=size,
    )
    video = np.stack([fx.frame_at(t, args.size, args.size) for t in range(args.frames)])
    result = {
        "reference": f"transformers 5.23.0 Sam2VideoModel, {args.attn} attention, f32, CPU",
        "torch": torch.__version__,
        "config": "sam2.1-hiera-tiny" if not args.model else args.model,
        "frame_size": [args.size, args.size],
        "threads": args.threads,
        "num_maskmem": model.config.num_maskmem,
        "runs": [],
    }
    result["port"] = []
    with torch.inference_mode(), tempfile.TemporaryDirectory() as scratch:
        for n in args.objects:
            for round_ in range(1, (args.rounds if args.port else 1) + 1):
                result["runs"].append({"round": round_, **run(model, processor, video, n, args.frames)})
                if args.port:
                    clip, prompts = write_clip(video, n, scratch)
                    port = run_port(args.port, args.model, clip, prompts, args.threads, model.config.num_maskmem)
                    result["port"].append({"objects": n, "round": round_, **port})
    print(json.dumps(result, indent=1))
    if args.port:
        print(markdown(result), file=sys.stderr)


if __name__ == "__main__":
    main()
