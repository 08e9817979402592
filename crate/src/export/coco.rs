//! COCO JSON in and out: the dataset format (images, categories, annotations
//! with bbox `[x, y, w, h]`, area, iscrowd, segmentation as polygons or RLE)
//! and the results format (`image_id, category_id, bbox, score`, optional
//! `segmentation`), as defined at <https://cocodataset.org/#format-data> and
//! read by pycocotools (`pycocotools/coco.py`).
//!
//! Reading is checked: every error names where it is (`annotations[3] (id 17)`,
//! `results[5]`) and what is wrong, and nothing panics. Accepted with a
//! warning, as pycocotools accepts them: self-intersecting polygons (filled
//! with the even–odd rule, as pycocotools' rasteriser does), empty masks,
//! annotations without `area` (computed: mask pixels, else box area).
//! Rejected: dangling image or category ids, negative or non-finite boxes,
//! duplicate ids, polygons of fewer than 3 points, RLE of the wrong size.
//!
//! Writing: `build_dataset` turns labelled frames (boxes, scores, track ids,
//! masks) into a COCO dataset; masks become polygons traced from the mask, or
//! RLE when a mask has holes (`SegmentationFormat::Auto`, see `polygon`).

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::eval::data::{Category, Detection, GroundTruth, GtObject, Image, xyxy_to_xywh};
use crate::geometry::Box2;
use crate::labels::mask::Mask;
use crate::labels::polygon::Outline;
use crate::labels::rle::{Rle, RleError};
use crate::limits::check_image_size;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CocoDataset {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub licenses: Vec<Value>,
    pub images: Vec<CocoImage>,
    #[serde(default)]
    pub annotations: Vec<CocoAnnotation>,
    pub categories: Vec<CocoCategory>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CocoImage {
    pub id: i64,
    pub file_name: String,
    pub width: u32,
    pub height: u32,
    /// Any other fields, kept as they are.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CocoCategory {
    pub id: i64,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supercategory: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CocoAnnotation {
    pub id: i64,
    pub image_id: i64,
    pub category_id: i64,
    /// `[x, y, w, h]`, pixels.
    pub bbox: [f64; 4],
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub area: Option<f64>,
    #[serde(default, deserialize_with = "flag")]
    pub iscrowd: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segmentation: Option<Segmentation>,
    /// Confidence of an automatic label (an extra field; COCO GT has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// The track the object belongs to across frames (extra field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub track_id: Option<i64>,
    /// Whether a person reviewed the label (accepted or fixed it) — an
    /// extra field, written by an export after a review.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reviewed: Option<bool>,
    /// Any other fields, kept as they are.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `iscrowd` as 0/1 or false/true.
fn flag<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    match Value::deserialize(d)? {
        Value::Bool(b) => Ok(u8::from(b)),
        Value::Number(n) if n.as_u64() == Some(0) || n.as_u64() == Some(1) => {
            Ok(n.as_u64().map_or(0, |v| v as u8))
        }
        other => Err(serde::de::Error::custom(format!(
            "iscrowd must be 0 or 1, got {other}"
        ))),
    }
}

/// A COCO segmentation: polygons `[[x0, y0, x1, y1, …], …]` or an RLE.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Segmentation {
    Polygons(Vec<Vec<f64>>),
    Rle(Rle),
}

impl<'de> Deserialize<'de> for Segmentation {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        match &v {
            Value::Array(_) => serde_json::from_value::<Vec<Vec<f64>>>(v)
                .map(Segmentation::Polygons)
                .map_err(|e| {
                    serde::de::Error::custom(format!("polygons must be lists of numbers: {e}"))
                }),
            Value::Object(_) => serde_json::from_value::<Rle>(v)
                .map(Segmentation::Rle)
                .map_err(|e| serde::de::Error::custom(format!("RLE: {e}"))),
            other => Err(serde::de::Error::custom(format!(
                "segmentation must be a list of polygons or an RLE object, got {other}"
            ))),
        }
    }
}

/// One line of a COCO results file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CocoResult {
    pub image_id: i64,
    pub category_id: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bbox: Option<[f64; 4]>,
    pub score: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segmentation: Option<Segmentation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub track_id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CocoError {
    #[error("not valid JSON: {0}")]
    Json(String),
    #[error("{at}: {message}")]
    Invalid { at: String, message: String },
}

fn invalid(at: impl Into<String>, message: impl Into<String>) -> CocoError {
    CocoError::Invalid {
        at: at.into(),
        message: message.into(),
    }
}

/// Where an annotation is: `annotations[3] (id 17)`.
fn at_annotation(i: usize, v: &Value) -> String {
    match v.get("id") {
        Some(id) => format!("annotations[{i}] (id {id})"),
        None => format!("annotations[{i}]"),
    }
}

/// Deserialises the elements of `list` one by one, naming the bad one.
fn elements<T: serde::de::DeserializeOwned>(
    root: &Value,
    key: &str,
    required: bool,
    at: impl Fn(usize, &Value) -> String,
) -> Result<Vec<T>, CocoError> {
    let list = match root.get(key) {
        Some(Value::Array(list)) => list,
        Some(_) => return Err(invalid(key, "must be a list")),
        None if required => return Err(invalid(key, "missing")),
        None => return Ok(Vec::new()),
    };
    list.iter()
        .enumerate()
        .map(|(i, v)| {
            serde_json::from_value(v.clone()).map_err(|e| invalid(at(i, v), e.to_string()))
        })
        .collect()
}

/// Parses a COCO dataset file.
pub fn parse_dataset(bytes: &[u8]) -> Result<CocoDataset, CocoError> {
    let root: Value = serde_json::from_slice(bytes).map_err(|e| CocoError::Json(e.to_string()))?;
    if !root.is_object() {
        return Err(invalid(
            "top level",
            "a COCO dataset is an object with images, annotations and categories",
        ));
    }
    let indexed = |name: &'static str| move |i: usize, _: &Value| format!("{name}[{i}]");
    Ok(CocoDataset {
        info: root.get("info").cloned(),
        licenses: elements(&root, "licenses", false, indexed("licenses"))?,
        images: elements(&root, "images", true, indexed("images"))?,
        annotations: elements(&root, "annotations", false, at_annotation)?,
        categories: elements(&root, "categories", true, indexed("categories"))?,
    })
}

/// A checked ground truth and what was accepted with a remark.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    pub ground_truth: GroundTruth,
    pub warnings: Vec<String>,
}

fn check_box(at: &str, b: [f64; 4]) -> Result<(), CocoError> {
    if b.iter().any(|v| !v.is_finite()) {
        return Err(invalid(at, format!("bbox {b:?} has a non-finite value")));
    }
    if b[2] < 0.0 || b[3] < 0.0 {
        return Err(invalid(
            at,
            format!(
                "negative box: bbox {b:?} has width {} and height {} ([x, y, w, h] expected)",
                b[2], b[3]
            ),
        ));
    }
    Ok(())
}

/// The mask of a segmentation on an image, like pycocotools' `annToRLE`.
fn segmentation_mask(
    at: &str,
    seg: &Segmentation,
    image: &CocoImage,
    warnings: &mut Vec<String>,
) -> Result<Option<Rle>, CocoError> {
    let (h, w) = (image.height, image.width);
    match seg {
        Segmentation::Polygons(polys) if polys.is_empty() => Ok(None),
        Segmentation::Polygons(polys) => {
            let mut rles = Vec::with_capacity(polys.len());
            for (k, p) in polys.iter().enumerate() {
                let rle = Rle::from_polygon(p, h, w)
                    .map_err(|e| invalid(at, format!("segmentation polygon {k}: {e}")))?;
                if self_intersects(p) {
                    warnings.push(format!(
                        "{at}: segmentation polygon {k} crosses itself; filled with the even-odd rule, as pycocotools does"
                    ));
                }
                rles.push(rle);
            }
            Rle::union(&rles)
                .map(Some)
                .map_err(|e| invalid(at, e.to_string()))
        }
        Segmentation::Rle(rle) => {
            if (rle.height(), rle.width()) != (h, w) {
                return Err(invalid(
                    at,
                    format!(
                        "RLE size [{}, {}] differs from image {} ([height, width] = [{h}, {w}])",
                        rle.height(),
                        rle.width(),
                        image.id
                    ),
                ));
            }
            Ok(Some(rle.clone()))
        }
    }
}

/// Whether two non-adjacent edges of the closed polygon cross properly.
fn self_intersects(xy: &[f64]) -> bool {
    let n = xy.len() / 2;
    if !(4..=5000).contains(&n) {
        return false;
    }
    let p = |i: usize| (xy[2 * (i % n)], xy[2 * (i % n) + 1]);
    let orient = |a: (f64, f64), b: (f64, f64), c: (f64, f64)| {
        ((b.0 - a.0) * (c.1 - a.1) - (b.1 - a.1) * (c.0 - a.0)).signum()
    };
    for i in 0..n {
        for j in i + 2..n {
            if i == 0 && j == n - 1 {
                continue;
            }
            let (a, b, c, d) = (p(i), p(i + 1), p(j), p(j + 1));
            let (o1, o2, o3, o4) = (
                orient(a, b, c),
                orient(a, b, d),
                orient(c, d, a),
                orient(c, d, b),
            );
            if o1 * o2 < 0.0 && o3 * o4 < 0.0 {
                return true;
            }
        }
    }
    false
}

/// Checks a parsed dataset and turns it into ground truth (masks decoded as
/// pycocotools' `annToRLE` does).
pub fn import_ground_truth(ds: &CocoDataset) -> Result<Imported, CocoError> {
    let mut warnings = Vec::new();
    let mut images: HashMap<i64, &CocoImage> = HashMap::new();
    for (i, im) in ds.images.iter().enumerate() {
        let at = format!("images[{i}] (id {})", im.id);
        if images.insert(im.id, im).is_some() {
            return Err(invalid(at, format!("image id {} appears twice", im.id)));
        }
        if im.width == 0 || im.height == 0 {
            return Err(invalid(at, "width and height must be positive"));
        }
        check_image_size(|| "the image".into(), im.width.into(), im.height.into())
            .map_err(|e| invalid(&at, e.to_string()))?;
    }
    let mut categories = HashSet::new();
    for (i, c) in ds.categories.iter().enumerate() {
        if !categories.insert(c.id) {
            return Err(invalid(
                format!("categories[{i}]"),
                format!("category id {} appears twice", c.id),
            ));
        }
    }
    let mut seen = HashSet::new();
    let mut objects = Vec::with_capacity(ds.annotations.len());
    let mut no_area = 0;
    for (i, a) in ds.annotations.iter().enumerate() {
        let at = format!("annotations[{i}] (id {})", a.id);
        if !seen.insert(a.id) {
            return Err(invalid(at, format!("annotation id {} appears twice", a.id)));
        }
        let image = images.get(&a.image_id).ok_or_else(|| {
            invalid(
                &at,
                format!(
                    "image_id {} is not among the images (dangling reference)",
                    a.image_id
                ),
            )
        })?;
        if !categories.contains(&a.category_id) {
            return Err(invalid(
                &at,
                format!("category_id {} is not among the categories", a.category_id),
            ));
        }
        check_box(&at, a.bbox)?;
        let mask = match &a.segmentation {
            Some(seg) => segmentation_mask(&at, seg, image, &mut warnings)?,
            None => None,
        };
        if mask.as_ref().is_some_and(|m| m.area() == 0) {
            warnings.push(format!("{at}: the mask is empty (area 0)"));
        }
        let area = match a.area {
            Some(v) if v.is_finite() && v >= 0.0 => v,
            Some(v) => {
                return Err(invalid(
                    &at,
                    format!("area {v} must be a non-negative number"),
                ));
            }
            None => {
                no_area += 1;
                mask.as_ref()
                    .map_or(a.bbox[2] * a.bbox[3], |m| m.area() as f64)
            }
        };
        objects.push(GtObject {
            id: a.id,
            image_id: a.image_id,
            category_id: a.category_id,
            bbox: a.bbox,
            area,
            iscrowd: a.iscrowd != 0,
            mask,
            distance_m: a.extra.get("distance_m").and_then(Value::as_f64),
            visibility: a
                .extra
                .get("visibility")
                .and_then(Value::as_str)
                .map(str::to_string),
            source: a
                .extra
                .get("source")
                .and_then(Value::as_str)
                .map(str::to_string),
        });
    }
    if no_area > 0 {
        warnings.push(format!(
            "{no_area} annotations have no area: computed from the mask, or the box without one"
        ));
    }
    let ground_truth = GroundTruth {
        images: ds
            .images
            .iter()
            .map(|im| Image {
                id: im.id,
                file_name: im.file_name.clone(),
                width: im.width,
                height: im.height,
            })
            .collect(),
        categories: ds
            .categories
            .iter()
            .map(|c| Category {
                id: c.id,
                name: c.name.clone(),
            })
            .collect(),
        objects,
    };
    Ok(Imported {
        ground_truth,
        warnings,
    })
}

/// Parses and checks a COCO results file against the ground truth it is
/// evaluated on. Like pycocotools' `loadRes`, a result's area is its box's
/// `w·h` (the mask's pixel count when it has no box) and a box is derived from
/// the mask when missing; unlike it, a result on an unknown category is an
/// error rather than silently ignored.
pub fn parse_results(bytes: &[u8], gt: &GroundTruth) -> Result<Vec<Detection>, CocoError> {
    parse_results_skipping(bytes, gt, &|_| false).map(|(dets, _)| dets)
}

/// `parse_results`, but results on images for which `skip(image_id)` holds
/// and that the ground truth lacks are left out (counted) rather than errors —
/// e.g. detections on nuScenes sweeps, which have no ground truth.
pub fn parse_results_skipping(
    bytes: &[u8],
    gt: &GroundTruth,
    skip: &dyn Fn(i64) -> bool,
) -> Result<(Vec<Detection>, usize), CocoError> {
    let root: Value = serde_json::from_slice(bytes).map_err(|e| CocoError::Json(e.to_string()))?;
    let Value::Array(list) = root else {
        return Err(invalid(
            "top level",
            "a COCO results file is a list of {image_id, category_id, bbox, score}",
        ));
    };
    let images: HashMap<i64, &Image> = gt.images.iter().map(|im| (im.id, im)).collect();
    let categories: HashSet<i64> = gt.categories.iter().map(|c| c.id).collect();
    let mut dets = Vec::with_capacity(list.len());
    let mut skipped = 0;
    for (i, v) in list.into_iter().enumerate() {
        let at = format!("results[{i}]");
        let r: CocoResult = serde_json::from_value(v).map_err(|e| invalid(&at, e.to_string()))?;
        if !images.contains_key(&r.image_id) && skip(r.image_id) {
            skipped += 1;
            continue;
        }
        dets.push(detection(&at, r, &images, &categories)?);
    }
    Ok((dets, skipped))
}

fn detection(
    at: &str,
    r: CocoResult,
    images: &HashMap<i64, &Image>,
    categories: &HashSet<i64>,
) -> Result<Detection, CocoError> {
    let image = images.get(&r.image_id).ok_or_else(|| {
        invalid(
            at,
            format!(
                "image_id {} is not an image of the ground truth",
                r.image_id
            ),
        )
    })?;
    if !categories.contains(&r.category_id) {
        return Err(invalid(
            at,
            format!(
                "category_id {} is not a category of the ground truth",
                r.category_id
            ),
        ));
    }
    if !r.score.is_finite() {
        return Err(invalid(
            at,
            format!("score {} is not a finite number", r.score),
        ));
    }
    let mask = match &r.segmentation {
        None => None,
        Some(Segmentation::Rle(rle)) => {
            if (rle.height(), rle.width()) != (image.height, image.width) {
                return Err(invalid(
                    at,
                    format!(
                        "RLE size [{}, {}] differs from image {} [{}, {}]",
                        rle.height(),
                        rle.width(),
                        image.id,
                        image.height,
                        image.width
                    ),
                ));
            }
            Some(rle.clone())
        }
        Some(Segmentation::Polygons(polys)) => {
            let rles = polys
                .iter()
                .map(|p| Rle::from_polygon(p, image.height, image.width))
                .collect::<Result<Vec<_>, RleError>>()
                .and_then(|r| Rle::union(&r))
                .map_err(|e| invalid(at, format!("segmentation: {e}")))?;
            Some(rles)
        }
    };
    let (bbox, area) = match (r.bbox, &mask) {
        (Some(b), _) => {
            check_box(at, b)?;
            (b, b[2] * b[3])
        }
        (None, Some(m)) => (m.to_bbox(), m.area() as f64),
        (None, None) => return Err(invalid(at, "a result needs a bbox or a segmentation")),
    };
    Ok(Detection {
        image_id: r.image_id,
        category_id: r.category_id,
        bbox,
        score: r.score,
        area,
        mask,
        track_id: r.track_id,
    })
}

/// How masks are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SegmentationFormat {
    /// Polygons, or RLE for a mask with holes (COCO polygons have none).
    #[default]
    Auto,
    /// Always polygons; holes through keyhole cuts (see `polygon`).
    Polygon,
    /// Always compressed RLE.
    Rle,
}

/// One object to export.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledObject {
    pub class: String,
    /// `[x0, y0, x1, y1]`, pixels.
    pub bbox: Box2,
    pub score: Option<f64>,
    pub track_id: Option<i64>,
    /// Whether a person reviewed it (`None`: no review was made).
    pub reviewed: Option<bool>,
    pub mask: Option<Mask>,
}

/// One frame to export.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledFrame {
    pub image_id: i64,
    pub file_name: String,
    pub width: u32,
    pub height: u32,
    pub objects: Vec<LabelledObject>,
}

/// An exported dataset and what was written differently than asked.
#[derive(Debug, Clone, PartialEq)]
pub struct Exported {
    pub dataset: CocoDataset,
    pub warnings: Vec<String>,
}

/// Builds a COCO dataset; category `id` = 1 + the class's position in `classes`,
/// annotation ids count from 1. An empty mask cannot be a polygon: it is
/// written as an all-zero RLE (area 0) with a warning.
pub fn build_dataset(
    frames: &[LabelledFrame],
    classes: &[String],
    format: SegmentationFormat,
) -> Result<Exported, CocoError> {
    let mut builder = DatasetBuilder::new(classes, format);
    for f in frames {
        builder.push(f)?;
    }
    Ok(builder.finish())
}

/// [`build_dataset`] a frame at a time: a clip's decoded masks need not all
/// be held at once (a mask is a byte a pixel; its segmentation is kept).
pub struct DatasetBuilder<'a> {
    classes: &'a [String],
    format: SegmentationFormat,
    images: Vec<CocoImage>,
    annotations: Vec<CocoAnnotation>,
    warnings: Vec<String>,
}

impl<'a> DatasetBuilder<'a> {
    pub fn new(classes: &'a [String], format: SegmentationFormat) -> Self {
        DatasetBuilder {
            classes,
            format,
            images: Vec::new(),
            annotations: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Adds frame `f` and its objects.
    pub fn push(&mut self, f: &LabelledFrame) -> Result<(), CocoError> {
        for (k, o) in f.objects.iter().enumerate() {
            let annotation = self.annotation(f, k, o)?;
            self.annotations.push(annotation);
        }
        self.images.push(CocoImage {
            id: f.image_id,
            file_name: f.file_name.clone(),
            width: f.width,
            height: f.height,
            extra: Map::new(),
        });
        Ok(())
    }

    /// Object `k` of frame `f` as the next annotation.
    fn annotation(
        &mut self,
        f: &LabelledFrame,
        k: usize,
        o: &LabelledObject,
    ) -> Result<CocoAnnotation, CocoError> {
        let at = format!("frame {} object {k}", f.image_id);
        let classes = self.classes;
        let class = classes.iter().position(|c| *c == o.class).ok_or_else(|| {
            invalid(
                &at,
                format!("class '{}' is not one of {classes:?}", o.class),
            )
        })?;
        let bbox = xyxy_to_xywh(o.bbox);
        check_box(&at, bbox)?;
        let id = self.annotations.len() as i64 + 1;
        let (segmentation, area) = match &o.mask {
            None => (None, bbox[2] * bbox[3]),
            Some(m) => {
                if (m.width(), m.height()) != (f.width, f.height) {
                    return Err(invalid(
                        &at,
                        format!(
                            "mask is {}×{}, the frame {}×{}",
                            m.width(),
                            m.height(),
                            f.width,
                            f.height
                        ),
                    ));
                }
                let seg = mask_segmentation(m, self.format, id, &mut self.warnings);
                (Some(seg), m.area() as f64)
            }
        };
        Ok(CocoAnnotation {
            id,
            image_id: f.image_id,
            category_id: class as i64 + 1,
            bbox,
            area: Some(area),
            iscrowd: 0,
            segmentation,
            score: o.score,
            track_id: o.track_id,
            reviewed: o.reviewed,
            extra: Map::new(),
        })
    }

    /// The dataset of every frame pushed, in order.
    pub fn finish(self) -> Exported {
        let dataset = CocoDataset {
            info: Some(serde_json::json!({"description": "autolabel export"})),
            licenses: Vec::new(),
            images: self.images,
            annotations: self.annotations,
            categories: categories(self.classes),
        };
        Exported {
            dataset,
            warnings: self.warnings,
        }
    }
}

/// The categories of a class table: `id` = 1 + the class's position.
pub fn categories(classes: &[String]) -> Vec<CocoCategory> {
    classes
        .iter()
        .enumerate()
        .map(|(i, name)| CocoCategory {
            id: i as i64 + 1,
            name: name.clone(),
            supercategory: None,
        })
        .collect()
}

/// A mask as a COCO segmentation in `format` (an empty mask: an all-zero
/// RLE, with a warning naming annotation `id`).
pub fn mask_segmentation(
    mask: &Mask,
    format: SegmentationFormat,
    id: i64,
    warnings: &mut Vec<String>,
) -> Segmentation {
    if mask.is_empty() {
        warnings.push(format!(
            "annotation {id}: empty mask, written as an all-zero RLE (a polygon needs 3 points)"
        ));
        return Segmentation::Rle(Rle::encode(mask));
    }
    let outline = || Outline::of(mask);
    match format {
        SegmentationFormat::Rle => Segmentation::Rle(Rle::encode(mask)),
        SegmentationFormat::Polygon => Segmentation::Polygons(outline().polygons()),
        SegmentationFormat::Auto => {
            let o = outline();
            if o.has_holes() {
                Segmentation::Rle(Rle::encode(mask))
            } else {
                Segmentation::Polygons(o.polygons())
            }
        }
    }
}

/// Ground truth as a COCO dataset (masks as RLE; distance, visibility and
/// source as extra fields), e.g. projected nuScenes ground truth for other tools.
pub fn dataset_from_ground_truth(gt: &GroundTruth) -> CocoDataset {
    let annotations = gt
        .objects
        .iter()
        .map(|o| {
            let mut extra = Map::new();
            if let Some(d) = o.distance_m {
                extra.insert("distance_m".into(), serde_json::json!(d));
            }
            if let Some(v) = &o.visibility {
                extra.insert("visibility".into(), Value::String(v.clone()));
            }
            if let Some(s) = &o.source {
                extra.insert("source".into(), Value::String(s.clone()));
            }
            CocoAnnotation {
                id: o.id,
                image_id: o.image_id,
                category_id: o.category_id,
                bbox: o.bbox,
                area: Some(o.area),
                iscrowd: u8::from(o.iscrowd),
                segmentation: o.mask.clone().map(Segmentation::Rle),
                score: None,
                track_id: None,
                reviewed: None,
                extra,
            }
        })
        .collect();
    CocoDataset {
        info: Some(serde_json::json!({"description": "autolabel ground truth"})),
        licenses: Vec::new(),
        images: gt
            .images
            .iter()
            .map(|im| CocoImage {
                id: im.id,
                file_name: im.file_name.clone(),
                width: im.width,
                height: im.height,
                extra: Map::new(),
            })
            .collect(),
        annotations,
        categories: gt
            .categories
            .iter()
            .map(|c| CocoCategory {
                id: c.id,
                name: c.name.clone(),
                supercategory: None,
            })
            .collect(),
    }
}

/// Detections in the COCO results format (masks as compressed RLE).
pub fn results_from_detections(dets: &[Detection]) -> Vec<CocoResult> {
    dets.iter()
        .map(|d| CocoResult {
            image_id: d.image_id,
            category_id: d.category_id,
            bbox: Some(d.bbox),
            score: d.score,
            segmentation: d.mask.clone().map(Segmentation::Rle),
            track_id: d.track_id,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GT: &str = r#"{
        "images": [{"id": 1, "file_name": "a.jpg", "width": 10, "height": 8, "license": 3}],
        "categories": [{"id": 1, "name": "car"}, {"id": 2, "name": "bus"}],
        "annotations": [
            {"id": 5, "image_id": 1, "category_id": 1, "bbox": [1, 1, 4, 3], "area": 12, "iscrowd": 0,
             "segmentation": [[1, 1, 5, 1, 5, 4, 1, 4]]},
            {"id": 6, "image_id": 1, "category_id": 2, "bbox": [0, 0, 2, 2], "iscrowd": false}
        ]
    }"#;

    fn with(field: &str, value: &str) -> String {
        GT.replacen(field, value, 1)
    }

    fn import(text: &str) -> Result<Imported, CocoError> {
        import_ground_truth(&parse_dataset(text.as_bytes())?)
    }

    #[test]
    fn a_dataset_imports_with_masks_and_extra_fields() {
        let ds = parse_dataset(GT.as_bytes()).unwrap();
        assert_eq!(ds.images[0].extra["license"], 3);
        let imp = import_ground_truth(&ds).unwrap();
        let g = &imp.ground_truth;
        assert_eq!(g.objects.len(), 2);
        assert_eq!(g.objects[0].mask.as_ref().unwrap().area(), 12);
        assert_eq!(g.objects[1].area, 4.0, "missing area: box area");
        assert_eq!(imp.warnings.len(), 1, "{:?}", imp.warnings);
        let json = serde_json::to_string(&ds).unwrap();
        assert_eq!(parse_dataset(json.as_bytes()).unwrap(), ds);
    }

    #[test]
    fn bad_datasets_name_the_annotation() {
        let e = import(&with(
            "\"image_id\": 1, \"category_id\": 2",
            "\"image_id\": 9, \"category_id\": 2",
        ))
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("annotations[1] (id 6)")
                && e.contains("image_id 9")
                && e.contains("dangling"),
            "{e}"
        );
        let e = import(&with("[1, 1, 4, 3]", "[1, 1, -4, 3]"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("annotations[0] (id 5)") && e.contains("negative box"),
            "{e}"
        );
        let e = import(&with("[[1, 1, 5, 1, 5, 4, 1, 4]]", "[[1, 1, 5, 1]]"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("polygon 0") && e.contains("2 points"), "{e}");
        let e = import(&with("\"category_id\": 2", "\"category_id\": 7"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("category_id 7"), "{e}");
        let e = import(&with("\"id\": 6", "\"id\": 5"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("appears twice"), "{e}");
        let e = import(&with("\"bbox\": [0, 0, 2, 2]", "\"box\": [0, 0, 2, 2]"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("annotations[1] (id 6)") && e.contains("bbox"),
            "{e}"
        );
        let e = import(&GT[..40]).unwrap_err().to_string();
        assert!(e.contains("not valid JSON") && e.contains("line"), "{e}");
        let e = import(&with("\"iscrowd\": false", "\"iscrowd\": 2"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("iscrowd"), "{e}");
    }

    #[test]
    fn self_intersecting_polygons_and_empty_masks_are_accepted_with_warnings() {
        // A bow tie: edges 0 and 2 cross at (3, 2.5).
        let imp = import(&with(
            "[[1, 1, 5, 1, 5, 4, 1, 4]]",
            "[[1, 1, 5, 4, 5, 1, 1, 4]]",
        ))
        .unwrap();
        assert!(
            imp.warnings.iter().any(|w| w.contains("crosses itself")),
            "{:?}",
            imp.warnings
        );
        assert!(imp.ground_truth.objects[0].mask.as_ref().unwrap().area() > 0);
        let imp = import(&with(
            "[[1, 1, 5, 1, 5, 4, 1, 4]]",
            r#"{"size": [8, 10], "counts": [80]}"#,
        ))
        .unwrap();
        assert!(
            imp.warnings.iter().any(|w| w.contains("empty")),
            "{:?}",
            imp.warnings
        );
        let e = import(&with(
            "[[1, 1, 5, 1, 5, 4, 1, 4]]",
            r#"{"size": [8, 9], "counts": [72]}"#,
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("RLE size [8, 9]"), "{e}");
    }

    #[test]
    fn results_are_checked_against_the_ground_truth() {
        let g = import(GT).unwrap().ground_truth;
        let dets = parse_results(
            br#"[{"image_id": 1, "category_id": 1, "bbox": [1, 1, 4, 3], "score": 0.9},
                 {"image_id": 1, "category_id": 2, "score": 0.5,
                  "segmentation": {"size": [8, 10], "counts": [8, 2, 70]}}]"#,
            &g,
        )
        .unwrap();
        assert_eq!(dets[0].area, 12.0);
        assert_eq!(dets[1].bbox, [1.0, 0.0, 1.0, 2.0], "box from the mask");
        assert_eq!(dets[1].area, 2.0);
        for (text, expect) in [
            (
                r#"[{"image_id": 2, "category_id": 1, "bbox": [0,0,1,1], "score": 1}]"#,
                "results[0]: image_id 2",
            ),
            (
                r#"[{"image_id": 1, "category_id": 3, "bbox": [0,0,1,1], "score": 1}]"#,
                "category_id 3",
            ),
            (
                r#"[{"image_id": 1, "category_id": 1, "score": 1}]"#,
                "bbox or a segmentation",
            ),
            (
                r#"[{"image_id": 1, "category_id": 1, "bbox": [0,0,1,-1], "score": 1}]"#,
                "negative box",
            ),
            (r#"{"image_id": 1}"#, "list"),
        ] {
            let e = parse_results(text.as_bytes(), &g).unwrap_err().to_string();
            assert!(e.contains(expect), "{e} should contain {expect}");
        }
        assert!(parse_results(b"[]", &g).unwrap().is_empty());
    }

    #[test]
    fn export_writes_polygons_rle_for_holes_and_warns_on_empty_masks() {
        let ring = Mask::from_fn(12, 10, |x, y| {
            (1..9).contains(&x)
                && (1..9).contains(&y)
                && !((3..6).contains(&x) && (3..6).contains(&y))
        });
        let solid = Mask::from_fn(12, 10, |x, y| x >= 9 && y >= 5);
        let obj = |mask: Mask, class: &str| LabelledObject {
            class: class.into(),
            bbox: [0.0, 0.0, 5.0, 5.0],
            score: Some(0.8),
            track_id: Some(3),
            reviewed: None,
            mask: Some(mask),
        };
        let frames = vec![LabelledFrame {
            image_id: 7,
            file_name: "f.png".into(),
            width: 12,
            height: 10,
            objects: vec![
                obj(ring.clone(), "car"),
                obj(solid.clone(), "bus"),
                obj(Mask::new(12, 10), "car"),
            ],
        }];
        let classes = vec!["car".to_string(), "bus".to_string()];
        let out = build_dataset(&frames, &classes, SegmentationFormat::Auto).unwrap();
        let anns = &out.dataset.annotations;
        assert!(
            matches!(anns[0].segmentation, Some(Segmentation::Rle(_))),
            "ring → RLE"
        );
        assert!(matches!(
            anns[1].segmentation,
            Some(Segmentation::Polygons(_))
        ));
        assert_eq!(anns[1].category_id, 2);
        assert_eq!((anns[1].score, anns[1].track_id), (Some(0.8), Some(3)));
        assert_eq!(out.warnings.len(), 1, "{:?}", out.warnings);
        // Read back, every mask is the one written.
        let json = serde_json::to_vec(&out.dataset).unwrap();
        let back = import_ground_truth(&parse_dataset(&json).unwrap())
            .unwrap()
            .ground_truth;
        for (o, m) in back.objects.iter().zip([&ring, &solid]) {
            assert_eq!(o.mask.as_ref().unwrap().decode(), *m);
        }
        let forced = build_dataset(&frames, &classes, SegmentationFormat::Polygon).unwrap();
        let back = import_ground_truth(&forced.dataset).unwrap().ground_truth;
        assert_eq!(
            back.objects[0].mask.as_ref().unwrap().decode(),
            ring,
            "keyholed polygon"
        );
        let mut bad = frames.clone();
        bad[0].objects[0].class = "tram".into();
        assert!(build_dataset(&bad, &classes, SegmentationFormat::Auto).is_err());
    }
}
