"""pycocotools as the oracle for `autolabel masks`.

Usage: masks_check.py OUT.json EXPECTED.json

Loads OUT.json (the dataset with SAM 2 masks) with pycocotools' COCO and, for
every annotation id of EXPECTED.json (`{"<annotation id>": RLE}`, the masks
`autolabel segment` gave for the same boxes), compares annToMask (the
annotation's polygons or RLE rasterised by pycocotools) with the expected RLE
decoded by pycocotools. Prints one JSON object on stdout:

    {"images": n, "annotations": n, "compared": n, "differing_pixels": total,
     "missing": n}
"""

import contextlib
import io
import json
import sys

import numpy as np
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO


def main(out_path, expected_path):
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(out_path)
    with open(expected_path) as f:
        expected = json.load(f)
    compared = differing = missing = 0
    for ann_id, rle in expected.items():
        ann = coco.anns.get(int(ann_id))
        if ann is None or "segmentation" not in ann:
            missing += 1
            continue
        rle = dict(rle)
        rle["counts"] = rle["counts"].encode()
        differing += int(np.sum(coco.annToMask(ann) != mask_utils.decode(rle)))
        compared += 1
    print(json.dumps({
        "images": len(coco.getImgIds()),
        "annotations": len(coco.getAnnIds()),
        "compared": compared,
        "differing_pixels": differing,
        "missing": missing,
    }))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
