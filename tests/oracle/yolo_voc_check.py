"""A reference reader for the YOLO and Pascal VOC files of autolabel's training ZIPs.

Usage: yolo_voc_check.py DIR COCO_NAME

DIR is an unpacked training ZIP and COCO_NAME its COCO file (`annotations.json` or
`coco_export.json`). Reads the files as the trainers do — YOLO's `data.yaml` (PyYAML)
and `labels/<stem>.txt` (`class cx cy w h`, normalised), `labels-seg/<stem>.txt`
(`class x1 y1 …`), VOC's `Annotations/<stem>.xml` (xml.etree, 1-based inclusive
`bndbox`) and `ImageSets/Main/train.txt` — and compares every object with the COCO
file's (loaded by pycocotools). Prints one JSON object on stdout:

    {"images": n, "objects": n, "yolo_max_error_px": x, "yolo_class_mismatches": n,
     "yolo_missing": n, "seg_lines": n, "seg_bad": n, "voc_class_mismatches": n,
     "voc_box_mismatches": n, "voc_missing": n, "image_set_ok": bool}
"""

import contextlib
import io
import json
import math
import os
import sys
import xml.etree.ElementTree as ET

import yaml
from pycocotools.coco import COCO


def stem(file_name):
    return os.path.splitext(os.path.basename(file_name))[0]


def read_lines(path):
    with open(path) as f:
        return [line.split() for line in f if line.strip()]


def check_yolo(root, coco, img, anns, names, out):
    path = os.path.join(root, "labels", stem(img["file_name"]) + ".txt")
    if not os.path.isfile(path):
        out["yolo_missing"] += 1
        return
    lines = read_lines(path)
    if len(lines) != len(anns):
        out["yolo_missing"] += abs(len(lines) - len(anns))
    W, H = img["width"], img["height"]
    for fields, ann in zip(lines, anns):
        cls, cx, cy, w, h = int(fields[0]), *map(float, fields[1:5])
        if names[cls] != coco.cats[ann["category_id"]]["name"]:
            out["yolo_class_mismatches"] += 1
        box = [(cx - w / 2) * W, (cy - h / 2) * H, w * W, h * H]
        err = max(abs(a - b) for a, b in zip(box, ann["bbox"]))
        out["yolo_max_error_px"] = max(out["yolo_max_error_px"], err)
    seg = os.path.join(root, "labels-seg", stem(img["file_name"]) + ".txt")
    if os.path.isfile(seg):
        for fields in read_lines(seg):
            values = list(map(float, fields[1:]))
            out["seg_lines"] += 1
            ok = int(fields[0]) < len(names) and len(values) >= 6 and len(values) % 2 == 0
            if not ok or not all(0.0 <= v <= 1.0 for v in values):
                out["seg_bad"] += 1


def check_voc(root, coco, img, anns, out):
    path = os.path.join(root, "Annotations", stem(img["file_name"]) + ".xml")
    if not os.path.isfile(path):
        out["voc_missing"] += 1
        return
    doc = ET.parse(path).getroot()
    size = doc.find("size")
    if (doc.findtext("filename") != img["file_name"]
            or int(size.findtext("width")) != img["width"]
            or int(size.findtext("height")) != img["height"]):
        out["voc_box_mismatches"] += 1
    objects = doc.findall("object")
    if len(objects) != len(anns):
        out["voc_missing"] += abs(len(objects) - len(anns))
    for obj, ann in zip(objects, anns):
        if obj.findtext("name") != coco.cats[ann["category_id"]]["name"]:
            out["voc_class_mismatches"] += 1
        b = obj.find("bndbox")
        xmin, ymin, xmax, ymax = (int(b.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax"))
        x, y, w, h = ann["bbox"]
        want = [
            min(max(math.floor(x) + 1, 1), img["width"]),
            min(max(math.floor(y) + 1, 1), img["height"]),
            min(max(math.ceil(x + w), 1), img["width"]),
            min(max(math.ceil(y + h), 1), img["height"]),
        ]
        if [xmin, ymin, xmax, ymax] != want or not (1 <= xmin <= xmax and 1 <= ymin <= ymax):
            out["voc_box_mismatches"] += 1


def main(root, coco_name):
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(os.path.join(root, coco_name))
    with open(os.path.join(root, "data.yaml")) as f:
        names = yaml.safe_load(f)["names"]
    out = dict(images=0, objects=0, yolo_max_error_px=0.0, yolo_class_mismatches=0,
               yolo_missing=0, seg_lines=0, seg_bad=0, voc_class_mismatches=0,
               voc_box_mismatches=0, voc_missing=0)
    imgs = coco.loadImgs(sorted(coco.getImgIds()))
    for img in imgs:
        anns = sorted(coco.loadAnns(coco.getAnnIds(imgIds=[img["id"]])), key=lambda a: a["id"])
        out["images"] += 1
        out["objects"] += len(anns)
        check_yolo(root, coco, img, anns, names, out)
        check_voc(root, coco, img, anns, out)
    with open(os.path.join(root, "ImageSets", "Main", "train.txt")) as f:
        listed = sorted(line.strip() for line in f if line.strip())
    out["image_set_ok"] = listed == sorted(stem(i["file_name"]) for i in imgs)
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
