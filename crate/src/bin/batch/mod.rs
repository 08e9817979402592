//! `autolabel batch`: a folder of images to one training ZIP (resized images,
//! `coco_export.json`, previews, report). The work is
//! `autolabel::pipeline::batch`; this opens the folder and the models, shows
//! progress and writes the ZIP.

use std::error::Error;
use std::path::PathBuf;
use std::time::Instant;

use autolabel::data::clip::Clip;
use autolabel::export::archive::TrainingSize;
use autolabel::export::coco::SegmentationFormat;
use autolabel::models::BackendKind;
use autolabel::models::device::init_device;
use autolabel::models::sam2::{Sam2ImagePredictor, Sam2Model};
use autolabel::pipeline::batch::{BatchModels, BatchSettings, run_batch};
use autolabel::pipeline::detect::{DetectorModel, FrameDetector};
use autolabel::pipeline::segment::SegmentSettings;
use serde_json::Value;

use crate::detect_options::DetectOptions;
use crate::model_arg::{DETECTOR_FILES, SEGMENTER_FILES, model_dir};

/// Arguments of `autolabel batch`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The folder of images (JPG/PNG, taken in natural name order).
    #[arg(long)]
    pub images: PathBuf,
    /// Grounding DINO: a Hugging Face model directory or hub id.
    #[arg(long)]
    pub detector: String,
    /// SAM 2 (a model directory or hub id): masks too. Without it the export is bbox-only.
    #[arg(long)]
    pub segmenter: Option<String>,
    /// What to detect and how (the ontology's classes are the export's
    /// categories).
    #[command(flatten)]
    pub detect: DetectOptions,
    /// Training size: the longest side (e.g. 640) or WIDTHxHEIGHT.
    #[arg(long, default_value = "640")]
    pub size: String,
    /// JPEG quality of the ZIP's images.
    #[arg(long, default_value_t = 90)]
    pub quality: u8,
    /// `auto` (polygons; RLE for a mask with holes), `polygon` or `rle`.
    #[arg(long, default_value = "auto", value_parser = parse_format)]
    pub segmentation: SegmentationFormat,
    /// Where the models run: `cpu` or `wgpu`.
    #[arg(long, default_value = "cpu")]
    pub device: BackendKind,
    /// The ZIP to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Print no progress.
    #[arg(long)]
    pub quiet: bool,
}

fn parse_format(s: &str) -> Result<SegmentationFormat, String> {
    serde_json::from_value(Value::String(s.to_string()))
        .map_err(|_| format!("'{s}': expected auto, polygon or rle"))
}

/// Runs `autolabel batch`.
pub fn run(args: Args) -> Result<(), Box<dyn Error>> {
    let size = TrainingSize::parse(&args.size).map_err(|e| format!("--size: {e}"))?;
    if args.out.is_dir() {
        return Err(format!("--out {}: is a directory, not a file", args.out.display()).into());
    }
    let ontology = args.detect.ontology()?;
    let classes: Vec<String> = ontology.classes.iter().map(|c| c.name.clone()).collect();
    let caption = args.detect.caption(&ontology, &classes)?;
    let detect = args.detect.settings()?;
    let mut clip = Clip::folder(&args.images, 1.0)
        .map_err(|e| format!("--images {}: {e}", args.images.display()))?;

    let device = init_device(args.device)?;
    let dir = model_dir("--detector", &args.detector, DETECTOR_FILES)?;
    let detector = DetectorModel::from_dir(&dir, &device)
        .map_err(|e| format!("--detector {}: {e}", dir.display()))?;
    let frame_detector = FrameDetector::new(&detector, &ontology, caption, detect)
        .map_err(|e| format!("--detector {}: {e}", dir.display()))?;
    let mut segmenter = match &args.segmenter {
        Some(arg) => {
            let dir = model_dir("--segmenter", arg, SEGMENTER_FILES)?;
            let model = Sam2Model::from_dir(&dir, &device)
                .map_err(|e| format!("--segmenter {}: {e}", dir.display()))?;
            Some(Sam2ImagePredictor::new(model))
        }
        None => None,
    };
    let settings = BatchSettings {
        size,
        jpeg_quality: args.quality,
        segmentation: args.segmentation,
        segment: SegmentSettings::default(),
    };
    let start = Instant::now();
    let models = BatchModels {
        detector: &frame_detector,
        segmenter: segmenter.as_mut(),
    };
    let output = run_batch(&mut clip, models, &classes, &settings, |done, total| {
        if !args.quiet {
            let s = start.elapsed().as_secs_f64();
            eprint!(
                "\rbatch: {done}/{total} images ({s:.1} s, {:.2} images/s)",
                done as f64 / s
            );
        }
    })?;
    if !args.quiet {
        eprintln!();
    }
    std::fs::write(&args.out, &output.zip)
        .map_err(|e| format!("--out {}: {e}", args.out.display()))?;
    for f in &output.report.failed {
        eprintln!("failed: {}: {}", f.file, f.error);
    }
    eprintln!(
        "{} of {} images labelled, {} objects → {}",
        output.report.labelled,
        output.report.images,
        output.report.objects,
        args.out.display()
    );
    let mut text = serde_json::to_string_pretty(&output.report)?;
    text.push('\n');
    print!("{text}");
    Ok(())
}
