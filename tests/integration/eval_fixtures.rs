//! The evaluation's fixtures: the demo scene's ground truth with exact masks
//! (from the renderer's per-pixel object ids), exported to COCO and read back,
//! and "predictions" made from it by jittering, dropping, relabelling,
//! duplicating and merging boxes — with a record of what was done, so the
//! expected counts follow from it.

use std::collections::HashMap;
use std::sync::OnceLock;

use autolabel::data::classes::ClassMap;
use autolabel::data::nuscenes::{DEFAULT_CHANNEL, NuScenes};
use autolabel::eval::data::{Detection, GroundTruth};
use autolabel::eval::failures::FailureKind;
use autolabel::export::coco::{
    CocoDataset, LabelledFrame, LabelledObject, SegmentationFormat, build_dataset,
    import_ground_truth,
};
use autolabel::labels::mask::Mask;
use autolabel::labels::rle::{Rle, bbox_iou};

use crate::support::{demo_scene, metadata_source};

/// The demo scene's keyframes with masks.
pub struct DemoTruth {
    pub classes: Vec<String>,
    /// Frames as exported (object masks included).
    pub frames: Vec<LabelledFrame>,
    /// Per keyframe (by image id): the renderer's object ids, +1 (0 = nothing).
    pub labels: HashMap<i64, Vec<u32>>,
    /// Annotation id → (image id, label value of its object).
    pub label_of: HashMap<i64, (i64, u32)>,
    pub dataset: CocoDataset,
    pub gt: GroundTruth,
    pub import_warnings: Vec<String>,
    pub width: u32,
    pub height: u32,
}

/// The demo scene (1600×900, 20 keyframes) as COCO ground truth with masks.
pub fn demo_truth() -> &'static DemoTruth {
    static TRUTH: OnceLock<DemoTruth> = OnceLock::new();
    TRUTH.get_or_init(build_demo_truth)
}

fn build_demo_truth() -> DemoTruth {
    let scene = demo_scene();
    let classes = ClassMap::nuscenes_default();
    let db = NuScenes::load(&metadata_source(scene), "v1.0-mini").expect("demo tables load");
    let chain = db
        .camera_frames(&scene.config.name, DEFAULT_CHANNEL, None)
        .expect("demo chain");
    let keyframes = db
        .ground_truth(&chain, &classes)
        .expect("demo ground truth");
    let (width, height) = (scene.config.width, scene.config.height);
    let mut frames = Vec::new();
    let mut labels = HashMap::new();
    let mut extras = Vec::new();
    let mut actors = Vec::new();
    for k in &keyframes {
        let index = chain
            .iter()
            .position(|f| f.image == k.image)
            .expect("keyframe in chain");
        let rendered = scene.render(index).expect("render keyframe");
        let ids = rendered.ids;
        let mut objects = Vec::new();
        for a in &k.annotations {
            let Some(class) = &a.class else { continue };
            let actor = scene
                .actor_of_instance(&a.instance_token)
                .expect("annotated actor") as u32;
            let mask = Mask::from_fn(width, height, |x, y| ids[(y * width + x) as usize] == actor);
            objects.push(LabelledObject {
                class: class.clone(),
                bbox: a.bbox,
                score: None,
                track_id: None,
                reviewed: None,
                mask: Some(mask),
            });
            extras.push((
                a.distance_m,
                a.visibility.clone(),
                a.annotation_token.clone(),
            ));
            actors.push((index as i64, actor + 1));
        }
        labels.insert(
            index as i64,
            ids.iter().map(|&v| v.wrapping_add(1)).collect(),
        );
        frames.push(LabelledFrame {
            image_id: index as i64,
            file_name: k.image.clone(),
            width,
            height,
            objects,
        });
    }
    let exported =
        build_dataset(&frames, &classes.classes, SegmentationFormat::Auto).expect("export");
    let mut dataset = exported.dataset;
    let mut label_of = HashMap::new();
    for ((a, (d, v, token)), actor) in dataset.annotations.iter_mut().zip(extras).zip(actors) {
        a.extra.insert("distance_m".into(), serde_json::json!(d));
        if let Some(v) = v {
            a.extra.insert("visibility".into(), serde_json::json!(v));
        }
        a.extra.insert("source".into(), serde_json::json!(token));
        label_of.insert(a.id, actor);
    }
    let text = serde_json::to_vec(&dataset).expect("serialise");
    let reparsed = autolabel::export::coco::parse_dataset(&text).expect("our own COCO parses");
    let imported = import_ground_truth(&reparsed).expect("our own COCO imports");
    DemoTruth {
        classes: classes.classes.clone(),
        frames,
        labels,
        label_of,
        dataset,
        gt: imported.ground_truth,
        import_warnings: imported.warnings,
        width,
        height,
    }
}

/// splitmix64: a tiny seeded generator, so the fixture is the same everywhere.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// What the jitter did, per class name.
#[derive(Debug, Default, Clone)]
pub struct Record {
    /// Objects kept (jittered but still matching): the expected true positives.
    pub kept: HashMap<String, usize>,
    /// Predictions expected to be false positives (relabelled into the class,
    /// duplicates, boxes on nothing, merged boxes).
    pub false_positives: HashMap<String, usize>,
    pub dropped_occluded: usize,
    pub dropped_far_small: usize,
    pub relabelled: usize,
    pub duplicates: usize,
    pub background: usize,
    pub merged: usize,
    pub wrong_surface: usize,
    /// Planted prediction (position in the output) → the failure it is.
    pub planted: Vec<(usize, FailureKind)>,
    /// Dropped object (annotation id) → the miss it is.
    pub dropped: Vec<(i64, FailureKind)>,
}

fn bump(map: &mut HashMap<String, usize>, key: &str) {
    *map.entry(key.to_string()).or_default() += 1;
}

/// Predictions from the ground truth:
/// - occluded objects (v0-40) dropped: every pedestrian, cyclist and truck,
///   every other car, no bus;
/// - half of the far (≥ 40 m) small (box < 32² px) objects dropped;
/// - every other remaining truck called a car;
/// - the rest kept, boxes jittered by up to ±4 % of their size (exact when a
///   jittered box would overlap another object of the class as much), scores
///   in [0.55, 1), masks their own;
/// - every 7th kept car or pedestrian duplicated (a shifted, lower-score copy);
/// - one box on empty sky per frame; in one frame two overlapping cars
///   replaced by one box around both; one kept object given another's mask.
///
/// Planted false positives are only planted where they overlap no object of
/// their class by IoU ≥ 0.5, so the expected counts are exact.
pub fn jittered_predictions(truth: &DemoTruth, seed: u64) -> (Vec<Detection>, Record) {
    let gt = &truth.gt;
    let mut rng = Rng::new(seed);
    let mut rec = Record::default();
    let mut dets = Vec::new();
    let class_name = |id: i64| gt.category_name(id).unwrap_or("?").to_string();
    let car = gt
        .categories
        .iter()
        .find(|c| c.name == "car")
        .map(|c| c.id)
        .unwrap_or(1);
    let merged = merged_pair(gt, car);
    let (mut trucks, mut occluded_cars, mut kept_count) = (0, 0, 0);
    let mut surface_done = false;
    for (i, o) in gt.objects.iter().enumerate() {
        let name = class_name(o.category_id);
        if merged.is_some_and(|(a, b)| i == a || i == b) {
            continue;
        }
        if o.visibility.as_deref() == Some("v0-40") {
            let drop = match name.as_str() {
                "bus" => false,
                "car" => {
                    occluded_cars += 1;
                    occluded_cars % 2 == 0
                }
                _ => true,
            };
            if drop {
                rec.dropped_occluded += 1;
                rec.dropped.push((o.id, FailureKind::OccludedMiss));
                continue;
            }
        }
        let box_area = o.bbox[2] * o.bbox[3];
        if o.distance_m.is_some_and(|d| d >= 40.0)
            && box_area < 1024.0
            && rng.next().is_multiple_of(2)
        {
            rec.dropped_far_small += 1;
            let kind = if o.visibility.as_deref() == Some("v0-40") {
                FailureKind::OccludedMiss
            } else {
                FailureKind::DistantMiss
            };
            rec.dropped.push((o.id, kind));
            continue;
        }
        let [x, y, w, h] = o.bbox;
        let jittered = [
            x + w * rng.range(-0.04, 0.04),
            y + h * rng.range(-0.04, 0.04),
            w * (1.0 + rng.range(-0.04, 0.04)),
            h * (1.0 + rng.range(-0.04, 0.04)),
        ];
        let score = rng.range(0.55, 1.0);
        let mut category_id = o.category_id;
        if name == "truck" {
            trucks += 1;
            if trucks % 2 == 0 && clear_of(gt, o.image_id, o.bbox, Some(i)) {
                category_id = car;
                rec.relabelled += 1;
                bump(&mut rec.false_positives, "car");
            }
        }
        let relabelled = category_id != o.category_id;
        let bbox = if relabelled || own_best(gt, i, jittered) {
            jittered
        } else {
            o.bbox
        };
        let mut mask = o.mask.clone();
        if !relabelled {
            bump(&mut rec.kept, &name);
            kept_count += 1;
            if !surface_done
                && o.area > 5000.0
                && let Some(other) = other_mask(gt, i)
            {
                mask = Some(other);
                surface_done = true;
                rec.wrong_surface += 1;
                rec.planted.push((dets.len(), FailureKind::WrongSurface));
            }
        } else {
            rec.planted.push((dets.len(), FailureKind::ClassConfusion));
        }
        dets.push(Detection {
            image_id: o.image_id,
            category_id,
            bbox,
            score,
            area: bbox[2] * bbox[3],
            mask,
            track_id: Some(i as i64),
        });
        let dup = [bbox[0] + 0.02 * w, bbox[1], bbox[2], bbox[3]];
        if !relabelled
            && (name == "car" || name == "pedestrian")
            && kept_count % 7 == 0
            && clear_of(gt, o.image_id, dup, Some(i))
        {
            rec.planted.push((dets.len(), FailureKind::Duplicate));
            dets.push(Detection::from_box(
                o.image_id,
                category_id,
                dup,
                score * 0.8,
            ));
            rec.duplicates += 1;
            bump(&mut rec.false_positives, &name);
        }
    }
    if let Some((a, b)) = merged {
        let (oa, ob) = (&gt.objects[a], &gt.objects[b]);
        let x0 = oa.bbox[0].min(ob.bbox[0]);
        let y0 = oa.bbox[1].min(ob.bbox[1]);
        let x1 = (oa.bbox[0] + oa.bbox[2]).max(ob.bbox[0] + ob.bbox[2]);
        let y1 = (oa.bbox[1] + oa.bbox[3]).max(ob.bbox[1] + ob.bbox[3]);
        rec.planted.push((dets.len(), FailureKind::MergedBox));
        dets.push(Detection::from_box(
            oa.image_id,
            car,
            [x0, y0, x1 - x0, y1 - y0],
            0.93,
        ));
        rec.merged += 1;
        bump(&mut rec.false_positives, "car");
    }
    for image in &gt.images {
        let sky = [40.0 + (image.id % 5) as f64 * 30.0, 20.0, 50.0, 30.0];
        let clear = gt
            .objects
            .iter()
            .filter(|o| o.image_id == image.id)
            .all(|o| bbox_iou(sky, o.bbox, false) == 0.0);
        if clear {
            rec.planted.push((dets.len(), FailureKind::FalsePositive));
            dets.push(Detection::from_box(image.id, car, sky, rng.range(0.3, 0.5)));
            rec.background += 1;
            bump(&mut rec.false_positives, "car");
        }
    }
    (dets, rec)
}

/// Whether `bbox` overlaps no object on `image` (other than `except`), of any
/// class, by IoU ≥ 0.5: a planted error that can only be what it was planted as.
fn clear_of(gt: &GroundTruth, image: i64, bbox: [f64; 4], except: Option<usize>) -> bool {
    gt.objects.iter().enumerate().all(|(j, p)| {
        Some(j) == except || p.image_id != image || bbox_iou(bbox, p.bbox, false) < 0.5
    })
}

/// Whether `bbox` overlaps object `i` more than any other object of its
/// class on its image.
fn own_best(gt: &GroundTruth, i: usize, bbox: [f64; 4]) -> bool {
    let o = &gt.objects[i];
    let own = bbox_iou(bbox, o.bbox, false);
    gt.objects.iter().enumerate().all(|(j, p)| {
        j == i
            || p.image_id != o.image_id
            || p.category_id != o.category_id
            || bbox_iou(bbox, p.bbox, false) < own
    })
}

/// Two cars of one frame whose boxes overlap, neither occluded, such that
/// the box around both has IoU < 0.5 with every object (so it matches none).
fn merged_pair(gt: &GroundTruth, car: i64) -> Option<(usize, usize)> {
    let cars: Vec<usize> = (0..gt.objects.len())
        .filter(|&i| {
            let o = &gt.objects[i];
            o.category_id == car && o.visibility.as_deref() != Some("v0-40")
        })
        .collect();
    for &a in &cars {
        for &b in &cars {
            let (oa, ob) = (&gt.objects[a], &gt.objects[b]);
            if a >= b || oa.image_id != ob.image_id || bbox_iou(oa.bbox, ob.bbox, false) <= 0.0 {
                continue;
            }
            let x0 = oa.bbox[0].min(ob.bbox[0]);
            let y0 = oa.bbox[1].min(ob.bbox[1]);
            let x1 = (oa.bbox[0] + oa.bbox[2]).max(ob.bbox[0] + ob.bbox[2]);
            let y1 = (oa.bbox[1] + oa.bbox[3]).max(ob.bbox[1] + ob.bbox[3]);
            let union = [x0, y0, x1 - x0, y1 - y0];
            if clear_of(gt, oa.image_id, union, None) {
                return Some((a, b));
            }
        }
    }
    None
}

/// The mask of another non-empty object of the same frame.
fn other_mask(gt: &GroundTruth, i: usize) -> Option<Rle> {
    let o = &gt.objects[i];
    gt.objects
        .iter()
        .enumerate()
        .find(|(j, p)| *j != i && p.image_id == o.image_id && p.area > 500.0)
        .and_then(|(_, p)| p.mask.clone())
}
