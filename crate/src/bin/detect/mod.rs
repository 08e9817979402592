//! `autolabel detect`: open-vocabulary boxes for a class list on one image,
//! as JSON in original-image pixels, with the detector the model directory's
//! `config.json` names (`model_type`).
//!
//! Papers: Liu et al., "Grounding DINO", 2023; Minderer et al., "Scaling
//! Open-Vocabulary Object Detection" (OWLv2), 2023. The models are
//! `autolabel::models::grounding_dino` (a port of transformers'
//! `GroundingDinoForObjectDetection`, post-processed as its
//! `post_process_grounded_object_detection`: the classes as one caption) and
//! `autolabel::models::owlv2` (`Owlv2ForObjectDetection` with
//! `post_process_object_detection`: each class a query), run on Burn's CPU
//! backend or its wgpu runtime (`--device`).

use std::error::Error;
use std::path::PathBuf;
use std::time::Instant;

use autolabel::data::image_file::open_rgb;
use autolabel::models::BackendKind;
use autolabel::models::device::init_device;
use autolabel::models::owlv2;
use autolabel::pipeline::detect::DetectorModel;
use autolabel::pipeline::detect::prompted::{PromptDetectError, PromptOptions};
use autolabel::text::Prompt;

use crate::model_arg::{DETECTOR_FILES, model_dir};
use crate::output::write_json;

/// Arguments of `autolabel detect`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Hugging Face model directory (`config.json`, `model.safetensors`,
    /// tokenizer files) or hub id (fetched once into the Hugging Face cache),
    /// e.g. `IDEA-Research/grounding-dino-tiny` or
    /// `google/owlv2-base-patch16-ensemble`; `config.json`'s `model_type`
    /// picks the detector. Without tokenizer files the built-in vocabulary
    /// is used (bert-base-uncased, CLIP).
    #[arg(long)]
    pub model: String,
    /// The image (JPEG or PNG).
    #[arg(long)]
    pub image: PathBuf,
    /// The classes, separated by '.', ',', ';' or new lines, e.g. "car . truck ."
    /// or "car, traffic light"; normalised to Grounding DINO's caption
    /// ("car . traffic light .", lower case; accents are stripped by its
    /// tokenizer, "Café" reads as "cafe"), or for OWLv2 each class one query
    /// ("car", "traffic light"; at most 16 tokens each).
    #[arg(
        long,
        required_unless_present = "query_image",
        conflicts_with = "query_image"
    )]
    pub prompt: Option<String>,
    /// OWLv2 only, instead of `--prompt`: image-guided detection, finding
    /// what this image (JPEG or PNG) shows — its most object-like patch — as
    /// `image_guided_detection` + `post_process_image_guided_detection` do
    /// (NMS 0.3 unless `--nms` says otherwise; scores are the reference's
    /// display alphas, 1 for the best match; threshold default 0).
    #[arg(long)]
    pub query_image: Option<PathBuf>,
    /// Keep a detection when its score exceeds this. Default: transformers'
    /// documented usage, 0.4 for Grounding DINO (its post-processor's own
    /// default is 0.25, the original repository's demo uses 0.35) and 0.1 for
    /// OWLv2 (`post_process_object_detection`'s default).
    #[arg(long, allow_negative_numbers = true)]
    pub box_threshold: Option<f32>,
    /// Grounding DINO only: a prompt token joins a detection's label when its
    /// probability exceeds this. Default: transformers' documented usage
    /// (0.3); its post-processor's default is 0.25.
    #[arg(long, allow_negative_numbers = true)]
    pub text_threshold: Option<f32>,
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
    // An empty prompt fails before the model loads.
    if let Some(prompt) = &args.prompt {
        Prompt::parse(prompt)?;
    }
    let image = open_rgb(&args.image)?;
    let device = init_device(args.device)?;
    let start = Instant::now();
    let dir = model_dir("--model", &args.model, DETECTOR_FILES)?;
    let detector = DetectorModel::from_dir(&dir, &device)?;
    eprintln!(
        "loaded {} ({}) in {:.2} s",
        dir.display(),
        detector.model_type(),
        start.elapsed().as_secs_f64()
    );
    match (&detector, &args.prompt, &args.query_image) {
        (_, Some(prompt), _) => prompted(&args, &detector, prompt, &dir, &image),
        (DetectorModel::Owlv2(detector), None, Some(query)) => {
            owlv2_by_example(&args, detector, query, &image)
        }
        _ => Err("--query-image needs an OWLv2 checkpoint; Grounding DINO reads a --prompt".into()),
    }
}

/// The class list, as one caption (Grounding DINO) or one query a phrase
/// (OWLv2): the core's `DetectorModel::detect_prompt`, as in the page.
fn prompted(
    args: &Args,
    detector: &DetectorModel,
    prompt: &str,
    dir: &std::path::Path,
    image: &image::RgbImage,
) -> Result<(), Box<dyn Error>> {
    describe_prompt(detector, prompt, dir)?;
    let options = PromptOptions {
        box_threshold: args.box_threshold,
        text_threshold: args.text_threshold,
        nms_iou: args.nms_iou,
    };
    let (width, height) = image.dimensions();
    let start = Instant::now();
    let report = detector
        .detect_prompt(
            image.as_raw(),
            [width as usize, height as usize],
            prompt,
            options,
        )
        .map_err(|e| -> Box<dyn Error> {
            match e {
                PromptDetectError::TextThresholdForOwlv2 => format!("--text-threshold: {e}").into(),
                e => e.into(),
            }
        })?;
    done(report.detections.len(), [width, height], start);
    write_json(&report, args.out.as_deref())
}

/// What the detector reads, on stderr: the normalised caption and its
/// length in tokens, or the queries.
fn describe_prompt(
    detector: &DetectorModel,
    prompt: &str,
    dir: &std::path::Path,
) -> Result<(), Box<dyn Error>> {
    match detector {
        DetectorModel::GroundingDino(detector) => {
            if !dir.join("vocab.txt").is_file() {
                eprintln!(
                    "note: {} has no vocab.txt; using the built-in bert-base-uncased vocabulary",
                    dir.display()
                );
            }
            let encoded = detector.encode(prompt)?;
            eprintln!(
                "prompt: {:?} ({} tokens)",
                encoded.prompt.text,
                encoded.encoding.ids.len()
            );
        }
        DetectorModel::Owlv2(_) => eprintln!("queries: {:?}", Prompt::parse(prompt)?.phrases),
    }
    Ok(())
}

/// OWLv2 image-guided: the query image's best patch as the query.
fn owlv2_by_example(
    args: &Args,
    detector: &owlv2::Detector,
    query_path: &std::path::Path,
    image: &image::RgbImage,
) -> Result<(), Box<dyn Error>> {
    if args.text_threshold.is_some() {
        return Err("--text-threshold applies to Grounding DINO only".into());
    }
    let options = owlv2::DetectOptions {
        threshold: args.box_threshold.unwrap_or(0.0),
        nms_iou: Some(
            args.nms_iou
                .unwrap_or(owlv2::detector::DEFAULT_GUIDED_NMS_IOU),
        ),
    };
    options.validate()?;
    let query = open_rgb(query_path)?;
    let label = query_path.file_name().map_or_else(
        || query_path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let (width, height) = image.dimensions();
    let start = Instant::now();
    let report = detector.detect_by_example(
        image.as_raw(),
        [width as usize, height as usize],
        query.as_raw(),
        [query.width() as usize, query.height() as usize],
        &label,
        options,
    )?;
    done(report.detections.len(), [width, height], start);
    write_json(&report, args.out.as_deref())
}

fn done(count: usize, [width, height]: [u32; 2], start: Instant) {
    eprintln!(
        "{count} detection(s) on {width}×{height} in {:.2} s",
        start.elapsed().as_secs_f64()
    );
}
