"""The whole pipeline's speed: `autolabel run` on the demo scene beside the
seed's reference pipeline in Python (transformers' Grounding DINO, then SAM 2
on each detection's box), same keyframes, caption, thresholds and weights, in
the same run; then the port's peak RSS over clips of different lengths.

    python tests/parity/run_bench.py --autolabel BIN --detector DIR --segmenter DIR
        [--ontology FILE] [--frames 120] [--threads 2] [--rss-frames 120 480]
        [--rss-detector DIR --rss-segmenter DIR --rss-ontology FILE] [--work DIR]

Weights: full-size random checkpoints, e.g.
`grounding_dino_fixtures.py --preset grounding-dino-tiny --out DIR` and
`sam2_fixtures.py --preset sam2.1-hiera-tiny --out DIR` (both sides load the
same directories).

The clip: `BIN demo --frames N` writes the demo scene as a nuScenes dataset;
`BIN run --nuscenes` takes its CAM_FRONT chain and detects on its keyframes
(every 6th frame, 2 Hz); the port's stage times come from its `run.json`. The
reference reads the same keyframe JPEGs, detects with the caption the port
used (`detections.json`) and the ontology's thresholds (one pair for all
classes: the default ontology's 0.4 / 0.3, or --ontology's), then segments
the boxes the port kept on that frame (`Sam2Model`, one mask per box, upscaled
to the frame): the port keeps the detector's boxes after per-class NMS at 0.8
(Grounded-SAM-2's setting), which the reference post-processor does not do,
so both segment the same boxes. Both run with --threads threads (`RAYON_NUM_THREADS`,
`torch.set_num_threads`), one after the other. Peak RSS: the child's VmHWM,
polled; the clips of --rss-frames may run with other models (--rss-detector,
--rss-segmenter, --rss-ontology: e.g. the tiny fixtures, so that no model-sized constant hides
what the pipeline itself holds as the clip grows). The port's track stage (no --tracker: keyframe masks joined into
tracks), evaluation, analysis and exports have no counterpart in the seed's
loop and are shown on their own.

Prints one JSON object and a Markdown table on stderr.
"""

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
import torch
from PIL import Image
from transformers import GroundingDinoForObjectDetection, Sam2ImageProcessor, Sam2Model, Sam2Processor

from grounding_dino_bench import processor as grounding_dino_processor

DEFAULT_THRESHOLDS = (0.4, 0.3)  # the default ontology's box and text thresholds


def run_watched(command, env=None):
    """Runs `command`; its wall time and its peak RSS (VmHWM, polled every 50 ms)."""
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    peak = [0.0]

    def poll():
        while child.poll() is None:
            try:
                with open(f"/proc/{child.pid}/status") as f:
                    kib = next(int(line.split()[1]) for line in f if line.startswith("VmHWM"))
                peak[0] = max(peak[0], kib / 1024)
            except (OSError, StopIteration):
                pass
            time.sleep(0.05)

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    _, err = child.communicate()
    watcher.join()
    if child.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{err[-2000:]}")
    return time.perf_counter() - start, peak[0]


def port_run(args, models, dataset, frames, out):
    """`autolabel run` on `dataset` with `models` (detector, segmenter, ontology or None)."""
    env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads))
    detector, segmenter, ontology = models
    shutil.rmtree(out, ignore_errors=True)  # a run resumes from what it finds: time a whole one
    command = [args.autolabel, "run", "--nuscenes", dataset, "--scene", "scene-demo", "--detector", detector,
               "--segmenter", segmenter, "--out", out, "--quiet"]
    if ontology:
        command += ["--ontology", ontology]
    wall, peak = run_watched(command, env)
    with open(os.path.join(out, "run.json")) as f:
        report = json.load(f)
    return {"frames": frames, "wall_s": round(wall, 2), "peak_rss_mib": round(peak, 1), "run_json": report}


def stage_seconds(run_json):
    """Stage name → seconds, from `run.json`'s timed stages."""
    return {s["stage"]: s["seconds"] for s in run_json["stages"]}


def keyframe_images(dataset):
    paths = sorted(glob.glob(os.path.join(dataset, "samples", "CAM_FRONT", "*.jpg")))
    if not paths:
        sys.exit(f"{dataset}: no samples/CAM_FRONT/*.jpg")
    return paths


def thresholds(ontology):
    """The ontology's (box, text) thresholds, which the reference loop takes as one pair."""
    if not ontology:
        return DEFAULT_THRESHOLDS
    with open(ontology) as f:
        pairs = {(c["box_threshold"], c["text_threshold"]) for c in json.load(f)["classes"]}
    if len(pairs) != 1:
        sys.exit(f"--ontology {ontology}: per-class thresholds differ; the reference loop takes one pair")
    return pairs.pop()


def kept_boxes(run_dir):
    """The boxes the port kept on each detected frame (xyxy, after its NMS), in frame order."""
    with open(os.path.join(run_dir, "detections.json")) as f:
        frames = json.load(f)["frames"]
    return [[d["box"] for d in frame["detections"]] for frame in sorted(frames, key=lambda f: f["frame"])]


def reference_pipeline(args, images, caption, boxes_per_image=None):
    """Grounding DINO on each image, then SAM 2 on `boxes_per_image` (the port's boxes of each
    image) or, without them, on every box it found; seconds per stage."""
    torch.set_num_threads(args.threads)
    detector = GroundingDinoForObjectDetection.from_pretrained(args.detector, dtype=torch.float32).eval()
    gd_processor = grounding_dino_processor()
    segmenter = Sam2Model.from_pretrained(args.segmenter, dtype=torch.float32).eval()
    size = segmenter.config.prompt_encoder_config.image_size
    sam_processor = Sam2Processor(image_processor=Sam2ImageProcessor(size={"height": size, "width": size}),
                                  target_size=size)
    box_threshold, text_threshold = thresholds(args.ontology)
    detect_s = segment_s = 0.0
    found_total = boxes_total = 0
    if boxes_per_image is not None and len(boxes_per_image) != len(images):
        sys.exit(f"the port detected on {len(boxes_per_image)} frames, the dataset has {len(images)} keyframes")
    with torch.inference_mode():
        for i, path in enumerate(images):
            picture = np.array(Image.open(path).convert("RGB"))
            h, w = picture.shape[:2]
            start = time.perf_counter()
            inputs = gd_processor(images=picture, text=caption, return_tensors="pt")
            found = gd_processor.post_process_grounded_object_detection(
                detector(**inputs), inputs["input_ids"], threshold=box_threshold, text_threshold=text_threshold,
                target_sizes=[(h, w)])[0]
            detect_s += time.perf_counter() - start
            found_total += len(found["boxes"])
            boxes = found["boxes"].tolist() if boxes_per_image is None else boxes_per_image[i]
            boxes_total += len(boxes)
            if not boxes:
                continue
            start = time.perf_counter()
            prompt = sam_processor(images=picture, input_boxes=[boxes], return_tensors="pt")
            out = segmenter(**prompt, multimask_output=False)
            sam_processor.post_process_masks(out.pred_masks, prompt["original_sizes"])
            segment_s += time.perf_counter() - start
    return {"detect": round(detect_s, 2), "segment": round(segment_s, 2), "found": found_total, "boxes": boxes_total,
            "keyframes": len(images), "torch": torch.__version__, "threads": torch.get_num_threads()}


def markdown(result):
    port = stage_seconds(result["port"]["run_json"])
    ref = result["reference"]
    lines = ["| stage | autolabel (s) | transformers (s) | autolabel ÷ transformers |", "|---|---|---|---|"]
    for stage in ["detect", "segment"]:
        what = f"{ref['keyframes']} keyframes" if stage == "detect" else f"{ref['boxes']} boxes"
        lines.append(f"| {stage} ({what}) | {port[stage]:.1f} | {ref[stage]:.1f} | "
                     f"{port[stage] / ref[stage]:.2f}× |")
    both_port, both_ref = port["detect"] + port["segment"], ref["detect"] + ref["segment"]
    lines.append(f"| detect + segment | {both_port:.1f} | {both_ref:.1f} | **{both_port / both_ref:.2f}×** |")
    for stage, seconds in port.items():
        if stage not in ("detect", "segment"):
            lines.append(f"| {stage} (port only) | {seconds:.2f} | | |")
    lines.append(f"| whole `autolabel run` (wall, incl. loading) | {result['port']['wall_s']:.1f} | | |")
    lines.append("")
    lines.append("| models | clip frames | keyframes | peak RSS (MiB) |")
    lines.append("|---|---|---|---|")
    for r in result["rss"]:
        models = " + ".join(os.path.basename(os.path.normpath(m)) for m in r["models"][:2])
        lines.append(f"| {models} | {r['frames']} | {r['frames'] // 6} | {r['peak_rss_mib']:.0f} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--autolabel", required=True, help="the autolabel binary")
    parser.add_argument("--detector", required=True, help="Grounding DINO checkpoint directory")
    parser.add_argument("--segmenter", required=True, help="SAM 2 checkpoint directory")
    parser.add_argument("--ontology", help="ontology JSON for both sides (default: the seven seed classes)")
    parser.add_argument("--frames", type=int, default=120, help="demo scene frames for the timed run")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rss-frames", type=int, nargs="*", default=[],
                        help="further clip lengths to run the port on for its peak RSS")
    parser.add_argument("--rss-detector", help="the detector of the --rss-frames runs (default: --detector)")
    parser.add_argument("--rss-segmenter", help="the segmenter of the --rss-frames runs (default: --segmenter)")
    parser.add_argument("--rss-ontology", help="the ontology of the --rss-frames runs (default: --ontology)")
    parser.add_argument("--work", help="scratch directory (default: a temporary one)")
    args = parser.parse_args()
    timed_models = (args.detector, args.segmenter, args.ontology)
    rss_models = (args.rss_detector or args.detector, args.rss_segmenter or args.segmenter,
                  args.rss_ontology or args.ontology)
    with tempfile.TemporaryDirectory() as scratch:
        work = args.work or scratch

        def dataset_of(frames):
            dataset = os.path.join(work, f"demo-{frames}")
            if not os.path.isdir(dataset):
                subprocess.run([args.autolabel, "demo", "--frames", str(frames), "--out", dataset], check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            return dataset

        result = {"threads": args.threads, "rss": []}
        dataset = dataset_of(args.frames)
        out = os.path.join(work, f"run-{args.frames}")
        result["port"] = port_run(args, timed_models, dataset, args.frames, out)
        result["rss"].append({"models": timed_models, "frames": args.frames,
                              "peak_rss_mib": result["port"]["peak_rss_mib"]})
        with open(os.path.join(out, "detections.json")) as f:
            result["caption"] = json.load(f)["caption"]
        result["reference"] = reference_pipeline(args, keyframe_images(dataset), result["caption"], kept_boxes(out))
        for frames in args.rss_frames:
            if (rss_models, frames) == (timed_models, args.frames):
                continue
            port = port_run(args, rss_models, dataset_of(frames), frames, os.path.join(work, f"rss-run-{frames}"))
            result["rss"].append({"models": rss_models, "frames": frames, "peak_rss_mib": port["peak_rss_mib"]})
        print(json.dumps(result, indent=1))
        print(markdown(result), file=sys.stderr)


if __name__ == "__main__":
    main()
