//! The training-set ZIP (the seed's "Batch export ZIP"): every image resized
//! to a chosen training size and re-encoded as JPEG under `images/`, and
//! `annotations.json`, the COCO dataset with boxes, polygons and masks
//! rescaled to match. Built in memory, so the page offers it as a download
//! and the CLI writes it to a file.
//!
//! Rescaling by `sx = new width / width`, `sy = new height / height`: boxes and
//! polygon vertices are scaled; RLE masks are decoded, resampled by nearest
//! neighbour and re-encoded; `area` is recomputed from the rescaled mask
//! (polygons rasterised as pycocotools does), or scaled by `sx·sy` without one.
//! In the ZIP, `file_name` is the image's name inside `images/`: the original
//! base name with a `.jpg` extension, prefixed with the image id when two
//! would collide. The same labels are also written for the trainers that do
//! not read COCO: YOLO (`labels/`, `labels-seg/`, `data.yaml`) and Pascal VOC
//! (`Annotations/`, `ImageSets/Main/train.txt`).

use std::collections::HashSet;
use std::io::{Cursor, Write};

use image::RgbImage;
use image::imageops::FilterType;
use serde::{Deserialize, Serialize};
use zip::CompressionMethod;
use zip::write::SimpleFileOptions;

use super::coco::{CocoAnnotation, CocoDataset, CocoImage, Segmentation};
use super::voc::voc_files;
use super::yolo::yolo_files;
use crate::labels::rle::Rle;
use crate::limits::{LimitError, check_image_size};

/// The size images are resized to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrainingSize {
    /// Exactly `width × height` (the aspect ratio may change).
    Exact { width: u32, height: u32 },
    /// The longer side to this many pixels, aspect ratio kept.
    LongestSide(u32),
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ArchiveError {
    #[error(
        "training size '{0}': expected WIDTHxHEIGHT (e.g. 640x360) or a longest side (e.g. 640)"
    )]
    BadSize(String),
    #[error("training size '{size}': {source}")]
    SizeTooLarge { size: String, source: LimitError },
    #[error("image {id} ('{file_name}'): {message}")]
    Image {
        id: i64,
        file_name: String,
        message: String,
    },
    #[error("annotation {id}: {message}")]
    Annotation { id: i64, message: String },
    #[error("writing the ZIP: {0}")]
    Zip(String),
}

impl TrainingSize {
    /// `640x360` (exact) or `640` (longest side), within the image limits of
    /// [`crate::limits`] (a longest side up to [`crate::limits::MAX_IMAGE_SIDE`]).
    pub fn parse(s: &str) -> Result<Self, ArchiveError> {
        let bad = || ArchiveError::BadSize(s.to_string());
        let positive = |v: &str| v.trim().parse::<u32>().ok().filter(|&v| v > 0);
        let size = match s.split_once(['x', 'X']) {
            Some((w, h)) => TrainingSize::Exact {
                width: positive(w).ok_or_else(bad)?,
                height: positive(h).ok_or_else(bad)?,
            },
            None => positive(s).map(TrainingSize::LongestSide).ok_or_else(bad)?,
        };
        let (width, height) = match size {
            TrainingSize::Exact { width, height } => (width, height),
            TrainingSize::LongestSide(side) => (side, 1),
        };
        check_image_size(|| "it".into(), width.into(), height.into()).map_err(|source| {
            ArchiveError::SizeTooLarge {
                size: s.to_string(),
                source,
            }
        })?;
        Ok(size)
    }

    /// The output size of a `width × height` image.
    pub fn target(&self, width: u32, height: u32) -> (u32, u32) {
        match *self {
            TrainingSize::Exact { width, height } => (width, height),
            TrainingSize::LongestSide(side) => {
                let s = side as f64 / width.max(height).max(1) as f64;
                let scale = |v: u32| ((v as f64 * s).round() as u32).max(1);
                (scale(width), scale(height))
            }
        }
    }
}

/// Options of the ZIP export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZipOptions {
    pub size: TrainingSize,
    /// JPEG quality, 1–100.
    pub jpeg_quality: u8,
}

/// The dataset with every image at its training size and every annotation
/// rescaled; `file_name`s renamed for the ZIP.
pub fn rescale_dataset(ds: &CocoDataset, size: TrainingSize) -> Result<CocoDataset, ArchiveError> {
    let names = zip_names(&ds.images);
    let mut out = ds.clone();
    for (im, name) in out.images.iter_mut().zip(names) {
        let (w, h) = size.target(im.width, im.height);
        check_image_size(|| "resized".into(), w.into(), h.into()).map_err(|e| {
            ArchiveError::Image {
                id: im.id,
                file_name: im.file_name.clone(),
                message: e.to_string(),
            }
        })?;
        im.file_name = name;
        im.width = w;
        im.height = h;
    }
    for a in out.annotations.iter_mut() {
        let (Some(before), Some(after)) = (
            ds.images.iter().find(|i| i.id == a.image_id),
            out.images.iter().find(|i| i.id == a.image_id),
        ) else {
            return Err(ArchiveError::Annotation {
                id: a.id,
                message: format!("image_id {} is not among the images", a.image_id),
            });
        };
        rescale_annotation(
            a,
            (before.width, before.height),
            (after.width, after.height),
        )?;
    }
    Ok(out)
}

fn rescale_annotation(
    a: &mut CocoAnnotation,
    (w0, h0): (u32, u32),
    (w1, h1): (u32, u32),
) -> Result<(), ArchiveError> {
    let sx = w1 as f64 / w0.max(1) as f64;
    let sy = h1 as f64 / h0.max(1) as f64;
    let [x, y, w, h] = a.bbox;
    a.bbox = [x * sx, y * sy, w * sx, h * sy];
    let fail = |e: String| ArchiveError::Annotation {
        id: a.id,
        message: e,
    };
    match &mut a.segmentation {
        None => a.area = a.area.map(|v| v * sx * sy),
        Some(Segmentation::Polygons(polys)) => {
            for p in polys.iter_mut() {
                for (k, v) in p.iter_mut().enumerate() {
                    *v *= if k % 2 == 0 { sx } else { sy };
                }
            }
            let rles = polys
                .iter()
                .map(|p| Rle::from_polygon(p, h1, w1))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| fail(e.to_string()))?;
            a.area = Some(if rles.is_empty() {
                0.0
            } else {
                Rle::union(&rles).map_err(|e| fail(e.to_string()))?.area() as f64
            });
        }
        Some(Segmentation::Rle(rle)) => {
            let resized = Rle::encode(&rle.decode().resize_nearest(w1, h1));
            a.area = Some(resized.area() as f64);
            *rle = resized;
        }
    }
    Ok(())
}

/// Names inside `images/`: base names with `.jpg`, made unique by the image id.
pub fn zip_names(images: &[CocoImage]) -> Vec<String> {
    let base = |im: &CocoImage| {
        let name = im.file_name.rsplit(['/', '\\']).next().unwrap_or("");
        let stem = name.rsplit_once('.').map_or(name, |(s, _)| s);
        if stem.is_empty() || stem.starts_with('.') {
            format!("{}.jpg", im.id)
        } else {
            format!("{stem}.jpg")
        }
    };
    let mut seen = HashSet::new();
    let mut repeated = HashSet::new();
    for im in images {
        if !seen.insert(base(im)) {
            repeated.insert(base(im));
        }
    }
    images
        .iter()
        .map(|im| {
            let b = base(im);
            if repeated.contains(&b) {
                format!("{}_{b}", im.id)
            } else {
                b
            }
        })
        .collect()
}

/// The YOLO and Pascal VOC files of a dataset whose `file_name`s are the
/// names under `images/` (`export::yolo`, `export::voc`).
pub fn label_files(ds: &CocoDataset) -> Vec<(String, String)> {
    let mut files = yolo_files(ds);
    files.extend(voc_files(ds));
    files
}

/// `rgb` resized to `width × height` (triangle filter), as the ZIP's images are.
pub fn resize(rgb: &RgbImage, width: u32, height: u32) -> RgbImage {
    image::imageops::resize(rgb, width, height, FilterType::Triangle)
}

/// `rgb` as JPEG at `quality` (clamped to 1–100).
pub fn jpeg_bytes(rgb: &RgbImage, quality: u8) -> Result<Vec<u8>, String> {
    let mut jpeg = Vec::new();
    let encoder =
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, quality.clamp(1, 100));
    rgb.write_with_encoder(encoder).map_err(|e| e.to_string())?;
    Ok(jpeg)
}

/// Builds the ZIP: `load` gives each image's pixels (at its original size).
pub fn training_zip(
    ds: &CocoDataset,
    options: &ZipOptions,
    mut load: impl FnMut(&CocoImage) -> Result<RgbImage, String>,
) -> Result<Vec<u8>, ArchiveError> {
    let rescaled = rescale_dataset(ds, options.size)?;
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let zip_err = |e: &dyn std::fmt::Display| ArchiveError::Zip(e.to_string());
    let stored = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
    for (original, resized) in ds.images.iter().zip(&rescaled.images) {
        let image_err = |message: String| ArchiveError::Image {
            id: original.id,
            file_name: original.file_name.clone(),
            message,
        };
        let rgb = load(original).map_err(image_err)?;
        if rgb.dimensions() != (original.width, original.height) {
            return Err(image_err(format!(
                "is {}×{}, the dataset says {}×{}",
                rgb.width(),
                rgb.height(),
                original.width,
                original.height
            )));
        }
        let small = resize(&rgb, resized.width, resized.height);
        let jpeg = jpeg_bytes(&small, options.jpeg_quality).map_err(image_err)?;
        zip.start_file(format!("images/{}", resized.file_name), stored)
            .map_err(|e| zip_err(&e))?;
        zip.write_all(&jpeg).map_err(|e| zip_err(&e))?;
    }
    let json = serde_json::to_vec_pretty(&rescaled).map_err(|e| zip_err(&e))?;
    let deflated = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    zip.start_file("annotations.json", deflated)
        .map_err(|e| zip_err(&e))?;
    zip.write_all(&json).map_err(|e| zip_err(&e))?;
    for (name, text) in label_files(&rescaled) {
        zip.start_file(name, deflated).map_err(|e| zip_err(&e))?;
        zip.write_all(text.as_bytes()).map_err(|e| zip_err(&e))?;
    }
    Ok(zip.finish().map_err(|e| zip_err(&e))?.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::coco::{LabelledFrame, LabelledObject, SegmentationFormat, build_dataset};
    use crate::labels::mask::Mask;
    use std::io::Read;

    fn dataset() -> CocoDataset {
        let mask = Mask::from_fn(40, 20, |x, y| (10..30).contains(&x) && (4..16).contains(&y));
        let ring = Mask::from_fn(40, 20, |x, y| {
            (2..10).contains(&x)
                && (2..10).contains(&y)
                && !((4..6).contains(&x) && (4..6).contains(&y))
        });
        let obj = |class: &str, bbox, mask| LabelledObject {
            class: class.into(),
            bbox,
            score: None,
            track_id: None,
            reviewed: None,
            mask: Some(mask),
        };
        let frame = |id: i64, name: &str| LabelledFrame {
            image_id: id,
            file_name: name.into(),
            width: 40,
            height: 20,
            objects: vec![
                obj("car", [10.0, 4.0, 30.0, 16.0], mask.clone()),
                obj("car", [2.0, 2.0, 10.0, 10.0], ring.clone()),
            ],
        };
        build_dataset(
            &[frame(1, "a/x.png"), frame(2, "b/x.png")],
            &["car".to_string()],
            SegmentationFormat::Auto,
        )
        .unwrap()
        .dataset
    }

    #[test]
    fn sizes_parse_and_scale() {
        assert_eq!(
            TrainingSize::parse("640x360").unwrap(),
            TrainingSize::Exact {
                width: 640,
                height: 360
            }
        );
        assert_eq!(
            TrainingSize::parse("640").unwrap(),
            TrainingSize::LongestSide(640)
        );
        assert!(TrainingSize::parse("0x3").is_err() && TrainingSize::parse("big").is_err());
        let err = TrainingSize::parse("100000x100000")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("'100000x100000'") && err.contains("limit"),
            "{err}"
        );
        assert!(TrainingSize::parse("20000").is_err());
        assert_eq!(TrainingSize::LongestSide(640).target(1600, 900), (640, 360));
    }

    #[test]
    fn annotations_are_rescaled_with_the_images() {
        let ds = dataset();
        let half = rescale_dataset(
            &ds,
            TrainingSize::Exact {
                width: 20,
                height: 10,
            },
        )
        .unwrap();
        assert_eq!(
            half.images[0].file_name, "1_x.jpg",
            "colliding names get the id"
        );
        let a = &half.annotations[0];
        assert_eq!(a.bbox, [5.0, 2.0, 10.0, 6.0]);
        assert_eq!(a.area, Some(60.0));
        let ring = &half.annotations[1];
        let Some(Segmentation::Rle(r)) = &ring.segmentation else {
            panic!("the ring is an RLE");
        };
        assert_eq!((r.height(), r.width()), (10, 20));
        assert_eq!(ring.area, Some(15.0), "8×8 − 2×2 ring at half size");
    }

    #[test]
    fn the_zip_holds_images_and_annotations() {
        let ds = dataset();
        let options = ZipOptions {
            size: TrainingSize::LongestSide(20),
            jpeg_quality: 90,
        };
        let bytes = training_zip(&ds, &options, |im| {
            Ok(RgbImage::from_pixel(
                im.width,
                im.height,
                image::Rgb([200, 10, 10]),
            ))
        })
        .unwrap();
        let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
        let mut json = String::new();
        archive
            .by_name("annotations.json")
            .unwrap()
            .read_to_string(&mut json)
            .unwrap();
        let back: CocoDataset = serde_json::from_str(&json).unwrap();
        assert_eq!((back.images[0].width, back.images[0].height), (20, 10));
        let mut jpeg = Vec::new();
        archive
            .by_name("images/2_x.jpg")
            .unwrap()
            .read_to_end(&mut jpeg)
            .unwrap();
        let img = image::load_from_memory(&jpeg).unwrap();
        assert_eq!((img.width(), img.height()), (20, 10));
        let e = training_zip(&ds, &options, |_| Err("no such file".into())).unwrap_err();
        assert_eq!(e.to_string(), "image 1 ('a/x.png'): no such file");
    }
}
