//! Pascal VOC annotations of a COCO dataset, for the training ZIPs: beside
//! `images/NAME.jpg`, `Annotations/NAME.xml` (size, and per object its class,
//! `truncated`, `difficult` 0 and `bndbox`) and `ImageSets/Main/train.txt`
//! (the image stems), as the VOC devkit and the tools that read VOC
//! (torchvision, MMDetection, CVAT) expect.
//!
//! `bndbox` is in VOC's 1-based, inclusive pixel indices: the pixels the box
//! touches, `xmin = floor(x0) + 1`, `xmax = ceil(x1)` (so a box never shrinks),
//! clamped to the image. `truncated` is 1 when the box touches the image
//! border. Reference: the VOC2012 development kit's `VOCdevkit/VOCcode`.

use std::fmt::Write;

use super::coco::{CocoDataset, CocoImage};
use super::yolo::stem;

/// The XML files and the image set, as `(path in the ZIP, text)`.
pub fn voc_files(ds: &CocoDataset) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = ds
        .images
        .iter()
        .map(|im| {
            (
                format!("Annotations/{}.xml", stem(&im.file_name)),
                annotation_xml(ds, im),
            )
        })
        .collect();
    let set: String = ds
        .images
        .iter()
        .map(|im| format!("{}\n", stem(&im.file_name)))
        .collect();
    files.push(("ImageSets/Main/train.txt".into(), set));
    files
}

/// `[xmin, ymin, xmax, ymax]` of a COCO `[x, y, w, h]` in a `width × height` image.
pub fn voc_box([x, y, w, h]: [f64; 4], width: u32, height: u32) -> [u32; 4] {
    let index = |v: f64, side: u32| (v.max(0.0) as u32).clamp(1, side.max(1));
    [
        index(x.floor() + 1.0, width),
        index(y.floor() + 1.0, height),
        index((x + w).ceil(), width),
        index((y + h).ceil(), height),
    ]
}

fn annotation_xml(ds: &CocoDataset, im: &CocoImage) -> String {
    let mut xml = String::from("<annotation>\n  <folder>images</folder>\n");
    // Writing to a String cannot fail.
    let _ = write!(
        xml,
        "  <filename>{}</filename>\n  <size>\n    <width>{}</width>\n    <height>{}</height>\n    <depth>3</depth>\n  </size>\n  <segmented>0</segmented>\n",
        escape(&im.file_name),
        im.width,
        im.height
    );
    for a in ds.annotations.iter().filter(|a| a.image_id == im.id) {
        let Some(class) = ds.categories.iter().find(|c| c.id == a.category_id) else {
            continue;
        };
        let b = voc_box(a.bbox, im.width, im.height);
        let truncated = b[0] == 1 || b[1] == 1 || b[2] == im.width || b[3] == im.height;
        let _ = write!(
            xml,
            "  <object>\n    <name>{}</name>\n    <pose>Unspecified</pose>\n    <truncated>{}</truncated>\n    <difficult>0</difficult>\n    <bndbox>\n      <xmin>{}</xmin>\n      <ymin>{}</ymin>\n      <xmax>{}</xmax>\n      <ymax>{}</ymax>\n    </bndbox>\n  </object>\n",
            escape(&class.name),
            u8::from(truncated),
            b[0],
            b[1],
            b[2],
            b[3]
        );
    }
    xml.push_str("</annotation>\n");
    xml
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::coco::{LabelledFrame, LabelledObject, SegmentationFormat, build_dataset};

    #[test]
    fn boxes_are_the_pixels_they_touch_one_based() {
        assert_eq!(voc_box([0.0, 0.0, 10.0, 5.0], 20, 10), [1, 1, 10, 5]);
        assert_eq!(voc_box([2.5, 3.2, 4.0, 1.0], 20, 10), [3, 4, 7, 5]);
        assert_eq!(voc_box([-4.0, 8.0, 40.0, 9.0], 20, 10), [1, 9, 20, 10]);
    }

    #[test]
    fn one_xml_per_image_and_the_image_set() {
        let object = |class: &str, bbox| LabelledObject {
            class: class.into(),
            bbox,
            score: None,
            track_id: None,
            reviewed: None,
            mask: None,
        };
        let frame = LabelledFrame {
            image_id: 3,
            file_name: "a/x.png".into(),
            width: 20,
            height: 10,
            objects: vec![
                object("car", [2.0, 2.0, 6.0, 5.0]),
                object("b&w", [0.0, 5.0, 10.0, 10.0]),
            ],
        };
        let classes = ["car".to_string(), "b&w".to_string()];
        let ds = build_dataset(&[frame], &classes, SegmentationFormat::Auto)
            .unwrap()
            .dataset;
        let files = voc_files(&ds);
        assert_eq!(files[0].0, "Annotations/x.xml");
        assert_eq!(files[1], ("ImageSets/Main/train.txt".into(), "x\n".into()));
        let xml = &files[0].1;
        assert!(xml.contains("<filename>a/x.png</filename>"));
        assert!(xml.contains("<width>20</width>") && xml.contains("<height>10</height>"));
        assert!(xml.contains(
            "<name>car</name>\n    <pose>Unspecified</pose>\n    <truncated>0</truncated>"
        ));
        assert!(xml.contains(
            "<xmin>3</xmin>\n      <ymin>3</ymin>\n      <xmax>6</xmax>\n      <ymax>5</ymax>"
        ));
        assert!(xml.contains(
            "<name>b&amp;w</name>\n    <pose>Unspecified</pose>\n    <truncated>1</truncated>"
        ));
    }
}
