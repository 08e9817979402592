"""pycocotools as the oracle for `autolabel batch`'s training ZIP.

Usage: batch_check.py DIR

DIR is the unpacked ZIP. Loads DIR/coco_export.json with pycocotools' COCO and
checks every image and annotation against what it says: the image file under
DIR/images/ exists and has the stated size (Pillow), and an annotation with a
segmentation rasterises (annToMask) to exactly its `area` pixels. Prints one
JSON object on stdout:

    {"images": n, "annotations": n, "with_masks": n, "missing_files": n,
     "size_mismatches": n, "area_mismatches": n}
"""

import contextlib
import io
import json
import os
import sys

from PIL import Image
from pycocotools.coco import COCO


def main(root):
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(os.path.join(root, "coco_export.json"))
    missing = size_mismatches = area_mismatches = with_masks = 0
    for img in coco.loadImgs(coco.getImgIds()):
        path = os.path.join(root, "images", img["file_name"])
        if not os.path.isfile(path):
            missing += 1
            continue
        with Image.open(path) as im:
            if im.size != (img["width"], img["height"]):
                size_mismatches += 1
    for ann in coco.loadAnns(coco.getAnnIds()):
        if "segmentation" not in ann:
            continue
        with_masks += 1
        if int(coco.annToMask(ann).sum()) != ann["area"]:
            area_mismatches += 1
    print(json.dumps({
        "images": len(coco.getImgIds()),
        "annotations": len(coco.getAnnIds()),
        "with_masks": with_masks,
        "missing_files": missing,
        "size_mismatches": size_mismatches,
        "area_mismatches": area_mismatches,
    }))


if __name__ == "__main__":
    main(sys.argv[1])
