//! `autolabel run` end to end on the demo scene with the committed tiny
//! fixture models: every output checked by the tool that reads it
//! (`autolabel eval`, pycocotools, ffprobe, Chromium), a run killed with
//! SIGKILL and resumed to byte-identical outputs, and bad input refused with
//! the argument named and nothing of the user's lost.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Scratch, check_json_files_null_only_where_optional, repo, run_oracle};

pub(crate) fn cli() -> Command {
    Command::new(env!("CARGO_BIN_EXE_autolabel"))
}

pub(crate) fn ok(out: Output, what: &str) -> Output {
    assert!(
        out.status.success(),
        "{what} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The demo scene with `frames` frames written as a nuScenes dataset.
pub(crate) fn demo_dataset(dir: &Path, frames: usize) -> PathBuf {
    let root = dir.join("demo");
    let out = cli()
        .args(["demo", "--frames", &frames.to_string(), "--out"])
        .arg(&root)
        .output()
        .unwrap();
    ok(out, "autolabel demo");
    root
}

pub(crate) fn fixture(name: &str) -> PathBuf {
    repo().join("models/fixtures").join(name)
}

/// The seven seed classes with phrases inside the tiny fixture's 8192-token
/// vocabulary ("pedestrian" and "cyclist" are not) and thresholds that let its
/// random weights find objects.
pub(crate) fn write_ontology(dir: &Path) -> PathBuf {
    let path = dir.join("ontology.json");
    let classes: Vec<Value> = [
        ("car", "car"),
        ("truck", "truck"),
        ("bus", "bus"),
        ("pedestrian", "person"),
        ("cyclist", "rider"),
        ("traffic light", "traffic light"),
        ("traffic sign", "sign"),
    ]
    .iter()
    .map(|(name, phrase)| {
        serde_json::json!({"name": name, "phrases": [phrase], "box_threshold": 0.3, "text_threshold": 0.2})
    })
    .collect();
    std::fs::write(&path, serde_json::json!({ "classes": classes }).to_string()).unwrap();
    path
}

/// `autolabel run --quiet` with the tiny fixture models.
pub(crate) fn run_command(dataset: &Path, ontology: &Path, out: &Path) -> Command {
    let mut c = loud_run_command(dataset, ontology, out);
    c.arg("--quiet");
    c
}

/// `autolabel run` with the tiny fixture models and progress on stderr.
pub(crate) fn loud_run_command(dataset: &Path, ontology: &Path, out: &Path) -> Command {
    let models = [fixture("grounding-dino-tiny"), fixture("sam2-tiny")];
    run_with_models(dataset, ontology, out, &models)
}

fn run_with_models(dataset: &Path, ontology: &Path, out: &Path, models: &[PathBuf; 2]) -> Command {
    let mut c = run_clip(ontology, out, models);
    c.args(["--scene", "scene-demo", "--nuscenes"]).arg(dataset);
    c
}

/// `autolabel run` with `models` (detector, segmenter) and the ontology,
/// into `out`; the caller adds the clip.
fn run_clip(ontology: &Path, out: &Path, models: &[PathBuf; 2]) -> Command {
    let mut c = cli();
    c.arg("run")
        .arg("--detector")
        .arg(&models[0])
        .arg("--segmenter")
        .arg(&models[1])
        .arg("--ontology")
        .arg(ontology)
        .arg("--out")
        .arg(out);
    c
}

pub(crate) fn json(path: &Path) -> Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap()
}

/// The outputs whose bytes a resumed run must reproduce (`report.*`,
/// `run.json` and `eval-config.json` carry the measured timings).
const DETERMINISTIC: [&str; 8] = [
    "detections.json",
    "masks.json",
    "tracks.json",
    "tracks.txt",
    "predictions.json",
    "labels.json",
    "training.zip",
    "propagation.mp4",
];

#[test]
fn run_on_the_demo_scene_writes_every_output() {
    let scratch = Scratch::new("run-demo");
    let dataset = demo_dataset(&scratch.0, 13);
    let ontology = write_ontology(&scratch.0);
    let out = scratch.0.join("out");
    ok(
        run_command(&dataset, &ontology, &out).output().unwrap(),
        "autolabel run",
    );

    let detections = json(&out.join("detections.json"));
    let frames = frame_indices(&detections);
    assert_eq!(frames, [0, 6, 12], "detection runs on the keyframes");
    let report = json(&out.join("report.json"));
    let predictions = json(&out.join("predictions.json"));
    assert!(
        predictions.as_array().unwrap().len() >= 3,
        "the fixture detector should find objects: {predictions}"
    );

    check_eval_reproduces(&dataset, &out, &report);
    check_labels_in_pycocotools(&out, frames.len());
    check_tracks_txt(&out, predictions.as_array().unwrap().len());
    check_video(&out.join("propagation.mp4"), frames.len());
    check_report_html(&out.join("report.html"));
    check_training_zip(&out.join("training.zip"), frames.len(), &predictions);
    check_json_files_null_only_where_optional(&out, NULLABLE);
    let run = json(&out.join("run.json"));
    assert_eq!(
        run["settings"]["detector"]["weights_sha256"]
            .as_str()
            .unwrap()
            .len(),
        64
    );
    assert!(run["frames_per_s"].as_f64().unwrap() > 0.0);
}

#[test]
fn a_run_with_a_tracker_carries_masks_through_every_frame() {
    let scratch = Scratch::new("run-track");
    let dataset = demo_dataset(&scratch.0, 13);
    let ontology = write_ontology(&scratch.0);
    let out = scratch.0.join("out");
    let mut command = run_command(&dataset, &ontology, &out);
    command.arg("--tracker").arg(fixture("sam2-video-tiny"));
    ok(command.output().unwrap(), "autolabel run --tracker");

    let tracks = json(&out.join("tracks.json"));
    assert_eq!(tracks["method"], "sam2-propagation");
    let frames = tracks["frames"].as_array().unwrap();
    let numbers: Vec<u64> = frames
        .iter()
        .map(|f| f["frame"].as_u64().unwrap())
        .collect();
    assert_eq!(
        numbers,
        (0..13).collect::<Vec<u64>>(),
        "every taken frame has its tracks"
    );
    for summary in tracks["tracks"].as_array().unwrap() {
        let id = &summary["track_id"];
        let class = &summary["class"];
        for f in frames {
            for o in f["objects"].as_array().unwrap() {
                if &o["track_id"] == id {
                    assert_eq!(&o["class"], class, "a track keeps its class");
                }
            }
        }
    }
    let report = json(&out.join("report.json"));
    let stages: Vec<&str> = report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stage"].as_str().unwrap())
        .collect();
    assert_eq!(stages, ["detect", "segment", "track"]);
    check_eval_reproduces(&dataset, &out, &report);
    check_labels_in_pycocotools(&out, 13);
    let predictions = json(&out.join("predictions.json"));
    check_tracks_txt(&out, predictions.as_array().unwrap().len());
    check_video(&out.join("propagation.mp4"), 13);
}

/// A frame folder with `count` small JPEG frames `0000.jpg`…; frame `cut`
/// truncated to half its bytes.
fn frame_folder(dir: &Path, count: u32, cut: u32) -> PathBuf {
    let folder = dir.join("frames");
    std::fs::create_dir_all(&folder).unwrap();
    for i in 0..count {
        let img = image::RgbImage::from_fn(160, 96, |x, y| {
            let inside = (40 + 10 * i..100 + 10 * i).contains(&x) && (30..80).contains(&y);
            image::Rgb(if inside {
                [200, 30, 30]
            } else {
                [90, (y * 2) as u8, 120]
            })
        });
        let mut jpeg = std::io::Cursor::new(Vec::new());
        img.write_to(&mut jpeg, image::ImageFormat::Jpeg).unwrap();
        let mut bytes = jpeg.into_inner();
        if i == cut {
            bytes.truncate(bytes.len() / 2);
        }
        std::fs::write(folder.join(format!("{i:04}.jpg")), bytes).unwrap();
    }
    folder
}

/// `autolabel run --clip FOLDER` with the tiny fixture models; the caller
/// adds the rest.
fn folder_run(folder: &Path, ontology: &Path, out: &Path) -> Command {
    let models = [fixture("grounding-dino-tiny"), fixture("sam2-tiny")];
    let mut c = run_clip(ontology, out, &models);
    c.arg("--clip").arg(folder);
    c
}

/// The clip indices of an output's `frames` (detections, masks, tracks).
fn frame_indices(output: &Value) -> Vec<u64> {
    output["frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["frame"].as_u64().unwrap())
        .collect()
}

/// A truncated JPEG in a frame folder is a skipped frame: reported on stderr
/// (one line), in `detections.json`, `report.json` and `report.html`, with
/// its file named, and labelled nowhere; the run goes on and succeeds.
#[test]
fn a_frame_that_does_not_decode_is_skipped_and_reported() {
    let scratch = Scratch::new("run-skipped-frame");
    let folder = frame_folder(&scratch.0, 4, 2);
    let ontology = write_ontology(&scratch.0);
    let out = scratch.0.join("out");
    let run = folder_run(&folder, &ontology, &out)
        .args(["--quiet", "--every", "1"])
        .output()
        .unwrap();
    let run = ok(run, "autolabel run with a truncated frame");
    assert_eq!(run.status.code(), Some(0));
    let err = stderr(&run);
    let lines: Vec<&str> = err.lines().filter(|l| l.contains("skipped")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].starts_with("detect: skipped frame 2: ") && lines[0].contains("0002.jpg"),
        "{err}"
    );

    let detections = json(&out.join("detections.json"));
    assert_eq!(frame_indices(&detections), [0, 1, 3]);
    let skipped = &detections["skipped"];
    assert_eq!(skipped.as_array().unwrap().len(), 1, "{skipped}");
    assert_eq!(skipped[0]["frame"], 2);
    let reason = skipped[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("0002.jpg") && reason.contains("decode"),
        "{reason}"
    );

    let report = json(&out.join("report.json"));
    assert_eq!(report["skipped_frames"], *skipped);
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        html.contains("frame 2 skipped"),
        "report.html names the skip"
    );

    let labels = json(&out.join("labels.json"));
    let images: Vec<i64> = labels["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect();
    assert_eq!(
        images,
        [0, 1, 3],
        "labels.json has no entry for the skipped frame"
    );
    let predictions = json(&out.join("predictions.json"));
    assert!(
        predictions
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["image_id"] != 2),
        "{predictions}"
    );
    check_json_files_null_only_where_optional(&out, NULLABLE);
}

/// Noun chunks (JSONL) as the run's classes, detected by iterative confidence
/// annealing: every detection records the pass and threshold that found it,
/// each keyframe what its passes asked for, the run still evaluates, and the
/// annealing settings are part of the detect stage's resume key.
#[test]
fn a_run_with_noun_chunks_and_annealing_records_each_labels_pass() {
    let scratch = Scratch::new("run-anneal");
    let dataset = demo_dataset(&scratch.0, 13);
    let chunks = scratch.0.join("chunks.jsonl");
    std::fs::write(
        &chunks,
        concat!(
            "{\"noun_chunks\": [\"car\", \"truck\"], \"class\": \"car\"}\n",
            "{\"noun_chunk\": \"person\", \"class\": \"pedestrian\"}\n",
            "\"bus\"\n",
        ),
    )
    .unwrap();
    let anneal = scratch.0.join("anneal.json");
    let write_anneal = |floor: f64| {
        let settings = serde_json::json!({"start": 0.5, "floor": floor, "max_iterations": 3,
            "scheduler": {"kind": "stepwise", "step": 0.1}});
        std::fs::write(&anneal, settings.to_string()).unwrap();
    };
    write_anneal(0.3);
    let out = scratch.0.join("out");
    let command = || {
        let mut c = cli();
        c.args(["run", "--scene", "scene-demo", "--nuscenes"])
            .arg(&dataset)
            .arg("--detector")
            .arg(fixture("grounding-dino-tiny"))
            .arg("--segmenter")
            .arg(fixture("sam2-tiny"))
            .arg("--noun-chunks")
            .arg(&chunks)
            .arg("--anneal")
            .arg(&anneal)
            .arg("--out")
            .arg(&out);
        c
    };
    let run = ok(command().output().unwrap(), "autolabel run --anneal");
    let err = stderr(&run);
    assert!(
        err.contains("caption: \"car . truck . person . bus .\"")
            && err.contains("annealing: passes at box thresholds 0.50, 0.40, 0.30"),
        "{err}"
    );

    let detections = json(&out.join("detections.json"));
    let thresholds = [0.5, 0.4, 0.3];
    let mut passes_seen = std::collections::BTreeSet::new();
    for frame in detections["frames"].as_array().unwrap() {
        let passes = frame["passes"].as_array().unwrap();
        assert_eq!(
            passes[0]["classes"],
            serde_json::json!(["car", "pedestrian", "bus"]),
            "{frame}"
        );
        for d in frame["detections"].as_array().unwrap() {
            let pass = d["anneal"]["pass"].as_u64().unwrap() as usize;
            let threshold = d["anneal"]["threshold"].as_f64().unwrap();
            assert!((threshold - thresholds[pass]).abs() < 1e-12, "{d}");
            assert!(d["score"].as_f64().unwrap() > threshold, "{d}");
            let class = &d["class"];
            let asked = passes[pass]["classes"].as_array().unwrap();
            assert!(asked.contains(class), "pass {pass} did not ask for {class}");
            passes_seen.insert(pass);
        }
    }
    assert!(
        passes_seen.len() >= 2,
        "the fixture finds labels in more than one pass: {passes_seen:?}"
    );
    let report = json(&out.join("report.json"));
    check_eval_reproduces(&dataset, &out, &report);
    check_json_files_null_only_where_optional(&out, NULLABLE);
    let settings = &json(&out.join("run.json"))["settings"];
    assert_eq!(settings["detect"]["anneal"]["floor"], 0.3);

    write_anneal(0.4);
    let again = ok(command().output().unwrap(), "autolabel run, new floor");
    let err = stderr(&again);
    assert!(
        !err.contains("detect: reusing"),
        "new annealing settings detect again: {err}"
    );
    let detections = json(&out.join("detections.json"));
    for frame in detections["frames"].as_array().unwrap() {
        assert!(frame["passes"].as_array().unwrap().len() <= 2, "{frame}");
    }
}

/// A frame between two keyframes that does not decode is left out of
/// propagation, reported (stderr, `tracks.json`, `report.json`), and the run
/// succeeds with every other frame tracked.
#[test]
fn a_bad_frame_between_keyframes_is_skipped_by_the_tracker() {
    let scratch = Scratch::new("run-track-skip");
    let folder = frame_folder(&scratch.0, 5, 1);
    let ontology = write_ontology(&scratch.0);
    let out = scratch.0.join("out");
    let run = folder_run(&folder, &ontology, &out)
        .args(["--every", "3", "--tracker"])
        .arg(fixture("sam2-video-tiny"))
        .output()
        .unwrap();
    let run = ok(run, "autolabel run --tracker with a truncated frame");
    let err = stderr(&run);
    let lines: Vec<&str> = err.lines().filter(|l| l.contains("skipped")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].starts_with("track: skipped frame 1: ") && lines[0].contains("0001.jpg"),
        "{err}"
    );
    let tracks = json(&out.join("tracks.json"));
    assert_eq!(frame_indices(&tracks), [0, 2, 3, 4]);
    assert_eq!(tracks["skipped"][0]["frame"], 1, "{tracks}");
    let report = json(&out.join("report.json"));
    assert_eq!(report["skipped_frames"], tracks["skipped"]);
    check_json_files_null_only_where_optional(&out, NULLABLE);
}

fn check_eval_reproduces(dataset: &Path, out: &Path, report: &Value) {
    let eval = ok(
        cli()
            .args(["eval", "--scene", "scene-demo", "--nuscenes"])
            .arg(dataset)
            .arg("--pred")
            .arg(out.join("predictions.json"))
            .arg("--config")
            .arg(out.join("eval-config.json"))
            .output()
            .unwrap(),
        "autolabel eval",
    );
    let again: Value = serde_json::from_slice(&eval.stdout).unwrap();
    assert_eq!(
        again, report["eval"],
        "autolabel eval of predictions.json gives the report's numbers"
    );
    assert!(
        report["eval"]["bbox"]["per_class"]
            .as_array()
            .unwrap()
            .len()
            >= 5
    );
}

/// Where the run's JSON outputs may hold `null`: the fields that are an
/// `Option` in Rust — a metric without a denominator (no ground truth or no
/// predictions of a class), a cost the run could not price, a setting left
/// at its default ([`check_json_files_null_only_where_optional`]).
const NULLABLE: &[&str] = &[
    "eval-config.json:.cost.labels_per_frame",
    "eval-config.json:.failures.max_per_kind",
    "report.json:.eval",
    "report.json:.eval.bbox.overall.category_id",
    "report.json:.eval.bbox.per_class[].ap",
    "report.json:.eval.bbox.per_class[].ap50",
    "report.json:.eval.bbox.per_class[].precision",
    "report.json:.eval.bbox.per_class[].recall",
    "report.json:.eval.segm.overall.category_id",
    "report.json:.eval.segm.per_class[].ap",
    "report.json:.eval.segm.per_class[].ap50",
    "report.json:.eval.segm.per_class[].precision",
    "report.json:.eval.segm.per_class[].recall",
    "report.json:.eval.segm",
    "report.json:.eval.cost.fleet.auto_usd",
    "report.json:.eval.cost.fleet.saving_usd",
    "report.json:.eval.cost.model.labels_per_frame",
    "report.json:.eval.cost.rows[].auto_gpu_usd_per_label",
    "report.json:.eval.cost.rows[].auto_qa_usd_per_label",
    "report.json:.eval.cost.rows[].auto_redraw_usd_per_label",
    "report.json:.eval.cost.rows[].auto_usd_per_label",
    "report.json:.eval.cost.rows[].precision",
    "report.json:.eval.cost.rows[].ratio",
    "report.json:.eval.cost.rows[].recall",
    "report.json:.eval.failures.cases[].mask_iou",
    "report.json:.eval.recall_bins[].bins[].per_class[].recall",
    "report.json:.eval.recall_bins[].bins[].recall",
    "report.json:.eval.verdict.classes[].precision",
    "report.json:.eval.verdict.classes[].recall",
    "report.json:.failure_modes[].example",
    "report.json:.frames_per_s",
    "run.json:.settings.eval.cost.labels_per_frame",
    "run.json:.settings.eval.failures.max_per_kind",
    "run.json:.settings.sampling.end",
    "run.json:.settings.sampling.every",
    "run.json:.settings.sampling.fps",
    "run.json:.settings.sampling.max_frames",
    "run.json:.settings.tracker",
];

pub(crate) fn check_labels_in_pycocotools(out: &Path, images: usize) {
    let labels = out.join("labels.json");
    let predictions = out.join("predictions.json");
    let answer = run_oracle(
        "labels_check.py",
        &[labels.to_str().unwrap(), predictions.to_str().unwrap()],
    );
    let answer: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(answer["images"], images, "{answer}");
    assert!(answer["compared"].as_u64().unwrap() > 0, "{answer}");
    assert_eq!(answer["differing_pixels"], 0, "{answer}");
    assert_eq!(answer["unmatched"], 0, "{answer}");
}

fn check_tracks_txt(out: &Path, objects: usize) {
    let text = std::fs::read_to_string(out.join("tracks.txt")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), objects);
    for line in lines {
        let fields: Vec<f64> = line.split(',').map(|f| f.parse().unwrap()).collect();
        assert_eq!(fields.len(), 10, "{line}");
        assert!(
            fields[0] >= 1.0 && fields[1] >= 1.0 && fields[4] >= 0.0,
            "{line}"
        );
    }
}

fn check_video(path: &Path, frames: usize) {
    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args([
            "-show_entries",
            "stream=codec_name,nb_read_frames",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .expect("ffprobe (Debian's ffmpeg; .ci/install installs it)");
    let text = String::from_utf8_lossy(&probe.stdout);
    assert_eq!(
        text.trim(),
        format!("h264,{frames}"),
        "{}",
        String::from_utf8_lossy(&probe.stderr)
    );
}

/// The training ZIP: one JPEG per labelled frame, and YOLO / VOC files that
/// agree with its COCO file.
fn check_training_zip(path: &Path, images: usize, predictions: &Value) {
    let bytes = std::fs::read(path).unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let jpgs = zip
        .file_names()
        .filter(|n| n.as_ref().is_ok_and(|n| n.ends_with(".jpg")))
        .count();
    assert_eq!(jpgs, images);
    let dir = path.with_extension("unpacked");
    zip.extract(&dir).unwrap();
    let objects = predictions.as_array().unwrap().len();
    crate::datasets::check_yolo_voc(&dir, "annotations.json", &Value::from(objects));
}

/// Opens the report in headless Chromium: the P/R table is in the DOM, and a
/// screenshot is left for people under the target directory.
fn check_report_html(path: &Path) {
    let html = std::fs::read_to_string(path).unwrap();
    assert!(html.contains("id=\"pr-table\""));
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "self-contained"
    );
    let url = format!("file://{}", path.display());
    let dom = Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom"])
        .arg(&url)
        .output()
        .expect("chromium (.ci/install installs it)");
    assert!(String::from_utf8_lossy(&dom.stdout).contains("pr-table"));
    let shot = artifacts().join("run-report.png");
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--window-size=1280,2400",
        ])
        .arg(format!("--screenshot={}", shot.display()))
        .arg(&url)
        .output()
        .unwrap();
    assert!(shot.is_file(), "{}", String::from_utf8_lossy(&out.stderr));
    eprintln!("report screenshot: {}", shot.display());
}

/// Where tests leave files for people to look at.
fn artifacts() -> PathBuf {
    let dir = std::env::temp_dir().join("autolabel-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Lines in the segment stage's checkpoint (its key, then one per frame).
fn checkpoint_lines(out: &Path) -> usize {
    std::fs::read_to_string(out.join(".autolabel/masks.json.partial"))
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

#[test]
fn a_run_killed_during_segmentation_resumes_to_identical_outputs() {
    let scratch = Scratch::new("run-resume");
    let dataset = demo_dataset(&scratch.0, 61);
    let ontology = write_ontology(&scratch.0);
    let whole = scratch.0.join("whole");
    ok(
        run_command(&dataset, &ontology, &whole).output().unwrap(),
        "the uninterrupted run",
    );

    let killed = scratch.0.join("killed");
    let child = run_command(&dataset, &ontology, &killed).spawn().unwrap();
    kill_when(child, "segmentation", || checkpoint_lines(&killed) >= 3);
    assert!(
        !killed.join("masks.json").exists(),
        "killed during segmentation"
    );
    ok(
        run_command(&dataset, &ontology, &killed).output().unwrap(),
        "the resumed run",
    );
    assert_same_outputs(&whole, &killed);
}

/// SIGKILLs `child` once `ready` holds (failing if it ends first).
fn kill_when(mut child: std::process::Child, stage: &str, ready: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(600);
    while !ready() {
        assert!(Instant::now() < deadline, "{stage} never got going");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it could be killed during {stage}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

/// The outputs a resumed run must reproduce byte for byte.
fn assert_same_outputs(whole: &Path, resumed: &Path) {
    for file in DETERMINISTIC {
        let (a, b) = (whole.join(file), resumed.join(file));
        assert!(
            std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap(),
            "{file} differs after the resume"
        );
    }
}

/// Frames the track stage has finished (its checkpoint's lines but the key).
fn tracked_frames(out: &Path) -> usize {
    std::fs::read_to_string(out.join(".autolabel/tracks.json.partial"))
        .map(|t| t.lines().count().saturating_sub(1))
        .unwrap_or(0)
}

#[test]
fn a_run_killed_during_tracking_resumes_from_its_saved_tracker_to_identical_outputs() {
    let scratch = Scratch::new("run-resume-track");
    let dataset = demo_dataset(&scratch.0, 19);
    let ontology = write_ontology(&scratch.0);
    let tracked = |out: &Path| {
        let mut command = loud_run_command(&dataset, &ontology, out);
        command.arg("--tracker").arg(fixture("sam2-video-tiny"));
        command
    };
    let whole = scratch.0.join("whole");
    ok(tracked(&whole).output().unwrap(), "the uninterrupted run");

    let killed = scratch.0.join("killed");
    let saved = killed.join(".autolabel/tracks.json.saved");
    let child = tracked(&killed).spawn().unwrap();
    kill_when(child, "tracking", || {
        saved.is_file() && tracked_frames(&killed) >= 2
    });
    assert!(
        !killed.join("tracks.json").exists(),
        "killed during tracking"
    );

    let out = ok(tracked(&killed).output().unwrap(), "the resumed run");
    assert!(
        stderr(&out).contains("track: resuming at frame"),
        "the resumed run should go on from the saved tracker: {}",
        stderr(&out)
    );
    assert!(
        !saved.exists(),
        "the saved tracker is removed with the stage done"
    );
    assert_same_outputs(&whole, &killed);
}

pub(crate) fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn bad_run_input_names_the_argument_and_keeps_the_users_files() {
    let scratch = Scratch::new("run-bad");
    let dataset = demo_dataset(&scratch.0, 1);
    let ontology = write_ontology(&scratch.0);
    let out = scratch.0.join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("my-notes.txt"), "keep me").unwrap();

    let (dino, sam) = (fixture("grounding-dino-tiny"), fixture("sam2-tiny"));
    for (models, arg) in [
        ([sam.clone(), sam.clone()], "--detector"),
        ([dino.clone(), dino], "--segmenter"),
    ] {
        let o = run_with_models(&dataset, &ontology, &out, &models)
            .arg("--quiet")
            .output()
            .unwrap();
        let e = stderr(&o);
        assert!(
            !o.status.success() && e.contains(arg) && e.contains("model_type"),
            "{e}"
        );
    }

    for (bad, says) in [
        (
            r#"{"classes": [{"name": "tram", "phrases": ["tram"]}]}"#,
            "'tram' is not in the class table",
        ),
        (
            r#"{"classes": [{"name": "car", "phrases": []}]}"#,
            "class 'car' has no phrases",
        ),
    ] {
        let file = scratch.0.join("bad-ontology.json");
        std::fs::write(&file, bad).unwrap();
        let o = run_command(&dataset, &file, &out).output().unwrap();
        let e = stderr(&o);
        assert!(
            !o.status.success() && e.contains("--ontology") && e.contains(says),
            "{e}"
        );
    }

    let as_file = scratch.0.join("a-file");
    std::fs::write(&as_file, "x").unwrap();
    let o = run_command(&dataset, &ontology, &as_file).output().unwrap();
    assert!(
        stderr(&o).contains("is a file, not a directory"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read_to_string(&as_file).unwrap(), "x");

    let empty = scratch.0.join("empty-clip");
    std::fs::create_dir_all(&empty).unwrap();
    let o = cli()
        .args(["run", "--quiet", "--clip"])
        .arg(&empty)
        .arg("--detector")
        .arg(fixture("grounding-dino-tiny"))
        .arg("--segmenter")
        .arg(fixture("sam2-tiny"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let e = stderr(&o);
    assert!(
        e.contains("--clip") && e.contains("no JPG or PNG frames"),
        "{e}"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("my-notes.txt")).unwrap(),
        "keep me"
    );
}

/// On the demo scene, a ground-truth box largely covered by a nearer one
/// (a pedestrian or car behind a car) gets points, and SAM 2's mask changes.
#[test]
fn occlusion_aware_prompts_change_the_mask_on_the_demo_scene() {
    use autolabel::data::classes::ClassMap;
    use autolabel::data::synthetic::SceneConfig;
    use autolabel::labels::boxes::xywh_to_xyxy;
    use autolabel::models::sam2::{Sam2ImagePredictor, Sam2Model};
    use autolabel::pipeline::detect::{Detected, FrameDetections};
    use autolabel::pipeline::input::Input;
    use autolabel::pipeline::segment::{SegmentSettings, prompts, segment_frame};

    let mut input = Input::demo(&SceneConfig::demo(), &ClassMap::nuscenes_default()).unwrap();
    let truth = input.truth.clone().unwrap();
    let occluded = truth.images.iter().find_map(|image| {
        let detections: Vec<Detected> = truth
            .objects
            .iter()
            .filter(|o| o.image_id == image.id)
            .map(|o| Detected {
                bbox: xywh_to_xyxy(o.bbox),
                score: 1.0,
                class: truth
                    .category_name(o.category_id)
                    .unwrap_or("?")
                    .to_string(),
                phrase: String::new(),
                anneal: None,
            })
            .collect();
        let with_points = prompts(&detections, &SegmentSettings::default())
            .iter()
            .position(|(p, _)| !p.points.is_empty())?;
        Some((image.id as usize, detections, with_points))
    });
    let (frame_index, detections, k) = occluded.expect("the demo scene has an occluded object");
    let frame = input.clip.frame(frame_index).unwrap();
    let (width, height) = frame.rgb.dimensions();
    let dets = FrameDetections {
        frame: frame_index,
        width,
        height,
        detections,
        passes: Vec::new(),
    };
    let model = Sam2Model::from_dir(
        &fixture("sam2-tiny"),
        &autolabel::models::burn::tensor::Device::flex(),
    )
    .unwrap();
    let mut predictor = Sam2ImagePredictor::new(model);
    let aware = segment_frame(&mut predictor, &frame, &dets, &SegmentSettings::default()).unwrap();
    let bare = SegmentSettings {
        occlusion_min_cover: None,
    };
    let plain = segment_frame(&mut predictor, &frame, &dets, &bare).unwrap();
    assert!(aware.objects[k].occluder.is_some());
    assert_eq!(aware.objects[k].prompt.points.len(), 2);
    assert!(plain.objects[k].prompt.points.is_empty());
    assert_ne!(
        aware.objects[k].mask, plain.objects[k].mask,
        "the points change the mask"
    );
}
