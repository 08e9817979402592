//! The `autolabel` command line: each pipeline stage as a subcommand that reads
//! files and writes JSON to stdout (or `--out FILE`), progress on stderr.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use autolabel::data::classes::ClassMap;
use autolabel::data::image_file::open_rgb;
use autolabel::data::nuscenes::{CameraFrame, DEFAULT_CHANNEL, NuScenes};
use autolabel::data::synthetic::{SceneConfig, SyntheticScene};
use autolabel::eval::EvalConfig;
use autolabel::eval::data::GroundTruth;
use autolabel::export::archive::{TrainingSize, ZipOptions, training_zip};
use autolabel::export::coco::{
    CocoDataset, dataset_from_ground_truth, import_ground_truth, parse_dataset,
};
use autolabel::limits::check_frames;
use autolabel::pipeline::Ontology;
use autolabel::pipeline::evaluate::{DEFAULT_MAX_FAILURES_PER_KIND, evaluate_results};
use clap::{Args, Parser, Subcommand};
use output::{write_file, write_json};

mod batch;
mod detect;
mod detect_options;
mod masks;
mod model_arg;
mod output;
mod run;
mod segment;
mod track;

/// Large tensor buffers in transparent huge pages (see `autolabel::huge_pages`).
#[cfg(target_os = "linux")]
#[global_allocator]
static ALLOCATOR: autolabel::huge_pages::HugePages = autolabel::huge_pages::HugePages;

#[derive(Parser)]
#[command(
    name = "autolabel",
    version,
    about = "Auto-labelling of driving camera data"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The whole pipeline on one clip: detect, segment, track, evaluate, analyse
    /// and export into one directory (resumable: a finished stage is reused).
    Run(Box<run::Args>),
    /// Detect objects of the prompt's classes in an image with Grounding DINO; boxes as JSON.
    Detect(detect::Args),
    /// Segment objects in an image with SAM 2 from box and point prompts; masks as COCO RLE.
    Segment(segment::Args),
    /// Track prompted objects through a clip with SAM 2's video predictor
    /// (forward, backward or both); per frame and object a COCO RLE mask.
    Track(track::Args),
    /// Add a SAM 2 mask to every box annotation of a COCO dataset, everything else kept.
    Masks(masks::Args),
    /// Label a folder of images into a training ZIP (resized images, COCO, previews).
    Batch(batch::Args),
    /// Print a nuScenes scene's camera ground truth, projected to 2D boxes, as JSON.
    Gt {
        /// Dataset root (holds `v1.0-*/`, `samples/`, `sweeps/`).
        #[arg(long)]
        nuscenes: PathBuf,
        #[arg(long, default_value = "v1.0-mini")]
        version: String,
        /// Scene name, e.g. `scene-0061`.
        #[arg(long)]
        scene: String,
        /// Camera channel.
        #[arg(long, default_value = DEFAULT_CHANNEL)]
        channel: String,
        /// Walk at most this many frames (keyframes and sweeps) of the camera chain.
        #[arg(long)]
        max_frames: Option<usize>,
        /// Class table (JSON, see `autolabel classes`); the default maps onto
        /// car, truck, bus, pedestrian, cyclist, traffic light, traffic sign.
        #[arg(long)]
        classes: Option<PathBuf>,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Print the default ontology (classes, prompt phrases, per-class
    /// thresholds) as editable JSON for `autolabel run --ontology`.
    Ontology {
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Print the default nuScenes category → prompt class table as editable JSON.
    Classes {
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Evaluate COCO-format predictions against ground truth: per-class TP/FP/FN,
    /// precision, recall (greedy matching), COCO AP and the 12 COCOeval stats,
    /// recall bins, confusion matrix, failure queue, cost table and verdict.
    Eval {
        #[command(flatten)]
        truth: TruthArgs,
        /// Predictions in the COCO results format
        /// (`[{image_id, category_id, bbox: [x, y, w, h], score, segmentation?}]`).
        /// With --nuscenes, image_id is the frame's index in the camera chain and
        /// category_id 1 + the class's position in the class table.
        #[arg(long)]
        pred: PathBuf,
        /// IoU a prediction needs to match.
        #[arg(long, allow_negative_numbers = true)]
        iou: Option<f64>,
        /// Leave predictions below this score out of the greedy metrics.
        #[arg(long, allow_negative_numbers = true)]
        score_threshold: Option<f64>,
        /// Evaluation settings as JSON (see `autolabel eval-config`); --iou and
        /// --score-threshold override its values.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Keep at most this many failure cases of each kind in the report.
        #[arg(long, default_value_t = DEFAULT_MAX_FAILURES_PER_KIND)]
        max_failures_per_kind: usize,
        /// Also write the whole failure queue (no cut) to this file.
        #[arg(long)]
        failures_out: Option<PathBuf>,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Print the default evaluation settings (thresholds, bins, failure queue,
    /// cost model, verdict) as editable JSON.
    EvalConfig {
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Export ground truth as COCO JSON, and/or a training ZIP: images resized
    /// to a training size with the annotations rescaled.
    Export {
        #[command(flatten)]
        truth: TruthArgs,
        /// Write the COCO dataset here.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Write the training ZIP here (`images/*.jpg` + `annotations.json`).
        #[arg(long, requires = "size")]
        zip: Option<PathBuf>,
        /// Training size: WIDTHxHEIGHT (e.g. 640x360) or the longest side (e.g. 640).
        #[arg(long)]
        size: Option<String>,
        /// Where the images' `file_name`s are relative to (default: the COCO
        /// file's directory, or the nuScenes root).
        #[arg(long)]
        images: Option<PathBuf>,
        /// JPEG quality of the ZIP's images.
        #[arg(long, default_value_t = 90)]
        quality: u8,
    },
    /// Write the synthetic demo scene as a nuScenes-format dataset.
    Demo {
        /// Dataset root to write (created if missing).
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = SceneConfig::demo().seed)]
        seed: u64,
        /// Number of camera frames (12 per second; every 6th is a keyframe).
        #[arg(long, default_value_t = SceneConfig::demo().frames)]
        frames: usize,
        /// Frame size, `WIDTHxHEIGHT`.
        #[arg(long, default_value = "1600x900", value_parser = run::parse_frame_size)]
        size: (u32, u32),
    },
}

/// Where ground truth comes from: a COCO file or a nuScenes scene.
#[derive(Args)]
struct TruthArgs {
    /// Ground truth as a COCO dataset JSON.
    #[arg(
        long,
        conflicts_with = "nuscenes",
        required_unless_present = "nuscenes"
    )]
    gt: Option<PathBuf>,
    /// Ground truth from a nuScenes dataset root (its keyframes' projected boxes).
    #[arg(long, requires = "scene")]
    nuscenes: Option<PathBuf>,
    #[arg(long, default_value = "v1.0-mini")]
    version: String,
    /// Scene name, e.g. `scene-0061` (with --nuscenes).
    #[arg(long)]
    scene: Option<String>,
    #[arg(long, default_value = DEFAULT_CHANNEL)]
    channel: String,
    #[arg(long)]
    max_frames: Option<usize>,
    /// Class table (JSON, see `autolabel classes`), with --nuscenes.
    #[arg(long)]
    classes: Option<PathBuf>,
}

/// Loaded ground truth and where its images are.
struct Truth {
    gt: GroundTruth,
    /// The COCO dataset as read (COCO input) or built (nuScenes).
    dataset: CocoDataset,
    image_root: PathBuf,
    /// nuScenes: the camera chain, whose indices are the image ids.
    frames: Option<Vec<CameraFrame>>,
    warnings: Vec<String>,
}

fn load_truth(args: &TruthArgs) -> Result<Truth> {
    if let Some(path) = &args.gt {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let dataset = parse_dataset(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        let imported =
            import_ground_truth(&dataset).map_err(|e| format!("{}: {e}", path.display()))?;
        let warnings = imported
            .warnings
            .into_iter()
            .map(|w| format!("{}: {w}", path.display()))
            .collect();
        let image_root = path.parent().map(Path::to_path_buf).unwrap_or_default();
        return Ok(Truth {
            gt: imported.ground_truth,
            dataset,
            image_root,
            frames: None,
            warnings,
        });
    }
    let (Some(root), Some(scene)) = (&args.nuscenes, &args.scene) else {
        return Err("give --gt COCO.json, or --nuscenes DIR with --scene NAME".into());
    };
    let classes = load_classes(args.classes.as_deref())?;
    let db = NuScenes::open(root, &args.version)?;
    let frames = db.camera_frames(scene, &args.channel, args.max_frames)?;
    let keyframes = db.ground_truth(&frames, &classes)?;
    let gt = GroundTruth::from_nuscenes(&frames, &keyframes, &classes);
    Ok(Truth {
        dataset: dataset_from_ground_truth(&gt),
        gt,
        image_root: root.clone(),
        frames: Some(frames),
        warnings: Vec::new(),
    })
}

fn eval_config(path: Option<&Path>, iou: Option<f64>, score: Option<f64>) -> Result<EvalConfig> {
    let mut config = match path {
        Some(path) => {
            let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
            serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => EvalConfig::default(),
    };
    if let Some(iou) = iou {
        config.iou_threshold = iou;
    }
    if let Some(score) = score {
        config.score_threshold = score;
    }
    if !(config.iou_threshold > 0.0 && config.iou_threshold <= 1.0) {
        return Err(format!("--iou {}: must be in (0, 1]", config.iou_threshold).into());
    }
    if !config.score_threshold.is_finite() {
        return Err("--score-threshold must be a number".into());
    }
    Ok(config)
}

struct EvalArgs {
    truth: TruthArgs,
    pred: PathBuf,
    config: EvalConfig,
    max_failures_per_kind: usize,
    failures_out: Option<PathBuf>,
    out: Option<PathBuf>,
}

fn run_eval(args: EvalArgs) -> Result<()> {
    let truth = load_truth(&args.truth)?;
    for w in &truth.warnings {
        eprintln!("warning: {w}");
    }
    let path = &args.pred;
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    // nuScenes: detections on sweeps (frames of the chain without ground truth) are skipped.
    let chain_len = truth.frames.as_ref().map_or(0, Vec::len);
    eprintln!(
        "evaluating {} on {} images ({} ground-truth objects)",
        path.display(),
        truth.gt.images.len(),
        truth.gt.objects.len()
    );
    let (report, whole) = evaluate_results(
        &truth.gt,
        &bytes,
        chain_len,
        &args.config,
        args.max_failures_per_kind,
    )
    .map_err(|e| format!("{}: {e}", path.display()))?;
    if let Some(file) = &args.failures_out {
        write_json(&whole, Some(file))?;
    }
    write_json(&report, args.out.as_deref())
}

fn run_export(
    truth: TruthArgs,
    out: Option<PathBuf>,
    zip: Option<PathBuf>,
    size: Option<String>,
    images: Option<PathBuf>,
    quality: u8,
) -> Result<()> {
    if out.is_none() && zip.is_none() {
        return Err("nothing to do: give --out FILE and/or --zip FILE --size WxH".into());
    }
    let truth = load_truth(&truth)?;
    for w in &truth.warnings {
        eprintln!("warning: {w}");
    }
    if let Some(path) = &out {
        write_json(&truth.dataset, Some(path))?;
    }
    let (Some(path), Some(size)) = (zip, size) else {
        return Ok(());
    };
    let options = ZipOptions {
        size: TrainingSize::parse(&size)?,
        jpeg_quality: quality,
    };
    let root = images.unwrap_or(truth.image_root);
    let total = truth.dataset.images.len();
    let mut done = 0;
    let bytes = training_zip(&truth.dataset, &options, |im| {
        done += 1;
        eprint!("\rresizing images: {done}/{total}");
        let file = root.join(&im.file_name);
        open_rgb(&file)
    })?;
    eprintln!();
    write_file(&path, &bytes)
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Run(args) => run::run(*args),
        Command::Detect(args) => detect::run(args),
        Command::Segment(args) => segment::run(args),
        Command::Track(args) => track::run(args),
        Command::Masks(args) => masks::run(args),
        Command::Batch(args) => batch::run(args),
        Command::Gt {
            nuscenes,
            version,
            scene,
            channel,
            max_frames,
            classes,
            out,
        } => {
            let classes = load_classes(classes.as_deref())?;
            let db = NuScenes::open(&nuscenes, &version)?;
            let frames = db.camera_frames(&scene, &channel, max_frames)?;
            let gt = db.ground_truth(&frames, &classes)?;
            write_json(&gt, out.as_deref())
        }
        Command::Ontology { out } => write_json(&Ontology::seed(), out.as_deref()),
        Command::Classes { out } => write_json(&ClassMap::nuscenes_default(), out.as_deref()),
        Command::Eval {
            truth,
            pred,
            iou,
            score_threshold,
            config,
            max_failures_per_kind,
            failures_out,
            out,
        } => run_eval(EvalArgs {
            truth,
            pred,
            config: eval_config(config.as_deref(), iou, score_threshold)?,
            max_failures_per_kind,
            failures_out,
            out,
        }),
        Command::EvalConfig { out } => write_json(&EvalConfig::default(), out.as_deref()),
        Command::Export {
            truth,
            out,
            zip,
            size,
            images,
            quality,
        } => run_export(truth, out, zip, size, images, quality),
        Command::Demo {
            out,
            seed,
            frames,
            size,
        } => {
            let config = SceneConfig {
                seed,
                frames,
                width: size.0,
                height: size.1,
                ..SceneConfig::demo()
            };
            check_frames(|| format!("--frames {frames}: the demo scene"), frames)?;
            let scene = SyntheticScene::generate(&config);
            scene
                .write_to(&out, |done, total| {
                    eprint!("\rwriting {}: {done}/{total} files", out.display());
                })
                .map_err(|e| format!("--out {e}"))?;
            eprintln!();
            Ok(())
        }
    }
}

fn load_classes(path: Option<&Path>) -> Result<ClassMap> {
    let Some(path) = path else {
        return Ok(ClassMap::nuscenes_default());
    };
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let map: ClassMap =
        serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    map.validate()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(map)
}
