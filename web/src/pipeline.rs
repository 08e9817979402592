//! The page's pipeline: one clip, the detector, the segmenter and (if
//! chosen) the tracker, and the
//! stages of `autolabel run` — detect → segment → track → evaluate → analyse
//! → export — advanced one step at a time, so that the worker can report
//! progress and cancel between steps.
//!
//! Every stage is the core's (`autolabel::pipeline`): the same functions, in
//! the same order, with the same settings as the CLI's `run`, so the page's
//! report is `autolabel run`'s report. This file only holds the stages'
//! outputs between calls and knows which ones a changed setting or model
//! invalidates. A stage's time is measured here (the browser's clock) and is
//! what the cost table's throughput uses.

use std::collections::BTreeMap;

use autolabel::data::classes::ClassMap;
use autolabel::data::synthetic::SceneConfig;
use autolabel::eval::EvalConfig;
use autolabel::eval::frames::FrameMatches;
use autolabel::export::archive::{TrainingSize, ZipOptions};
use autolabel::export::report_html::{StageTiming, render};
use autolabel::labels::Rle;
use autolabel::models::sam2::{Sam2ImagePredictor, Sam2VideoModel};
use autolabel::pipeline::analyse::{self, RunReport};
use autolabel::pipeline::anneal::AnnealSettings;
use autolabel::pipeline::detect::{DetectSettings, DetectorModel, FrameDetector};
use autolabel::pipeline::input::Input;
use autolabel::pipeline::outputs::VideoPlan;
use autolabel::pipeline::propagate::{Tracker, clip_source, frames_to_track};
use autolabel::pipeline::review::{
    self, Decision, Edit, Fix, LabelId, QueueItem, Review, ReviewSummary, Reviewed, fix_mask,
};
use autolabel::pipeline::run::{
    EvaluateInputs, Evaluation, StageProgress, StageTime, evaluate_run, run_report, skipped_frames,
    stage_timings,
};
use autolabel::pipeline::sampling::detection_frames;
use autolabel::pipeline::segment::{SegmentSettings, segment_frame};
use autolabel::pipeline::skipped::frame_or_skip;
use autolabel::pipeline::track::{TrackSettings, associate};
use autolabel::pipeline::{
    Caption, DetectOutput, FrameDetections, FrameMasks, FrameTracks, Ontology, Sampling,
    SegmentOutput, SkippedFrame, TrackOutput, outputs,
};
use serde::{Deserialize, Serialize};

/// The stages, in the order they run.
pub const STAGES: [&str; 6] = [
    "detect", "segment", "track", "evaluate", "analyse", "export",
];

/// What the Run panel sets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSettings {
    pub ontology: Ontology,
    /// Detect on every N-th frame taken (`None`: the keyframes).
    #[serde(default)]
    pub every: Option<usize>,
    #[serde(default)]
    pub max_frames: Option<usize>,
    /// Longest side (or `WIDTHxHEIGHT`) of the training ZIP's images.
    #[serde(default = "default_training_size")]
    pub training_size: String,
    /// Iterative confidence annealing instead of one detection pass.
    #[serde(default)]
    pub anneal: Option<AnnealSettings>,
}

fn default_training_size() -> String {
    "640".into()
}

/// What a configured run will do.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// The caption the detector reads (the ontology's phrases, normalised).
    pub caption: String,
    /// Frames taken, and the ones the detector runs on (clip indices).
    pub frames: Vec<usize>,
    pub keyframes: Vec<usize>,
}

/// One stage as the page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct StageView {
    pub stage: &'static str,
    /// `pending`, `running` (some items done) or `done`.
    pub status: &'static str,
    #[serde(flatten)]
    pub progress: StageProgress,
    /// Items per second and seconds left, at the rate so far.
    pub rate: Option<f64>,
    pub eta_seconds: Option<f64>,
}

/// The QA queue's state: see [`Pipeline::review_view`].
#[derive(Debug, Serialize)]
pub struct ReviewView<'a> {
    pub edits: &'a [Edit],
    pub summary: ReviewSummary,
    pub stages: Vec<StageView>,
}

/// The files a finished run offers.
pub struct Exports {
    pub labels_json: Vec<u8>,
    pub training_zip: Vec<u8>,
    pub report_html: String,
    /// Warnings of the COCO export (masks that became no polygon, …).
    pub warnings: Vec<String>,
}

/// A frame stage's outputs so far, the frames it skipped because they do
/// not decode, and its time.
#[derive(Clone, Serialize, Deserialize)]
struct Frames<T> {
    done: Vec<T>,
    skipped: Vec<SkippedFrame>,
    seconds: f64,
}

impl<T> Default for Frames<T> {
    fn default() -> Self {
        Frames {
            done: Vec::new(),
            skipped: Vec::new(),
            seconds: 0.0,
        }
    }
}

impl<T> Frames<T> {
    /// Frames this stage has finished: labelled or skipped.
    fn count(&self) -> usize {
        self.done.len() + self.skipped.len()
    }
}

/// What a run has made so far, kept in the browser's storage (OPFS) so that
/// a reloaded page takes it up ([`Pipeline::saved_run`],
/// [`Pipeline::resume`]): the settings and every frame stage's outputs.
/// Evaluate, analyse and export are made again from them (milliseconds).
/// The tracker in the middle of propagation is saved apart, as bytes
/// ([`Pipeline::saved_tracker`]).
#[derive(Serialize, Deserialize)]
pub struct SavedRun {
    settings: RunSettings,
    /// Which frames the detector runs on: a resumed run must plan the same.
    keyframes: Vec<usize>,
    detect: Frames<FrameDetections>,
    segment: Frames<FrameMasks>,
    /// Propagation's frames so far; once `tracks` is made, its time only
    /// (the frames are `tracks`' own, not kept twice).
    track: Frames<FrameTracks>,
    tracks: Option<TrackOutput>,
    /// Frames left out of propagation under way (they do not decode).
    propagation_skipped: Option<Vec<SkippedFrame>>,
    class_score_thresholds: BTreeMap<String, f64>,
    review: Review,
}

/// A settings-checked run: the plan and the stage outputs made under it.
struct Configured {
    settings: RunSettings,
    caption: Caption,
    plan: Plan,
    training_size: TrainingSize,
}

/// A model with the name the report gives it.
struct Named<T> {
    model: T,
    name: String,
}

/// The clip, the models and the outputs of the stages run so far.
pub struct Pipeline {
    input: Input,
    frame_size: (u32, u32),
    classes: ClassMap,
    device: String,
    detector: Option<Named<DetectorModel>>,
    segmenter: Option<Named<Sam2ImagePredictor>>,
    /// SAM 2's video predictor; without it tracks join the keyframes' masks.
    tracker: Option<Named<Sam2VideoModel>>,
    configured: Option<Configured>,
    detect: Frames<FrameDetections>,
    segment: Frames<FrameMasks>,
    /// Propagation under way, and the frames it has finished.
    propagation: Option<Propagation>,
    track: Frames<FrameTracks>,
    tracks: Option<TrackOutput>,
    eval_config: EvalConfig,
    evaluation: Option<Evaluation>,
    report: Option<RunReport>,
    /// A person's decisions on the labels (the QA queue), and the labels
    /// they give (`None`: no decision yet).
    review: Review,
    reviewed: Option<Reviewed>,
    exports: Option<Exports>,
}

/// Propagation under way: the tracker, and the frames left out of it
/// because they do not decode.
struct Propagation {
    tracker: Tracker,
    skipped: Vec<SkippedFrame>,
}

/// The reviewed labels after a review, the tracks otherwise.
fn labels_of<'a>(
    reviewed: &'a Option<Reviewed>,
    tracks: &'a Option<TrackOutput>,
) -> Option<&'a TrackOutput> {
    match reviewed {
        Some(r) => Some(&r.tracks),
        None => tracks.as_ref(),
    }
}

fn nothing_to_review() -> String {
    "run the pipeline first: there are no labels to review".to_string()
}

fn not_configured() -> String {
    "the run is not configured: set the ontology and press Run".to_string()
}

/// The width and height of `input`'s first frame that decodes.
fn first_frame_size(input: &mut Input) -> Result<(u32, u32), String> {
    let mut last_skip = None;
    for index in 0..input.clip.len() {
        match frame_or_skip(&mut input.clip, index).map_err(|e| e.to_string())? {
            Ok(frame) => return Ok(frame.rgb.dimensions()),
            Err(skip) => last_skip = Some(skip.reason),
        }
    }
    Err(match last_skip {
        Some(reason) => format!(
            "{}: no frame decodes (the last one: {reason})",
            input.description
        ),
        None => format!("{}: it has no frames", input.description),
    })
}

/// Seconds on a clock that only moves forward (the browser's in wasm).
pub fn now_seconds() -> f64 {
    #[cfg(target_arch = "wasm32")]
    {
        js_sys::Date::now() / 1000.0
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        use std::time::{SystemTime, UNIX_EPOCH};
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64())
    }
}

impl Pipeline {
    /// The demo scene (`config`) with its ground truth; `device` names where
    /// the models run, for the report's timings.
    pub fn demo(config: &SceneConfig, device: &str) -> Result<Self, String> {
        let classes = ClassMap::nuscenes_default();
        let input = Input::demo(config, &classes).map_err(|e| e.to_string())?;
        Ok(Self::new(
            input,
            (config.width, config.height),
            classes,
            device,
        ))
    }

    /// Any clip (a dropped frame folder, a nuScenes scene): its frame size
    /// is its first decodable frame's; a clip with no frame that decodes is
    /// refused, naming the last frame tried and why.
    pub fn open(mut input: Input, classes: ClassMap, device: &str) -> Result<Self, String> {
        let frame_size = first_frame_size(&mut input)?;
        Ok(Self::new(input, frame_size, classes, device))
    }

    fn new(input: Input, frame_size: (u32, u32), classes: ClassMap, device: &str) -> Self {
        Pipeline {
            input,
            frame_size,
            classes,
            device: device.to_string(),
            detector: None,
            segmenter: None,
            configured: None,
            detect: Frames::default(),
            segment: Frames::default(),
            tracker: None,
            propagation: None,
            track: Frames::default(),
            tracks: None,
            eval_config: EvalConfig::default(),
            evaluation: None,
            report: None,
            review: Review::default(),
            reviewed: None,
            exports: None,
        }
    }

    /// Replaces the detector: detections (and all after) are made again.
    pub fn set_detector(&mut self, model: DetectorModel, name: &str) {
        self.detector = Some(Named {
            model,
            name: name.to_string(),
        });
        self.forget_from(0);
    }

    /// Replaces the segmenter: masks (and all after) are made again.
    pub fn set_segmenter(&mut self, model: Sam2ImagePredictor, name: &str) {
        self.segmenter = Some(Named {
            model,
            name: name.to_string(),
        });
        self.forget_from(1);
    }

    /// Sets or clears the tracker: tracks (and all after) are made again.
    pub fn set_tracker(&mut self, model: Option<Sam2VideoModel>, name: &str) {
        self.tracker = model.map(|model| Named {
            model,
            name: name.to_string(),
        });
        self.forget_from(2);
    }

    /// Checks `settings` and plans the run. The stages a change affects are
    /// forgotten (a new ontology or sampling re-detects; a new training size
    /// re-exports); unchanged ones are kept, so Run after Cancel continues.
    pub fn configure(&mut self, settings: RunSettings) -> Result<Plan, String> {
        let caption = settings
            .ontology
            .caption(&self.classes.classes)
            .map_err(|e| format!("ontology: {e}"))?;
        let sampling = Sampling {
            max_frames: settings.max_frames,
            every: settings.every,
            ..Sampling::default()
        };
        let sampled = sampling
            .select(self.input.clip.infos())
            .map_err(|e| format!("{}: {e}", self.input.description))?;
        let training_size = TrainingSize::parse(&settings.training_size)
            .map_err(|e| format!("training size '{}': {e}", settings.training_size))?;
        if let Some(anneal) = &settings.anneal {
            anneal.check().map_err(|e| format!("annealing: {e}"))?;
        }
        let plan = Plan {
            caption: caption.text.clone(),
            frames: sampled.iter().map(|s| s.index).collect(),
            keyframes: detection_frames(&sampled),
        };
        if let Some(old) = &self.configured {
            let same_detection = old.settings.ontology == settings.ontology
                && old.settings.anneal == settings.anneal
                && old.settings.every == settings.every
                && old.settings.max_frames == settings.max_frames;
            if !same_detection {
                self.forget_from(0);
            } else if old.settings.training_size != settings.training_size {
                self.forget_from(5);
            }
        }
        self.configured = Some(Configured {
            settings,
            caption,
            plan: plan.clone(),
            training_size,
        });
        Ok(plan)
    }

    /// Drops the outputs of stage `first` (an index in [`STAGES`]) and every
    /// later one.
    fn forget_from(&mut self, first: usize) {
        let forget = |stage: &str| STAGES[first..].contains(&stage);
        if forget("detect") {
            self.detect = Frames::default();
        }
        if forget("segment") {
            self.segment = Frames::default();
        }
        if forget("track") {
            self.propagation = None;
            self.track = Frames::default();
            self.tracks = None;
            self.review = Review::default();
            self.reviewed = None;
        }
        if forget("evaluate") {
            self.evaluation = None;
        }
        if forget("analyse") {
            self.report = None;
        }
        self.exports = None;
    }

    /// Each stage's progress.
    pub fn stages(&self) -> Vec<StageView> {
        let keyframes = self
            .configured
            .as_ref()
            .map_or(0, |c| c.plan.keyframes.len());
        let progress = [
            (self.detect.count(), keyframes, self.detect.seconds),
            (
                self.segment.count(),
                keyframes.saturating_sub(self.detect.skipped.len()),
                self.segment.seconds,
            ),
            self.track_progress(),
            (usize::from(self.evaluation.is_some()), 1, 0.0),
            (usize::from(self.report.is_some()), 1, 0.0),
            (usize::from(self.exports.is_some()), 1, 0.0),
        ];
        STAGES
            .iter()
            .zip(progress)
            .enumerate()
            .map(|(k, (&stage, (done, total, seconds)))| {
                let p = StageProgress {
                    done,
                    total,
                    seconds,
                };
                let finished = self.stage_finished(k);
                StageView {
                    stage,
                    status: if finished {
                        "done"
                    } else if done > 0 {
                        "running"
                    } else {
                        "pending"
                    },
                    rate: p.rate(),
                    eta_seconds: p.eta_seconds(),
                    progress: p,
                }
            })
            .collect()
    }

    /// Frames tracked of all, and their seconds (with propagation; one step
    /// otherwise).
    fn track_progress(&self) -> (usize, usize, f64) {
        match (&self.tracker, &self.configured) {
            (Some(_), Some(c)) if self.tracks.is_none() => (
                self.track.done.len(),
                c.plan.frames.len(),
                self.track.seconds,
            ),
            (Some(_), Some(c)) => (c.plan.frames.len(), c.plan.frames.len(), self.track.seconds),
            _ => (usize::from(self.tracks.is_some()), 1, 0.0),
        }
    }

    fn detect_finished(&self) -> bool {
        self.configured
            .as_ref()
            .is_some_and(|c| self.detect.count() == c.plan.keyframes.len())
    }

    fn stage_finished(&self, k: usize) -> bool {
        match k {
            0 => self.detect_finished(),
            1 => self.detect_finished() && self.segment.count() == self.detect.done.len(),
            2 => self.tracks.is_some(),
            3 => self.evaluation.is_some(),
            4 => self.report.is_some(),
            _ => self.exports.is_some(),
        }
    }

    /// The first stage not finished (`None`: the run is done).
    pub fn current_stage(&self) -> Option<usize> {
        (0..STAGES.len()).find(|&k| !self.stage_finished(k))
    }

    /// Does one step of the first unfinished stage — one frame of detect or
    /// segment, a whole later stage — and says which stage it was (`None`:
    /// nothing was left to do).
    pub fn step(&mut self) -> Result<Option<&'static str>, String> {
        let Some(k) = self.current_stage() else {
            return Ok(None);
        };
        match k {
            0 => self.detect_next()?,
            1 => self.segment_next()?,
            2 => self.track_next()?,
            3 => self.evaluate()?,
            4 => self.analyse(),
            _ => self.export()?,
        }
        Ok(Some(STAGES[k]))
    }

    fn detect_next(&mut self) -> Result<(), String> {
        let configured = self.configured.as_ref().ok_or_else(not_configured)?;
        let detector = self
            .detector
            .as_ref()
            .ok_or("no detector: choose a Grounding DINO or OWLv2 checkpoint in the Run panel")?;
        let index = configured.plan.keyframes[self.detect.count()];
        let frame = match frame_or_skip(&mut self.input.clip, index).map_err(|e| e.to_string())? {
            Ok(frame) => frame,
            Err(skip) => {
                self.detect.skipped.push(skip);
                return Ok(());
            }
        };
        let runner = FrameDetector::new(
            &detector.model,
            &configured.settings.ontology,
            configured.caption.clone(),
            DetectSettings {
                anneal: configured.settings.anneal,
                ..DetectSettings::default()
            },
        )
        .map_err(|e| format!("detector {}: {e}", detector.name))?;
        // Model time only, as `autolabel run` measures it.
        let start = now_seconds();
        let found = runner.detect(&frame).map_err(|e| e.to_string())?;
        self.detect.seconds += now_seconds() - start;
        self.detect.done.push(found);
        Ok(())
    }

    fn segment_next(&mut self) -> Result<(), String> {
        let segmenter = self
            .segmenter
            .as_mut()
            .ok_or("no segmenter: choose a SAM 2 checkpoint in the Run panel")?;
        let detections = &self.detect.done[self.segment.count()];
        let frame = match frame_or_skip(&mut self.input.clip, detections.frame)
            .map_err(|e| e.to_string())?
        {
            Ok(frame) => frame,
            Err(skip) => {
                self.segment.skipped.push(skip);
                return Ok(());
            }
        };
        let start = now_seconds();
        let masks = segment_frame(
            &mut segmenter.model,
            &frame,
            detections,
            &SegmentSettings::default(),
        )
        .map_err(|e| format!("segmenter {}: {e}", segmenter.name))?;
        self.segment.seconds += now_seconds() - start;
        self.segment.done.push(masks);
        Ok(())
    }

    fn detect_output(&self) -> DetectOutput {
        DetectOutput {
            caption: self
                .configured
                .as_ref()
                .map_or_else(String::new, |c| c.caption.text.clone()),
            frames: self.detect.done.clone(),
            skipped: self.detect.skipped.clone(),
        }
    }

    fn segment_output(&self) -> SegmentOutput {
        SegmentOutput::new(self.segment.done.clone()).with_skipped(self.segment.skipped.clone())
    }

    /// One frame of propagation with a tracker; without one, tracks join
    /// the keyframes' masks in one step.
    fn track_next(&mut self) -> Result<(), String> {
        let Some(tracker) = &self.tracker else {
            self.tracks = Some(associate(&self.segment_output(), &TrackSettings::default()));
            return Ok(());
        };
        if self.propagation.is_none() {
            let configured = self.configured.as_ref().ok_or_else(not_configured)?;
            let skipped_before = skipped_frames(&[&self.detect.skipped, &self.segment.skipped]);
            let (frames, skipped) = frames_to_track(
                &mut self.input.clip,
                &configured.plan.frames,
                &skipped_before,
            )
            .map_err(|e| format!("track: {e}"))?;
            let masks = self.segment_output();
            let tracker = Tracker::new(frames, &masks, TrackSettings::default());
            self.propagation = Some(Propagation { tracker, skipped });
        }
        let propagation = self.propagation.as_mut().ok_or("track has not started")?;
        let mut source = clip_source(&mut self.input.clip);
        let start = now_seconds();
        let finished = propagation
            .tracker
            .step(&tracker.model, &mut source)
            .map_err(|e| format!("tracker {}: {e}", tracker.name))?;
        self.track.seconds += now_seconds() - start;
        self.track.done.extend(finished);
        if propagation.tracker.is_done() {
            let skipped = std::mem::take(&mut propagation.skipped);
            self.tracks = Some(TrackOutput::propagated(self.track.done.clone(), skipped));
            self.propagation = None;
        }
        Ok(())
    }

    fn timings(&self) -> Vec<StageTiming> {
        let time = |frames: &dyn Fn() -> usize, seconds| StageTime {
            items: frames(),
            seconds,
        };
        stage_timings(
            &self.device,
            time(&|| self.detect.count(), self.detect.seconds),
            time(&|| self.segment.count(), self.segment.seconds),
            self.tracker
                .is_some()
                .then(|| time(&|| self.track.done.len(), self.track.seconds)),
        )
    }

    fn evaluate(&mut self) -> Result<(), String> {
        let tracks = self.tracks.as_ref().ok_or("track has not run")?;
        let stages = self.timings();
        let detections = self.detect_output();
        let evaluation = evaluate_run(
            &detections,
            tracks,
            &EvaluateInputs {
                truth: self.input.truth.as_ref(),
                clip_frames: self.input.clip.len(),
                class_table: &self.classes.classes,
                config: &self.eval_config,
                stages: &stages,
                skipped: &skipped_frames(&[
                    &detections.skipped,
                    &self.segment_output().skipped,
                    &tracks.skipped,
                ]),
            },
        )
        .map_err(|e| format!("evaluate: {e}"))?;
        self.evaluation = Some(evaluation);
        Ok(())
    }

    fn analyse(&mut self) {
        let (Some(tracks), Some(evaluation)) = (&self.tracks, &self.evaluation) else {
            return;
        };
        let frames = self.configured.as_ref().map_or(0, |c| c.plan.frames.len());
        self.report = Some(run_report(
            &self.input.description,
            frames,
            &self.detect_output(),
            &self.segment_output(),
            tracks,
            evaluation,
            self.timings(),
        ));
    }

    fn export(&mut self) -> Result<(), String> {
        let configured = self.configured.as_ref().ok_or_else(not_configured)?;
        let tracks = self.tracks.as_ref().ok_or("track has not run")?;
        let report = self.report.as_ref().ok_or("analyse has not run")?;
        let infos = self.input.clip.infos();
        let labels = match &self.reviewed {
            Some(r) => outputs::reviewed_labels_dataset(r, infos, &self.classes.classes),
            None => outputs::labels_dataset(tracks, infos, &self.classes.classes),
        }
        .map_err(|e| format!("labels.json: {e}"))?;
        let options = ZipOptions {
            size: configured.training_size,
            jpeg_quality: 90,
        };
        let training_zip =
            outputs::training_archive(&mut self.input.clip, &labels.dataset, &options)
                .map_err(|e| format!("training.zip: {e}"))?;
        let mut labels_json =
            serde_json::to_vec_pretty(&labels.dataset).map_err(|e| format!("labels.json: {e}"))?;
        labels_json.push(b'\n');
        let examples =
            analyse::example_crops(&mut self.input.clip, report).map_err(|e| e.to_string())?;
        let rows = self.settings_rows(configured);
        let report_html = render(&analyse::report_view(report, rows, examples));
        self.exports = Some(Exports {
            labels_json,
            training_zip,
            report_html,
            warnings: labels.warnings,
        });
        Ok(())
    }

    fn settings_rows(&self, configured: &Configured) -> Vec<(String, String)> {
        let name = |n: Option<&str>| n.unwrap_or("none").to_string();
        vec![
            ("caption".into(), configured.caption.text.clone()),
            (
                "detector".into(),
                name(self.detector.as_ref().map(|d| d.name.as_str())),
            ),
            (
                "segmenter".into(),
                name(self.segmenter.as_ref().map(|s| s.name.as_str())),
            ),
            (
                "tracker".into(),
                name(self.tracker.as_ref().map(|t| t.name.as_str())),
            ),
            ("device".into(), self.device.clone()),
            (
                "sampling".into(),
                format!(
                    "every {} · max frames {}",
                    configured
                        .settings
                        .every
                        .map_or("keyframe".into(), |n| n.to_string()),
                    configured
                        .settings
                        .max_frames
                        .map_or("all".into(), |n| n.to_string())
                ),
            ),
            (
                "IoU threshold".into(),
                self.eval_config.iou_threshold.to_string(),
            ),
        ]
    }

    /// What the clip is (`demo:…`, `folder:…`, `nuscenes:…`): the key of
    /// its saved run.
    pub fn identity(&self) -> &str {
        &self.input.identity
    }

    /// The size of the clip's frames (its first decodable frame's).
    pub fn frame_size(&self) -> (u32, u32) {
        self.frame_size
    }

    /// Frame `index` with its tracked objects drawn by the core (mask tint,
    /// box, class and track id — the propagation video's frames); `None`
    /// before tracking or on a frame without labels.
    pub fn labelled_frame(&mut self, index: usize) -> Result<Option<image::RgbImage>, String> {
        let Some(labels) = labels_of(&self.reviewed, &self.tracks)
            .and_then(|t| t.frames.iter().find(|f| f.frame == index))
        else {
            return Ok(None);
        };
        let mut rgb = self.input.clip.frame(index).map_err(|e| e.to_string())?.rgb;
        outputs::draw_tracks(&mut rgb, labels);
        Ok(Some(rgb))
    }

    /// `tracks.txt` (MOTChallenge), once track has run.
    pub fn mot_tracks(&self) -> Option<String> {
        self.labels().map(outputs::mot_lines)
    }

    /// The labels the outputs carry: the reviewed ones after a review, the
    /// tracks otherwise (`None` before track).
    fn labels(&self) -> Option<&TrackOutput> {
        labels_of(&self.reviewed, &self.tracks)
    }

    /// The propagation video's frames and rate, once track has run.
    pub fn video_plan(&self) -> Result<Option<VideoPlan>, String> {
        self.labels()
            .map(|t| outputs::video_plan(t, self.input.clip.infos()).map_err(|e| e.to_string()))
            .transpose()
    }

    /// What the evaluation made of each object on frame `index` (TP, FP,
    /// missed), once evaluate has run on a frame with ground truth.
    pub fn frame_matches(&self, index: usize) -> Option<&FrameMatches> {
        self.evaluation
            .as_ref()?
            .frames
            .iter()
            .find(|f| f.image_id == index as i64)
    }

    /// The report, once analyse has run.
    pub fn report(&self) -> Option<&RunReport> {
        self.report.as_ref()
    }

    /// `predictions.json` and `eval-config.json` of the evaluate stage.
    pub fn evaluation(&self) -> Option<&Evaluation> {
        self.evaluation.as_ref()
    }

    /// The exported files, once export has run.
    pub fn exports(&self) -> Option<&Exports> {
        self.exports.as_ref()
    }

    /// Evaluates again with these per-class score thresholds (class name →
    /// threshold; an empty map: every prediction counts) — no detection or
    /// segmentation runs again — and remakes the report. Exports made before
    /// are dropped: report.html carries the numbers.
    pub fn set_class_thresholds(
        &mut self,
        thresholds: BTreeMap<String, f64>,
    ) -> Result<&RunReport, String> {
        if let Some((class, t)) = thresholds
            .iter()
            .find(|(_, t)| !(t.is_finite() && (0.0..=1.0).contains(*t)))
        {
            return Err(format!("threshold of '{class}': {t} is not in [0, 1]"));
        }
        if let Some(class) = thresholds
            .keys()
            .find(|c| !self.classes.classes.contains(c))
        {
            return Err(format!(
                "threshold of '{class}': no such class (classes: {})",
                self.classes.classes.join(", ")
            ));
        }
        if self.tracks.is_none() {
            return Err("run the pipeline first: nothing is evaluated yet".into());
        }
        self.eval_config.class_score_thresholds = thresholds;
        self.forget_from(3);
        self.evaluate()?;
        self.analyse();
        self.report
            .as_ref()
            .ok_or_else(|| "analyse did not run".to_string())
    }

    /// What the run has made so far (`None` before Run).
    pub fn saved_run(&self) -> Option<SavedRun> {
        let configured = self.configured.as_ref()?;
        Some(SavedRun {
            settings: configured.settings.clone(),
            keyframes: configured.plan.keyframes.clone(),
            detect: self.detect.clone(),
            segment: self.segment.clone(),
            track: match &self.tracks {
                Some(_) => Frames {
                    done: Vec::new(),
                    skipped: self.track.skipped.clone(),
                    seconds: self.track.seconds,
                },
                None => self.track.clone(),
            },
            tracks: self.tracks.clone(),
            propagation_skipped: self.propagation.as_ref().map(|p| p.skipped.clone()),
            class_score_thresholds: self.eval_config.class_score_thresholds.clone(),
            review: self.review.clone(),
        })
    }

    /// The tracker in the middle of propagation, as bytes (`None` when
    /// propagation is not under way).
    pub fn saved_tracker(&self) -> Result<Option<Vec<u8>>, String> {
        self.propagation
            .as_ref()
            .map(|p| {
                p.tracker
                    .save()
                    .map_err(|e| format!("saving the tracker: {e}"))
            })
            .transpose()
    }

    /// Takes up a saved run, with the same clip and models loaded: its
    /// settings are configured, its stage outputs put back (the tracker too,
    /// from `tracker`, when propagation was under way); Run goes on from
    /// there. Returns the plan.
    pub fn resume(&mut self, saved: SavedRun, tracker: Option<&[u8]>) -> Result<Plan, String> {
        let plan = self.configure(saved.settings)?;
        if plan.keyframes != saved.keyframes {
            return Err(format!(
                "the saved run detected on frames {:?}, this clip plans {:?}: not the same clip",
                saved.keyframes, plan.keyframes
            ));
        }
        self.forget_from(0);
        self.detect = saved.detect;
        self.segment = saved.segment;
        self.track = saved.track;
        if let (Some(tracks), Some(_)) = (&saved.tracks, &self.tracker) {
            // Propagated tracks are propagation's frames.
            self.track.done = tracks.frames.clone();
        }
        self.tracks = saved.tracks;
        self.eval_config.class_score_thresholds = saved.class_score_thresholds;
        if let (Some(skipped), Some(bytes)) = (saved.propagation_skipped, tracker) {
            self.propagation = Some(self.loaded_propagation(bytes, skipped, &plan)?);
        }
        if self.tracks.is_some() {
            self.review = saved.review;
            self.apply_review()?;
        }
        Ok(plan)
    }

    fn loaded_propagation(
        &self,
        bytes: &[u8],
        skipped: Vec<SkippedFrame>,
        plan: &Plan,
    ) -> Result<Propagation, String> {
        let model = self
            .tracker
            .as_ref()
            .ok_or("the saved run was propagating: choose its tracker checkpoint")?;
        let before = skipped_frames(&[&self.detect.skipped, &self.segment.skipped]);
        let frames: Vec<usize> = plan
            .frames
            .iter()
            .copied()
            .filter(|f| before.iter().chain(&skipped).all(|s| s.frame != *f))
            .collect();
        let tracker = Tracker::load(
            bytes,
            &model.model,
            frames,
            &self.segment_output(),
            TrackSettings::default(),
        )
        .map_err(|e| format!("the saved tracker: {e}"))?;
        Ok(Propagation { tracker, skipped })
    }

    /// The QA queue: every label of the run, hardest first (the
    /// evaluation's failure cases, then the least certain), once track has
    /// run.
    pub fn review_queue(&self) -> Result<Vec<QueueItem>, String> {
        let tracks = self.tracks.as_ref().ok_or_else(nothing_to_review)?;
        let failures = self
            .evaluation
            .as_ref()
            .and_then(|e| e.eval.as_ref())
            .map(|(_, whole)| whole);
        Ok(review::queue(tracks, failures))
    }

    /// The decisions made so far (`review.json`).
    pub fn review(&self) -> &Review {
        &self.review
    }

    /// What the QA queue shows besides the queue: the decisions, their
    /// counts and the stages (export is made again after a decision).
    pub fn review_view(&self) -> ReviewView<'_> {
        ReviewView {
            edits: &self.review.edits,
            summary: self
                .reviewed
                .as_ref()
                .map(|r| r.summary)
                .unwrap_or_default(),
            stages: self.stages(),
        }
    }

    /// Records a decision on one label — a fix that moves the box is
    /// segmented first, by the segmenter on the label's frame, from the box
    /// and the fix's points — and makes the labels the viewer draws and the
    /// exports carry follow it (the exports are made again on download).
    pub fn decide(&mut self, mut edit: Edit) -> Result<ReviewSummary, String> {
        let tracks = self.tracks.as_ref().ok_or_else(nothing_to_review)?;
        edit.check(tracks, &self.classes.classes)
            .map_err(|e| e.to_string())?;
        if let Some(fix) = edit.fix_to_segment(tracks).cloned() {
            let mask = self.segment_fix(edit.label(), &fix)?;
            if let Decision::Fix(fix) = &mut edit.decision {
                fix.mask = Some(mask);
            }
        }
        let tracks = self.tracks.as_ref().ok_or_else(nothing_to_review)?;
        self.review
            .decide(edit, tracks, &self.classes.classes)
            .map_err(|e| e.to_string())?;
        self.apply_review()
    }

    /// Forgets the decision on `label`.
    pub fn undo(&mut self, label: LabelId) -> Result<ReviewSummary, String> {
        self.review.undo(label);
        self.apply_review()
    }

    /// Takes up a saved review (a `review.json` downloaded before) in place
    /// of the decisions made here; its fixes without a mask are segmented.
    pub fn load_review(&mut self, mut review: Review) -> Result<ReviewSummary, String> {
        let tracks = self.tracks.as_ref().ok_or_else(nothing_to_review)?;
        review
            .check(tracks, &self.classes.classes)
            .map_err(|e| e.to_string())?;
        for (label, fix) in review.unsegmented(tracks) {
            let mask = self.segment_fix(label, &fix)?;
            review.set_mask(label, mask);
        }
        self.review = review;
        self.apply_review()
    }

    fn segment_fix(&mut self, label: LabelId, fix: &Fix) -> Result<Rle, String> {
        let segmenter = self
            .segmenter
            .as_mut()
            .ok_or("no segmenter: choose a SAM 2 checkpoint in the Run panel to fix a mask")?;
        let frame = self
            .input
            .clip
            .frame(label.frame)
            .map_err(|e| format!("{label}: {e}"))?;
        fix_mask(&mut segmenter.model, &frame, fix)
            .map_err(|e| format!("{label}: segmenter {}: {e}", segmenter.name))
    }

    fn apply_review(&mut self) -> Result<ReviewSummary, String> {
        let tracks = self.tracks.as_ref().ok_or_else(nothing_to_review)?;
        let reviewed = self.review.apply(tracks).map_err(|e| e.to_string())?;
        let summary = reviewed.summary;
        self.reviewed = (!self.review.edits.is_empty()).then_some(reviewed);
        self.exports = None;
        Ok(summary)
    }
}

#[cfg(target_arch = "wasm32")]
pub use session::PipelineSession;

#[cfg(target_arch = "wasm32")]
mod session {
    use std::collections::BTreeMap;

    use autolabel::data::classes::ClassMap;
    use autolabel::data::nuscenes::NuScenes;
    use autolabel::data::synthetic::SceneConfig;
    use autolabel::models::device::cpu_device;
    use autolabel::models::sam2::{Sam2VideoConfig, Sam2VideoModel};
    use autolabel::pipeline::input::Input;
    use wasm_bindgen::prelude::*;

    use autolabel::pipeline::review::{Edit, LabelId, Review};

    use super::{Pipeline, RunSettings, SavedRun};
    use crate::page_files::PageFiles;
    use crate::video::{BrowserVideo, VideoBridge};
    use crate::{NuScenesFiles, checkpoint, js_error, to_js};

    /// Where the models run, for the report: the CPU build and its threads.
    fn device_name() -> String {
        let threads = rayon::current_num_threads();
        format!(
            "browser CPU (wasm, {threads} thread{})",
            if threads == 1 { "" } else { "s" }
        )
    }

    /// The default ontology (the seven seed classes) as JSON, for the editor.
    #[wasm_bindgen(js_name = seedOntology)]
    pub fn seed_ontology() -> Result<String, JsError> {
        serde_json::to_string(&autolabel::pipeline::Ontology::seed()).map_err(js_error)
    }

    /// An ontology file's text read as the CLI reads `--ontology` (defaults
    /// filled in, unknown fields refused) or, a `.jsonl` `name`,
    /// `--noun-chunks`; returned as JSON.
    #[wasm_bindgen(js_name = parseOntology)]
    pub fn parse_ontology(text: &str, name: &str) -> Result<String, JsError> {
        let ontology =
            autolabel::pipeline::Ontology::from_file_text(name, text).map_err(js_error)?;
        serde_json::to_string(&ontology).map_err(js_error)
    }

    /// The page's pipeline (see [`Pipeline`]): the pipeline worker holds one.
    #[wasm_bindgen]
    pub struct PipelineSession {
        inner: Pipeline,
    }

    #[wasm_bindgen]
    impl PipelineSession {
        /// The demo scene (`small`: its 13-frame 640×360 variant), its models
        /// on the CPU backend.
        pub fn demo(small: bool) -> Result<PipelineSession, JsError> {
            let config = if small {
                SceneConfig::small(13, 640, 360)
            } else {
                SceneConfig::demo()
            };
            Pipeline::demo(&config, &device_name())
                .map(|inner| PipelineSession { inner })
                .map_err(js_error)
        }

        /// A dropped frame folder: its file `names` (the JPG/PNG ones are the
        /// frames, in natural order, stamped at `fps` — the clip `autolabel
        /// run --clip FOLDER --folder-fps FPS` makes), read through `read(name)
        /// → Uint8Array` when a stage needs them.
        pub fn folder(
            folder: &str,
            names: Vec<String>,
            fps: f64,
            read: js_sys::Function,
        ) -> Result<PipelineSession, JsError> {
            let files = PageFiles::in_folder(read, folder);
            let input =
                Input::image_files(Box::new(files), folder, names, fps).map_err(js_error)?;
            Self::open(input, ClassMap::nuscenes_default())
        }

        /// A dropped MP4 file `name` of `size` bytes (its first `max_frames`
        /// frames, all without), read through `read(offset, length) →
        /// Uint8Array`, its frames decoded by the browser through `bridge`
        /// (web/video-bridge.js): the clip `autolabel run --clip VIDEO` makes
        /// of that file.
        pub fn video(
            name: &str,
            size: f64,
            read: js_sys::Function,
            bridge: VideoBridge,
            max_frames: Option<u32>,
        ) -> Result<PipelineSession, JsError> {
            let video = BrowserVideo::open(name, size as u64, read, bridge).map_err(js_error)?;
            let max_frames = max_frames.map(|n| n as usize);
            let input = Input::video(Box::new(video), max_frames);
            Self::open(input, ClassMap::nuscenes_default())
        }

        /// A nuScenes scene of a dropped dataroot `root`: the `version`
        /// tables (consumed), the scene's `channel` frames (the first
        /// `max_frames`, all without) read through `read(path) → Uint8Array`
        /// (dataroot-relative paths), and the ground truth of its keyframes.
        pub fn nuscenes(
            root: &str,
            tables: NuScenesFiles,
            version: &str,
            scene: &str,
            channel: &str,
            max_frames: Option<u32>,
            read: js_sys::Function,
        ) -> Result<PipelineSession, JsError> {
            let db = NuScenes::load(&tables.source, version).map_err(js_error)?;
            let classes = ClassMap::nuscenes_default();
            let files = PageFiles::in_folder(read, root);
            let max_frames = max_frames.map(|n| n as usize);
            let input = Input::nuscenes(&db, Box::new(files), scene, channel, max_frames, &classes)
                .map_err(js_error)?;
            Self::open(input, classes)
        }

        fn open(input: Input, classes: ClassMap) -> Result<PipelineSession, JsError> {
            Pipeline::open(input, classes, &device_name())
                .map(|inner| PipelineSession { inner })
                .map_err(js_error)
        }

        /// Loads the detector (Grounding DINO or OWLv2, as its `config.json`
        /// says) from `config.json` text and `model.safetensors` bytes; `name`
        /// is what the report calls it.
        #[wasm_bindgen(js_name = setDetector)]
        pub fn set_detector(
            &mut self,
            config_json: &str,
            weights: Vec<u8>,
            name: &str,
        ) -> Result<(), JsError> {
            let detector = checkpoint::detector(config_json, &weights, name).map_err(js_error)?;
            self.inner.set_detector(detector, name);
            Ok(())
        }

        /// Loads the segmenter (SAM 2) like [`Self::set_detector`].
        #[wasm_bindgen(js_name = setSegmenter)]
        pub fn set_segmenter(
            &mut self,
            config_json: &str,
            weights: Vec<u8>,
            name: &str,
        ) -> Result<(), JsError> {
            let segmenter = checkpoint::segmenter(config_json, &weights, name).map_err(js_error)?;
            self.inner.set_segmenter(segmenter, name);
            Ok(())
        }

        /// Loads the tracker (a SAM 2 video checkpoint) like
        /// [`Self::set_detector`]; with no files, clears it (tracks then join
        /// the keyframes' masks).
        #[wasm_bindgen(js_name = setTracker)]
        pub fn set_tracker(
            &mut self,
            config_json: Option<String>,
            weights: Option<Vec<u8>>,
            name: &str,
        ) -> Result<(), JsError> {
            let (Some(config_json), Some(weights)) = (config_json, weights) else {
                self.inner.set_tracker(None, name);
                return Ok(());
            };
            let config = Sam2VideoConfig::from_json(&config_json)
                .map_err(|e| js_error(format!("tracker {name}: config.json: {e}")))?;
            let model = Sam2VideoModel::from_safetensors(config, &weights, &cpu_device())
                .map_err(|e| js_error(format!("tracker {name}: model.safetensors: {e}")))?;
            self.inner.set_tracker(Some(model), name);
            Ok(())
        }

        /// Checks `{ontology, every, max_frames, training_size, anneal}` and returns
        /// the plan `{caption, frames, keyframes}`.
        pub fn configure(&mut self, settings: JsValue) -> Result<JsValue, JsError> {
            let settings: RunSettings = serde_wasm_bindgen::from_value(settings)
                .map_err(|e| js_error(format!("run settings: {e}")))?;
            let plan = self.inner.configure(settings).map_err(js_error)?;
            to_js(&plan)
        }

        /// One step of the first unfinished stage; its name, or `undefined`
        /// when the run is done.
        pub fn step(&mut self) -> Result<Option<String>, JsError> {
            self.inner
                .step()
                .map(|s| s.map(str::to_string))
                .map_err(js_error)
        }

        /// `[{stage, status, done, total, seconds, rate, eta_seconds}]`.
        pub fn stages(&self) -> Result<JsValue, JsError> {
            to_js(&self.inner.stages())
        }

        /// `report.json`'s text, once analyse has run.
        #[wasm_bindgen(js_name = reportJson)]
        pub fn report_json(&self) -> Result<Option<String>, JsError> {
            self.inner
                .report()
                .map(serde_json::to_string_pretty)
                .transpose()
                .map_err(js_error)
        }

        /// Re-evaluates with per-class score thresholds (`{class: t}`) and
        /// returns the new `report.json` text.
        #[wasm_bindgen(js_name = setClassThresholds)]
        pub fn set_class_thresholds(&mut self, thresholds: JsValue) -> Result<String, JsError> {
            let thresholds: BTreeMap<String, f64> = serde_wasm_bindgen::from_value(thresholds)
                .map_err(|e| js_error(format!("thresholds: {e}")))?;
            let report = self
                .inner
                .set_class_thresholds(thresholds)
                .map_err(js_error)?;
            serde_json::to_string_pretty(report).map_err(js_error)
        }

        /// The bytes of an output file, once its stage has run:
        /// `tracks.txt`, `predictions.json`, `eval-config.json`,
        /// `labels.json`, `training.zip`, `report.html`, `report.json`, and
        /// the QA queue's decisions, `review.json`.
        pub fn file(&self, name: &str) -> Result<Option<Vec<u8>>, JsError> {
            let evaluation = self.inner.evaluation();
            let exports = self.inner.exports();
            Ok(match name {
                "tracks.txt" => self.inner.mot_tracks().map(String::into_bytes),
                "predictions.json" => evaluation.map(|e| e.results.clone()),
                "eval-config.json" => evaluation
                    .map(|e| serde_json::to_vec_pretty(&e.config))
                    .transpose()
                    .map_err(js_error)?,
                "labels.json" => exports.map(|e| e.labels_json.clone()),
                "training.zip" => exports.map(|e| e.training_zip.clone()),
                "report.html" => exports.map(|e| e.report_html.clone().into_bytes()),
                "report.json" => self.report_json()?.map(String::into_bytes),
                "review.json" => {
                    Some(serde_json::to_vec_pretty(self.inner.review()).map_err(js_error)?)
                }
                other => return Err(js_error(format!("no output file '{other}'"))),
            })
        }

        /// `{width, height}` of the clip's frames.
        #[wasm_bindgen(js_name = frameSize)]
        pub fn frame_size(&self) -> Result<JsValue, JsError> {
            let (width, height) = self.inner.frame_size();
            to_js(&serde_json::json!({ "width": width, "height": height }))
        }

        /// Frame `index` with its labels drawn, as RGBA (`width × height × 4`);
        /// `undefined` on a frame without labels.
        #[wasm_bindgen(js_name = labelledFrame)]
        pub fn labelled_frame(&mut self, index: usize) -> Result<Option<Vec<u8>>, JsError> {
            let rgb = self.inner.labelled_frame(index).map_err(js_error)?;
            Ok(rgb.map(|rgb| {
                rgb.into_raw()
                    .chunks_exact(3)
                    .flat_map(|p| [p[0], p[1], p[2], 255])
                    .collect()
            }))
        }

        /// `{frames, fps, width, height}` of the propagation video (the
        /// labelled frames at their own rate), once track has run.
        #[wasm_bindgen(js_name = videoPlan)]
        pub fn video_plan(&self) -> Result<JsValue, JsError> {
            match self.inner.video_plan().map_err(js_error)? {
                Some(plan) => to_js(&plan),
                None => Ok(JsValue::UNDEFINED),
            }
        }

        /// What the evaluation made of each object on frame `index`:
        /// `{image_id, predictions: [{class, bbox, score, outcome, gt?, iou?}],
        /// ground_truth: [{class, bbox, crowd, found_by}], per_class, overall}`
        /// (boxes `[x, y, w, h]`); `undefined` on a frame without ground truth
        /// or before evaluate.
        #[wasm_bindgen(js_name = frameMatches)]
        pub fn frame_matches(&self, index: usize) -> Result<JsValue, JsError> {
            match self.inner.frame_matches(index) {
                Some(frame) => to_js(frame),
                None => Ok(JsValue::UNDEFINED),
            }
        }

        /// What the clip is: the key its run is saved under.
        pub fn identity(&self) -> String {
            self.inner.identity().to_string()
        }

        /// The run so far as JSON text (`undefined` before Run), to keep in
        /// the browser's storage.
        #[wasm_bindgen(js_name = savedRun)]
        pub fn saved_run(&self) -> Result<Option<String>, JsError> {
            self.inner
                .saved_run()
                .map(|saved| serde_json::to_string(&saved))
                .transpose()
                .map_err(js_error)
        }

        /// The tracker in the middle of propagation, as bytes (`undefined`
        /// when propagation is not under way).
        #[wasm_bindgen(js_name = savedTracker)]
        pub fn saved_tracker(&self) -> Result<Option<Vec<u8>>, JsError> {
            self.inner.saved_tracker().map_err(js_error)
        }

        /// Takes up a saved run (`savedRun`'s text, and `savedTracker`'s
        /// bytes if there were any) with the same clip and models loaded;
        /// returns the plan. Run goes on from there.
        pub fn resume(
            &mut self,
            saved: &str,
            tracker: Option<Vec<u8>>,
        ) -> Result<JsValue, JsError> {
            let saved: SavedRun =
                serde_json::from_str(saved).map_err(|e| js_error(format!("the saved run: {e}")))?;
            let plan = self
                .inner
                .resume(saved, tracker.as_deref())
                .map_err(js_error)?;
            to_js(&plan)
        }

        /// The QA queue, hardest first:
        /// `[{frame, track_id, class, box, score, kind?, reason}]`.
        #[wasm_bindgen(js_name = reviewQueue)]
        pub fn review_queue(&self) -> Result<JsValue, JsError> {
            to_js(&self.inner.review_queue().map_err(js_error)?)
        }

        /// `{edits, summary, stages}`: the decisions so far.
        #[wasm_bindgen(js_name = reviewState)]
        pub fn review_state(&self) -> Result<JsValue, JsError> {
            to_js(&self.inner.review_view())
        }

        /// Records a decision: its JSON text, `{frame, track_id, action, …}`
        /// as in `review.json`; a fix that moves a box is segmented first.
        pub fn decide(&mut self, edit: &str) -> Result<JsValue, JsError> {
            let edit: Edit =
                serde_json::from_str(edit).map_err(|e| js_error(format!("decision: {e}")))?;
            self.inner.decide(edit).map_err(js_error)?;
            self.review_state()
        }

        /// Forgets the decision on a label: its JSON text, `{frame, track_id}`.
        pub fn undo(&mut self, label: &str) -> Result<JsValue, JsError> {
            let label: LabelId =
                serde_json::from_str(label).map_err(|e| js_error(format!("label: {e}")))?;
            self.inner.undo(label).map_err(js_error)?;
            self.review_state()
        }

        /// Takes up a saved `review.json` (its text; `name` for messages).
        #[wasm_bindgen(js_name = loadReview)]
        pub fn load_review(&mut self, text: &str, name: &str) -> Result<JsValue, JsError> {
            let review: Review =
                serde_json::from_str(text).map_err(|e| js_error(format!("{name}: {e}")))?;
            self.inner
                .load_review(review)
                .map_err(|e| js_error(format!("{name}: {e}")))?;
            self.review_state()
        }

        /// Warnings of the COCO export.
        #[wasm_bindgen(js_name = exportWarnings)]
        pub fn export_warnings(&self) -> Vec<String> {
            self.inner
                .exports()
                .map(|e| e.warnings.clone())
                .unwrap_or_default()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use autolabel::data::nuscenes::MemorySource;
    use autolabel::data::synthetic::SyntheticScene;
    use autolabel::models::BackendKind;
    use autolabel::models::device::init_device;
    use autolabel::models::sam2::{Sam2Config, Sam2Model, Sam2VideoConfig};

    use super::*;

    fn fixture(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../models/fixtures")
            .join(name)
    }

    /// The seed classes with phrases inside the tiny fixture's vocabulary and
    /// thresholds its random weights pass (as the CLI's integration test).
    fn ontology() -> Ontology {
        let mut o = Ontology::seed();
        for (class, phrase) in o.classes.iter_mut().zip([
            "car",
            "truck",
            "bus",
            "person",
            "rider",
            "traffic light",
            "sign",
        ]) {
            class.phrases = vec![phrase.into()];
            class.box_threshold = 0.3;
            class.text_threshold = 0.2;
        }
        o
    }

    fn pipeline() -> Pipeline {
        with_models(Pipeline::demo(&SceneConfig::small(13, 320, 180), "cpu").unwrap())
    }

    /// `p` with the tiny Grounding DINO and SAM 2 fixtures.
    fn with_models(mut p: Pipeline) -> Pipeline {
        let device = init_device(BackendKind::Cpu).unwrap();
        let gd = fixture("grounding-dino-tiny");
        let read = |dir: &PathBuf, f: &str| std::fs::read(dir.join(f)).unwrap();
        let config = String::from_utf8(read(&gd, "config.json")).unwrap();
        let detector =
            DetectorModel::from_bytes(&config, &read(&gd, "model.safetensors"), &device).unwrap();
        p.set_detector(detector, "gd");
        let sam = fixture("sam2-tiny");
        let config =
            Sam2Config::from_json(&String::from_utf8(read(&sam, "config.json")).unwrap()).unwrap();
        let model =
            Sam2Model::from_safetensors(config, &read(&sam, "model.safetensors"), &device).unwrap();
        p.set_segmenter(Sam2ImagePredictor::new(model), "sam2");
        p
    }

    fn settings() -> RunSettings {
        RunSettings {
            ontology: ontology(),
            every: None,
            max_frames: None,
            training_size: "640".into(),
            anneal: None,
        }
    }

    /// The small demo scene's 13 frames as a dropped folder of PNGs (as
    /// the page reads them), the frames `cut` cut in half.
    fn frame_folder(cut: &[usize]) -> Input {
        let scene = SyntheticScene::generate(&SceneConfig::small(13, 320, 180));
        let mut files = MemorySource::default();
        let mut names = Vec::new();
        for index in 0..13 {
            let mut png = std::io::Cursor::new(Vec::new());
            let rgb = scene.frame_rgb(index).unwrap();
            rgb.write_to(&mut png, image::ImageFormat::Png).unwrap();
            let mut bytes = png.into_inner();
            if cut.contains(&index) {
                bytes.truncate(bytes.len() / 2);
            }
            let name = format!("frame_{index}.png");
            files.insert(&name, bytes);
            names.push(name);
        }
        names.push("notes.txt".into());
        Input::image_files(Box::new(files), "drop", names, 12.0).unwrap()
    }

    #[test]
    fn a_frame_folder_runs_every_stage_and_a_frame_that_does_not_decode_is_a_reported_skip() {
        let p = Pipeline::open(frame_folder(&[0, 6]), ClassMap::nuscenes_default(), "cpu");
        let mut p = with_models(p.unwrap());
        assert_eq!(p.frame_size(), (320, 180), "from frame 1: frame 0 is cut");
        let plan = p.configure(settings()).unwrap();
        assert_eq!(plan.keyframes, [0, 6, 12], "every 6th frame of a folder");
        while p.step().unwrap().is_some() {}
        assert!(p.stages().iter().all(|s| s.status == "done"));
        let report = p.report().unwrap();
        let skipped: Vec<usize> = report.skipped_frames.iter().map(|s| s.frame).collect();
        assert_eq!(skipped, [0, 6]);
        assert!(
            report.skipped_frames[0].reason.starts_with("frame_0.png: "),
            "{:?}",
            report.skipped_frames[0]
        );
        assert!(report.eval.is_none(), "a folder has no ground truth");
        let labelled: Vec<usize> = p
            .tracks
            .as_ref()
            .unwrap()
            .frames
            .iter()
            .map(|f| f.frame)
            .collect();
        assert_eq!(labelled, [12]);
        assert_eq!(p.stages()[0].progress.done, 3, "a skip is a frame done");
        assert!(p.exports().is_some());

        let none = Pipeline::open(
            frame_folder(&(0..13).collect::<Vec<_>>()),
            ClassMap::nuscenes_default(),
            "cpu",
        );
        let error = none.err().unwrap();
        assert!(
            error.starts_with(
                "frame folder drop (13 frames): no frame decodes (the last one: frame_12.png: "
            ),
            "{error}"
        );
    }

    #[test]
    fn a_tracker_carries_the_labels_through_every_frame_one_step_a_frame() {
        let mut p = with_tracker(pipeline());
        p.configure(settings()).unwrap();
        let mut order = Vec::new();
        while let Some(stage) = p.step().unwrap() {
            order.push(stage);
        }
        assert_eq!(order.iter().filter(|&&s| s == "track").count(), 13);
        let tracks = p.tracks.as_ref().unwrap();
        assert_eq!(tracks.method, "sam2-propagation");
        let frames: Vec<usize> = tracks.frames.iter().map(|f| f.frame).collect();
        assert_eq!(frames, (0..13).collect::<Vec<_>>());
        let track = p.stages().into_iter().find(|s| s.stage == "track").unwrap();
        assert_eq!((track.progress.done, track.progress.total), (13, 13));
        let timed: Vec<&str> = p
            .report()
            .unwrap()
            .stages
            .iter()
            .map(|s| s.stage.as_str())
            .collect();
        assert_eq!(timed, ["detect", "segment", "track"]);

        p.set_tracker(None, "none");
        assert!(p.tracks.is_none(), "a changed tracker tracks again");
        while p.step().unwrap().is_some() {}
        assert_eq!(p.tracks.as_ref().unwrap().frames.len(), 3, "keyframes only");
    }

    #[test]
    fn every_stage_runs_in_order_and_a_threshold_reevaluates() {
        let mut p = pipeline();
        let plan = p.configure(settings()).unwrap();
        assert_eq!(plan.keyframes, [0, 6, 12]);
        let mut order = Vec::new();
        while let Some(stage) = p.step().unwrap() {
            order.push(stage);
        }
        assert_eq!(
            order,
            [
                "detect", "detect", "detect", "segment", "segment", "segment", "track", "evaluate",
                "analyse", "export"
            ]
        );
        assert!(p.stages().iter().all(|s| s.status == "done"));
        let mot = p.mot_tracks().unwrap();
        assert_eq!(
            mot.lines().count(),
            p.tracks.as_ref().unwrap().objects().count()
        );
        let plan = p.video_plan().unwrap().unwrap();
        assert_eq!(plan.frames, [0, 6, 12], "the keyframes carry the labels");
        let overall = &p.report().unwrap().eval.as_ref().unwrap().bbox.overall;
        let tp: usize = plan
            .frames
            .iter()
            .map(|&f| p.frame_matches(f).unwrap().overall.tp)
            .sum();
        assert_eq!(tp, overall.tp, "the keyframes' TPs are the evaluation's");
        assert!(p.frame_matches(1).is_none(), "frame 1 has no ground truth");
        let report = p.report().unwrap().clone();
        assert!(report.eval.is_some());
        let exports = p.exports().unwrap();
        assert!(exports.report_html.contains("id=\"pr-table\""));
        let predictions = report.eval.as_ref().unwrap().predictions;
        let all_out: BTreeMap<String, f64> =
            p.classes.classes.iter().map(|c| (c.clone(), 1.0)).collect();
        let gated = p.set_class_thresholds(all_out).unwrap();
        let eval = gated.eval.as_ref().unwrap();
        assert_eq!(
            eval.bbox.overall.tp + eval.bbox.overall.fp,
            0,
            "every prediction below 1.0"
        );
        assert_eq!(eval.predictions, predictions, "nothing was detected again");
        assert!(p.exports().is_none());
        assert!(
            p.set_class_thresholds(BTreeMap::from([("boat".into(), 0.5)]))
                .is_err()
        );
    }

    fn with_tracker(mut p: Pipeline) -> Pipeline {
        let video = fixture("sam2-video-tiny");
        let read = |f: &str| std::fs::read(video.join(f)).unwrap();
        let config = Sam2VideoConfig::from_json(&String::from_utf8(read("config.json")).unwrap());
        let device = init_device(BackendKind::Cpu).unwrap();
        let model =
            Sam2VideoModel::from_safetensors(config.unwrap(), &read("model.safetensors"), &device);
        p.set_tracker(Some(model.unwrap()), "sam2-video");
        p
    }

    /// The whole run's outputs, timings aside.
    fn outcome(p: &Pipeline) -> (serde_json::Value, String) {
        let mut report = serde_json::to_value(p.report().unwrap()).unwrap();
        let fields = report.as_object_mut().unwrap();
        fields.remove("stages");
        fields.remove("frames_per_s");
        fields["eval"].as_object_mut().unwrap().remove("cost");
        (report, p.mot_tracks().unwrap())
    }

    #[test]
    fn a_saved_run_resumes_in_a_new_page_to_the_same_outputs() {
        let whole = {
            let mut p = with_tracker(pipeline());
            p.configure(settings()).unwrap();
            while p.step().unwrap().is_some() {}
            outcome(&p)
        };
        let mut first = with_tracker(pipeline());
        first.configure(settings()).unwrap();
        // Detect and segment, then five frames into propagation.
        for _ in 0..(3 + 3 + 5) {
            first.step().unwrap();
        }
        assert!(first.propagation.is_some());
        let saved = serde_json::to_string(&first.saved_run().unwrap()).unwrap();
        let tracker = first
            .saved_tracker()
            .unwrap()
            .expect("propagation under way");
        drop(first);

        let mut again = with_tracker(pipeline());
        let plan = again
            .resume(serde_json::from_str(&saved).unwrap(), Some(&tracker))
            .unwrap();
        assert_eq!(plan.keyframes, [0, 6, 12]);
        assert_eq!(
            again.current_stage(),
            Some(2),
            "detect and segment are done"
        );
        let mut steps = 0;
        while again.step().unwrap().is_some() {
            steps += 1;
        }
        assert_eq!(
            steps,
            (13 - 5) + 3,
            "the rest of propagation, evaluate, analyse, export"
        );
        assert_eq!(outcome(&again), whole);

        let finished = serde_json::to_string(&again.saved_run().unwrap()).unwrap();
        let timings = again.report().unwrap().stages.clone();
        let mut reopened = with_tracker(pipeline());
        reopened
            .resume(serde_json::from_str(&finished).unwrap(), None)
            .unwrap();
        assert_eq!(reopened.current_stage(), Some(3), "tracks are back");
        while reopened.step().unwrap().is_some() {}
        assert_eq!(outcome(&reopened), whole);
        assert_eq!(
            reopened.report().unwrap().stages,
            timings,
            "and the stages' timings"
        );

        let mut other =
            with_tracker(Pipeline::demo(&SceneConfig::small(7, 320, 180), "cpu").unwrap());
        let refused = other
            .resume(serde_json::from_str(&saved).unwrap(), Some(&tracker))
            .unwrap_err();
        assert!(refused.contains("not the same clip"), "{refused}");
    }

    #[test]
    fn the_qa_queue_deletes_and_fixes_labels_and_the_exports_follow() {
        let mut p = pipeline();
        p.configure(settings()).unwrap();
        while p.step().unwrap().is_some() {}
        let queue = p.review_queue().unwrap();
        let before = p.tracks.as_ref().unwrap().objects().count();
        assert_eq!(queue.len(), before);
        let (gone, fixed) = (queue[0].label, queue[1].label);
        let [x0, y0, x1, y1] = queue[1].bbox;
        let moved = [x0, y0, x0 + (x1 - x0) / 2.0, y1];
        p.decide(Edit {
            frame: gone.frame,
            track_id: gone.track_id,
            decision: Decision::Delete,
        })
        .unwrap();
        assert!(p.exports().is_none(), "made again on download");
        let summary = p
            .decide(Edit {
                frame: fixed.frame,
                track_id: fixed.track_id,
                decision: Decision::Fix(Fix {
                    class: "bus".into(),
                    bbox: moved,
                    points: vec![[x0 + 1.0, y0 + 1.0, 1.0]],
                    mask: None,
                }),
            })
            .unwrap();
        assert_eq!((summary.deleted, summary.fixed), (1, 1));
        let Decision::Fix(fix) = &p.review().edits[1].decision else {
            panic!("a fix");
        };
        assert!(fix.mask.is_some(), "SAM 2 segmented the moved box");
        assert_eq!(p.mot_tracks().unwrap().lines().count(), before - 1);
        while p.step().unwrap().is_some() {}
        let labels: serde_json::Value =
            serde_json::from_slice(&p.exports().unwrap().labels_json).unwrap();
        let annotations = labels["annotations"].as_array().unwrap();
        assert_eq!(annotations.len(), before - 1);
        let of = |l: LabelId| {
            annotations
                .iter()
                .find(|a| a["image_id"] == l.frame as u64 && a["track_id"] == l.track_id)
        };
        assert!(of(gone).is_none());
        let fixed = of(fixed).unwrap();
        assert_eq!(
            (fixed["category_id"].as_u64(), fixed["reviewed"].as_bool()),
            (Some(3), Some(true))
        );
        assert_eq!(labels["info"]["review"]["deleted"], 1);
        let bad = Edit {
            frame: 1,
            track_id: 1,
            decision: Decision::Accept,
        };
        assert!(
            p.decide(bad)
                .unwrap_err()
                .contains("frame 1 track 1: no such label")
        );
        p.undo(gone).unwrap();
        assert_eq!(p.mot_tracks().unwrap().lines().count(), before);
        let saved = serde_json::to_string(p.review()).unwrap();
        let summary = p
            .load_review(serde_json::from_str(&saved).unwrap())
            .unwrap();
        assert_eq!((summary.deleted, summary.fixed), (0, 1));
    }

    #[test]
    fn a_changed_ontology_detects_again_and_an_unchanged_one_keeps_the_stages() {
        let mut p = pipeline();
        p.configure(settings()).unwrap();
        p.step().unwrap();
        p.configure(settings()).unwrap();
        assert_eq!(
            p.stages()[0].progress.done,
            1,
            "kept across an unchanged configure"
        );
        let mut other = settings();
        other.ontology.classes[0].box_threshold = 0.5;
        p.configure(other).unwrap();
        assert_eq!(p.stages()[0].progress.done, 0);
        let mut empty = settings();
        empty.ontology.classes[0].phrases.clear();
        assert!(p.configure(empty).unwrap_err().starts_with("ontology: "));
    }

    #[test]
    fn annealing_in_the_page_detects_again_and_marks_each_labels_pass() {
        let mut p = pipeline();
        p.configure(settings()).unwrap();
        p.step().unwrap();
        let annealed = RunSettings {
            anneal: Some(AnnealSettings {
                start: 0.5,
                floor: 0.3,
                ..AnnealSettings::default()
            }),
            ..settings()
        };
        p.configure(annealed.clone()).unwrap();
        assert_eq!(p.stages()[0].progress.done, 0, "new settings detect again");
        p.step().unwrap();
        let frame = &p.detect.done[0];
        assert!(!frame.passes.is_empty());
        assert!(frame.detections.iter().all(|d| d.anneal.is_some()));
        let bad = RunSettings {
            anneal: Some(AnnealSettings {
                start: 0.3,
                floor: 0.5,
                ..AnnealSettings::default()
            }),
            ..settings()
        };
        assert_eq!(
            p.configure(bad).unwrap_err(),
            "annealing: the floor 0.5 is above the start threshold 0.3"
        );
    }
}
