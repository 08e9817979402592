"""pycocotools as the oracle for autolabel's COCO export and COCO AP.

Usage: coco_check.py GT.json RESULTS.json [--masks MANIFEST.json] [--segm]

Loads GT.json with pycocotools' COCO, RESULTS.json with loadRes, runs
COCOeval (bbox, and segm with --segm) with the default parameters and prints
one JSON object on stdout:

    {"images": n, "annotations": n, "categories": n,
     "bbox": {"stats": [12 floats], "per_category": {"<id>": {"ap": x|null, "ap50": x|null}}},
     "segm": {...} (with --segm),
     "masks": [{"id": ann id, "iou": annToMask vs the source mask, "rle": counts as pycocotools
                encodes the source mask, "area": source pixels}]  (with --masks)}

MANIFEST.json lists the source masks: [{"id": ann id, "png": path, "value": v}], the
mask being the pixels of the (8- or 16-bit grayscale) PNG equal to v.
"""

import argparse
import contextlib
import copy
import io
import json

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval


def quiet(f, *args):
    """pycocotools prints progress on stdout; keep stdout for the JSON answer."""
    with contextlib.redirect_stdout(io.StringIO()):
        return f(*args)


def defined(values):
    values = values[values > -1]
    return float(np.mean(values)) if values.size else None


def evaluate(gt, results, iou_type):
    if not results:
        return None
    dt = quiet(gt.loadRes, copy.deepcopy(results))
    e = COCOeval(gt, dt, iou_type)
    quiet(e.evaluate)
    quiet(e.accumulate)
    quiet(e.summarize)
    precision = e.eval["precision"]  # [T, R, K, A, M]
    per_category = {
        str(cat): {
            "ap": defined(precision[:, :, k, 0, 2]),
            "ap50": defined(precision[0, :, k, 0, 2]),
        }
        for k, cat in enumerate(e.params.catIds)
    }
    return {"stats": [float(s) for s in e.stats], "per_category": per_category}


def check_masks(gt, manifest):
    out = []
    for entry in manifest:
        ann = gt.anns[entry["id"]]
        labels = np.array(Image.open(entry["png"]))
        source = (labels == entry["value"]).astype(np.uint8)
        decoded = gt.annToMask(ann).astype(np.uint8)
        inter = int(np.logical_and(source, decoded).sum())
        union = int(np.logical_or(source, decoded).sum())
        rle = mask_utils.encode(np.asfortranarray(source))
        out.append(
            {
                "id": entry["id"],
                "iou": 1.0 if union == 0 else inter / union,
                "rle": rle["counts"].decode("ascii"),
                "area": int(source.sum()),
            }
        )
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("gt")
    parser.add_argument("results")
    parser.add_argument("--masks")
    parser.add_argument("--segm", action="store_true")
    args = parser.parse_args()

    gt = quiet(COCO, args.gt)
    with open(args.results) as f:
        results = json.load(f)
    answer = {
        "images": len(gt.getImgIds()),
        "annotations": len(gt.getAnnIds()),
        "categories": len(gt.getCatIds()),
        "bbox": evaluate(gt, results, "bbox"),
    }
    if args.segm:
        answer["segm"] = evaluate(gt, results, "segm")
    if args.masks:
        with open(args.masks) as f:
            answer["masks"] = check_masks(gt, json.load(f))
    print(json.dumps(answer))


if __name__ == "__main__":
    main()
