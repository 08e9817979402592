"""Build a tiny nuScenes-format dataset (v1.0-mini) of projection edge cases, for comparing the devkit and the Rust port.

Camera: CAM_FRONT, intrinsics f=1000, cx=800, cy=450 (so the devkit's hard-coded 1600x900 canvas is
exactly the image), extrinsics rotation [0.5,-0.5,0.5,-0.5] (camera z = ego x), translation [1.5,0,1.5].
Annotations are specified in the CAMERA frame of the keyframe's CAM_FRONT sample_data and converted
to global with that sample_data's own ego pose.
"""
import json, os, sys
import numpy as np
from pyquaternion import Quaternion

root = sys.argv[1]
minimal = '--minimal' in sys.argv
ver = os.path.join(root, 'v1.0-mini')
os.makedirs(ver, exist_ok=True)
os.makedirs(os.path.join(root, 'maps'), exist_ok=True)
open(os.path.join(root, 'maps', 'empty.png'), 'wb').close()

CS_Q = Quaternion([0.5, -0.5, 0.5, -0.5])
CS_T = np.array([1.5, 0.0, 1.5])
K = [[1000.0, 0.0, 800.0], [0.0, 1000.0, 450.0], [0.0, 0.0, 1.0]]
# sanity: camera forward (0,0,1) -> ego +x
assert np.allclose(CS_Q.rotate([0, 0, 1]), [1, 0, 0]) and np.allclose(CS_Q.rotate([1, 0, 0]), [0, -1, 0])

tables = {k: [] for k in ['attribute', 'calibrated_sensor', 'category', 'ego_pose', 'instance', 'log', 'map',
                          'sample', 'sample_annotation', 'sample_data', 'scene', 'sensor', 'visibility']}
tables['visibility'] = [
    {'token': '1', 'level': 'v0-40', 'description': 'visibility of whole object is between 0 and 40%'},
    {'token': '2', 'level': 'v40-60', 'description': 'visibility of whole object is between 40 and 60%'},
    {'token': '3', 'level': 'v60-80', 'description': 'visibility of whole object is between 60 and 80%'},
    {'token': '4', 'level': 'v80-100', 'description': 'visibility of whole object is between 80 and 100%'},
]
tables['attribute'] = [{'token': 'attr_moving', 'name': 'vehicle.moving', 'description': ''}]
cats = ['vehicle.car', 'human.pedestrian.adult', 'movable_object.barrier', 'vehicle.truck']
for i, c in enumerate(cats):
    rec = {'token': 'cat_%d' % i, 'name': c, 'description': c}
    if not minimal:
        rec['index'] = i
    tables['category'].append(rec)
tables['sensor'] = [{'token': 'sensor_cam_front', 'channel': 'CAM_FRONT', 'modality': 'camera'},
                    {'token': 'sensor_lidar', 'channel': 'LIDAR_TOP', 'modality': 'lidar'}]
tables['calibrated_sensor'] = [
    {'token': 'cs_cam_front', 'sensor_token': 'sensor_cam_front', 'translation': CS_T.tolist(),
     'rotation': list(CS_Q.elements), 'camera_intrinsic': K},
    {'token': 'cs_lidar', 'sensor_token': 'sensor_lidar', 'translation': [0.9, 0.0, 1.8],
     'rotation': [1.0, 0.0, 0.0, 0.0], 'camera_intrinsic': []},
]
tables['log'] = [{'token': 'log_1', 'logfile': 'synthetic-log', 'vehicle': 'synth', 'date_captured': '2024-01-01',
                  'location': 'singapore-onenorth'}]
tables['map'] = [{'token': 'map_1', 'log_tokens': ['log_1'], 'category': 'semantic_prior', 'filename': 'maps/empty.png'}]

T0 = 1_700_000_000_000_000
def pose(tok, ts, t, yaw_deg):
    q = Quaternion(axis=[0, 0, 1], degrees=yaw_deg) if yaw_deg else Quaternion([1.0, 0.0, 0.0, 0.0])
    tables['ego_pose'].append({'token': tok, 'timestamp': ts, 'translation': list(map(float, t)), 'rotation': list(q.elements)})
    return q, np.array(t, float)

# Scene 1: 3 keyframes (0.5 s apart), 2 CAM_FRONT sweeps between keyframes, 1 trailing sweep.
# Keyframe 0 and 1: identity yaw with integer translations (exact arithmetic for border-touch cases);
# keyframe 2: yawed ego.
kf_times = [T0, T0 + 500_000, T0 + 1_000_000]
kf_pose = [([100, 200, 0], 0), ([104, 200, 0], 0), ([108, 201, 0], 12.5)]
samples = ['s_c', 's_a', 's_b']          # deliberately unsorted tokens
for i, s in enumerate(samples):
    tables['sample'].append({'token': s, 'timestamp': kf_times[i] + 10, 'scene_token': 'scene_1',
                             'prev': samples[i - 1] if i else '', 'next': samples[i + 1] if i + 1 < len(samples) else ''})
tables['scene'].append({'token': 'scene_1', 'name': 'scene-0001', 'description': 'synthetic', 'log_token': 'log_1',
                        'nbr_samples': 3, 'first_sample_token': 's_c', 'last_sample_token': 's_b'})

cam_chain = []  # (token, ts, is_key, sample_token, pose)
cam_pose = {}
for i, s in enumerate(samples):
    if i > 0:
        for j in (1, 2):
            ts = kf_times[i - 1] + j * 166_666
            tok = 'sd_cam_sweep_%d_%d' % (i, j)
            pose('ep_' + tok, ts, [100 + 4 * (i - 1) + 1.33 * j, 200, 0], 0)
            cam_chain.append((tok, ts, False, s))
    tok = 'sd_cam_kf_%d' % i
    cam_pose[s] = pose('ep_' + tok, kf_times[i], *kf_pose[i])
    cam_chain.append((tok, kf_times[i], True, s))
ts = kf_times[-1] + 166_666
pose('ep_sd_cam_trail', ts, [109.3, 201.1, 0], 12.5)
cam_chain.append(('sd_cam_trail', ts, False, samples[-1]))

# Scene 2: one keyframe, its own chain (must not be reached from scene 1's chain).
tables['sample'].append({'token': 's_z', 'timestamp': T0 + 5_000_000, 'scene_token': 'scene_2', 'prev': '', 'next': ''})
tables['scene'].append({'token': 'scene_2', 'name': 'scene-0002', 'description': 'synthetic 2', 'log_token': 'log_1',
                        'nbr_samples': 1, 'first_sample_token': 's_z', 'last_sample_token': 's_z'})
cam_pose['s_z'] = pose('ep_sd_cam_z', T0 + 5_000_000, [300, 300, 0], 0)
chain2 = [('sd_cam_z', T0 + 5_000_000, True, 's_z')]

def add_chain(chain, channel, cs, ext):
    for k, (tok, ts, key, s) in enumerate(chain):
        rec = {'token': tok, 'sample_token': s, 'ego_pose_token': 'ep_' + tok, 'calibrated_sensor_token': cs,
               'timestamp': ts, 'is_key_frame': key,
               'filename': '%s/%s/%s__%s__%d.%s' % ('samples' if key else 'sweeps', channel, 'synth', channel, ts, ext),
               'prev': chain[k - 1][0] if k else '', 'next': chain[k + 1][0] if k + 1 < len(chain) else ''}
        if not minimal:
            rec.update({'fileformat': ext, 'width': 1600 if ext == 'jpg' else 0, 'height': 900 if ext == 'jpg' else 0})
        tables['sample_data'].append(rec)
add_chain(cam_chain, 'CAM_FRONT', 'cs_cam_front', 'jpg')
add_chain(chain2, 'CAM_FRONT', 'cs_cam_front', 'jpg')
# LIDAR keyframes 20 ms away from the camera, different ego poses (the devkit must use the camera's).
lid = []
for i, s in enumerate(samples):
    tok = 'sd_lidar_kf_%d' % i
    ts = kf_times[i] + 20_000
    pose('ep_' + tok, ts, [kf_pose[i][0][0] + 0.4, kf_pose[i][0][1] + 0.3, 0], kf_pose[i][1] + 3)
    lid.append((tok, ts, True, s))
add_chain(lid, 'LIDAR_TOP', 'cs_lidar', 'pcd.bin')
tokz = 'sd_lidar_z'; pose('ep_' + tokz, T0 + 5_020_000, [300.5, 300, 0], 1)
add_chain([(tokz, T0 + 5_020_000, True, 's_z')], 'LIDAR_TOP', 'cs_lidar', 'pcd.bin')

def cam_to_global(s, c_cam, q_cam):
    pq, pt = cam_pose[s]
    c_ego = CS_Q.rotate(np.array(c_cam, float)) + CS_T
    c_glob = pq.rotate(c_ego) + pt
    return c_glob, pq * CS_Q * q_cam

IDENT = Quaternion([1.0, 0.0, 0.0, 0.0])
# size is [w, l, h]; Box.corners(): x (length) along box-x, y (width) along box-y, z (height) along box-z.
# With q_cam = IDENT the box axes coincide with the camera axes: l along cam-x (right), w along cam-y (down),
# h along cam-z (forward).
anns = []  # (token, sample, instance, cat, center_cam, q_cam, size, vis, lidar_pts)
def A(tok, s, inst, cat, c, q, size, vis='4', n=10):
    anns.append((tok, s, inst, cat, c, q, size, vis, n))

for s in samples:
    sfx = s[-1]
    A('ann_%s_normal' % sfx, s, 'inst_car', 0, [1.0, 0.5, 20.0], Quaternion(axis=[0, 1, 0], degrees=20), [1.8, 4.5, 1.5], '4', 120)
    A('ann_%s_behind' % sfx, s, 'inst_truck', 3, [-1.0, 0.0, 1.0], IDENT, [2.0, 3.0, 4.0], '2', 40)   # z in [-1, 3]
    A('ann_%s_outside' % sfx, s, 'inst_barrier', 2, [40.0, 0.0, 10.0], IDENT, [1.0, 1.0, 1.0], '', 0)
    A('ann_%s_border' % sfx, s, 'inst_ped', 1, [-9.0, 0.0, 10.0], IDENT, [0.8, 1.0, 1.8], '3', 7)  # straddles x=0
    A('ann_%s_fully_behind' % sfx, s, 'inst_behind', 0, [0.0, 0.0, -10.0], IDENT, [1.8, 4.5, 1.5], '1', 3)
    A('ann_%s_grazing' % sfx, s, 'inst_grazing', 2, [0.3, 0.2, -0.45], IDENT, [1.0, 1.0, 1.0], '1', 2)  # front corners at z = 0.05
# Degenerate cases on keyframe 's_a' (index 1; identity ego yaw -> exact arithmetic):
diag = Quaternion(axis=[1, 0, 0], degrees=np.degrees(np.arctan(1 / np.sqrt(2)))) * Quaternion(axis=[0, 1, 0], degrees=45)
A('ann_a_one_corner', 's_a', 'inst_deg1', 0, [0.0, 0.0, -1.0], diag, [2.0, 2.0, 2.0], '1', 1)        # 1 corner in front
A('ann_a_two_corners', 's_a', 'inst_deg2', 0, [0.0, 0.0, -1.0], Quaternion(axis=[0, 1, 0], degrees=45), [2.0, 2.0, 2.0], '1', 1)
A('ann_a_touch_edge', 's_a', 'inst_touch_e', 2, [9.0, 0.0, 9.0], IDENT, [1.0, 2.0, 2.0], '4', 5)      # x in [8,10], z in [8,10]: far-left edge -> u=1600
A('ann_a_touch_vertex', 's_a', 'inst_touch_v', 2, [17.0, 10.0, 19.0], IDENT, [2.0, 2.0, 2.0], '4', 5)  # corner (16, 9, 20) -> (1600, 900)
# Scene 2 annotation
A('ann_z_car', 's_z', 'inst_z', 0, [0.0, 0.0, 15.0], IDENT, [1.8, 4.5, 1.5], '4', 50)

# Deliberately interleave the table order across samples (not sorted by token / sample).
order = sorted(range(len(anns)), key=lambda i: (i * 7) % len(anns))
instances = {}
for i in order:
    tok, s, inst, cat, c, q, size, vis, n = anns[i]
    cg, qg = cam_to_global(s, c, q)
    instances.setdefault(inst, []).append(tok)
    rec = {'token': tok, 'sample_token': s, 'instance_token': inst, 'visibility_token': vis,
           'attribute_tokens': [], 'translation': cg.tolist(), 'size': list(map(float, size)),
           'rotation': list(qg.elements), 'prev': '', 'next': '', 'num_lidar_pts': n, 'num_radar_pts': 0}
    tables['sample_annotation'].append(rec)
cat_of = {a[2]: a[3] for a in anns}
for inst, toks in instances.items():
    tables['instance'].append({'token': inst, 'category_token': 'cat_%d' % cat_of[inst], 'nbr_annotations': len(toks),
                               'first_annotation_token': toks[0], 'last_annotation_token': toks[-1]})
for k, v in tables.items():
    with open(os.path.join(ver, k + '.json'), 'w') as f:
        json.dump(v, f, indent=1)
print('wrote', ver, {k: len(v) for k, v in tables.items()})
