//! `autolabel run`: the whole pipeline on one clip — detect, segment, track,
//! evaluate, analyse, export — into one output directory, resumable.
//!
//! The stages are `autolabel::pipeline`'s; this shell opens the inputs, saves
//! each stage's output through [`store::Store`] (atomically, keyed by what it
//! was made from), shows progress and writes the files other tools read.

mod progress;
mod review;
mod store;

use std::path::{Path, PathBuf};
use std::time::Instant;

use autolabel::data::classes::ClassMap;
use autolabel::data::nuscenes::{DEFAULT_CHANNEL, DirSource, NuScenes};
use autolabel::data::synthetic::SceneConfig;
use autolabel::eval::EvalConfig;
use autolabel::export::archive::{TrainingSize, ZipOptions};
use autolabel::export::report_html::StageTiming;
use autolabel::export::report_html::render;
use autolabel::export::video_out::Mp4Writer;
use autolabel::models::BackendKind;
use autolabel::models::device::init_device;
use autolabel::models::sam2::Sam2VideoModel;
use autolabel::models::sam2::{Sam2ImagePredictor, Sam2Model};
use autolabel::pipeline::analyse::{self, FailureMode, RunReport};
use autolabel::pipeline::detect::{DetectSettings, DetectorModel, FrameDetector};
use autolabel::pipeline::input::Input;
use autolabel::pipeline::propagate::{Tracker, clip_source, frames_to_track};
use autolabel::pipeline::review::{Reviewed, queue as review_queue};
use autolabel::pipeline::run::{
    EvaluateInputs, StageTime, evaluate_run, run_report, skipped_frames, stage_timings,
};
use autolabel::pipeline::sampling::detection_frames;
use autolabel::pipeline::segment::{SegmentSettings, segment_frame};
use autolabel::pipeline::skipped::{FrameOutcome, frame_or_skip, split_outcomes};
use autolabel::pipeline::track::{TrackSettings, associate};
use autolabel::pipeline::{
    Caption, DetectOutput, FrameDetections, FrameMasks, FrameTracks, Ontology, Sampling,
    SegmentOutput, SkippedFrame, TrackOutput, outputs,
};
use serde::Serialize;

use crate::detect_options::DetectOptions;
use crate::model_arg::{DETECTOR_FILES, SEGMENTER_FILES, model_dir};
use progress::Progress;
use store::{Store, key_of, sha256_file};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Arguments of `autolabel run`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// A nuScenes dataset root (with --scene).
    #[arg(long, requires = "scene", conflicts_with_all = ["clip", "demo"])]
    pub nuscenes: Option<PathBuf>,
    /// Scene name, e.g. `scene-0061`.
    #[arg(long)]
    pub scene: Option<String>,
    #[arg(long, default_value = "v1.0-mini")]
    pub version: String,
    /// Camera channel of the scene.
    #[arg(long, default_value = DEFAULT_CHANNEL)]
    pub channel: String,
    /// A clip: an MP4 (H.264) file or a folder of JPG/PNG frames.
    #[arg(long, conflicts_with = "demo")]
    pub clip: Option<PathBuf>,
    /// Frame rate of a frame folder (its frames' timestamps).
    #[arg(long, default_value_t = 10.0)]
    pub folder_fps: f64,
    /// The embedded demo scene (with ground truth).
    #[arg(long)]
    pub demo: bool,
    /// Frames of the demo scene.
    #[arg(long, default_value_t = SceneConfig::demo().frames)]
    pub demo_frames: usize,
    /// Frame size of the demo scene, `WIDTHxHEIGHT` (the page's small demo
    /// is 640x360).
    #[arg(long, default_value = "1600x900", value_parser = parse_frame_size)]
    pub demo_size: (u32, u32),
    /// Grounding DINO: a model directory (`config.json`, `model.safetensors`)
    /// or a Hugging Face hub id, e.g. `IDEA-Research/grounding-dino-tiny`.
    #[arg(long)]
    pub detector: String,
    /// SAM 2: a model directory or a hub id, e.g. `facebook/sam2.1-hiera-tiny`.
    #[arg(long)]
    pub segmenter: String,
    /// SAM 2 video checkpoint that carries the masks through every taken
    /// frame (a model directory or hub id, e.g. `facebook/sam2.1-hiera-tiny`,
    /// the same file as the segmenter's). Without it, tracks join the
    /// keyframes' masks and only keyframes are labelled. Propagation costs
    /// about as much per object and frame as the image encoder per frame.
    #[arg(long)]
    pub tracker: Option<String>,
    /// What to detect and how (the ontology's classes must be classes of the
    /// class table, so that the labels can be evaluated).
    #[command(flatten)]
    pub detect: DetectOptions,
    /// nuScenes category → class table (JSON, see `autolabel classes`).
    #[arg(long)]
    pub classes: Option<PathBuf>,
    /// Evaluation settings (JSON, see `autolabel eval-config`).
    #[arg(long)]
    pub eval_config: Option<PathBuf>,
    /// Detect on every N-th frame taken (default: the keyframes of a nuScenes
    /// scene, every 6th frame of other clips).
    #[arg(long)]
    pub every: Option<usize>,
    /// Take at most this many frames.
    #[arg(long)]
    pub max_frames: Option<usize>,
    /// First frame to take (clip index).
    #[arg(long, default_value_t = 0)]
    pub start: usize,
    /// One past the last frame to take.
    #[arg(long)]
    pub end: Option<usize>,
    /// Take at most this many frames per second.
    #[arg(long)]
    pub fps: Option<f64>,
    /// Longest side (or WIDTHxHEIGHT) of the training ZIP's images.
    #[arg(long, default_value = "640")]
    pub training_size: String,
    /// Where the models run: `cpu` or `wgpu`.
    #[arg(long, default_value = "cpu")]
    pub device: BackendKind,
    /// The output directory (created; a finished stage in it is reused).
    #[arg(long)]
    pub out: PathBuf,
    /// No progress bars.
    #[arg(long)]
    pub quiet: bool,
    /// Open report.html in the desktop's browser when the run ends.
    #[arg(long)]
    pub open: bool,
    /// A person's review of the labels (`review.json`, as the page's QA
    /// queue saves it; the run writes the queue, hardest first, to
    /// `review-queue.json`): labels.json, tracks.txt, training.zip and the
    /// video carry the reviewed labels. Earlier stages are reused; a fix
    /// that moves a box without a mask is segmented with --segmenter.
    #[arg(long)]
    pub review: Option<PathBuf>,
}

/// Files of a model directory that identify it.
#[derive(Debug, Clone, Serialize)]
struct ModelFiles {
    dir: String,
    config_sha256: String,
    weights_sha256: String,
    weights_bytes: u64,
}

impl ModelFiles {
    /// The files of a model directory whose `config.json` says `model_type`.
    fn of(dir: &Path, arg: &str, model_types: &[&str]) -> Result<Self> {
        let file = |name: &str| {
            let path = dir.join(name);
            if path.is_file() {
                Ok(path)
            } else {
                Err(format!(
                    "{arg} {}: no {name} (a Hugging Face model directory holds config.json and model.safetensors)",
                    dir.display()
                ))
            }
        };
        let (config, weights) = (file("config.json")?, file("model.safetensors")?);
        check_model_type(&config, arg, model_types)?;
        Ok(ModelFiles {
            dir: dir.display().to_string(),
            config_sha256: sha256_file(&config)?,
            weights_sha256: sha256_file(&weights)?,
            weights_bytes: std::fs::metadata(&weights)?.len(),
        })
    }
}

/// Refuses a model directory of another kind (a detector given as the
/// segmenter) before any work is done.
fn check_model_type(config: &Path, arg: &str, wants: &[&str]) -> Result<()> {
    let got = model_type(config, arg)?;
    if got.as_deref().is_some_and(|g| wants.contains(&g)) {
        return Ok(());
    }
    Err(format!(
        "{arg} {}: model_type {} is not {} (is this another model's directory?)",
        config.display(),
        got.map_or("missing".to_string(), |g| format!("'{g}'")),
        wants
            .iter()
            .map(|w| format!("'{w}'"))
            .collect::<Vec<_>>()
            .join(" or ")
    )
    .into())
}

/// The `model_type` of a `config.json`.
fn model_type(config: &Path, arg: &str) -> Result<Option<String>> {
    let bytes = std::fs::read(config).map_err(|e| format!("{arg} {}: {e}", config.display()))?;
    let value: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| format!("{arg} {}: not JSON: {e}", config.display()))?;
    Ok(value
        .get("model_type")
        .and_then(|v| v.as_str())
        .map(str::to_string))
}

/// The tracker's directory, if `--tracker` is given.
fn tracker_dir(args: &Args) -> Result<Option<PathBuf>> {
    args.tracker
        .as_deref()
        .map(|tracker| model_dir("--tracker", tracker, SEGMENTER_FILES).map_err(Into::into))
        .transpose()
}

/// `model_type` of a SAM 2 checkpoint with the video modules.
const VIDEO_MODEL_TYPE: &str = "sam2_video";

/// Everything a run was made from (`run.json`'s settings).
#[derive(Debug, Clone, Serialize)]
struct Settings {
    input: String,
    sampling: Sampling,
    ontology: Ontology,
    caption: String,
    detect: DetectSettings,
    segment: SegmentSettings,
    track: TrackSettings,
    eval: EvalConfig,
    training_size: String,
    device: String,
    detector: ModelFiles,
    segmenter: ModelFiles,
    /// The SAM 2 video checkpoint propagation runs with, if any.
    tracker: Option<ModelFiles>,
}

/// A stage's result and its measured time.
struct Timed<T> {
    value: T,
    seconds: f64,
    items: usize,
}

/// Runs `autolabel run`.
pub fn run(args: Args) -> Result<()> {
    let store = Store::open(&args.out)?;
    let classes = load_json_or(
        args.classes.as_deref(),
        "--classes",
        ClassMap::nuscenes_default,
    )?;
    classes.validate().map_err(|e| format!("--classes: {e}"))?;
    let ontology = args.detect.ontology()?;
    let caption = args.detect.caption(&ontology, &classes.classes)?;
    let detect = args.detect.settings()?;
    let detector_dir = model_dir("--detector", &args.detector, DETECTOR_FILES)?;
    let segmenter_dir = model_dir("--segmenter", &args.segmenter, SEGMENTER_FILES)?;
    let eval_config: EvalConfig = load_json_or(
        args.eval_config.as_deref(),
        "--eval-config",
        EvalConfig::default,
    )?;
    let mut input = open_input(&args, &classes)?;
    let sampling = Sampling {
        start: args.start,
        end: args.end,
        fps: args.fps,
        max_frames: args.max_frames,
        every: args.every,
    };
    let sampled = sampling
        .select(input.clip.infos())
        .map_err(|e| format!("{}: {e}", input.description))?;
    let settings = Settings {
        input: input.identity.clone(),
        sampling,
        ontology,
        caption: caption.text.clone(),
        detect,
        segment: SegmentSettings::default(),
        track: TrackSettings::default(),
        eval: eval_config,
        training_size: args.training_size.clone(),
        device: args.device.name().to_string(),
        detector: ModelFiles::of(&detector_dir, "--detector", &["grounding-dino", "owlv2"])?,
        segmenter: ModelFiles::of(&segmenter_dir, "--segmenter", &["sam2", VIDEO_MODEL_TYPE])?,
        tracker: tracker_dir(&args)?
            .map(|dir| ModelFiles::of(&dir, "--tracker", &[VIDEO_MODEL_TYPE]))
            .transpose()?,
    };
    let training_size = TrainingSize::parse(&args.training_size)
        .map_err(|e| format!("--training-size {}: {e}", args.training_size))?;
    say(&args, &format!("labelling {}", input.description));
    say(&args, &format!("caption: {:?}", caption.text));
    if let Some(anneal) = &settings.detect.anneal {
        let passes: Vec<String> = anneal
            .thresholds()?
            .iter()
            .map(|t| format!("{t:.2}"))
            .collect();
        say(
            &args,
            &format!("annealing: passes at box thresholds {}", passes.join(", ")),
        );
    }
    let keyframes = detection_frames(&sampled);
    let mut runner = Runner {
        args: &args,
        store: &store,
        settings: &settings,
        models: Models::default(),
    };
    let detections = runner.detect(&mut input, &caption, &keyframes)?;
    let masks = runner.segment(&mut input, &detections)?;
    let taken: Vec<usize> = sampled.iter().map(|s| s.index).collect();
    let tracks = runner.track(&mut input, &detections, &masks, &taken)?;
    let report = runner.report(
        &mut input,
        &classes,
        &detections,
        &masks,
        &tracks,
        sampled.len(),
    )?;
    let reviewed = review::reviewed(&mut runner, &mut input, &classes, &tracks.value)?;
    runner.export(
        &mut input,
        &classes,
        &tracks.value,
        reviewed.as_ref(),
        training_size,
    )?;
    write_run_json(&store, &settings, &report)?;
    let html = store.path("report.html");
    say(&args, &format!("done: {}", html.display()));
    if args.open {
        open_in_browser(&html);
    }
    Ok(())
}

/// `WIDTHxHEIGHT`, both at least 16 pixels.
pub fn parse_frame_size(text: &str) -> std::result::Result<(u32, u32), String> {
    let bad = || format!("'{text}': want WIDTHxHEIGHT, e.g. 640x360, each at least 16");
    let (w, h) = text.split_once(['x', 'X']).ok_or_else(bad)?;
    let (w, h): (u32, u32) = (w.parse().map_err(|_| bad())?, h.parse().map_err(|_| bad())?);
    if w < 16 || h < 16 {
        return Err(bad());
    }
    Ok((w, h))
}

/// Opens a file with the desktop's handler (`xdg-open`); says so when there
/// is none, as on a headless machine.
fn open_in_browser(path: &Path) {
    let opened = std::process::Command::new("xdg-open")
        .arg(path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !opened {
        eprintln!(
            "could not open a browser here: open {} yourself",
            path.display()
        );
    }
}

fn say(args: &Args, line: &str) {
    if !args.quiet {
        eprintln!("{line}");
    }
}

fn load_json_or<T: serde::de::DeserializeOwned>(
    path: Option<&Path>,
    arg: &str,
    default: impl FnOnce() -> T,
) -> Result<T> {
    let Some(path) = path else {
        return Ok(default());
    };
    let bytes = std::fs::read(path).map_err(|e| format!("{arg} {}: {e}", path.display()))?;
    Ok(serde_json::from_slice(&bytes).map_err(|e| format!("{arg} {}: {e}", path.display()))?)
}

fn open_input(args: &Args, classes: &ClassMap) -> Result<Input> {
    if let (Some(root), Some(scene)) = (&args.nuscenes, &args.scene) {
        let db = NuScenes::open(root, &args.version)
            .map_err(|e| format!("--nuscenes {}: {e}", root.display()))?;
        let source = Box::new(DirSource { root: root.clone() });
        return Ok(Input::nuscenes(
            &db,
            source,
            scene,
            &args.channel,
            None,
            classes,
        )?);
    }
    if let Some(path) = &args.clip {
        return Input::path(path, args.folder_fps)
            .map_err(|e| format!("--clip {}: {e}", path.display()).into());
    }
    if args.demo {
        let config = SceneConfig {
            frames: args.demo_frames,
            width: args.demo_size.0,
            height: args.demo_size.1,
            ..SceneConfig::demo()
        };
        return Ok(Input::demo(&config, classes)?);
    }
    Err("give a clip: --nuscenes DIR --scene NAME, --clip PATH or --demo".into())
}

/// Models, loaded the first time a stage needs one.
#[derive(Default)]
struct Models {
    detector: Option<DetectorModel>,
    segmenter: Option<Sam2ImagePredictor>,
}

struct Runner<'a> {
    args: &'a Args,
    store: &'a Store,
    settings: &'a Settings,
    models: Models,
}

impl Runner<'_> {
    fn detector(&mut self) -> Result<&DetectorModel> {
        if self.models.detector.is_none() {
            let dir = Path::new(&self.settings.detector.dir);
            let device = init_device(self.args.device)?;
            let detector = DetectorModel::from_dir(dir, &device)
                .map_err(|e| format!("--detector {}: {e}", dir.display()))?;
            self.models.detector = Some(detector);
        }
        self.models
            .detector
            .as_ref()
            .ok_or_else(|| "the detector did not load".into())
    }

    fn segmenter(&mut self) -> Result<&mut Sam2ImagePredictor> {
        if self.models.segmenter.is_none() {
            let dir = Path::new(&self.settings.segmenter.dir);
            let device = init_device(self.args.device)?;
            let model = Sam2Model::from_dir(dir, &device)
                .map_err(|e| format!("--segmenter {}: {e}", dir.display()))?;
            self.models.segmenter = Some(Sam2ImagePredictor::new(model));
        }
        self.models
            .segmenter
            .as_mut()
            .ok_or_else(|| "the segmenter did not load".into())
    }

    fn detect_key(&self) -> Result<String> {
        let s = self.settings;
        key_of(&(
            "detect",
            &s.input,
            &s.sampling,
            &s.ontology,
            &s.detect,
            &s.detector.weights_sha256,
            &s.detector.config_sha256,
            &s.device,
        ))
    }

    fn detect(
        &mut self,
        input: &mut Input,
        caption: &Caption,
        keyframes: &[usize],
    ) -> Result<Timed<DetectOutput>> {
        let key = self.detect_key()?;
        if let Some(done) = self.store.finished::<DetectOutput>("detections.json", &key) {
            say(self.args, "detect: reusing detections.json");
            return Ok(Timed {
                value: done.value,
                seconds: done.seconds,
                items: done.items,
            });
        }
        let mut checkpoint = self
            .store
            .checkpoint::<FrameOutcome<FrameDetections>>("detections.json", &key)?;
        let mut progress = Progress::new("detect", keyframes.len(), self.args.quiet);
        progress.resume(checkpoint.done.len(), checkpoint.seconds());
        let remaining = &keyframes[checkpoint.done.len().min(keyframes.len())..];
        if !remaining.is_empty() {
            let (args, settings) = (self.args, self.settings);
            let detector = self.detector()?;
            let runner = FrameDetector::new(
                detector,
                &settings.ontology,
                caption.clone(),
                settings.detect.clone(),
            )
            .map_err(|e| format!("--detector {}: {e}", args.detector))?;
            for &index in remaining {
                let start = Instant::now();
                let outcome = match frame_or_skip(&mut input.clip, index)? {
                    Ok(frame) => FrameOutcome::Done(runner.detect(&frame)?),
                    Err(skip) => skipped(&progress, "detect", skip),
                };
                let seconds = start.elapsed().as_secs_f64();
                checkpoint.push(outcome, seconds)?;
                progress.step(seconds);
            }
        }
        progress.finish();
        let seconds = checkpoint.seconds();
        let (frames, skipped) = split_outcomes(checkpoint.done.into_iter().map(|(f, _)| f));
        let output = DetectOutput {
            caption: caption.text.clone(),
            frames,
            skipped,
        };
        self.store
            .save_json("detections.json", &key, &output, seconds, keyframes.len())?;
        Ok(Timed {
            value: output,
            seconds,
            items: keyframes.len(),
        })
    }

    fn segment_key(&self) -> Result<String> {
        let s = self.settings;
        key_of(&(
            "segment",
            self.detect_key()?,
            &s.segment,
            &s.segmenter.weights_sha256,
            &s.segmenter.config_sha256,
        ))
    }

    fn segment(
        &mut self,
        input: &mut Input,
        detections: &Timed<DetectOutput>,
    ) -> Result<Timed<SegmentOutput>> {
        let key = self.segment_key()?;
        if let Some(done) = self.store.finished::<SegmentOutput>("masks.json", &key) {
            say(self.args, "segment: reusing masks.json");
            return Ok(Timed {
                value: done.value,
                seconds: done.seconds,
                items: done.items,
            });
        }
        let frames = &detections.value.frames;
        let mut checkpoint = self
            .store
            .checkpoint::<FrameOutcome<FrameMasks>>("masks.json", &key)?;
        let mut progress = Progress::new("segment", frames.len(), self.args.quiet);
        progress.resume(checkpoint.done.len(), checkpoint.seconds());
        let settings = self.settings.segment.clone();
        for dets in &frames[checkpoint.done.len().min(frames.len())..] {
            let start = Instant::now();
            let outcome = match frame_or_skip(&mut input.clip, dets.frame)? {
                Ok(frame) => {
                    FrameOutcome::Done(segment_frame(self.segmenter()?, &frame, dets, &settings)?)
                }
                Err(skip) => skipped(&progress, "segment", skip),
            };
            let seconds = start.elapsed().as_secs_f64();
            checkpoint.push(outcome, seconds)?;
            progress.step(seconds);
        }
        progress.finish();
        let seconds = checkpoint.seconds();
        let (masks, skipped) = split_outcomes(checkpoint.done.into_iter().map(|(f, _)| f));
        let output = SegmentOutput::new(masks).with_skipped(skipped);
        say(
            self.args,
            &format!(
                "segment: {} box(es) prompted with points (occlusion)",
                output.boxes_with_points
            ),
        );
        self.store
            .save_json("masks.json", &key, &output, seconds, frames.len())?;
        Ok(Timed {
            value: output,
            seconds,
            items: frames.len(),
        })
    }

    fn track_key(&self) -> Result<String> {
        let s = self.settings;
        let tracker = s
            .tracker
            .as_ref()
            .map(|t| (&t.weights_sha256, &t.config_sha256));
        key_of(&("track", self.segment_key()?, &s.track, tracker))
    }

    /// The track stage over the `taken` frames (clip indices).
    fn track(
        &mut self,
        input: &mut Input,
        detections: &Timed<DetectOutput>,
        masks: &Timed<SegmentOutput>,
        taken: &[usize],
    ) -> Result<Timed<TrackOutput>> {
        let key = self.track_key()?;
        if let Some(done) = self.store.finished::<TrackOutput>("tracks.json", &key) {
            say(self.args, "track: reusing tracks.json");
            return Ok(Timed {
                value: done.value,
                seconds: done.seconds,
                items: done.items,
            });
        }
        let (tracks, seconds, items) = match &self.settings.tracker {
            Some(files) => {
                // Frames that did not decode for detect or segment are not
                // tracked either; nor are those between them that do not.
                let before = skipped_frames(&[&detections.value.skipped, &masks.value.skipped]);
                let (frames, skipped) = frames_to_track(&mut input.clip, taken, &before)?;
                for skip in &skipped {
                    say(
                        self.args,
                        &format!("track: skipped frame {}: {}", skip.frame, skip.reason),
                    );
                }
                let (frames_tracked, seconds) =
                    self.propagate(input, masks, &frames, files, &key)?;
                let tracks = TrackOutput::propagated(frames_tracked, skipped);
                (tracks, seconds, frames.len())
            }
            None => {
                say(
                    self.args,
                    "track: tracks join the keyframes' masks \
                     (give --tracker a SAM 2 video checkpoint to carry masks through every frame)",
                );
                let start = Instant::now();
                let tracks = associate(&masks.value, &self.settings.track);
                let seconds = start.elapsed().as_secs_f64();
                (tracks, seconds, masks.value.frames.len())
            }
        };
        self.store
            .save_json("tracks.json", &key, &tracks, seconds, items)?;
        Ok(Timed {
            value: tracks,
            seconds,
            items,
        })
    }

    /// Propagation through every taken frame with SAM 2's video predictor,
    /// resumed from the tracker saved by a killed run with the same `key`;
    /// each frame's tracks and the stage's seconds.
    fn propagate(
        &mut self,
        input: &mut Input,
        masks: &Timed<SegmentOutput>,
        frames: &[usize],
        files: &ModelFiles,
        key: &str,
    ) -> Result<(Vec<FrameTracks>, f64)> {
        let dir = Path::new(&files.dir);
        let device = init_device(self.args.device)?;
        let model = Sam2VideoModel::from_dir(dir, &device)
            .map_err(|e| format!("--tracker {}: {e}", dir.display()))?;
        let mut checkpoint = self.store.checkpoint::<FrameTracks>("tracks.json", key)?;
        let mut tracker = self.resumed_tracker(&model, masks, frames, key)?;
        checkpoint.truncate(tracker.finished_frames())?;
        let mut progress = Progress::new("track", tracker.frames(), self.args.quiet);
        progress.resume(tracker.position(), checkpoint.seconds());
        let mut source = clip_source(&mut input.clip);
        let mut saver = Saver::default();
        let mut unassigned = 0.0;
        while !tracker.is_done() {
            let start = Instant::now();
            let finished = tracker.step(&model, &mut source)?;
            let seconds = start.elapsed().as_secs_f64();
            progress.step(seconds);
            unassigned += seconds;
            let share = unassigned / finished.len().max(1) as f64;
            for frame in finished {
                checkpoint.push(frame, share)?;
                unassigned = 0.0;
            }
            saver.maybe_save(&tracker, |bytes| {
                self.store.save_working_state("tracks.json", key, bytes)
            })?;
        }
        progress.finish();
        let seconds = checkpoint.seconds();
        let frames = checkpoint.done.into_iter().map(|(f, _)| f).collect();
        Ok((frames, seconds))
    }

    /// The tracker a killed run saved under `key`, or a new one.
    fn resumed_tracker(
        &self,
        model: &Sam2VideoModel,
        masks: &Timed<SegmentOutput>,
        frames: &[usize],
        key: &str,
    ) -> Result<Tracker> {
        let settings = self.settings.track.clone();
        let fresh = || Tracker::new(frames.to_vec(), &masks.value, settings.clone());
        let Some(bytes) = self.store.working_state("tracks.json", key) else {
            return Ok(fresh());
        };
        match Tracker::load(
            &bytes,
            model,
            frames.to_vec(),
            &masks.value,
            settings.clone(),
        ) {
            Ok(tracker) => {
                say(
                    self.args,
                    &format!(
                        "track: resuming at frame {} of {}",
                        tracker.position(),
                        tracker.frames()
                    ),
                );
                Ok(tracker)
            }
            Err(e) => {
                say(self.args, &format!("track: starting over ({e})"));
                Ok(fresh())
            }
        }
    }

    fn stage_timings(
        &self,
        detections: &Timed<DetectOutput>,
        masks: &Timed<SegmentOutput>,
        tracks: &Timed<TrackOutput>,
    ) -> Vec<StageTiming> {
        let time = |items, seconds| StageTime { items, seconds };
        stage_timings(
            &self.settings.device,
            time(detections.items, detections.seconds),
            time(masks.items, masks.seconds),
            self.settings
                .tracker
                .is_some()
                .then(|| time(tracks.items, tracks.seconds)),
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn report(
        &mut self,
        input: &mut Input,
        classes: &ClassMap,
        detections: &Timed<DetectOutput>,
        masks: &Timed<SegmentOutput>,
        timed_tracks: &Timed<TrackOutput>,
        frames: usize,
    ) -> Result<RunReport> {
        let stages = self.stage_timings(detections, masks, timed_tracks);
        let evaluation = evaluate_run(
            &detections.value,
            &timed_tracks.value,
            &EvaluateInputs {
                truth: input.truth.as_ref(),
                clip_frames: input.clip.len(),
                class_table: &classes.classes,
                config: &self.settings.eval,
                stages: &stages,
                skipped: &skipped_frames(&[
                    &detections.value.skipped,
                    &masks.value.skipped,
                    &timed_tracks.value.skipped,
                ]),
            },
        )?;
        store::write_atomic(&self.store.path("predictions.json"), &evaluation.results)?;
        store::write_atomic(
            &self.store.path("eval-config.json"),
            &pretty(&evaluation.config)?,
        )?;
        let report = run_report(
            &input.description,
            frames,
            &detections.value,
            &masks.value,
            &timed_tracks.value,
            &evaluation,
            stages,
        );
        store::write_atomic(&self.store.path("report.json"), &pretty(&report)?)?;
        let failures = evaluation.eval.as_ref().map(|(_, whole)| whole);
        let queue = review_queue(&timed_tracks.value, failures);
        store::write_atomic(&self.store.path("review-queue.json"), &pretty(&queue)?)?;
        let examples = analyse::example_crops(&mut input.clip, &report)?;
        let html = report_html(&report, self.settings, examples);
        store::write_atomic(&self.store.path("report.html"), html.as_bytes())?;
        Ok(report)
    }

    /// The files other tools read, of the reviewed labels when a review
    /// was given.
    fn export(
        &mut self,
        input: &mut Input,
        classes: &ClassMap,
        automatic: &TrackOutput,
        reviewed: Option<&Reviewed>,
        training_size: TrainingSize,
    ) -> Result<()> {
        let review_key = reviewed.map(|r| key_of(&r.tracks)).transpose()?;
        let key = key_of(&(
            "export",
            self.track_key()?,
            &self.settings.training_size,
            review_key,
        ))?;
        let infos = input.clip.infos();
        let (labels, tracks) = match reviewed {
            Some(r) => (
                outputs::reviewed_labels_dataset(r, infos, &classes.classes)?,
                &r.tracks,
            ),
            None => (
                outputs::labels_dataset(automatic, infos, &classes.classes)?,
                automatic,
            ),
        };
        for w in &labels.warnings {
            say(self.args, &format!("labels.json: {w}"));
        }
        store::write_atomic(&self.store.path("labels.json"), &pretty(&labels.dataset)?)?;
        store::write_atomic(
            &self.store.path("tracks.txt"),
            outputs::mot_lines(tracks).as_bytes(),
        )?;
        if !self.store.is_done("training.zip", &key) {
            let options = ZipOptions {
                size: training_size,
                jpeg_quality: 90,
            };
            let zip = outputs::training_archive(&mut input.clip, &labels.dataset, &options)?;
            self.store
                .save_bytes("training.zip", &key, &zip, 0.0, labels.dataset.images.len())?;
        }
        if !self.store.is_done("propagation.mp4", &key) {
            let video = propagation_video(input, tracks, self.args.quiet)?;
            self.store
                .save_bytes("propagation.mp4", &key, &video, 0.0, tracks.frames.len())?;
        }
        Ok(())
    }
}

/// When to save the tracker: whenever the work since the last save is ten
/// times what saving took, so that saving costs at most a tenth of the stage
/// and a kill loses little (a few MiB a save per object at 1024²).
#[derive(Default)]
struct Saver {
    since: Option<Instant>,
    cost: f64,
}

impl Saver {
    fn maybe_save(
        &mut self,
        tracker: &Tracker,
        save: impl FnOnce(&[u8]) -> Result<()>,
    ) -> Result<()> {
        let since = *self.since.get_or_insert_with(Instant::now);
        if tracker.is_done() || since.elapsed().as_secs_f64() < 10.0 * self.cost {
            return Ok(());
        }
        let start = Instant::now();
        save(&tracker.save()?)?;
        self.cost = start.elapsed().as_secs_f64();
        self.since = Some(Instant::now());
        Ok(())
    }
}

/// A frame `stage` skips, said on its own line of stderr (`--quiet` too).
fn skipped<T>(progress: &Progress, stage: &str, skip: SkippedFrame) -> FrameOutcome<T> {
    progress.line(&format!(
        "{stage}: skipped frame {}: {}",
        skip.frame, skip.reason
    ));
    FrameOutcome::Skipped(skip)
}

fn pretty<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    Ok(text.into_bytes())
}

#[derive(Serialize)]
struct RunRecord<'a> {
    autolabel_version: &'static str,
    settings: &'a Settings,
    stages: &'a [StageTiming],
    frames_per_s: Option<f64>,
}

fn write_run_json(store: &Store, settings: &Settings, report: &RunReport) -> Result<()> {
    let record = RunRecord {
        autolabel_version: env!("CARGO_PKG_VERSION"),
        settings,
        stages: &report.stages,
        frames_per_s: report.frames_per_s,
    };
    store::write_atomic(&store.path("run.json"), &pretty(&record)?)
}

/// The labelled frames with their tracks drawn, as an H.264 MP4 at the
/// labelled frames' own rate.
fn propagation_video(input: &mut Input, tracks: &TrackOutput, quiet: bool) -> Result<Vec<u8>> {
    let plan = outputs::video_plan(tracks, input.clip.infos())?;
    let mut writer = Mp4Writer::new(plan.width, plan.height, plan.fps)?;
    let mut progress = Progress::new("video", tracks.frames.len(), quiet);
    for f in &tracks.frames {
        let start = Instant::now();
        let mut frame = input.clip.frame(f.frame)?.rgb;
        outputs::draw_tracks(&mut frame, f);
        writer.push(&frame)?;
        progress.step(start.elapsed().as_secs_f64());
    }
    progress.finish();
    Ok(writer.finish()?)
}

/// `report.html`: the run's report with its settings and example crops.
fn report_html(
    report: &RunReport,
    settings: &Settings,
    examples: Vec<(FailureMode, Vec<u8>)>,
) -> String {
    let model = |m: &ModelFiles| format!("{} (sha256 {}…)", m.dir, &m.weights_sha256[..12]);
    let rows = vec![
        ("caption".to_string(), settings.caption.clone()),
        ("detector".to_string(), model(&settings.detector)),
        ("segmenter".to_string(), model(&settings.segmenter)),
        ("device".to_string(), settings.device.clone()),
        (
            "sampling".to_string(),
            serde_json::to_string(&settings.sampling).unwrap_or_default(),
        ),
        (
            "IoU threshold".to_string(),
            settings.eval.iou_threshold.to_string(),
        ),
    ];
    render(&analyse::report_view(report, rows, examples))
}
