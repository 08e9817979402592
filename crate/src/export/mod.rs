//! Export: COCO JSON (`coco`), the masks it carries (`mask`, `rle`,
//! `polygon`) and the training-set ZIP (`archive`). Also the reading side of
//! COCO, so a COCO file can serve as ground truth.
//!
//! References: the COCO data format (<https://cocodataset.org/#format-data>)
//! and pycocotools 2.0 (`coco.py`, `mask.py`, `common/maskApi.c`), whose
//! rasteriser and RLE codec are reproduced bit for bit.

pub mod archive;
pub mod coco;
pub mod mask;
pub mod polygon;
pub mod rle;
