//! `autolabel masks`: a SAM 2 mask for every box annotation of a COCO dataset
//! (TAO Auto-Label's "MAL" mode). The work is `autolabel::pipeline::gt_masks`;
//! this reads the files, shows progress and writes the dataset and the report.

use std::error::Error;
use std::path::PathBuf;
use std::time::Instant;

use autolabel::export::coco::{SegmentationFormat, parse_dataset};
use autolabel::models::BackendKind;
use autolabel::models::device::init_device;
use autolabel::models::sam2::{Sam2ImagePredictor, Sam2Model};
use autolabel::pipeline::gt_masks::{
    BoxAgreement, ClassAgreement, SkipReason, Skipped, agreement_by_class, mask_image, plan,
    write_masks,
};
use serde::Serialize;
use serde_json::Value;

use crate::model_arg::{SEGMENTER_FILES, model_dir};

/// Arguments of `autolabel masks`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The COCO dataset whose box annotations get masks.
    #[arg(long)]
    pub coco: PathBuf,
    /// Where the images' `file_name`s are relative to.
    #[arg(long)]
    pub images: PathBuf,
    /// SAM 2: a Hugging Face model directory or hub id, e.g. `facebook/sam2.1-hiera-tiny`.
    #[arg(long)]
    pub model: String,
    /// The dataset with masks is written here.
    #[arg(long)]
    pub out: PathBuf,
    /// Report per class the IoU between each mask's box and the given box.
    #[arg(long)]
    pub gt_eval: bool,
    /// `auto` (polygons; RLE for a mask with holes), `polygon` or `rle`.
    #[arg(long, default_value = "auto", value_parser = parse_format)]
    pub segmentation: SegmentationFormat,
    /// Where the model runs: `cpu` or `wgpu`.
    #[arg(long, default_value = "cpu")]
    pub device: BackendKind,
    /// Write the report (JSON) here instead of stdout.
    #[arg(long)]
    pub report: Option<PathBuf>,
}

fn parse_format(s: &str) -> Result<SegmentationFormat, String> {
    serde_json::from_value(Value::String(s.to_string()))
        .map_err(|_| format!("'{s}': expected auto, polygon or rle"))
}

/// What `autolabel masks` prints.
#[derive(Serialize)]
struct Report {
    out: String,
    annotations: usize,
    masked: usize,
    /// Annotations that had a segmentation, now replaced by SAM 2's.
    replaced: usize,
    skipped: Vec<Skipped>,
    warnings: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gt_eval: Option<Vec<ClassAgreement>>,
}

/// Runs `autolabel masks`.
pub fn run(args: Args) -> Result<(), Box<dyn Error>> {
    if !args.images.is_dir() {
        return Err(format!("--images {}: not a directory", args.images.display()).into());
    }
    let at = |e: &dyn std::fmt::Display| format!("--coco {}: {e}", args.coco.display());
    let bytes = std::fs::read(&args.coco).map_err(|e| at(&e))?;
    let dataset = parse_dataset(&bytes).map_err(|e| at(&e))?;
    let mut root: Value = serde_json::from_slice(&bytes).map_err(|e| at(&e))?;
    let work = plan(&dataset);

    let device = init_device(args.device)?;
    let dir = model_dir("--model", &args.model, SEGMENTER_FILES)?;
    let model = Sam2Model::from_dir(&dir, &device)
        .map_err(|e| format!("--model {}: {e}", dir.display()))?;
    let mut predictor = Sam2ImagePredictor::new(model);

    let mut skipped = work.skipped.clone();
    let mut warnings = Vec::new();
    let mut agreements: Vec<BoxAgreement> = Vec::new();
    let mut replaced = 0;
    let start = Instant::now();
    for (k, job) in work.images.iter().enumerate() {
        eprint!(
            "\rmasks: image {}/{} ({:.1} s)",
            k + 1,
            work.images.len(),
            start.elapsed().as_secs_f64()
        );
        let file = args.images.join(&job.file_name);
        let rgb = match image::open(&file) {
            Ok(img) => img.to_rgb8(),
            Err(e) => {
                let reason = SkipReason::Image(format!("{}: {e}", file.display()));
                skipped.extend(job.skip_all(&reason));
                continue;
            }
        };
        if let Err(reason) = job.check_size(rgb.width(), rgb.height()) {
            skipped.extend(job.skip_all(&reason));
            continue;
        }
        let masks = mask_image(&mut predictor, &rgb, job)?;
        replaced += masks
            .iter()
            .filter(|m| dataset.annotations[m.annotation].segmentation.is_some())
            .count();
        agreements.extend(write_masks(
            &mut root,
            job,
            &masks,
            args.segmentation,
            &mut warnings,
        )?);
    }
    eprintln!();
    let mut text = serde_json::to_string(&root)?;
    text.push('\n');
    std::fs::write(&args.out, text).map_err(|e| format!("--out {}: {e}", args.out.display()))?;

    skipped.sort_by_key(|s| s.annotation_id);
    for s in &skipped {
        eprintln!(
            "skipped annotation {} (image {}): {}",
            s.annotation_id, s.image_id, s.reason
        );
    }
    eprintln!(
        "{} of {} annotations masked, {} skipped → {}",
        agreements.len(),
        dataset.annotations.len(),
        skipped.len(),
        args.out.display()
    );
    let gt_eval = args
        .gt_eval
        .then(|| agreement_by_class(&dataset.categories, &agreements));
    for c in gt_eval.iter().flatten() {
        eprintln!(
            "{:>16}: {} masks, mask box vs given box IoU mean {:.3}, median {:.3}, min {:.3}, {} below 0.5",
            c.name, c.masks, c.mean_iou, c.median_iou, c.min_iou, c.below_half
        );
    }
    let report = Report {
        out: args.out.display().to_string(),
        annotations: dataset.annotations.len(),
        masked: agreements.len(),
        replaced,
        skipped,
        warnings,
        gt_eval,
    };
    let mut text = serde_json::to_string_pretty(&report)?;
    text.push('\n');
    match &args.report {
        Some(path) => {
            std::fs::write(path, text).map_err(|e| format!("--report {}: {e}", path.display()))?
        }
        None => print!("{text}"),
    }
    Ok(())
}
