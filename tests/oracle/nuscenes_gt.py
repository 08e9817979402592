#!/usr/bin/env python3
"""Oracle: nuScenes 3D ground truth -> CAM_FRONT 2D boxes, computed by the REAL nuscenes-devkit.

Usage:
    python nuscenes_gt.py --dataroot DIR --version v1.0-mini --scene NAME [--max-frames N]

Prints a JSON list to stdout, one entry per CAM_FRONT keyframe of the scene:
    {"sample_token": str, "timestamp": int (CAM_FRONT sample_data timestamp, us),
     "image": str (sample_data filename, e.g. "samples/CAM_FRONT/x.jpg"),
     "annotations": [
        {"annotation_token": str, "instance_token": str, "category": str (full nuScenes name),
         "box": [x0, y0, x1, y1] | null, "visibility": str (visibility.level, e.g. "v80-100") | null,
         "num_lidar_pts": int, "distance_m": float,
         "devkit_error": str   # only present when "box" is null, see below
        }, ...]}
Annotations are in the order get_2d_boxes() returns them, i.e. sample['anns'] order, which is the
order of the sample_annotation table (the devkit builds sample['anns'] by one pass over that table),
minus the annotations whose projection misses the image.

The 2D boxes come from nuscenes.scripts.export_2d_annotations_as_json.get_2d_boxes (devkit 1.2.0),
called unchanged with visibilities ['', '1', '2', '3', '4']. Its definition:
  * box global -> ego (the camera sample_data's own ego_pose) -> camera (its calibrated_sensor);
  * keep the 3D corners with z > 0 (in front of the camera); behind-corners are DROPPED, the box is
    not clipped against the image plane, so a box partly behind the camera gets the hull of its
    front corners only;
  * project them (view_points, normalize=True), take the shapely convex hull, intersect it with the
    canvas box(0, 0, 1600, 900) -- the canvas size is the HARD-CODED default of post_process_coords,
    get_2d_boxes never passes the real image size -- and return the min/max of the intersection's
    exterior ring;
  * an annotation whose hull does not intersect the canvas (incl. no corner in front) is omitted.

Known devkit limitation (post_process_coords): when the hull intersects the canvas but the
intersection is not a Polygon, `img_intersection.exterior` raises AttributeError and the devkit's
get_2d_boxes (and its own main()) crashes for the whole sample. This happens when
  * only 1 corner is in front (or all front corners project to one pixel) and it lies inside or on
    the border of the canvas: Point -> "'Point' object has no attribute 'exterior'";
  * only 2 front corners (or 3+ collinear ones) and the segment meets the canvas:
    LineString -> "'LineString' object has no attribute 'exterior'";
  * a proper polygon hull that only TOUCHES the canvas border (shares an edge or a vertex with it
    from outside): the intersection is a LineString / Point -> same AttributeError.
  Hulls that do not meet the canvas at all return None (annotation skipped) without error.
This script does not crash there: it wraps post_process_coords so that the exception, for that
annotation only, is turned into a marker; the rest of get_2d_boxes runs unchanged, and such an
annotation is emitted with "box": null and "devkit_error": "<ExceptionType>: <message>".
"""

import argparse
import json
import sys

import numpy as np
from pyquaternion import Quaternion

from nuscenes.nuscenes import NuScenes
import nuscenes.scripts.export_2d_annotations_as_json as export2d

CHANNEL = 'CAM_FRONT'
ALL_VISIBILITIES = ['', '1', '2', '3', '4']


class _DevkitError(float):
    """Marker returned in place of each coordinate when post_process_coords raised.

    A float subclass so nothing in get_2d_boxes/generate_record chokes on it; carries the message.
    """

    def __new__(cls, message):
        obj = super().__new__(cls, float('nan'))
        obj.message = message
        return obj


_original_post_process_coords = export2d.post_process_coords


def _safe_post_process_coords(corner_coords, *args, **kwargs):
    try:
        return _original_post_process_coords(corner_coords, *args, **kwargs)
    except Exception as exc:  # devkit limitation, see module docstring
        marker = _DevkitError('{}: {}'.format(type(exc).__name__, exc))
        return marker, marker, marker, marker


def camera_frame_distance(nusc, ann_token, pose_rec, cs_rec):
    """Euclidean norm of the box centre in the camera frame, with the same transforms as get_2d_boxes."""
    box = nusc.get_box(ann_token)
    box.translate(-np.array(pose_rec['translation']))
    box.rotate(Quaternion(pose_rec['rotation']).inverse)
    box.translate(-np.array(cs_rec['translation']))
    box.rotate(Quaternion(cs_rec['rotation']).inverse)
    return float(np.linalg.norm(box.center))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--dataroot', required=True)
    parser.add_argument('--version', default='v1.0-mini')
    parser.add_argument('--scene', required=True, help='scene name, e.g. scene-0061')
    parser.add_argument('--max-frames', type=int, default=None,
                        help='only consider the first N CAM_FRONT frames (keyframes and sweeps) of the chain')
    args = parser.parse_args(argv)

    nusc = NuScenes(version=args.version, dataroot=args.dataroot, verbose=False)
    # get_2d_boxes reads the module-level global `nusc`.
    export2d.nusc = nusc
    export2d.post_process_coords = _safe_post_process_coords

    scenes = [s for s in nusc.scene if s['name'] == args.scene]
    if not scenes:
        sys.exit('scene {!r} not found; available: {}'.format(args.scene, [s['name'] for s in nusc.scene]))
    scene = scenes[0]

    # Walk the CAM_FRONT sample_data chain (keyframes and sweeps) from the scene's first sample.
    # Stop at the end of the chain, or (defensively; never the case in real nuScenes) if the chain
    # runs into a sample_data whose sample belongs to another scene.
    first_sample = nusc.get('sample', scene['first_sample_token'])
    sd_token = first_sample['data'][CHANNEL]
    chain = []
    while sd_token:
        if args.max_frames is not None and len(chain) >= args.max_frames:
            break
        sd = nusc.get('sample_data', sd_token)
        if nusc.get('sample', sd['sample_token'])['scene_token'] != scene['token']:
            break
        chain.append(sd)
        sd_token = sd['next']

    visibility_level = {v['token']: v['level'] for v in nusc.visibility}

    out = []
    for sd in chain:
        if not sd['is_key_frame']:
            continue
        pose_rec = nusc.get('ego_pose', sd['ego_pose_token'])
        cs_rec = nusc.get('calibrated_sensor', sd['calibrated_sensor_token'])
        annotations = []
        for rec in export2d.get_2d_boxes(sd['token'], ALL_VISIBILITIES):
            ann_token = rec['sample_annotation_token']
            entry = {
                'annotation_token': ann_token,
                'instance_token': rec['instance_token'],
                'category': rec['category_name'],
                'box': None,
                'visibility': visibility_level.get(rec['visibility_token']) if rec['visibility_token'] else None,
                'num_lidar_pts': int(rec['num_lidar_pts']),
                'distance_m': camera_frame_distance(nusc, ann_token, pose_rec, cs_rec),
            }
            corners = rec['bbox_corners']
            if isinstance(corners[0], _DevkitError):
                entry['devkit_error'] = corners[0].message
            else:
                entry['box'] = [float(c) for c in corners]
            annotations.append(entry)
        out.append({
            'sample_token': sd['sample_token'],
            'timestamp': int(sd['timestamp']),
            'image': sd['filename'],
            'annotations': annotations,
        })

    json.dump(out, sys.stdout, indent=1, allow_nan=False)
    sys.stdout.write('\n')


if __name__ == '__main__':
    main()
