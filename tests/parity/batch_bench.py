"""Batch mode's speed: `autolabel batch` over a folder of images beside the
equivalent transformers loop (Grounding DINO, then SAM 2 on every box) on the
same images, caption, thresholds and weights, in the same run: images/s and
peak RSS of each side.

    python tests/parity/batch_bench.py --autolabel BIN --detector DIR --segmenter DIR
        [--ontology FILE] [--images 100] [--threads 2] [--work DIR]

Weights: full-size random checkpoints, as for run_bench.py (both sides load the
same directories). The images: the demo scene's keyframe JPEGs (1600×900),
`BIN demo --frames 6·N`. The port's time is the whole command's wall time
(loading, detection, segmentation, resizing, the ZIP with previews and YOLO/VOC
files); the reference's is loading plus its loop (no export: it has none).
Peak RSS: the port's VmHWM, polled; the reference's `ru_maxrss` (the Python
process, torch included).

Prints one JSON object and a Markdown table on stderr.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import zipfile

from run_bench import keyframe_images, reference_pipeline, run_watched


def port_batch(args, images_dir, out):
    env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads))
    command = [args.autolabel, "batch", "--images", images_dir, "--detector", args.detector,
               "--segmenter", args.segmenter, "--size", "640", "--out", out, "--quiet"]
    if args.ontology:
        command += ["--ontology", args.ontology]
    wall, peak = run_watched(command, env)
    with zipfile.ZipFile(out) as z:
        report = json.loads(z.read("report.json"))
        caption_source = json.loads(z.read("coco_export.json"))
    return {"wall_s": round(wall, 2), "peak_rss_mib": round(peak, 1), "objects": report["objects"],
            "labelled": report["labelled"], "categories": [c["name"] for c in caption_source["categories"]]}


def caption_of(args):
    """The caption the port reads for the ontology (`autolabel ontology` → phrases)."""
    if args.ontology:
        with open(args.ontology) as f:
            classes = json.load(f)["classes"]
    else:
        classes = json.loads(subprocess.run([args.autolabel, "ontology"], check=True, capture_output=True,
                                            text=True).stdout)["classes"]
    phrases = [p.strip().lower() for c in classes for p in c["phrases"]]
    return " . ".join(phrases) + " ."


def markdown(result):
    port, ref = result["port"], result["reference"]
    n = result["images"]
    port_rate, ref_rate = n / port["wall_s"], n / ref["wall_s"]
    return "\n".join([
        f"| {n} images, 1600×900 | wall (s) | images/s | autolabel ÷ transformers (time) | peak RSS (MiB) |",
        "|---|---|---|---|---|",
        f"| `autolabel batch` (Burn flex) | {port['wall_s']:.1f} | {port_rate:.3f} | "
        f"**{port['wall_s'] / ref['wall_s']:.2f}×** | {port['peak_rss_mib']:.0f} |",
        f"| transformers loop (PyTorch {ref['torch']}) | {ref['wall_s']:.1f} | {ref_rate:.3f} | 1.00× | "
        f"{ref['peak_rss_mib']:.0f} |",
        "",
        f"Boxes: autolabel {port['objects']}, transformers {ref['boxes']} (caption {result['caption']!r}).",
    ])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--autolabel", required=True, help="the autolabel binary")
    parser.add_argument("--detector", required=True, help="Grounding DINO checkpoint directory")
    parser.add_argument("--segmenter", required=True, help="SAM 2 checkpoint directory")
    parser.add_argument("--ontology", help="ontology JSON for both sides (default: the seven seed classes)")
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work", help="scratch directory (default: a temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        work = args.work or scratch
        dataset = os.path.join(work, "demo")
        subprocess.run([args.autolabel, "demo", "--frames", str(6 * args.images), "--out", dataset], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        images = keyframe_images(dataset)[:args.images]
        if len(images) < args.images:
            sys.exit(f"the demo scene gave {len(images)} keyframes, not {args.images}")
        folder = os.path.join(work, "images")
        os.makedirs(folder, exist_ok=True)
        for path in images:
            target = os.path.join(folder, os.path.basename(path))
            if not os.path.exists(target):
                os.symlink(path, target)
        result = {"images": args.images, "threads": args.threads, "caption": caption_of(args)}
        result["port"] = port_batch(args, folder, os.path.join(work, "batch.zip"))
        start = time.perf_counter()
        reference = reference_pipeline(args, sorted(images), result["caption"])
        reference["wall_s"] = round(time.perf_counter() - start, 2)
        reference["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        result["reference"] = reference
        print(json.dumps(result, indent=1))
        print(markdown(result), file=sys.stderr)


if __name__ == "__main__":
    main()
