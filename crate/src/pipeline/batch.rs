//! Batch mode over a folder of images (the labelling app's Batch tab): every
//! image detected (and segmented, with a segmenter), then written into one
//! training ZIP:
//!
//! - `images/NAME.jpg` — the image resized to the training size;
//! - `coco_export.json` — a COCO dataset in the resized images' coordinates
//!   (boxes, and polygons or RLE with a segmenter; bbox-only without);
//! - `preview/NAME.jpg` — the resized image with its labels drawn over it
//!   (`export::overlay`), and `preview/index.html`, a gallery of them;
//! - `report.json` — what was labelled, per class, and the images that failed;
//! - the same labels for YOLO (`labels/`, `labels-seg/`, `data.yaml`) and
//!   Pascal VOC (`Annotations/`, `ImageSets/Main/train.txt`).
//!
//! Detection is the detect stage's ([`FrameDetector`]): one pass with the
//! ontology's thresholds or, with
//! [`DetectSettings::anneal`](super::detect::DetectSettings::anneal), iterative
//! confidence annealing, each annotation then recording `anneal_pass` and
//! `anneal_threshold`. Labels are found on the image at its own size and then rescaled exactly as
//! `export::archive` rescales a dataset, so the ZIP's boxes are the unresized
//! run's boxes times `new size / old size`. An image that cannot be decoded is
//! reported in `report.json` and skipped; the batch goes on.
//!
//! The caller gives the images as a [`Clip`] of files (so "image i" means the
//! same file everywhere) and gets the ZIP's bytes: the CLI writes them to a
//! file ([`run_batch`]), the page offers them as a download. The page steps a
//! [`Batch`] one image at a time, to show each image's preview as it is made
//! and to stop between images.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Cursor, Write};

use image::RgbImage;
use serde::{Deserialize, Serialize};
use zip::CompressionMethod;
use zip::write::SimpleFileOptions;

use super::PipelineError;
use super::detect::FrameDetector;
use super::segment::{SegmentSettings, segment_frame};
use crate::data::clip::Clip;
use crate::data::frame::Frame;
use crate::export::archive::{
    ArchiveError, TrainingSize, jpeg_bytes, label_files, rescale_dataset, resize, zip_names,
};
use crate::export::coco::{
    CocoAnnotation, CocoDataset, CocoImage, LabelledFrame, LabelledObject, SegmentationFormat,
    build_dataset, categories,
};
use crate::export::overlay::{OverlayObject, draw};
use crate::labels::Mask;
use crate::labels::boxes::xywh_to_xyxy;
use crate::models::sam2::Sam2ImagePredictor;

/// Settings of a batch besides the models.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchSettings {
    /// The size images (and labels) are resized to.
    pub size: TrainingSize,
    /// JPEG quality of the ZIP's images and previews, 1–100.
    pub jpeg_quality: u8,
    /// How masks are written.
    pub segmentation: SegmentationFormat,
    /// Prompts of the segmenter.
    pub segment: SegmentSettings,
}

/// An image the batch could not label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchFailure {
    /// The image's name in the folder.
    pub file: String,
    pub error: String,
}

/// `report.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchReport {
    /// Images in the folder.
    pub images: usize,
    /// Images labelled and in the ZIP.
    pub labelled: usize,
    pub objects: usize,
    /// Objects per class (every ontology class, 0 included).
    pub per_class: BTreeMap<String, usize>,
    pub masks: bool,
    pub failed: Vec<BatchFailure>,
    /// Notes from the export (an empty mask written as an all-zero RLE).
    pub warnings: Vec<String>,
}

/// A finished batch: the ZIP's bytes and what is in it.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchOutput {
    pub zip: Vec<u8>,
    /// `coco_export.json` (resized coordinates).
    pub dataset: CocoDataset,
    pub report: BatchReport,
}

/// The models of a batch: the detection, and the segmenter when masks are wanted.
pub struct BatchModels<'a, 'd> {
    pub detector: &'a FrameDetector<'d>,
    pub segmenter: Option<&'a mut Sam2ImagePredictor>,
}

/// One image's labels, in original and in resized coordinates.
struct Labelled {
    /// `coco_export.json`'s image and annotations (ids not yet final).
    resized: CocoDataset,
    /// Per object: its mask at the original size.
    masks: Vec<Option<Mask>>,
    warnings: Vec<String>,
}

/// One image of a batch, once labelled or skipped (what the page lists).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchImage {
    /// Its position in the clip (natural name order).
    pub index: usize,
    /// The image's name in the folder.
    pub file: String,
    /// Its name under `images/` and `preview/` in the ZIP.
    pub name: String,
    /// Objects labelled on it (0 when skipped).
    pub objects: usize,
    /// Why it was skipped (it did not decode); `None` when labelled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What one [`Batch::step`] did: the image, and its preview (`preview/NAME`'s
/// JPEG bytes) when it was labelled.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchStep {
    pub image: BatchImage,
    pub preview: Option<Vec<u8>>,
}

/// A batch under way, one image a [`Batch::step`], so that a caller can show
/// progress and stop between images (the page); [`run_batch`] runs one to the
/// end. The ZIP is written as the images are labelled.
pub struct Batch {
    /// Each image's name inside the ZIP.
    names: Vec<String>,
    classes: Vec<String>,
    settings: BatchSettings,
    masks: bool,
    zip: ZipOut,
    dataset: CocoDataset,
    failed: Vec<BatchFailure>,
    warnings: Vec<String>,
    next: usize,
}

impl Batch {
    /// A batch over every image of `clip`, its labels of `classes`; `masks`:
    /// whether a segmenter is given (the report says so).
    pub fn new(clip: &Clip, classes: &[String], settings: BatchSettings, masks: bool) -> Self {
        let listed: Vec<CocoImage> = clip
            .infos()
            .iter()
            .map(|info| CocoImage {
                id: info.index as i64,
                file_name: info.name.clone(),
                width: 0,
                height: 0,
                extra: serde_json::Map::new(),
            })
            .collect();
        Batch {
            names: zip_names(&listed),
            classes: classes.to_vec(),
            settings,
            masks,
            zip: ZipOut::new(),
            dataset: CocoDataset {
                info: Some(serde_json::json!({"description": "autolabel batch export"})),
                licenses: Vec::new(),
                images: Vec::new(),
                annotations: Vec::new(),
                categories: categories(classes),
            },
            failed: Vec::new(),
            warnings: Vec::new(),
            next: 0,
        }
    }

    /// Images handled so far (labelled or skipped).
    pub fn done(&self) -> usize {
        self.next
    }

    /// Images in the batch.
    pub fn total(&self) -> usize {
        self.names.len()
    }

    /// Whether every image is handled: [`Batch::finish`] is next.
    pub fn is_done(&self) -> bool {
        self.next == self.names.len()
    }

    /// Labels the next image of `clip` (the clip `new` was given) into the
    /// ZIP, or records why it cannot be decoded; `None` when every image is
    /// handled. A model's failure is the batch's error.
    pub fn step(
        &mut self,
        clip: &mut Clip,
        models: &mut BatchModels<'_, '_>,
    ) -> Result<Option<BatchStep>, PipelineError> {
        let index = self.next;
        let Some(name) = self.names.get(index).cloned() else {
            return Ok(None);
        };
        let file = clip
            .infos()
            .get(index)
            .map_or_else(|| name.clone(), |info| info.name.clone());
        let step = match clip.frame(index) {
            Ok(frame) => self.label(&frame, models, file, name)?,
            Err(e) => {
                let error = e.to_string();
                self.failed.push(BatchFailure {
                    file: file.clone(),
                    error: error.clone(),
                });
                BatchStep {
                    image: BatchImage {
                        index,
                        file,
                        name,
                        objects: 0,
                        error: Some(error),
                    },
                    preview: None,
                }
            }
        };
        self.next += 1;
        Ok(Some(step))
    }

    /// Labels one decoded image and writes its files.
    fn label(
        &mut self,
        frame: &Frame,
        models: &mut BatchModels<'_, '_>,
        file: String,
        name: String,
    ) -> Result<BatchStep, PipelineError> {
        let segmenter = models.segmenter.as_deref_mut();
        let settings = &self.settings;
        let labelled = label_image(frame, models.detector, segmenter, &self.classes, settings)?;
        let resized_rgb = add_image(&mut self.zip, &frame.rgb, &labelled, &name, settings)?;
        let preview = add_preview(
            &mut self.zip,
            resized_rgb,
            &labelled,
            &self.classes,
            &name,
            settings,
        )?;
        let objects = labelled.resized.annotations.len();
        append(&mut self.dataset, labelled.resized, &name);
        self.warnings.extend(labelled.warnings);
        Ok(BatchStep {
            image: BatchImage {
                index: frame.index,
                file,
                name,
                objects,
                error: None,
            },
            preview: Some(preview),
        })
    }

    /// Writes `coco_export.json`, the YOLO/VOC files, `report.json` and the
    /// gallery, and closes the ZIP. Images not yet handled are left out
    /// (the report counts only those handled).
    pub fn finish(self) -> Result<BatchOutput, PipelineError> {
        let Batch {
            classes,
            masks,
            mut zip,
            dataset,
            failed,
            warnings,
            next,
            ..
        } = self;
        let report = report(&dataset, &classes, next, masks, failed, warnings);
        zip.add("coco_export.json", &to_json(&dataset)?, true)?;
        for (name, text) in label_files(&dataset) {
            zip.add(&name, text.as_bytes(), true)?;
        }
        zip.add("report.json", &to_json(&report)?, true)?;
        zip.add(
            "preview/index.html",
            gallery(&dataset, &report).as_bytes(),
            true,
        )?;
        Ok(BatchOutput {
            zip: zip.finish()?,
            dataset,
            report,
        })
    }
}

/// Labels every image of `clip` into the training ZIP; `progress(done, total)`
/// after each image.
pub fn run_batch(
    clip: &mut Clip,
    mut models: BatchModels<'_, '_>,
    classes: &[String],
    settings: &BatchSettings,
    mut progress: impl FnMut(usize, usize),
) -> Result<BatchOutput, PipelineError> {
    let masks = models.segmenter.is_some();
    let mut batch = Batch::new(clip, classes, settings.clone(), masks);
    while batch.step(clip, &mut models)?.is_some() {
        progress(batch.done(), batch.total());
    }
    batch.finish()
}

/// Detects (and segments) one image; its labels as a one-image COCO dataset
/// rescaled to the training size.
fn label_image(
    frame: &Frame,
    detector: &FrameDetector<'_>,
    segmenter: Option<&mut Sam2ImagePredictor>,
    classes: &[String],
    settings: &BatchSettings,
) -> Result<Labelled, PipelineError> {
    let detections = detector.detect(frame)?;
    let masks: Vec<Option<Mask>> = match segmenter {
        Some(predictor) => segment_frame(predictor, frame, &detections, &settings.segment)?
            .objects
            .iter()
            .map(|o| Some(o.mask.decode()))
            .collect(),
        None => vec![None; detections.detections.len()],
    };
    let objects = detections
        .detections
        .iter()
        .zip(&masks)
        .map(|(d, mask)| LabelledObject {
            class: d.class.clone(),
            bbox: d.bbox,
            score: Some(d.score),
            track_id: None,
            reviewed: None,
            mask: mask.clone(),
        })
        .collect();
    let one = LabelledFrame {
        image_id: frame.index as i64,
        file_name: String::new(),
        width: detections.width,
        height: detections.height,
        objects,
    };
    let exported = build_dataset(&[one], classes, settings.segmentation)?;
    let mut resized = rescale_dataset(&exported.dataset, settings.size)?;
    let marks = detections.detections.iter().map(|d| d.anneal);
    for (a, mark) in resized.annotations.iter_mut().zip(marks) {
        if let Some(mark) = mark {
            a.extra
                .insert("anneal_pass".into(), serde_json::json!(mark.pass));
            a.extra
                .insert("anneal_threshold".into(), serde_json::json!(mark.threshold));
        }
    }
    Ok(Labelled {
        resized,
        masks,
        warnings: exported.warnings,
    })
}

/// Writes the resized image under `images/`; returns it.
fn add_image(
    zip: &mut ZipOut,
    rgb: &RgbImage,
    labelled: &Labelled,
    name: &str,
    settings: &BatchSettings,
) -> Result<RgbImage, PipelineError> {
    let (w, h) = resized_size(labelled);
    let small = resize(rgb, w, h);
    let jpeg =
        jpeg_bytes(&small, settings.jpeg_quality).map_err(|message| ArchiveError::Image {
            id: labelled.resized.images.first().map_or(0, |im| im.id),
            file_name: name.to_string(),
            message,
        })?;
    zip.add(&format!("images/{name}"), &jpeg, false)?;
    Ok(small)
}

fn resized_size(labelled: &Labelled) -> (u32, u32) {
    labelled
        .resized
        .images
        .first()
        .map_or((1, 1), |im| (im.width, im.height))
}

/// Writes the resized image with its labels drawn (mask tint, box, class and
/// the object's number in the image) under `preview/`; returns its JPEG bytes.
fn add_preview(
    zip: &mut ZipOut,
    mut rgb: RgbImage,
    labelled: &Labelled,
    classes: &[String],
    name: &str,
    settings: &BatchSettings,
) -> Result<Vec<u8>, PipelineError> {
    let (w, h) = rgb.dimensions();
    let masks: Vec<Option<Mask>> = labelled
        .masks
        .iter()
        .map(|m| m.as_ref().map(|m| m.resize_nearest(w, h)))
        .collect();
    let objects: Vec<OverlayObject> = labelled
        .resized
        .annotations
        .iter()
        .zip(&masks)
        .enumerate()
        .map(|(k, (a, mask))| OverlayObject {
            bbox: xywh_to_xyxy(a.bbox),
            mask: mask.as_ref(),
            track_id: k as u64 + 1,
            label: class_name(classes, a.category_id),
        })
        .collect();
    draw(&mut rgb, &objects);
    let jpeg = jpeg_bytes(&rgb, settings.jpeg_quality)
        .map_err(|e| ArchiveError::Zip(format!("preview of {name}: {e}")))?;
    zip.add(&format!("preview/{name}"), &jpeg, false)?;
    Ok(jpeg)
}

/// The class of COCO category `id` (1 + its position in `classes`).
fn class_name(classes: &[String], id: i64) -> &str {
    usize::try_from(id - 1)
        .ok()
        .and_then(|k| classes.get(k))
        .map_or("?", String::as_str)
}

/// Adds one image's dataset to the batch's, named `name` (inside `images/`),
/// its annotations numbered on from the batch's.
fn append(dataset: &mut CocoDataset, one: CocoDataset, name: &str) {
    for mut image in one.images {
        image.file_name = name.to_string();
        dataset.images.push(image);
    }
    let first = dataset.annotations.len() as i64 + 1;
    dataset
        .annotations
        .extend(
            one.annotations
                .into_iter()
                .enumerate()
                .map(|(k, a)| CocoAnnotation {
                    id: first + k as i64,
                    ..a
                }),
        );
}

fn report(
    dataset: &CocoDataset,
    classes: &[String],
    images: usize,
    masks: bool,
    failed: Vec<BatchFailure>,
    warnings: Vec<String>,
) -> BatchReport {
    let mut per_class: BTreeMap<String, usize> = classes.iter().map(|c| (c.clone(), 0)).collect();
    for a in &dataset.annotations {
        *per_class
            .entry(class_name(classes, a.category_id).to_string())
            .or_default() += 1;
    }
    BatchReport {
        images,
        labelled: dataset.images.len(),
        objects: dataset.annotations.len(),
        per_class,
        masks,
        failed,
        warnings,
    }
}

/// `preview/index.html`: every preview with its object count, and the failures.
fn gallery(dataset: &CocoDataset, report: &BatchReport) -> String {
    let mut html = String::from(
        "<!doctype html><meta charset=\"utf-8\"><title>autolabel batch</title>\
         <style>body{font-family:sans-serif}figure{display:inline-block;margin:4px}\
         img{max-width:320px}</style>",
    );
    // Writing to a String cannot fail.
    let _ = write!(
        html,
        "<h1>{} of {} images labelled, {} objects</h1>",
        report.labelled, report.images, report.objects
    );
    for image in &dataset.images {
        let count = dataset
            .annotations
            .iter()
            .filter(|a| a.image_id == image.id)
            .count();
        let name = escape(&image.file_name);
        let _ = write!(
            html,
            "<figure><img src=\"{name}\" alt=\"{name}\"><figcaption>{name}: {count}</figcaption></figure>"
        );
    }
    for f in &report.failed {
        let _ = write!(
            html,
            "<p>failed: {} — {}</p>",
            escape(&f.file),
            escape(&f.error)
        );
    }
    html
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>, PipelineError> {
    serde_json::to_vec_pretty(value).map_err(|e| ArchiveError::Zip(e.to_string()).into())
}

/// A ZIP built in memory.
struct ZipOut(zip::ZipWriter<Cursor<Vec<u8>>>);

impl ZipOut {
    fn new() -> Self {
        ZipOut(zip::ZipWriter::new(Cursor::new(Vec::new())))
    }

    /// Adds a file: deflated, or stored (JPEGs do not deflate).
    fn add(&mut self, name: &str, bytes: &[u8], deflate: bool) -> Result<(), PipelineError> {
        let method = if deflate {
            CompressionMethod::Deflated
        } else {
            CompressionMethod::Stored
        };
        let options = SimpleFileOptions::default().compression_method(method);
        let err = |e: &dyn std::fmt::Display| ArchiveError::Zip(format!("{name}: {e}"));
        self.0.start_file(name, options).map_err(|e| err(&e))?;
        self.0.write_all(bytes).map_err(|e| err(&e))?;
        Ok(())
    }

    fn finish(self) -> Result<Vec<u8>, PipelineError> {
        Ok(self
            .0
            .finish()
            .map_err(|e| ArchiveError::Zip(e.to_string()))?
            .into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(image_id: i64, boxes: &[[f64; 4]]) -> CocoDataset {
        let objects = boxes
            .iter()
            .map(|&bbox| LabelledObject {
                class: "bus".into(),
                bbox,
                score: Some(0.5),
                track_id: None,
                reviewed: None,
                mask: None,
            })
            .collect();
        let frame = LabelledFrame {
            image_id,
            file_name: String::new(),
            width: 20,
            height: 10,
            objects,
        };
        let classes = ["car".to_string(), "bus".to_string()];
        build_dataset(&[frame], &classes, SegmentationFormat::Auto)
            .unwrap()
            .dataset
    }

    #[test]
    fn images_append_with_their_names_and_fresh_ids() {
        let mut all = one(0, &[]);
        all.images.clear();
        append(&mut all, one(0, &[[0.0, 0.0, 2.0, 2.0]]), "a.jpg");
        append(
            &mut all,
            one(2, &[[1.0, 1.0, 3.0, 3.0], [2.0, 2.0, 4.0, 6.0]]),
            "b.jpg",
        );
        let ids: Vec<i64> = all.annotations.iter().map(|a| a.id).collect();
        assert_eq!(ids, [1, 2, 3]);
        assert_eq!(all.images[1].file_name, "b.jpg");
        assert_eq!(all.annotations[2].bbox, [2.0, 2.0, 2.0, 4.0]);
        let classes = ["car".to_string(), "bus".to_string()];
        let r = report(&all, &classes, 3, false, Vec::new(), Vec::new());
        assert_eq!((r.labelled, r.objects), (2, 3));
        assert_eq!(r.per_class["bus"], 3);
        assert_eq!(r.per_class["car"], 0);
        let html = gallery(&all, &r);
        assert!(html.contains("<img src=\"b.jpg\"") && html.contains("b.jpg: 2"));
    }

    #[test]
    fn class_names_by_category_id() {
        let classes = ["car".to_string()];
        assert_eq!(class_name(&classes, 1), "car");
        assert_eq!(class_name(&classes, 0), "?");
        assert_eq!(class_name(&classes, 2), "?");
        assert_eq!(escape("<a&\"b\">"), "&lt;a&amp;&quot;b&quot;&gt;");
    }
}
