//! The five classes of issue 20, through the command line as a user meets
//! them: a closed stdout pipe, sizes past the limits, a checkpoint with NaN
//! weights, a truncated image, and errors that name their file or argument.
//! Each must end with a clear message (or quietly, for the pipe) and never a
//! panic or an abort.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use autolabel::models::burn::tensor::Device;
use autolabel::models::sam2::Sam2Model;

use crate::support::{Scratch, repo};

fn autolabel(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_autolabel"))
        .args(args)
        .output()
        .expect("run autolabel")
}

/// Runs autolabel with its stdout a pipe whose reading end is already closed.
fn autolabel_into_closed_pipe(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_autolabel"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run autolabel");
    drop(child.stdout.take());
    child.wait_with_output().expect("wait for autolabel")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The command failed with one `error:` line mentioning every part, no panic.
fn assert_fails_naming(out: &Output, parts: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "exit status; stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    for part in parts {
        assert!(err.contains(part), "stderr should mention '{part}': {err}");
    }
}

fn sam2_dir() -> PathBuf {
    repo().join("models/fixtures/sam2-tiny")
}

fn gdino_dir() -> PathBuf {
    repo().join("models/fixtures/grounding-dino-tiny")
}

fn encoded(width: u32, height: u32, format: image::ImageFormat) -> Vec<u8> {
    let img = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x * 7) as u8, (y * 3) as u8, 120])
    });
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.display().to_string()
}

#[test]
fn a_closed_stdout_ends_every_kind_of_command_quietly() {
    let scratch = Scratch::new("closed-pipe");
    let image = write(
        &scratch.0,
        "frame.png",
        &encoded(96, 64, image::ImageFormat::Png),
    );
    let (sam2, gdino) = (sam2_dir(), gdino_dir());
    let commands: [&[&str]; 4] = [
        &["classes"],
        &["eval-config"],
        &[
            "segment",
            "--model",
            sam2.to_str().unwrap(),
            "--image",
            &image,
            "--box",
            "4,4,60,50",
        ],
        &[
            "detect",
            "--model",
            gdino.to_str().unwrap(),
            "--image",
            &image,
            "--prompt",
            "car",
        ],
    ];
    for args in commands {
        let out = autolabel_into_closed_pipe(args);
        let err = stderr(&out);
        assert!(
            out.status.success(),
            "{args:?}: {:?}; stderr: {err}",
            out.status
        );
        assert!(
            !err.contains("panicked") && !err.contains("error"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn sizes_past_the_limits_are_refused_before_allocating() {
    let scratch = Scratch::new("limits");
    let coco = |side: u32| {
        serde_json::json!({
            "images": [{"id": 1, "file_name": "a.png", "width": side, "height": side}],
            "categories": [{"id": 1, "name": "car"}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 9, 9],
                "iscrowd": 0, "segmentation": [[0, 0, 150000, 0, 150000, 150000]]}]
        })
        .to_string()
    };
    let huge = write(&scratch.0, "huge.json", coco(200_000).as_bytes());
    let preds = write(&scratch.0, "preds.json", b"[]");
    let out = autolabel(&["eval", "--gt", &huge, "--pred", &preds]);
    assert_fails_naming(
        &out,
        &["huge.json", "images[0] (id 1)", "200000×200000", "limit"],
    );

    let small = write(&scratch.0, "small.json", coco(64).as_bytes());
    let zip = scratch.0.join("out.zip").display().to_string();
    let out = autolabel(&[
        "export",
        "--gt",
        &small,
        "--zip",
        &zip,
        "--size",
        "100000x100000",
    ]);
    assert_fails_naming(&out, &["'100000x100000'", "limit"]);
}

/// A copy of the tiny SAM 2 fixture whose tensor `key` is changed by `poison`
/// (on its little-endian F32 values).
fn poisoned_sam2(dir: &Path, key: &str, poison: impl Fn(&mut [f32])) {
    let source = sam2_dir();
    std::fs::copy(source.join("config.json"), dir.join("config.json")).unwrap();
    let mut bytes = std::fs::read(source.join("model.safetensors")).unwrap();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + header_len]).unwrap();
    assert_eq!(header[key]["dtype"], "F32");
    let offset =
        |i: usize| 8 + header_len + header[key]["data_offsets"][i].as_u64().unwrap() as usize;
    let data = &mut bytes[offset(0)..offset(1)];
    let mut values: Vec<f32> = data
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    poison(&mut values);
    for (chunk, v) in data.chunks_exact_mut(4).zip(values) {
        chunk.copy_from_slice(&v.to_le_bytes());
    }
    std::fs::write(dir.join("model.safetensors"), bytes).unwrap();
}

/// `autolabel segment` with the checkpoint in `dir` (a damaged copy of the
/// fixture's) on a frame written there, one box.
fn segment_with_checkpoint_in(dir: &Path) -> Output {
    let image = write(dir, "frame.png", &encoded(64, 48, image::ImageFormat::Png));
    let model = dir.display().to_string();
    autolabel(&[
        "segment",
        "--model",
        &model,
        "--image",
        &image,
        "--box",
        "1,1,30,30",
    ])
}

#[test]
fn a_checkpoint_with_nan_weights_is_refused_naming_the_key() {
    let scratch = Scratch::new("nan-checkpoint");
    let key = "mask_decoder.iou_prediction_head.proj_out.weight";
    poisoned_sam2(&scratch.0, key, |v| v[1] = f32::NAN);
    let err = Sam2Model::from_dir(&scratch.0, &Device::flex())
        .expect_err("NaN weights must not load")
        .to_string();
    assert!(
        err.contains("model.safetensors") && err.contains(key) && err.contains("NaN"),
        "{err}"
    );

    let out = segment_with_checkpoint_in(&scratch.0);
    assert_fails_naming(&out, &["model.safetensors", key, "NaN"]);
    assert!(out.stdout.is_empty(), "no JSON for a refused model");
}

#[test]
fn a_truncated_image_is_an_error_naming_the_file() {
    let scratch = Scratch::new("truncated");
    let jpeg = encoded(96, 64, image::ImageFormat::Jpeg);
    let png = encoded(96, 64, image::ImageFormat::Png);
    let cut_jpeg = write(&scratch.0, "cut.jpg", &jpeg[..jpeg.len() / 2]);
    let cut_png = write(&scratch.0, "cut.png", &png[..png.len() * 2 / 3]);
    let sam2 = sam2_dir().display().to_string();
    for image in [&cut_jpeg, &cut_png] {
        let out = autolabel(&[
            "segment", "--model", &sam2, "--image", image, "--box", "1,1,9,9",
        ]);
        assert_fails_naming(&out, &[image, "cannot decode image"]);
    }
    let out = autolabel(&[
        "detect", "--model", "unused", "--image", &cut_jpeg, "--prompt", "car",
    ]);
    assert_fails_naming(&out, &[&cut_jpeg, "truncated"]);

    // The export's image resizing reads the same way.
    let coco = serde_json::json!({
        "images": [{"id": 1, "file_name": "cut.jpg", "width": 96, "height": 64}],
        "categories": [{"id": 1, "name": "car"}],
        "annotations": []
    });
    let gt = write(&scratch.0, "gt.json", coco.to_string().as_bytes());
    let zip = scratch.0.join("train.zip").display().to_string();
    let out = autolabel(&["export", "--gt", &gt, "--zip", &zip, "--size", "32"]);
    assert_fails_naming(&out, &["cut.jpg", "truncated"]);
    assert!(!Path::new(&zip).exists(), "no ZIP with a grey half-frame");
}

#[test]
fn errors_name_their_file_or_argument() {
    let scratch = Scratch::new("named-errors");
    let model = scratch.0.join("model");
    std::fs::create_dir_all(&model).unwrap();
    std::fs::write(model.join("config.json"), "this is not JSON").unwrap();
    std::fs::copy(
        sam2_dir().join("model.safetensors"),
        model.join("model.safetensors"),
    )
    .unwrap();
    let image = write(
        &scratch.0,
        "frame.png",
        &encoded(64, 48, image::ImageFormat::Png),
    );
    let model = model.display().to_string();
    let out = autolabel(&[
        "segment", "--model", &model, "--image", &image, "--point", "5,5,1",
    ]);
    assert_fails_naming(
        &out,
        &[&format!("{model}/config.json"), "not a valid config"],
    );

    let file = write(&scratch.0, "a-file", b"");
    let out = autolabel(&["demo", "--out", &file, "--frames", "1"]);
    assert_fails_naming(&out, &["--out", &file, "not a directory"]);
    let out = autolabel(&["classes", "--out", &scratch.0.display().to_string()]);
    assert_fails_naming(&out, &[&scratch.0.display().to_string(), "is a directory"]);
}

#[test]
fn negative_coordinates_parse_as_numbers() {
    let scratch = Scratch::new("negative-box");
    let image = write(
        &scratch.0,
        "frame.png",
        &encoded(64, 48, image::ImageFormat::Png),
    );
    let out_file = scratch.0.join("masks.json");
    let sam2 = sam2_dir().display().to_string();
    let out = autolabel(&[
        "segment",
        "--model",
        &sam2,
        "--image",
        &image,
        "--box",
        "-10,-10,5,5",
        "--point",
        "-3,4,0",
        "--out",
        &out_file.display().to_string(),
    ]);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&out_file).unwrap()).unwrap();
    assert_eq!(
        json["results"][0]["prompt"]["box"],
        serde_json::json!([-10.0, -10.0, 5.0, 5.0])
    );
    assert!(json["results"][0]["masks"][0]["score"].is_number());
    let out = autolabel(&[
        "eval", "--gt", "x.json", "--pred", "y.json", "--iou", "-0.5",
    ]);
    assert_fails_naming(&out, &["--iou -0.5"]);
}

#[test]
fn weights_that_overflow_give_an_error_not_null_scores() {
    let scratch = Scratch::new("overflowing-checkpoint");
    // Finite, so the loader takes them; every IoU logit overflows to ±Inf,
    // and their sum to NaN.
    poisoned_sam2(
        &scratch.0,
        "mask_decoder.iou_prediction_head.proj_in.weight",
        |v| v.iter_mut().for_each(|x| *x = x.signum() * 3e38),
    );
    let out = segment_with_checkpoint_in(&scratch.0);
    assert_fails_naming(&out, &["IoU scores", "NaN or Inf"]);
    assert!(out.stdout.is_empty(), "no JSON with null scores");
}
