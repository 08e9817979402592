//! `autolabel detect`: open-vocabulary boxes for a class list on one image,
//! as JSON in original-image pixels.
//!
//! Paper: Liu et al., "Grounding DINO", 2023; the model is
//! `autolabel::models::grounding_dino` (a port of transformers'
//! `GroundingDinoForObjectDetection`, post-processed as its
//! `post_process_grounded_object_detection`), run on Burn's CPU backend or
//! its wgpu runtime (`--device`).

use std::error::Error;
use std::path::PathBuf;
use std::time::Instant;

use autolabel::data::image_file::open_rgb;
use autolabel::models::BackendKind;
use autolabel::models::device::init_device;
use autolabel::models::grounding_dino::detector::{DEFAULT_BOX_THRESHOLD, DEFAULT_TEXT_THRESHOLD};
use autolabel::models::grounding_dino::{DetectOptions, Detector, Thresholds, VocabSource};
use autolabel::text::Prompt;

use crate::model_arg::{DETECTOR_FILES, model_dir};
use crate::output::write_json;

/// Arguments of `autolabel detect`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Hugging Face model directory (`config.json`, `model.safetensors`,
    /// `vocab.txt`) or hub id (fetched once into the Hugging Face cache), e.g.
    /// `IDEA-Research/grounding-dino-tiny`.
    /// Without `vocab.txt` the built-in bert-base-uncased vocabulary is used.
    #[arg(long)]
    pub model: String,
    /// The image (JPEG or PNG).
    #[arg(long)]
    pub image: PathBuf,
    /// The classes, separated by '.', ',', ';' or new lines, e.g. "car . truck ."
    /// or "car, traffic light"; normalised to Grounding DINO's caption
    /// ("car . traffic light .", lower case). Accents are stripped by the
    /// tokenizer ("Café" reads as "cafe"), CJK characters are one token each.
    #[arg(long)]
    pub prompt: String,
    /// Keep a query when its best token probability exceeds this. Default:
    /// transformers' documented usage (0.4); its post-processor's own default
    /// is 0.25, the original repository's demo uses 0.35.
    #[arg(long, default_value_t = DEFAULT_BOX_THRESHOLD, allow_negative_numbers = true)]
    pub box_threshold: f32,
    /// A prompt token joins a detection's label when its probability exceeds
    /// this. Default: transformers' documented usage (0.3); its
    /// post-processor's default is 0.25.
    #[arg(long, default_value_t = DEFAULT_TEXT_THRESHOLD, allow_negative_numbers = true)]
    pub text_threshold: f32,
    /// Per-label non-maximum suppression at this IoU, e.g. 0.5 (off by default,
    /// as in the reference).
    #[arg(long = "nms", value_name = "IOU", allow_negative_numbers = true)]
    pub nms_iou: Option<f32>,
    /// Where the model runs: `cpu` (Burn's flex backend) or `wgpu` (the GPU
    /// through Vulkan/Metal/DX12; a software Vulkan driver works too).
    #[arg(long, default_value = "cpu")]
    pub device: BackendKind,
    /// Write the JSON here instead of stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Runs `autolabel detect`.
pub fn run(args: Args) -> Result<(), Box<dyn Error>> {
    let options = DetectOptions {
        thresholds: Thresholds {
            box_threshold: args.box_threshold,
            text_threshold: args.text_threshold,
        },
        nms_iou: args.nms_iou,
    };
    options.validate()?;
    Prompt::parse(&args.prompt)?; // an empty prompt fails before the model loads
    let image = open_rgb(&args.image)?;
    let (width, height) = image.dimensions();

    let device = init_device(args.device)?;
    let start = Instant::now();
    let dir = model_dir("--model", &args.model, DETECTOR_FILES)?;
    let (detector, vocab) = Detector::from_dir(&dir, &device)?;
    eprintln!(
        "loaded {} in {:.2} s",
        dir.display(),
        start.elapsed().as_secs_f64()
    );
    if vocab == VocabSource::Embedded {
        eprintln!(
            "note: {} has no vocab.txt; using the built-in bert-base-uncased vocabulary",
            dir.display()
        );
    }
    let encoded = detector.encode(&args.prompt)?;
    eprintln!(
        "prompt: {:?} ({} tokens)",
        encoded.prompt.text,
        encoded.encoding.ids.len()
    );
    let start = Instant::now();
    let report = detector.detect(
        image.as_raw(),
        width as usize,
        height as usize,
        &args.prompt,
        options,
    )?;
    eprintln!(
        "{} detection(s) on {width}×{height} in {:.2} s",
        report.detections.len(),
        start.elapsed().as_secs_f64()
    );
    write_json(&report, args.out.as_deref())
}
