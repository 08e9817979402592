//! The page's Batch mode: a set of dropped images labelled into one training
//! ZIP by the core's batch ([`autolabel::pipeline::batch`], what `autolabel
//! batch` runs), one image a step so that the worker can report each image
//! and cancel between two.
//!
//! This file holds the models and the batch between calls and reads the
//! page's settings; every label, the ZIP and the report are the core's.

use autolabel::data::clip::Clip;
use autolabel::data::nuscenes::DataSource;
use autolabel::export::archive::TrainingSize;
use autolabel::export::coco::SegmentationFormat;
use autolabel::models::sam2::Sam2ImagePredictor;
use autolabel::pipeline::anneal::AnnealSettings;
use autolabel::pipeline::batch::{Batch, BatchModels, BatchOutput, BatchSettings, BatchStep};
use autolabel::pipeline::detect::{DetectSettings, DetectorModel, FrameDetector};
use autolabel::pipeline::segment::SegmentSettings;
use autolabel::pipeline::{Caption, Ontology};
use serde::{Deserialize, Serialize};

/// What the Batch panel sets.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchRunSettings {
    pub ontology: Ontology,
    /// Longest side (or `WIDTHxHEIGHT`) of the ZIP's images.
    #[serde(default = "default_size")]
    pub size: String,
    /// Masks too, with the segmenter; bbox-only without.
    #[serde(default)]
    pub masks: bool,
    /// Iterative confidence annealing: the core's `AnnealSettings` as JSON
    /// (`{}`: its defaults); `None`: one pass at the ontology's thresholds.
    #[serde(default)]
    pub anneal: Option<serde_json::Value>,
}

fn default_size() -> String {
    "640".into()
}

/// What a started batch will do.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchPlan {
    /// The images, in the order they are labelled (natural name order).
    pub images: Vec<String>,
    /// The caption the detector reads.
    pub caption: String,
    /// The thresholds of the annealing passes (empty: one pass).
    pub anneal_thresholds: Vec<f64>,
    /// Images already handled: a cancelled batch resumed (0: a new batch).
    pub resumed: usize,
}

/// A model with the name messages give it.
struct Named<T> {
    model: T,
    name: String,
}

/// A batch under way: its images, settings and progress.
struct Job {
    /// What it was started with, to know a resume from a new batch.
    names: Vec<String>,
    settings: BatchRunSettings,
    plan: BatchPlan,
    clip: Clip,
    ontology: Ontology,
    caption: Caption,
    /// One pass, or annealing.
    detect: DetectSettings,
    masks: bool,
    batch: Batch,
}

/// Settings as [`BatchRunner::start`] checked them.
struct Checked {
    classes: Vec<String>,
    caption: Caption,
    size: TrainingSize,
    anneal: Option<AnnealSettings>,
    anneal_thresholds: Vec<f64>,
}

/// The Batch mode's models and its batch.
#[derive(Default)]
pub struct BatchRunner {
    detector: Option<Named<DetectorModel>>,
    segmenter: Option<Named<Sam2ImagePredictor>>,
    job: Option<Job>,
}

impl BatchRunner {
    /// Replaces the detector (a batch under way is dropped).
    pub fn set_detector(&mut self, model: DetectorModel, name: &str) {
        self.detector = Some(Named {
            model,
            name: name.to_string(),
        });
        self.job = None;
    }

    /// Replaces the segmenter (a batch under way is dropped).
    pub fn set_segmenter(&mut self, model: Sam2ImagePredictor, name: &str) {
        self.segmenter = Some(Named {
            model,
            name: name.to_string(),
        });
        self.job = None;
    }

    /// Checks `settings` and starts a batch over the JPG/PNG `names` of
    /// `source` (the other names are left out). A batch left unfinished (a
    /// Cancel) with the same names and settings goes on where it stopped
    /// (`BatchPlan::resumed`, reading its images through the source it was
    /// started with); any other batch before is dropped. Bad settings are
    /// refused here, before any image is read.
    pub fn start(
        &mut self,
        source: Box<dyn DataSource>,
        names: Vec<String>,
        settings: BatchRunSettings,
    ) -> Result<BatchPlan, String> {
        if let Some(job) = &self.job
            && job.names == names
            && job.settings == settings
        {
            return Ok(BatchPlan {
                resumed: job.batch.done(),
                ..job.plan.clone()
            });
        }
        self.job = None;
        let checked = self.check(&settings)?;
        let clip = Clip::image_files(source, names.clone(), 1.0).map_err(|e| e.to_string())?;
        let batch_settings = BatchSettings {
            size: checked.size,
            jpeg_quality: 90,
            segmentation: SegmentationFormat::Auto,
            segment: SegmentSettings::default(),
        };
        let batch = Batch::new(&clip, &checked.classes, batch_settings, settings.masks);
        let plan = BatchPlan {
            images: clip.infos().iter().map(|f| f.name.clone()).collect(),
            caption: checked.caption.text.clone(),
            anneal_thresholds: checked.anneal_thresholds,
            resumed: 0,
        };
        self.job = Some(Job {
            names,
            plan: plan.clone(),
            clip,
            ontology: settings.ontology.clone(),
            caption: checked.caption,
            detect: DetectSettings {
                anneal: checked.anneal,
                ..DetectSettings::default()
            },
            masks: settings.masks,
            settings,
            batch,
        });
        Ok(plan)
    }

    /// The page's settings read as `autolabel batch` reads its arguments:
    /// the ontology's classes and caption (encoded by the detector, which
    /// checks its vocabulary), the training size and the annealing settings.
    fn check(&self, settings: &BatchRunSettings) -> Result<Checked, String> {
        let detector = self.detector.as_ref().ok_or(
            "no detector: choose a Grounding DINO or OWLv2 checkpoint for the batch".to_string(),
        )?;
        if settings.masks && self.segmenter.is_none() {
            return Err(
                "masks need a segmenter: choose a SAM 2 checkpoint, or none for boxes only".into(),
            );
        }
        let ontology = &settings.ontology;
        let classes: Vec<String> = ontology.classes.iter().map(|c| c.name.clone()).collect();
        let caption = ontology
            .caption(&classes)
            .map_err(|e| format!("ontology: {e}"))?;
        FrameDetector::new(
            &detector.model,
            ontology,
            caption.clone(),
            DetectSettings::default(),
        )
        .map_err(|e| format!("detector {}: {e}", detector.name))?;
        let size = TrainingSize::parse(&settings.size)
            .map_err(|e| format!("size '{}': {e}", settings.size))?;
        let annealing = |e: String| format!("annealing: {e}");
        let anneal = settings
            .anneal
            .as_ref()
            .map(|value| {
                AnnealSettings::from_json(&value.to_string()).map_err(|e| annealing(e.to_string()))
            })
            .transpose()?;
        let anneal_thresholds = match &anneal {
            Some(a) => a.thresholds().map_err(|e| annealing(e.to_string()))?,
            None => Vec::new(),
        };
        Ok(Checked {
            classes,
            caption,
            size,
            anneal,
            anneal_thresholds,
        })
    }

    /// `(done, total)` images of the batch under way.
    pub fn progress(&self) -> Option<(usize, usize)> {
        self.job
            .as_ref()
            .map(|job| (job.batch.done(), job.batch.total()))
    }

    /// Labels the next image (or records why it does not decode); `None`
    /// when every image is handled.
    pub fn step(&mut self) -> Result<Option<BatchStep>, String> {
        let BatchRunner {
            detector,
            segmenter,
            job,
        } = self;
        let job = job.as_mut().ok_or_else(not_started)?;
        let detector = detector.as_ref().ok_or_else(not_started)?;
        let frame_detector = FrameDetector::new(
            &detector.model,
            &job.ontology,
            job.caption.clone(),
            job.detect.clone(),
        )
        .map_err(|e| format!("detector {}: {e}", detector.name))?;
        let segmenter = segmenter.as_mut().filter(|_| job.masks);
        let segmenter_name = segmenter.as_ref().map(|s| s.name.clone());
        let mut models = BatchModels {
            detector: &frame_detector,
            segmenter: segmenter.map(|s| &mut s.model),
        };
        job.batch
            .step(&mut job.clip, &mut models)
            .map_err(|e| match segmenter_name {
                Some(s) => format!("batch (detector {}, segmenter {s}): {e}", detector.name),
                None => format!("batch (detector {}): {e}", detector.name),
            })
    }

    /// The ZIP and its report, once every image is handled; the batch is
    /// then over.
    pub fn finish(&mut self) -> Result<BatchOutput, String> {
        let job = self.job.take().ok_or_else(not_started)?;
        if !job.batch.is_done() {
            let (done, total) = (job.batch.done(), job.batch.total());
            self.job = Some(job);
            return Err(format!(
                "the batch is not finished: {done} of {total} images labelled"
            ));
        }
        job.batch.finish().map_err(|e| e.to_string())
    }
}

fn not_started() -> String {
    "no batch under way: drop images and press Run".to_string()
}

#[cfg(target_arch = "wasm32")]
pub use session::BatchSession;

#[cfg(target_arch = "wasm32")]
mod session {
    use wasm_bindgen::prelude::*;

    use super::{BatchRunSettings, BatchRunner};
    use crate::page_files::PageFiles;
    use crate::{checkpoint, js_error, to_js};

    /// The Batch mode (see [`BatchRunner`]): the batch worker holds one.
    #[wasm_bindgen]
    pub struct BatchSession {
        inner: BatchRunner,
    }

    #[wasm_bindgen]
    impl BatchSession {
        #[wasm_bindgen(constructor)]
        pub fn new() -> BatchSession {
            BatchSession {
                inner: BatchRunner::default(),
            }
        }

        /// Loads the detector (Grounding DINO or OWLv2, as its `config.json`
        /// says) on the CPU backend.
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

        /// Loads the segmenter (SAM 2) on the CPU backend.
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

        /// Starts a batch over the image files `names`, read by
        /// `read(name) → Uint8Array`, with `{ontology, size, masks, anneal}`;
        /// returns the plan `{images, caption, anneal_thresholds, resumed}` (a
        /// cancelled batch started again unchanged goes on: `resumed` images done).
        pub fn start(
            &mut self,
            names: Vec<String>,
            read: js_sys::Function,
            settings: JsValue,
        ) -> Result<JsValue, JsError> {
            let settings: BatchRunSettings = serde_wasm_bindgen::from_value(settings)
                .map_err(|e| js_error(format!("batch settings: {e}")))?;
            let plan = self
                .inner
                .start(Box::new(PageFiles::new(read)), names, settings)
                .map_err(js_error)?;
            to_js(&plan)
        }

        /// Labels the next image: `{image: {index, file, name, objects,
        /// error?}, preview: Uint8Array | undefined}` (the preview's JPEG),
        /// or `undefined` when every image is handled.
        pub fn step(&mut self) -> Result<JsValue, JsError> {
            let Some(step) = self.inner.step().map_err(js_error)? else {
                return Ok(JsValue::UNDEFINED);
            };
            let out = js_sys::Object::new();
            let set = |key: &str, value: &JsValue| js_sys::Reflect::set(&out, &key.into(), value);
            set("image", &to_js(&step.image)?).map_err(|_| js_error("step: no object"))?;
            if let Some(preview) = step.preview {
                let bytes = js_sys::Uint8Array::from(preview.as_slice());
                set("preview", &bytes).map_err(|_| js_error("step: no object"))?;
            }
            Ok(out.into())
        }

        /// `{done, total}` images of the batch under way.
        pub fn progress(&self) -> Result<JsValue, JsError> {
            let (done, total) = self.inner.progress().unwrap_or((0, 0));
            to_js(&serde_json::json!({ "done": done, "total": total }))
        }

        /// `{zip: Uint8Array, report}` (the ZIP's bytes and its
        /// `report.json`), once every image is handled.
        pub fn finish(&mut self) -> Result<JsValue, JsError> {
            let output = self.inner.finish().map_err(js_error)?;
            let out = js_sys::Object::new();
            let zip = js_sys::Uint8Array::from(output.zip.as_slice());
            let report = to_js(&output.report)?;
            js_sys::Reflect::set(&out, &"zip".into(), &zip)
                .and_then(|_| js_sys::Reflect::set(&out, &"report".into(), &report))
                .map_err(|_| js_error("finish: no object"))?;
            Ok(out.into())
        }
    }

    impl Default for BatchSession {
        fn default() -> Self {
            Self::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use autolabel::data::nuscenes::MemorySource;
    use autolabel::data::synthetic::{SceneConfig, SyntheticScene};

    use super::*;
    use crate::checkpoint;

    fn fixture(name: &str, file: &str) -> Vec<u8> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/fixtures");
        std::fs::read(dir.join(name).join(file)).expect("a committed fixture")
    }

    fn load(runner: &mut BatchRunner, detector: &str, segmenter: bool) {
        let config = String::from_utf8(fixture(detector, "config.json")).unwrap();
        let model =
            checkpoint::detector(&config, &fixture(detector, "model.safetensors"), detector)
                .expect("the detector fixture loads");
        runner.set_detector(model, detector);
        if segmenter {
            let config = String::from_utf8(fixture("sam2-tiny", "config.json")).unwrap();
            let model =
                checkpoint::segmenter(&config, &fixture("sam2-tiny", "model.safetensors"), "sam2")
                    .expect("the segmenter fixture loads");
            runner.set_segmenter(model, "sam2");
        }
    }

    /// The small demo scene's keyframes as JPEGs `k0.jpg`… and a truncated
    /// copy of the first, `k10.jpg` (last in natural order).
    fn images() -> (MemorySource, Vec<String>) {
        let scene = SyntheticScene::generate(&SceneConfig::small(13, 320, 180));
        let mut files = MemorySource::default();
        let mut names = Vec::new();
        for (k, index) in [0, 6, 12].into_iter().enumerate() {
            let rgb = scene.frame_rgb(index).unwrap();
            let mut out = std::io::Cursor::new(Vec::new());
            rgb.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
            let name = format!("k{k}.jpg");
            files.insert(name.clone(), out.into_inner());
            names.push(name);
        }
        let whole = files.files["k0.jpg"].clone();
        files.insert("k10.jpg", whole[..whole.len() / 2].to_vec());
        names.push("k10.jpg".into());
        names.push("notes.txt".into());
        (files, names)
    }

    /// The seed classes with phrases inside the tiny fixtures' vocabularies.
    fn settings() -> BatchRunSettings {
        let mut ontology = Ontology::seed();
        for (class, phrase) in ontology.classes.iter_mut().zip([
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
        BatchRunSettings {
            ontology,
            size: "160".into(),
            masks: true,
            anneal: None,
        }
    }

    #[test]
    fn a_batch_labels_each_image_a_step_and_reports_the_truncated_one() {
        let mut runner = BatchRunner::default();
        load(&mut runner, "grounding-dino-tiny", true);
        let (files, names) = images();
        let plan = runner
            .start(Box::new(files), names, settings())
            .expect("the batch starts");
        assert_eq!(plan.images, ["k0.jpg", "k1.jpg", "k2.jpg", "k10.jpg"]);
        assert!(plan.anneal_thresholds.is_empty());
        let mut steps = Vec::new();
        while let Some(step) = runner.step().expect("a step") {
            assert_eq!(runner.progress(), Some((steps.len() + 1, 4)));
            steps.push(step);
        }
        let bad = &steps[3];
        assert_eq!(bad.image.file, "k10.jpg");
        assert!(bad.preview.is_none());
        let error = bad.image.error.as_deref().unwrap();
        assert!(
            error.starts_with("k10.jpg: cannot decode image: JPEG is truncated"),
            "{error}"
        );
        for step in &steps[..3] {
            assert!(step.image.error.is_none());
            let preview = step.preview.as_ref().expect("a preview");
            let decoded = image::load_from_memory(preview).expect("the preview is a JPEG");
            assert_eq!((decoded.width(), decoded.height()), (160, 90));
        }
        let output = runner.finish().expect("the ZIP");
        assert_eq!(output.dataset.images.len(), 3);
        assert_eq!(output.report.images, 4);
        assert_eq!(output.report.failed.len(), 1);
        assert_eq!(output.report.failed[0].file, "k10.jpg");
        assert!(output.report.masks);
        let objects: usize = steps.iter().map(|s| s.image.objects).sum();
        assert_eq!(output.report.objects, objects);
        assert!(objects > 0, "the fixture finds objects");
        assert!(runner.step().is_err(), "the batch is over");
    }

    #[test]
    fn a_cancelled_batch_started_again_unchanged_goes_on_where_it_stopped() {
        let mut runner = BatchRunner::default();
        load(&mut runner, "grounding-dino-tiny", false);
        let start = |runner: &mut BatchRunner, settings: BatchRunSettings| {
            let (files, names) = images();
            runner.start(Box::new(files), names, settings).unwrap()
        };
        let unmasked = || BatchRunSettings {
            masks: false,
            ..settings()
        };
        assert_eq!(start(&mut runner, unmasked()).resumed, 0);
        runner.step().unwrap();
        runner.step().unwrap();
        let again = start(&mut runner, unmasked());
        assert_eq!(again.resumed, 2);
        assert_eq!(again.images, ["k0.jpg", "k1.jpg", "k2.jpg", "k10.jpg"]);
        assert_eq!(runner.progress(), Some((2, 4)));
        let rest: Vec<String> = std::iter::from_fn(|| runner.step().unwrap())
            .map(|s| s.image.file)
            .collect();
        assert_eq!(rest, ["k2.jpg", "k10.jpg"]);
        assert_eq!(runner.finish().unwrap().report.images, 4);

        start(&mut runner, unmasked());
        runner.step().unwrap();
        let other = BatchRunSettings {
            size: "320".into(),
            ..unmasked()
        };
        assert_eq!(
            start(&mut runner, other).resumed,
            0,
            "new settings: a new batch"
        );
        assert_eq!(runner.progress(), Some((0, 4)));
    }

    #[test]
    fn bad_settings_are_refused_with_the_cores_messages() {
        let mut runner = BatchRunner::default();
        let (files, names) = images();
        let err = runner
            .start(Box::new(files.clone()), names.clone(), settings())
            .unwrap_err();
        assert!(err.starts_with("no detector"), "{err}");
        load(&mut runner, "grounding-dino-tiny", false);
        let err = runner
            .start(Box::new(files.clone()), names.clone(), settings())
            .unwrap_err();
        assert!(err.starts_with("masks need a segmenter"), "{err}");
        let mut annealed = BatchRunSettings {
            masks: false,
            anneal: Some(serde_json::json!({"start": 0.3, "floor": 0.5})),
            ..settings()
        };
        let err = runner
            .start(Box::new(files.clone()), names.clone(), annealed.clone())
            .unwrap_err();
        assert_eq!(
            err,
            "annealing: the floor 0.5 is above the start threshold 0.3"
        );
        annealed.anneal = Some(serde_json::json!({}));
        let plan = runner
            .start(Box::new(files.clone()), names.clone(), annealed)
            .unwrap();
        assert_eq!(plan.anneal_thresholds.len(), 4, "{plan:?}");
        let bad_size = BatchRunSettings {
            masks: false,
            size: "0".into(),
            ..settings()
        };
        let err = runner
            .start(Box::new(files.clone()), names.clone(), bad_size)
            .unwrap_err();
        assert!(err.starts_with("size '0': "), "{err}");
        let err = runner
            .start(
                Box::new(files),
                vec!["a.txt".into()],
                BatchRunSettings {
                    masks: false,
                    ..settings()
                },
            )
            .unwrap_err();
        assert!(err.contains("no JPG or PNG"), "{err}");
    }

    #[test]
    fn owlv2_labels_a_batch() {
        let mut runner = BatchRunner::default();
        load(&mut runner, "owlv2-tiny", false);
        let (files, names) = images();
        let settings = BatchRunSettings {
            masks: false,
            ..settings()
        };
        runner
            .start(Box::new(files), names, settings)
            .expect("starts");
        while runner.step().expect("a step").is_some() {}
        let output = runner.finish().unwrap();
        assert_eq!(output.dataset.images.len(), 3);
        assert!(!output.report.masks);
    }
}
