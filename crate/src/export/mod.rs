//! Export: COCO JSON (`coco`, with the masks of `crate::labels`), YOLO labels
//! (`yolo`) and Pascal VOC XML (`voc`) written from it, the
//! training-set ZIP (`archive`), labels drawn over frames (`overlay`), the
//! propagation video (`video_out`, native) and the self-contained HTML report
//! (`report_html`). Also the reading side of COCO, so a COCO file can serve as
//! ground truth.
//!
//! References: the COCO data format (<https://cocodataset.org/#format-data>)
//! and pycocotools 2.0 (`coco.py`, `mask.py`, `common/maskApi.c`), whose
//! rasteriser and RLE codec are reproduced bit for bit (`crate::labels::rle`).

pub mod archive;
pub mod coco;
pub mod overlay;
pub mod report_html;
#[cfg(feature = "native")]
pub mod video_out;
pub mod voc;
pub mod yolo;
