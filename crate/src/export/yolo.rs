//! YOLO labels (the Ultralytics dataset format) of a COCO dataset, for the
//! training ZIPs: beside `images/NAME.jpg`,
//!
//! - `labels/NAME.txt` — one object a line, `class cx cy w h`: the class's
//!   position among the dataset's categories (from 0) and the box centre and
//!   size divided by the image's width and height;
//! - `labels-seg/NAME.txt` — for objects with a mask, `class x1 y1 x2 y2 …`:
//!   the mask's largest outline (YOLO-seg holds one polygon per object),
//!   normalised the same way; point Ultralytics' `labels` at it to train a
//!   segmentation model;
//! - `data.yaml` — `path`, `train`/`val` (`images`) and the class `names`.
//!
//! Reference: <https://docs.ultralytics.com/datasets/detect/> and
//! <https://docs.ultralytics.com/datasets/segment/>.

use std::fmt::Write;

use super::coco::{CocoDataset, CocoImage, Segmentation};
use crate::labels::polygon::Outline;

/// Decimals of the normalised coordinates (1e-6 of the image side).
const DECIMALS: usize = 6;

/// `data.yaml` and the label files, as `(path in the ZIP, text)`; labels are
/// named after each image's `file_name` (its stem, `.txt`).
pub fn yolo_files(ds: &CocoDataset) -> Vec<(String, String)> {
    let mut files = vec![("data.yaml".to_string(), data_yaml(ds))];
    for image in &ds.images {
        let (boxes, polygons) = image_lines(ds, image);
        let name = format!("{}.txt", stem(&image.file_name));
        files.push((format!("labels/{name}"), boxes));
        if ds
            .annotations
            .iter()
            .any(|a| a.image_id == image.id && a.segmentation.is_some())
        {
            files.push((format!("labels-seg/{name}"), polygons));
        }
    }
    files
}

/// A file name without its folder and extension.
pub fn stem(file_name: &str) -> &str {
    let base = file_name.rsplit(['/', '\\']).next().unwrap_or(file_name);
    base.rsplit_once('.').map_or(base, |(s, _)| s)
}

fn data_yaml(ds: &CocoDataset) -> String {
    let mut yaml = String::from("path: .\ntrain: images\nval: images\nnames:\n");
    for (k, c) in ds.categories.iter().enumerate() {
        // Writing to a String cannot fail.
        let _ = writeln!(yaml, "  {k}: {}", quoted(&c.name));
    }
    yaml
}

/// A YAML double-quoted string.
fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The box lines and the polygon lines of one image.
fn image_lines(ds: &CocoDataset, image: &CocoImage) -> (String, String) {
    let (w, h) = (
        f64::from(image.width.max(1)),
        f64::from(image.height.max(1)),
    );
    let (mut boxes, mut polygons) = (String::new(), String::new());
    for a in ds.annotations.iter().filter(|a| a.image_id == image.id) {
        let Some(class) = ds.categories.iter().position(|c| c.id == a.category_id) else {
            continue;
        };
        let [x, y, bw, bh] = a.bbox;
        let values = [(x + bw / 2.0) / w, (y + bh / 2.0) / h, bw / w, bh / h];
        let _ = writeln!(boxes, "{class} {}", numbers(&values));
        if let Some(points) = a
            .segmentation
            .as_ref()
            .and_then(|s| largest_polygon(s, image))
        {
            let normalised: Vec<f64> = points
                .iter()
                .enumerate()
                .map(|(k, v)| if k % 2 == 0 { v / w } else { v / h })
                .collect();
            let _ = writeln!(polygons, "{class} {}", numbers(&normalised));
        }
    }
    (boxes, polygons)
}

fn numbers(values: &[f64]) -> String {
    values
        .iter()
        .map(|v| format!("{:.DECIMALS$}", v.clamp(0.0, 1.0)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The polygon of largest area of a segmentation (an RLE traced first);
/// `None` when it has no polygon of 3 points.
fn largest_polygon(s: &Segmentation, image: &CocoImage) -> Option<Vec<f64>> {
    let traced;
    let polygons = match s {
        Segmentation::Polygons(p) => p,
        Segmentation::Rle(rle) if (rle.width(), rle.height()) == (image.width, image.height) => {
            traced = Outline::of(&rle.decode()).polygons();
            &traced
        }
        Segmentation::Rle(_) => return None,
    };
    polygons
        .iter()
        .filter(|p| p.len() >= 6)
        .max_by(|a, b| shoelace(a).total_cmp(&shoelace(b)))
        .cloned()
}

/// The area of a polygon `[x0, y0, x1, y1, …]`.
fn shoelace(p: &[f64]) -> f64 {
    let n = p.len() / 2;
    let twice: f64 = (0..n)
        .map(|i| {
            let j = (i + 1) % n;
            p[2 * i] * p[2 * j + 1] - p[2 * j] * p[2 * i + 1]
        })
        .sum();
    twice.abs() / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::coco::{LabelledFrame, LabelledObject, SegmentationFormat, build_dataset};
    use crate::labels::Mask;

    fn dataset(format: SegmentationFormat) -> CocoDataset {
        // Two squares: 4×4 at (2, 2) and 2×2 at (12, 2).
        let mask = Mask::from_fn(20, 10, |x, y| {
            ((2..6).contains(&x) || (12..14).contains(&x)) && (2..6).contains(&y)
        });
        let object = |class: &str, bbox, mask| LabelledObject {
            class: class.into(),
            bbox,
            score: None,
            track_id: None,
            reviewed: None,
            mask,
        };
        let frame = LabelledFrame {
            image_id: 1,
            file_name: "dir/frame 1.jpg".into(),
            width: 20,
            height: 10,
            objects: vec![
                object("bus \"x\"", [2.0, 2.0, 14.0, 6.0], Some(mask)),
                object("car", [0.0, 5.0, 10.0, 10.0], None),
            ],
        };
        let classes = ["car".to_string(), "bus \"x\"".to_string()];
        build_dataset(&[frame], &classes, format).unwrap().dataset
    }

    #[test]
    fn boxes_are_centre_and_size_over_the_image() {
        let files = yolo_files(&dataset(SegmentationFormat::Auto));
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["data.yaml", "labels/frame 1.txt", "labels-seg/frame 1.txt"]
        );
        assert_eq!(
            files[0].1,
            "path: .\ntrain: images\nval: images\nnames:\n  0: \"car\"\n  1: \"bus \\\"x\\\"\"\n"
        );
        assert_eq!(
            files[1].1,
            "1 0.400000 0.400000 0.600000 0.400000\n0 0.250000 0.750000 0.500000 0.500000\n"
        );
    }

    #[test]
    fn the_largest_outline_is_the_polygon() {
        for format in [SegmentationFormat::Polygon, SegmentationFormat::Rle] {
            let files = yolo_files(&dataset(format));
            let seg = &files[2].1;
            assert_eq!(seg.lines().count(), 1, "the car has no mask");
            let values: Vec<f64> = seg.split_whitespace().map(|v| v.parse().unwrap()).collect();
            assert_eq!(values[0], 1.0);
            let xs: Vec<f64> = values[1..].iter().step_by(2).map(|v| v * 20.0).collect();
            let ys: Vec<f64> = values[2..].iter().step_by(2).map(|v| v * 10.0).collect();
            let span = |v: &[f64]| {
                (
                    v.iter().cloned().fold(f64::MAX, f64::min),
                    v.iter().cloned().fold(f64::MIN, f64::max),
                )
            };
            assert_eq!(span(&xs), (2.0, 6.0), "{format:?}: the 4×4 square");
            assert_eq!(span(&ys), (2.0, 6.0));
        }
        assert_eq!(shoelace(&[0.0, 0.0, 4.0, 0.0, 4.0, 3.0]), 6.0);
        assert_eq!(stem("a/b.c.jpg"), "b.c");
    }
}
