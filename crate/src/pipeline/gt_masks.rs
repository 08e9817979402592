//! Masks from ground-truth boxes (TAO Auto-Label's "MAL" mode): a SAM 2 mask
//! for every box annotation of a COCO dataset, prompted by that box alone.
//!
//! The dataset is rewritten in place as JSON ([`serde_json::Value`]): each
//! masked annotation gains `segmentation` (polygons, or RLE — see
//! [`SegmentationFormat`]) and `mask_score` (SAM 2's predicted IoU); every other
//! field, id, image and category — and any field this crate does not know —
//! stays as it was. `area` is left as given.
//!
//! Annotations that cannot be masked are reported ([`Skipped`]), never dropped
//! silently: crowd regions (`iscrowd: 1`, whose box covers many objects),
//! degenerate boxes (no width or height, not finite, or outside the image),
//! annotations of an image id the image list lacks, and annotations of an image
//! that cannot be read or whose size differs from the dataset's. They keep
//! whatever they had.
//!
//! Agreement ([`agreement_by_class`]): the IoU between the box of each mask (its
//! tight pixel box) and the given box, per class, so a user sees where SAM 2
//! and the boxes disagree.
//!
//! The caller does the I/O: [`plan`] says which boxes each image holds,
//! [`mask_image`] runs SAM 2 on one decoded image, [`write_masks`] writes the
//! masks into the JSON.

use std::collections::HashMap;

use image::RgbImage;
use serde::Serialize;
use serde_json::Value;

use super::PipelineError;
use super::detect::box_iou;
use crate::export::coco::{CocoCategory, CocoDataset, SegmentationFormat, mask_segmentation};
use crate::labels::boxes::{intersection, xywh_to_xyxy};
use crate::labels::{Box2, Mask, Prompt};
use crate::models::sam2::{self, Sam2ImagePredictor};

/// One box to mask.
#[derive(Debug, Clone, PartialEq)]
pub struct BoxJob {
    /// Position in the dataset's `annotations`.
    pub annotation: usize,
    pub id: i64,
    pub category_id: i64,
    /// `[x0, y0, x1, y1]`, image pixels.
    pub bbox: Box2,
}

/// The boxes of one image.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageJob {
    pub image_id: i64,
    pub file_name: String,
    pub width: u32,
    pub height: u32,
    /// In annotation order.
    pub boxes: Vec<BoxJob>,
}

/// Why an annotation got no mask.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "reason", content = "detail", rename_all = "snake_case")]
pub enum SkipReason {
    /// `iscrowd: 1`: the box spans a group of objects.
    Crowd,
    /// The box cannot prompt SAM 2 (what is wrong with it).
    Degenerate(String),
    /// Its `image_id` is not in the dataset's image list.
    UnknownImage,
    /// Its image could not be used (why).
    Image(String),
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SkipReason::Crowd => write!(f, "crowd annotation (iscrowd 1)"),
            SkipReason::Degenerate(why) => write!(f, "degenerate box: {why}"),
            SkipReason::UnknownImage => write!(f, "image_id is not in the image list"),
            SkipReason::Image(why) => write!(f, "image: {why}"),
        }
    }
}

/// An annotation left without a mask.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Skipped {
    pub annotation_id: i64,
    pub image_id: i64,
    #[serde(flatten)]
    pub reason: SkipReason,
}

/// What to mask, image by image, and what cannot be.
#[derive(Debug, Clone, PartialEq)]
pub struct MaskPlan {
    /// Images with at least one box to mask, in the image list's order.
    pub images: Vec<ImageJob>,
    pub skipped: Vec<Skipped>,
}

/// Sorts a dataset's annotations into boxes to mask per image and skipped ones.
pub fn plan(ds: &CocoDataset) -> MaskPlan {
    let position: HashMap<i64, usize> = ds
        .images
        .iter()
        .enumerate()
        .map(|(k, im)| (im.id, k))
        .collect();
    let mut boxes: Vec<Vec<BoxJob>> = vec![Vec::new(); ds.images.len()];
    let mut skipped = Vec::new();
    for (annotation, a) in ds.annotations.iter().enumerate() {
        let skip = |reason| Skipped {
            annotation_id: a.id,
            image_id: a.image_id,
            reason,
        };
        let Some(&k) = position.get(&a.image_id) else {
            skipped.push(skip(SkipReason::UnknownImage));
            continue;
        };
        if a.iscrowd != 0 {
            skipped.push(skip(SkipReason::Crowd));
            continue;
        }
        let image = &ds.images[k];
        match check_box(a.bbox, image.width, image.height) {
            Ok(bbox) => boxes[k].push(BoxJob {
                annotation,
                id: a.id,
                category_id: a.category_id,
                bbox,
            }),
            Err(why) => skipped.push(skip(SkipReason::Degenerate(why))),
        }
    }
    let images = ds
        .images
        .iter()
        .zip(boxes)
        .filter(|(_, b)| !b.is_empty())
        .map(|(im, boxes)| ImageJob {
            image_id: im.id,
            file_name: im.file_name.clone(),
            width: im.width,
            height: im.height,
            boxes,
        })
        .collect();
    MaskPlan { images, skipped }
}

/// A COCO `[x, y, w, h]` as `[x0, y0, x1, y1]` when SAM 2 can take it.
fn check_box(xywh: [f64; 4], width: u32, height: u32) -> Result<Box2, String> {
    if xywh.iter().any(|v| !v.is_finite()) {
        return Err(format!("{xywh:?} is not finite"));
    }
    if xywh[2] <= 0.0 || xywh[3] <= 0.0 {
        return Err(format!("{xywh:?} has no width or no height"));
    }
    let b = xywh_to_xyxy(xywh);
    let image = [0.0, 0.0, f64::from(width), f64::from(height)];
    if intersection(b, image) <= 0.0 {
        return Err(format!("{xywh:?} lies outside the {width}×{height} image"));
    }
    Ok(b)
}

impl ImageJob {
    /// Every box of the image, skipped for `reason`.
    pub fn skip_all(&self, reason: &SkipReason) -> Vec<Skipped> {
        self.boxes
            .iter()
            .map(|b| Skipped {
                annotation_id: b.id,
                image_id: self.image_id,
                reason: reason.clone(),
            })
            .collect()
    }

    /// Refuses an image whose size differs from the dataset's (the boxes
    /// would not be where they say).
    pub fn check_size(&self, width: u32, height: u32) -> Result<(), SkipReason> {
        if (width, height) == (self.width, self.height) {
            return Ok(());
        }
        Err(SkipReason::Image(format!(
            "'{}' is {width}×{height}, the dataset says {}×{}",
            self.file_name, self.width, self.height
        )))
    }
}

/// SAM 2's mask for one box.
#[derive(Debug, Clone, PartialEq)]
pub struct BoxMask {
    /// Position in the dataset's `annotations`.
    pub annotation: usize,
    pub mask: Mask,
    /// SAM 2's predicted IoU of the mask.
    pub iou_score: f64,
}

/// One mask per box of `job`, all boxes decoded together on the encoded image
/// (single-mask output, as `autolabel segment` without `--multimask`).
pub fn mask_image(
    predictor: &mut Sam2ImagePredictor,
    rgb: &RgbImage,
    job: &ImageJob,
) -> Result<Vec<BoxMask>, PipelineError> {
    let (width, height) = rgb.dimensions();
    let fail = |message: String| PipelineError::Image {
        image_id: job.image_id,
        message,
    };
    let prompts = job
        .boxes
        .iter()
        .map(|b| {
            sam2::Prompt::try_from(&Prompt {
                bbox: Some(b.bbox),
                points: Vec::new(),
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(e.to_string()))?;
    predictor.set_image(rgb.as_raw(), width as usize, height as usize)?;
    let predictions = predictor.predict(&prompts, false)?;
    job.boxes
        .iter()
        .zip(predictions)
        .map(
            |(b, p)| match (p.masks.into_iter().next(), p.iou_scores.first()) {
                (Some(mask), Some(&iou)) => Ok(BoxMask {
                    annotation: b.annotation,
                    mask,
                    iou_score: f64::from(iou),
                }),
                _ => Err(fail(format!(
                    "SAM 2 returned no mask for annotation {}",
                    b.id
                ))),
            },
        )
        .collect()
}

/// The agreement of one mask with its box.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BoxAgreement {
    pub annotation_id: i64,
    pub category_id: i64,
    /// IoU of the mask's tight box and the given box (0 for an empty mask).
    pub box_iou: f64,
}

/// Writes `masks` (of `job`'s boxes) into the dataset JSON `root`: each
/// annotation's `segmentation` in `format` and its `mask_score`. Returns each
/// mask's agreement with its box; notes (an empty mask) go to `warnings`.
pub fn write_masks(
    root: &mut Value,
    job: &ImageJob,
    masks: &[BoxMask],
    format: SegmentationFormat,
    warnings: &mut Vec<String>,
) -> Result<Vec<BoxAgreement>, PipelineError> {
    let mut agreements = Vec::with_capacity(masks.len());
    for m in masks {
        let b = job
            .boxes
            .iter()
            .find(|b| b.annotation == m.annotation)
            .ok_or_else(|| PipelineError::Image {
                image_id: job.image_id,
                message: format!("annotations[{}] is not one of its boxes", m.annotation),
            })?;
        let annotation = root
            .get_mut("annotations")
            .and_then(|a| a.get_mut(m.annotation))
            .and_then(Value::as_object_mut)
            .ok_or_else(|| PipelineError::Image {
                image_id: job.image_id,
                message: format!("annotations[{}] is not in the dataset", m.annotation),
            })?;
        let segmentation = mask_segmentation(&m.mask, format, b.id, warnings);
        let segmentation =
            serde_json::to_value(segmentation).map_err(|e| PipelineError::Image {
                image_id: job.image_id,
                message: e.to_string(),
            })?;
        annotation.insert("segmentation".into(), segmentation);
        annotation.insert("mask_score".into(), serde_json::json!(m.iou_score));
        let mask_box = m.mask.bbox().map(xywh_to_xyxy);
        agreements.push(BoxAgreement {
            annotation_id: b.id,
            category_id: b.category_id,
            box_iou: mask_box.map_or(0.0, |mb| box_iou(mb, b.bbox)),
        });
    }
    Ok(agreements)
}

/// Lowest-agreement annotations listed per class.
pub const WORST_PER_CLASS: usize = 5;

/// Mask-vs-box agreement of one class.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassAgreement {
    pub category_id: i64,
    pub name: String,
    pub masks: usize,
    pub mean_iou: f64,
    pub median_iou: f64,
    pub min_iou: f64,
    /// Masks whose box IoU is below 0.5.
    pub below_half: usize,
    /// The [`WORST_PER_CLASS`] lowest, lowest first: `(annotation id, IoU)`.
    pub worst: Vec<(i64, f64)>,
}

/// Agreement per category (in the categories' order; categories without
/// masks left out).
pub fn agreement_by_class(
    categories: &[CocoCategory],
    agreements: &[BoxAgreement],
) -> Vec<ClassAgreement> {
    categories
        .iter()
        .filter_map(|c| {
            let mut of: Vec<(i64, f64)> = agreements
                .iter()
                .filter(|a| a.category_id == c.id)
                .map(|a| (a.annotation_id, a.box_iou))
                .collect();
            if of.is_empty() {
                return None;
            }
            of.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
            let n = of.len();
            let median = if n % 2 == 1 {
                of[n / 2].1
            } else {
                (of[n / 2 - 1].1 + of[n / 2].1) / 2.0
            };
            Some(ClassAgreement {
                category_id: c.id,
                name: c.name.clone(),
                masks: n,
                mean_iou: of.iter().map(|a| a.1).sum::<f64>() / n as f64,
                median_iou: median,
                min_iou: of[0].1,
                below_half: of.iter().filter(|a| a.1 < 0.5).count(),
                worst: of.into_iter().take(WORST_PER_CLASS).collect(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::coco::parse_dataset;

    fn dataset() -> CocoDataset {
        let json = serde_json::json!({
            "images": [
                {"id": 1, "file_name": "a.png", "width": 20, "height": 10},
                {"id": 2, "file_name": "b.png", "width": 20, "height": 10}
            ],
            "categories": [{"id": 3, "name": "car"}, {"id": 4, "name": "bus"}],
            "annotations": [
                {"id": 10, "image_id": 1, "category_id": 3, "bbox": [1, 1, 4, 4]},
                {"id": 11, "image_id": 1, "category_id": 3, "bbox": [1, 1, 4, 4], "iscrowd": 1},
                {"id": 12, "image_id": 1, "category_id": 4, "bbox": [1, 1, 0, 4]},
                {"id": 13, "image_id": 9, "category_id": 4, "bbox": [1, 1, 4, 4]},
                {"id": 14, "image_id": 1, "category_id": 4, "bbox": [30, 1, 4, 4]},
                {"id": 15, "image_id": 1, "category_id": 4, "bbox": [-2, 2, 5, 5]}
            ]
        });
        parse_dataset(json.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn the_plan_reports_every_box_it_cannot_mask() {
        let p = plan(&dataset());
        assert_eq!(p.images.len(), 1, "image 2 has no boxes");
        let ids: Vec<i64> = p.images[0].boxes.iter().map(|b| b.id).collect();
        assert_eq!(ids, [10, 15]);
        assert_eq!(p.images[0].boxes[0].bbox, [1.0, 1.0, 5.0, 5.0]);
        let reasons: Vec<(i64, &str)> = p
            .skipped
            .iter()
            .map(|s| {
                let tag = match s.reason {
                    SkipReason::Crowd => "crowd",
                    SkipReason::Degenerate(_) => "degenerate",
                    SkipReason::UnknownImage => "unknown",
                    SkipReason::Image(_) => "image",
                };
                (s.annotation_id, tag)
            })
            .collect();
        assert_eq!(
            reasons,
            [
                (11, "crowd"),
                (12, "degenerate"),
                (13, "unknown"),
                (14, "degenerate")
            ]
        );
        let json = serde_json::to_value(&p.skipped[1]).unwrap();
        assert_eq!(json["reason"], "degenerate");
        assert!(json["detail"].as_str().unwrap().contains("no width"));
    }

    #[test]
    fn a_resized_image_is_refused() {
        let p = plan(&dataset());
        assert!(p.images[0].check_size(20, 10).is_ok());
        let e = p.images[0].check_size(40, 20).unwrap_err();
        assert_eq!(
            e.to_string(),
            "image: 'a.png' is 40×20, the dataset says 20×10"
        );
        assert_eq!(p.images[0].skip_all(&e).len(), 2);
    }

    #[test]
    fn masks_are_written_and_everything_else_kept() {
        let ds = dataset();
        let mut root = serde_json::json!({
            "info": {"x": 1},
            "mine": [1, 2],
            "annotations": [{"id": 10, "bbox": [1, 1, 4, 4], "custom": "keep", "area": 7}]
        });
        let job = ImageJob {
            boxes: vec![plan(&ds).images[0].boxes[0].clone()],
            ..plan(&ds).images[0].clone()
        };
        let mask = Mask::from_fn(20, 10, |x, y| (1..5).contains(&x) && (1..3).contains(&y));
        let masks = [BoxMask {
            annotation: 0,
            mask,
            iou_score: 0.75,
        }];
        let mut warnings = Vec::new();
        let agreement = write_masks(
            &mut root,
            &job,
            &masks,
            SegmentationFormat::Rle,
            &mut warnings,
        )
        .unwrap();
        assert_eq!(agreement[0].box_iou, 0.5, "a 4×2 mask in a 4×4 box");
        let a = &root["annotations"][0];
        assert_eq!(
            (a["custom"].as_str(), a["area"].as_i64()),
            (Some("keep"), Some(7))
        );
        assert_eq!(a["mask_score"], 0.75);
        assert_eq!(a["segmentation"]["size"], serde_json::json!([10, 20]));
        assert_eq!(root["mine"], serde_json::json!([1, 2]));
        assert!(warnings.is_empty());
    }

    #[test]
    fn agreement_per_class() {
        let a = |id, category_id, box_iou| BoxAgreement {
            annotation_id: id,
            category_id,
            box_iou,
        };
        let got = agreement_by_class(
            &dataset().categories,
            &[a(1, 3, 0.9), a(2, 3, 0.4), a(3, 3, 0.8), a(4, 4, 1.0)],
        );
        assert_eq!(got.len(), 2);
        let car = &got[0];
        assert_eq!(
            (car.name.as_str(), car.masks, car.below_half),
            ("car", 3, 1)
        );
        assert!((car.mean_iou - 0.7).abs() < 1e-12);
        assert_eq!((car.median_iou, car.min_iou), (0.8, 0.4));
        assert_eq!(car.worst, [(2, 0.4), (3, 0.8), (1, 0.9)]);
        assert_eq!(got[1].median_iou, 1.0);
    }
}
