"""pycocotools as the oracle for `autolabel run`'s labels.json.

Usage: labels_check.py LABELS.json PREDICTIONS.json

Loads LABELS.json with pycocotools' COCO (as CVAT and FiftyOne import COCO) and,
for every annotation, compares annToMask (its polygons or RLE rasterised by
pycocotools) with the RLE of the prediction of the same image and track in
PREDICTIONS.json (decoded by pycocotools). Prints one JSON object on stdout:

    {"images": n, "annotations": n, "categories": [names],
     "compared": n, "differing_pixels": total, "unmatched": n}
"""

import contextlib
import io
import json
import sys

import numpy as np
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO


def main(labels_path, predictions_path):
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(labels_path)
    with open(predictions_path) as f:
        predictions = json.load(f)
    by_track = {(p["image_id"], p["track_id"]): p for p in predictions}
    compared = differing = unmatched = 0
    for ann in coco.loadAnns(coco.getAnnIds()):
        pred = by_track.get((ann["image_id"], ann["track_id"]))
        if pred is None or "segmentation" not in pred or "segmentation" not in ann:
            unmatched += 1
            continue
        ours = coco.annToMask(ann)
        rle = dict(pred["segmentation"])
        rle["counts"] = rle["counts"].encode()
        want = mask_utils.decode(rle)
        differing += int(np.sum(ours != want))
        compared += 1
    print(json.dumps({
        "images": len(coco.getImgIds()),
        "annotations": len(coco.getAnnIds()),
        "categories": [c["name"] for c in coco.loadCats(coco.getCatIds())],
        "compared": compared,
        "differing_pixels": differing,
        "unmatched": unmatched,
    }))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
