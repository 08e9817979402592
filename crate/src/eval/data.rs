//! What the evaluation compares: ground truth and detections as plain data,
//! in COCO's terms (integer image and category ids, boxes `[x, y, w, h]` in
//! pixels, masks as RLE). COCO files (`export::coco`) and projected nuScenes
//! ground truth (`GroundTruth::from_nuscenes`) both become a `GroundTruth`.

use serde::{Deserialize, Serialize};

use crate::data::classes::ClassMap;
use crate::data::nuscenes::{CameraFrame, KeyframeGt};
pub use crate::labels::boxes::{Box2, Xywh, xywh_to_xyxy, xyxy_to_xywh};
use crate::labels::rle::Rle;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Category {
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Image {
    pub id: i64,
    pub file_name: String,
    pub width: u32,
    pub height: u32,
}

/// One ground-truth object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GtObject {
    /// The annotation id.
    pub id: i64,
    pub image_id: i64,
    pub category_id: i64,
    /// `[x, y, w, h]`.
    pub bbox: Xywh,
    /// COCO's `area` (the mask's pixel count, or the box area without a mask):
    /// what the small/medium/large ranges and the size bins use.
    pub area: f64,
    /// A crowd region: matches to it are neither true nor false positives.
    pub iscrowd: bool,
    /// The object's mask, when the ground truth has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mask: Option<Rle>,
    /// Distance from the camera, metres (nuScenes ground truth).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distance_m: Option<f64>,
    /// nuScenes visibility level (`v0-40` … `v80-100`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility: Option<String>,
    /// Where it came from (e.g. the nuScenes annotation token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// Ground truth of a set of images.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct GroundTruth {
    pub images: Vec<Image>,
    pub categories: Vec<Category>,
    pub objects: Vec<GtObject>,
}

/// One detection, in COCO results terms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    pub image_id: i64,
    pub category_id: i64,
    /// `[x, y, w, h]`.
    pub bbox: Xywh,
    pub score: f64,
    /// COCOeval's detection area: `w·h` of the box when the result has one
    /// (what pycocotools' `loadRes` sets), else the mask's pixel count.
    pub area: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mask: Option<Rle>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub track_id: Option<i64>,
}

impl Detection {
    /// A box detection; its area is the box's.
    pub fn from_box(image_id: i64, category_id: i64, bbox: Xywh, score: f64) -> Self {
        Detection {
            image_id,
            category_id,
            bbox,
            score,
            area: bbox[2] * bbox[3],
            mask: None,
            track_id: None,
        }
    }
}

impl GroundTruth {
    pub fn category_name(&self, id: i64) -> Option<&str> {
        self.categories
            .iter()
            .find(|c| c.id == id)
            .map(|c| c.name.as_str())
    }

    pub fn image(&self, id: i64) -> Option<&Image> {
        self.images.iter().find(|i| i.id == id)
    }

    /// Projected nuScenes ground truth as COCO-style ground truth. Images are
    /// the keyframes among `frames`, with `id` = the frame's index in the
    /// camera chain (`Frame::index` of `Clip::nuscenes`, sweeps counted), so a
    /// detector run over the clip can write its image ids directly. Category
    /// `id` = 1 + the class's position in the class table. Objects the table
    /// ignores (`class: null`) are left out; annotation ids count from 1.
    pub fn from_nuscenes(frames: &[CameraFrame], gt: &[KeyframeGt], classes: &ClassMap) -> Self {
        let categories = classes
            .classes
            .iter()
            .enumerate()
            .map(|(i, name)| Category {
                id: i as i64 + 1,
                name: name.clone(),
            })
            .collect();
        let mut images = Vec::new();
        let mut objects = Vec::new();
        for keyframe in gt {
            let Some((index, frame)) = frames
                .iter()
                .enumerate()
                .find(|(_, f)| f.is_key_frame && f.image == keyframe.image)
            else {
                continue;
            };
            let image_id = index as i64;
            images.push(Image {
                id: image_id,
                file_name: frame.image.clone(),
                width: frame.width,
                height: frame.height,
            });
            for a in &keyframe.annotations {
                let Some(class) = a.class.as_deref() else {
                    continue;
                };
                let Some(position) = classes.classes.iter().position(|c| c == class) else {
                    continue;
                };
                let bbox = xyxy_to_xywh(a.bbox);
                objects.push(GtObject {
                    id: objects.len() as i64 + 1,
                    image_id,
                    category_id: position as i64 + 1,
                    bbox,
                    area: bbox[2] * bbox[3],
                    iscrowd: false,
                    mask: None,
                    distance_m: Some(a.distance_m),
                    visibility: a.visibility.clone(),
                    source: Some(a.annotation_token.clone()),
                });
            }
        }
        GroundTruth {
            images,
            categories,
            objects,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::nuscenes::GtAnnotation;

    #[test]
    fn nuscenes_ids_are_chain_indices_and_class_positions() {
        let frame = |i: usize, key: bool| CameraFrame {
            sample_data_token: format!("sd{i}"),
            sample_token: format!("s{i}"),
            timestamp: i as i64,
            image: format!("img{i}.jpg"),
            is_key_frame: key,
            width: 1600,
            height: 900,
        };
        let frames = vec![frame(0, true), frame(1, false), frame(2, true)];
        let ann = |class: Option<&str>| GtAnnotation {
            annotation_token: "a".into(),
            instance_token: "i".into(),
            category: "vehicle.car".into(),
            class: class.map(str::to_string),
            bbox: [1.0, 2.0, 11.0, 22.0],
            visibility: Some("v80-100".into()),
            num_lidar_pts: 3,
            distance_m: 12.0,
        };
        let gt = vec![KeyframeGt {
            sample_token: "s2".into(),
            timestamp: 2,
            image: "img2.jpg".into(),
            annotations: vec![ann(Some("bus")), ann(None)],
        }];
        let g = GroundTruth::from_nuscenes(&frames, &gt, &ClassMap::nuscenes_default());
        assert_eq!(g.images.len(), 1);
        assert_eq!(g.images[0].id, 2);
        assert_eq!(g.categories.len(), 7);
        assert_eq!(g.objects.len(), 1);
        assert_eq!(g.objects[0].category_id, 3);
        assert_eq!(g.objects[0].bbox, [1.0, 2.0, 10.0, 20.0]);
        assert_eq!(g.objects[0].area, 200.0);
    }
}
