//! OWLv2 (Minderer et al., "Scaling Open-Vocabulary Object Detection", 2023)
//! against the reference, transformers 5.23.0: the committed tiny checkpoint
//! in `models/fixtures/owlv2-tiny` (written by `tests/parity/owlv2_fixtures.py`
//! with `save_pretrained`; random weights at a discriminative scale) is loaded
//! through the loader users use, and the processor's pixels and query ids,
//! the vision encoder output, the pooled and projected queries, the feature
//! map, class embeddings, logits, objectness and boxes, and the
//! post-processed detections must match the reference's to `TOLERANCE` max
//! abs, on Burn's CPU backend and on its wgpu runtime (lavapipe on CI; the
//! detections there through the asynchronous readback the browser uses).
//! Deliberately wrong variants — no pad-to-square, no grid box bias, softmax
//! instead of sigmoid scores — are shown to fail the same comparisons. Last,
//! bad input: an empty query list, a query longer than the text context, a
//! checkpoint of another model.

use std::path::PathBuf;

use autolabel::models::BackendKind;
use autolabel::models::burn::tensor::{Device, Tensor};
use autolabel::models::checkpoint::read_all_f32;
use autolabel::models::device::init_device;
use autolabel::models::owlv2::postprocess::{self, RawOutputs};
use autolabel::models::owlv2::preprocess::ProcessorConfig;
use autolabel::models::owlv2::{DetectOptions, Detector, Outputs, Owlv2, Owlv2Config, Owlv2Error};
use autolabel::text::clip::{ClipTokenizer, QueryError};
use serde_json::Value;

use crate::support::{Tensors, block_on, get, max_abs, repo, tensor_on, values};

/// The issue's bar: max abs error.
const TOLERANCE: f32 = 1e-4;

/// The committed tiny fixture, or `$AUTOLABEL_OWLV2_FIXTURE` (the full-size
/// parity script points it at a generated directory).
fn dir() -> PathBuf {
    std::env::var_os("AUTOLABEL_OWLV2_FIXTURE")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("models/fixtures/owlv2-tiny"))
}

fn reference() -> Tensors {
    let bytes = std::fs::read(dir().join("reference.safetensors"))
        .expect("fixture file (run tests/parity/owlv2_fixtures.py)");
    read_all_f32(&bytes).expect("fixture is safetensors")
}

fn cases() -> Value {
    let json = std::fs::read_to_string(dir().join("cases.json")).expect("cases.json");
    serde_json::from_str(&json).expect("cases.json parses")
}

fn model_on(device: &Device) -> Owlv2 {
    Owlv2::from_dir(&dir(), device).expect("the fixture loads")
}

fn wgpu() -> Device {
    init_device(BackendKind::Wgpu)
        .expect("a wgpu adapter (Debian: apt install mesa-vulkan-drivers)")
}

/// The queries as the processor tokenised them, `[Q][16]`.
fn input_ids(r: &Tensors) -> Vec<Vec<i64>> {
    let (shape, ids) = get(r, "input_ids");
    ids.chunks_exact(shape[1])
        .map(|row| row.iter().map(|&v| v as i64).collect())
        .collect()
}

fn queries() -> Vec<String> {
    cases()["queries"]
        .as_array()
        .expect("queries")
        .iter()
        .map(|q| q.as_str().expect("a query").to_string())
        .collect()
}

fn image_hw(r: &Tensors) -> [usize; 2] {
    let shape = &get(r, "image_rgb").0;
    [shape[0], shape[1]]
}

/// The processor of the fixture directory.
fn processor() -> ProcessorConfig {
    let json = std::fs::read_to_string(dir().join("preprocessor_config.json"))
        .expect("preprocessor_config.json");
    ProcessorConfig::from_json(&json).expect("the fixture's processor config")
}

fn run(model: &Owlv2, r: &Tensors) -> Outputs {
    let pixels = tensor_on::<4>(get(r, "pixel_values"), model.device());
    model.forward(pixels, &input_ids(r)).expect("forward")
}

/// Each output's max abs error and the reference's largest magnitude.
fn output_report(out: Outputs, r: &Tensors) -> Vec<(&'static str, f32, f32)> {
    let outputs: [(&str, Vec<f32>); 8] = [
        (
            "vision_last_hidden_state",
            values(out.vision_last_hidden_state),
        ),
        ("text_pooled", values(out.text.pooled)),
        ("text_embeds", values(out.text.embeds)),
        ("image_embeds", values(out.image_embeds)),
        ("class_embeds", values(out.class_embeds)),
        ("logits", values(out.logits)),
        ("objectness_logits", values(out.objectness_logits)),
        ("pred_boxes", values(out.pred_boxes)),
    ];
    outputs
        .into_iter()
        .map(|(name, got)| {
            let want = &get(r, name).1;
            let magnitude = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            (name, max_abs(name, &got, want), magnitude)
        })
        .collect()
}

fn check_outputs(device: &Device) {
    let r = reference();
    for (name, err, _) in output_report(run(&model_on(device), &r), &r) {
        eprintln!("owlv2 {name}: max abs {err:.2e}");
        assert!(err <= TOLERANCE, "{name}: max abs {err} > {TOLERANCE}");
    }
}

#[test]
fn owlv2_every_output_matches_the_reference() {
    check_outputs(&Device::flex());
}

#[test]
fn owlv2_every_output_matches_the_reference_on_wgpu() {
    check_outputs(&wgpu());
}

#[test]
fn owlv2_tokenizer_gives_the_processor_ids() {
    let r = reference();
    let ids = ClipTokenizer::owlv2()
        .encode_queries(&queries(), 16)
        .expect("queries fit");
    assert_eq!(ids, input_ids(&r));
    // "remote control!": the `!` is OWLv2's pad token, id 0, inside the query.
    assert_eq!(&ids[1][..5], &[49406, 9687, 3366, 0, 49407]);
}

#[test]
fn owlv2_preprocessing_matches_the_image_processor() {
    let r = reference();
    let [h, w] = image_hw(&r);
    let rgb: Vec<u8> = get(&r, "image_rgb").1.iter().map(|&v| v as u8).collect();
    let config = processor();
    let got = config.preprocess_rgb(&rgb, w, h);
    let err = max_abs("pixel_values", &got, &get(&r, "pixel_values").1);
    assert!(err <= TOLERANCE, "pixel_values: max abs {err}");

    // Without pad-to-square the image is stretched: the wrong variant fails.
    let stretched = ProcessorConfig {
        do_pad: false,
        ..config.clone()
    };
    let wrong = max_abs(
        "pixel_values",
        &stretched.preprocess_rgb(&rgb, w, h),
        &get(&r, "pixel_values").1,
    );
    assert!(
        wrong > 100.0 * TOLERANCE,
        "no pad-to-square: max abs {wrong}"
    );

    for case in cases()["preprocess_cases"].as_array().expect("cases") {
        check_preprocess_case(&config, case);
    }
}

/// The processor on a generated image: sums and two pixels of the output.
fn check_preprocess_case(config: &ProcessorConfig, case: &Value) {
    let hw: Vec<usize> = serde_json::from_value(case["hw"].clone()).expect("hw");
    let (h, w) = (hw[0], hw[1]);
    let rgb: Vec<u8> = (0..h * w * 3)
        .map(|i| {
            let (y, x, c) = (i / (w * 3), i / 3 % w, i % 3);
            ((y * 37 + x * 11 + c * 89 + (x * y) % 7 * 13) % 256) as u8
        })
        .collect();
    let got = config.preprocess_rgb(&rgb, w, h);
    let [oh, ow] = config.output_size([h, w]);
    let sum: f64 = got.iter().map(|&v| f64::from(v)).sum();
    let abs_sum: f64 = got.iter().map(|&v| f64::from(v).abs()).sum();
    let n = got.len() as f64;
    for (what, ours, want) in [
        ("sum", sum, case["sum"].as_f64().expect("sum")),
        (
            "abs_sum",
            abs_sum,
            case["abs_sum"].as_f64().expect("abs_sum"),
        ),
    ] {
        assert!(
            (ours - want).abs() <= n * f64::from(TOLERANCE) * 0.1,
            "{h}×{w}: {what} {ours} vs {want}"
        );
    }
    for (what, [y, x]) in [("first", [0, 0]), ("centre", [oh / 2, ow / 3])] {
        let ours: Vec<f32> = (0..3).map(|c| got[(c * oh + y) * ow + x]).collect();
        let want: Vec<f32> = serde_json::from_value(case[what].clone()).expect("pixel");
        assert!(
            max_abs(what, &ours, &want) <= TOLERANCE,
            "{h}×{w}: {what} pixel {ours:?} vs {want:?}"
        );
    }
}

/// The post-processor's detections, `(score, label, box / side)` each.
fn reference_detections(r: &Tensors) -> Vec<(f32, usize, [f32; 4])> {
    let side = image_hw(r).into_iter().max().expect("two sides") as f32;
    let scores = &get(r, "detections.scores").1;
    let labels = &get(r, "detections.labels").1;
    let boxes = &get(r, "detections.boxes").1;
    scores
        .iter()
        .zip(labels)
        .zip(boxes.chunks_exact(4))
        .map(|((&s, &l), b)| (s, l as usize, [b[0], b[1], b[2], b[3]].map(|v| v / side)))
        .collect()
}

/// Detections equal the reference's: the same patches with the same labels,
/// scores and boxes (in units of the padded square's side) within the
/// tolerance.
fn same_detections(
    got: &[(f32, usize, [f32; 4])],
    want: &[(f32, usize, [f32; 4])],
) -> Result<(), String> {
    if got.len() != want.len() {
        return Err(format!(
            "{} detections, reference has {}",
            got.len(),
            want.len()
        ));
    }
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let box_err = max_abs("box", &g.2, &w.2);
        if g.1 != w.1 || (g.0 - w.0).abs() > TOLERANCE || box_err > TOLERANCE {
            return Err(format!("detection {i}: {g:?} vs {w:?}"));
        }
    }
    Ok(())
}

fn ours(found: &[postprocess::Detection], side: f32) -> Vec<(f32, usize, [f32; 4])> {
    found
        .iter()
        .map(|d| (d.score, d.label, d.box_xyxy.map(|v| v / side)))
        .collect()
}

fn threshold() -> f32 {
    cases()["threshold"].as_f64().expect("threshold") as f32
}

/// End to end through the [`Detector`] (what `autolabel detect` runs): the
/// image bytes and the query strings in, detections out.
fn check_detections(device: &Device, asynchronous: bool) {
    let r = reference();
    let [h, w] = image_hw(&r);
    let rgb: Vec<u8> = get(&r, "image_rgb").1.iter().map(|&v| v as u8).collect();
    let detector = Detector::new(model_on(device), ClipTokenizer::owlv2())
        .with_processor(processor())
        .expect("the fixture's processor fits the model");
    let options = DetectOptions {
        threshold: threshold(),
        nms_iou: None,
    };
    let queries = queries();
    let report = if asynchronous {
        block_on(detector.detect_async(&rgb, w, h, &queries, options))
    } else {
        detector.detect(&rgb, w, h, &queries, options)
    }
    .expect("detect");
    let side = h.max(w) as f32;
    let got: Vec<(f32, usize, [f32; 4])> = report
        .detections
        .iter()
        .map(|d| {
            let label = queries.iter().position(|q| *q == d.label).expect("a query");
            (d.score, label, d.box_xyxy.map(|v| v / side))
        })
        .collect();
    let want = reference_detections(&r);
    assert!(
        want.len() >= 4,
        "a fixture with few detections: {}",
        want.len()
    );
    same_detections(&got, &want).unwrap();
}

#[test]
fn owlv2_detections_match_the_post_processor() {
    check_detections(&Device::flex(), false);
}

/// Through `detect_async`: the readback the browser's WebGPU needs.
#[test]
fn owlv2_detections_match_the_post_processor_on_wgpu() {
    check_detections(&wgpu(), true);
}

/// `post_process_image_guided_detection`'s detections, `(alpha, 0, box /
/// side)` each.
fn guided_reference_detections(r: &Tensors) -> Vec<(f32, usize, [f32; 4])> {
    let side = image_hw(r).into_iter().max().expect("two sides") as f32;
    get(r, "guided.detections.scores")
        .1
        .iter()
        .zip(get(r, "guided.detections.boxes").1.chunks_exact(4))
        .map(|(&s, b)| (s, 0, [b[0], b[1], b[2], b[3]].map(|v| v / side)))
        .collect()
}

/// Image-guided detection (a crop of the image as the query): the query
/// image's pixels, the outputs of `image_guided_detection` and
/// `post_process_image_guided_detection`'s detections (NMS at the
/// reference's 0.3, display alphas as scores).
fn check_image_guided(device: &Device) {
    let r = reference();
    let model = model_on(device);
    let (shape, query) = get(&r, "query_rgb");
    let query: Vec<u8> = query.iter().map(|&v| v as u8).collect();
    let query_pixels = processor().preprocess_rgb(&query, shape[1], shape[0]);
    let err = max_abs(
        "query pixels",
        &query_pixels,
        &get(&r, "query_pixel_values").1,
    );
    assert!(err <= TOLERANCE, "query pixel_values: max abs {err}");

    let pixels = tensor_on::<4>(get(&r, "pixel_values"), device);
    let query = tensor_on::<4>(get(&r, "query_pixel_values"), device);
    let out = model
        .image_guided(pixels, query)
        .expect("image-guided detection");
    let logits = values(out.logits);
    let boxes = values(out.target_pred_boxes);
    for (name, got) in [
        ("guided.logits", logits.clone()),
        ("guided.target_pred_boxes", boxes.clone()),
        ("guided.query_pred_boxes", values(out.query_pred_boxes)),
        ("guided.class_embeds", values(out.class_embeds)),
    ] {
        let err = max_abs(name, &got, &get(&r, name).1);
        eprintln!("owlv2 {name}: max abs {err:.2e}");
        assert!(err <= TOLERANCE, "{name}: max abs {err} > {TOLERANCE}");
    }

    let hw = image_hw(&r);
    let side = hw.into_iter().max().expect("two sides") as f32;
    let threshold = cases()["guided_threshold"].as_f64().expect("threshold") as f32;
    let nms = cases()["guided_nms"].as_f64().expect("NMS IoU") as f32;
    let found = postprocess::image_guided_detections(&logits, &boxes, threshold, nms, hw);
    let want = guided_reference_detections(&r);
    assert!(
        want.len() >= 4,
        "few image-guided detections: {}",
        want.len()
    );
    same_detections(&ours(&found, side), &want).unwrap();
    // Without NMS more patches pass: the comparison sees NMS.
    let all = postprocess::image_guided_detections(&logits, &boxes, threshold, 1.0, hw);
    assert!(same_detections(&ours(&all, side), &want).is_err());
}

#[test]
fn owlv2_image_guided_detection_matches_the_reference() {
    check_image_guided(&Device::flex());
}

#[test]
fn owlv2_image_guided_detection_matches_the_reference_on_wgpu() {
    check_image_guided(&wgpu());
}

/// The wrong variants: boxes without the grid bias, and scores as a softmax
/// over the queries instead of each query's sigmoid.
#[test]
fn owlv2_wrong_variants_fail() {
    let r = reference();
    let model = model_on(&Device::flex());
    let unbiased = run(&model.clone().without_box_bias(), &r);
    let err = max_abs(
        "pred_boxes",
        &values(unbiased.pred_boxes),
        &get(&r, "pred_boxes").1,
    );
    assert!(err > 100.0 * TOLERANCE, "no box bias: max abs {err}");

    let out = run(&model, &r);
    let logits = values(out.logits);
    let boxes = values(out.pred_boxes);
    let q = input_ids(&r).len();
    let hw = image_hw(&r);
    let side = hw.into_iter().max().expect("two sides") as f32;
    let raw = RawOutputs {
        logits: &logits,
        boxes: &boxes,
        queries: q,
    };
    let want = reference_detections(&r);
    same_detections(
        &ours(&postprocess::detections(raw, threshold(), hw), side),
        &want,
    )
    .expect("the sigmoid scores match");
    let softmax: Vec<(f32, usize, [f32; 4])> = logits
        .chunks_exact(q)
        .zip(boxes.chunks_exact(4))
        .filter_map(|(row, b)| {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let total: f32 = row.iter().map(|v| (v - max).exp()).sum();
            let (label, _) = row
                .iter()
                .enumerate()
                .fold(
                    (0, f32::NEG_INFINITY),
                    |m, (i, &v)| if v > m.1 { (i, v) } else { m },
                );
            let score = 1.0 / total;
            let corners = [
                b[0] - b[2] / 2.0,
                b[1] - b[3] / 2.0,
                b[0] + b[2] / 2.0,
                b[1] + b[3] / 2.0,
            ];
            (score > threshold()).then_some((score, label, corners))
        })
        .collect();
    assert!(
        same_detections(&softmax, &want).is_err(),
        "softmax scores pass the comparison"
    );
}

/// The fixture is no trivial case: scores spread over the sigmoid, several
/// queries win patches, boxes stay inside the square around their patch.
#[test]
fn owlv2_fixture_outputs_are_discriminative() {
    let r = reference();
    let want = reference_detections(&r);
    let labels: std::collections::BTreeSet<usize> = want.iter().map(|d| d.1).collect();
    assert!(
        labels.len() >= 2,
        "detections of one query only: {labels:?}"
    );
    let logits = &get(&r, "logits").1;
    let spread = logits.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(spread > 1.0, "logits within ±{spread}");
}

#[test]
fn owlv2_bad_queries_are_refused() {
    let detector = Detector::new(model_on(&Device::flex()), ClipTokenizer::owlv2());
    let rgb = vec![128u8; 8 * 6 * 3];
    let none: [&str; 0] = [];
    let err = detector
        .detect(&rgb, 8, 6, &none, DetectOptions::default())
        .unwrap_err();
    assert!(
        matches!(err, Owlv2Error::Queries(QueryError::Empty)),
        "{err}"
    );
    assert!(err.to_string().contains("no queries"), "{err}");

    let long = "a very long query about a red car parked next to a tall tree by the road";
    let err = detector
        .detect(&rgb, 8, 6, &["a car", long], DetectOptions::default())
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("query 1") && message.contains("text context holds 16"),
        "{message}"
    );

    // Tokens given directly: the model checks them too.
    let model = detector.model();
    let pixels = Tensor::<4>::zeros([1, 3, 64, 64], model.device());
    let err = model
        .forward(pixels.clone(), &[vec![49406; 17]])
        .unwrap_err();
    assert!(err.to_string().contains("queries of 17 tokens"), "{err}");
    let err = model.forward(pixels, &[vec![49406, 60000]]).unwrap_err();
    assert!(err.to_string().contains("token id 60000"), "{err}");
    let err = detector
        .detect(
            &rgb,
            8,
            6,
            &["a car"],
            DetectOptions {
                threshold: 1.5,
                nms_iou: None,
            },
        )
        .unwrap_err();
    assert!(err.to_string().contains("threshold 1.5"), "{err}");
}

/// A Grounding DINO checkpoint given as OWLv2: the config names its model
/// type and the file; OWLv2's config with another model's weights lists the
/// missing keys.
#[test]
fn owlv2_checkpoints_of_another_model_are_refused() {
    let device = Device::flex();
    let other = repo().join("models/fixtures/grounding-dino-tiny");
    let err = Detector::from_dir(&other, &device).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("config.json")
            && message.contains("model_type 'grounding-dino' is not 'owlv2'"),
        "{message}"
    );
    let config = std::fs::read_to_string(dir().join("config.json")).expect("config.json");
    let weights = std::fs::read(other.join("model.safetensors")).expect("weights");
    let err = Detector::from_bytes(&config, &weights, &device).unwrap_err();
    match &err {
        Owlv2Error::Weights(problems) => {
            assert!(
                problems
                    .missing
                    .iter()
                    .any(|k| k == "owlv2.vision_model.embeddings.class_embedding")
            );
            assert!(!problems.unexpected.is_empty());
        }
        other => panic!("expected a weights error, got {other}"),
    }
    let own = std::fs::read(dir().join("model.safetensors")).expect("weights");
    let err = Detector::from_bytes(&config, &own[..own.len() / 2], &device).unwrap_err();
    assert!(matches!(err, Owlv2Error::Safetensors(_)), "{err}");
}

#[test]
fn owlv2_published_configs_parse_to_the_presets() {
    let base = r#"{"architectures": ["Owlv2ForObjectDetection"], "model_type": "owlv2",
        "projection_dim": 512, "text_config": {"model_type": "owlv2_text_model"},
        "vision_config": {"image_size": 960, "model_type": "owlv2_vision_model"}}"#;
    assert_eq!(
        Owlv2Config::from_json(base).unwrap(),
        Owlv2Config::base_patch16()
    );
    let large = r#"{"model_type": "owlv2", "projection_dim": 768,
        "text_config": {"hidden_size": 768, "intermediate_size": 3072, "num_attention_heads": 12},
        "vision_config": {"hidden_size": 1024, "image_size": 1008, "intermediate_size": 4096,
            "num_attention_heads": 16, "num_hidden_layers": 24, "patch_size": 14}}"#;
    assert_eq!(
        Owlv2Config::from_json(large).unwrap(),
        Owlv2Config::large_patch14()
    );
}

#[test]
#[ignore = "run by tests/parity/owlv2_full.py on a generated full-size fixture"]
fn owlv2_parity_report() {
    let r = reference();
    let model = model_on(&Device::flex());
    let start = std::time::Instant::now();
    let out = run(&model, &r);
    let _ = values(out.pred_boxes.clone());
    let seconds = start.elapsed().as_secs_f64();
    let [h, w] = image_hw(&r);
    let rgb: Vec<u8> = get(&r, "image_rgb").1.iter().map(|&v| v as u8).collect();
    let pixels = processor().preprocess_rgb(&rgb, w, h);
    let want = &get(&r, "pixel_values").1;
    let magnitude = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let processor_row = (
        "pixel_values (processor)",
        max_abs("pixels", &pixels, want),
        magnitude,
    );
    for (name, abs, magnitude) in std::iter::once(processor_row).chain(output_report(out, &r)) {
        println!(
            "OWLV2_PARITY {}",
            serde_json::json!({"output": name, "max_abs": abs, "max_rel": abs / magnitude.max(f32::MIN_POSITIVE), "ref_max": magnitude})
        );
    }
    println!(
        "OWLV2_PARITY {}",
        serde_json::json!({"output": "forward", "seconds": seconds})
    );
}

fn write_fixture_png(r: &Tensors, path: &std::path::Path) {
    let [h, w] = image_hw(r);
    let rgb: Vec<u8> = get(r, "image_rgb").1.iter().map(|&v| v as u8).collect();
    image::RgbImage::from_raw(w as u32, h as u32, rgb)
        .expect("an RGB buffer")
        .save(path)
        .expect("write the PNG");
}

/// `autolabel detect` on the fixture directory: `config.json`'s `model_type`
/// picks OWLv2, the classes become queries, the JSON holds the reference's
/// detections.
#[test]
fn owlv2_cli_detect_picks_the_model_from_its_config() {
    let r = reference();
    let scratch = crate::support::Scratch::new("owlv2-cli");
    let png = scratch.0.join("image.png");
    write_fixture_png(&r, &png);
    let threshold = threshold().to_string();
    let prompt = queries().join("; ");
    let model = dir();
    let base = [
        "detect",
        "--model",
        model.to_str().expect("a UTF-8 path"),
        "--image",
        png.to_str().expect("a UTF-8 path"),
        "--prompt",
        &prompt,
        "--box-threshold",
        &threshold,
    ];
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_autolabel"))
        .args(base)
        .output()
        .expect("run autolabel");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("(owlv2)"), "{stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let lowered: Vec<String> = queries().iter().map(|q| q.to_lowercase()).collect();
    assert_eq!(report["queries"], serde_json::json!(lowered));
    let [h, w] = image_hw(&r);
    let side = h.max(w) as f32;
    let got: Vec<(f32, usize, [f32; 4])> = report["detections"]
        .as_array()
        .expect("detections")
        .iter()
        .map(|d| {
            let label = d["label"].as_str().expect("a label");
            let b: [f32; 4] = serde_json::from_value(d["box"].clone()).expect("a box");
            (
                d["score"].as_f64().expect("a score") as f32,
                lowered.iter().position(|q| q == label).expect("a query"),
                b.map(|v| v / side),
            )
        })
        .collect();
    same_detections(&got, &reference_detections(&r)).unwrap();

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_autolabel"))
        .args(base)
        .args(["--text-threshold", "0.3"])
        .output()
        .expect("run autolabel");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("--text-threshold"),
        "{stderr}"
    );
}

/// `autolabel detect --query-image`: image-guided detection end to end, the
/// reference's detections (display alphas as scores) labelled with the
/// query image's file name; Grounding DINO refuses a query image.
#[test]
fn owlv2_cli_detects_by_example() {
    let r = reference();
    let scratch = crate::support::Scratch::new("owlv2-cli-guided");
    let (png, query_png) = (scratch.0.join("image.png"), scratch.0.join("query.png"));
    write_fixture_png(&r, &png);
    let (shape, query) = get(&r, "query_rgb");
    let query: Vec<u8> = query.iter().map(|&v| v as u8).collect();
    image::RgbImage::from_raw(shape[1] as u32, shape[0] as u32, query)
        .expect("an RGB buffer")
        .save(&query_png)
        .expect("write the PNG");
    let threshold = cases()["guided_threshold"]
        .as_f64()
        .expect("threshold")
        .to_string();
    let run = |model: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_autolabel"))
            .args(["detect", "--model", model.to_str().expect("UTF-8")])
            .args(["--image", png.to_str().expect("UTF-8")])
            .args(["--query-image", query_png.to_str().expect("UTF-8")])
            .args(["--box-threshold", &threshold])
            .output()
            .expect("run autolabel")
    };
    let out = run(&dir());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let [h, w] = image_hw(&r);
    let side = h.max(w) as f32;
    let got: Vec<(f32, usize, [f32; 4])> = report["detections"]
        .as_array()
        .expect("detections")
        .iter()
        .map(|d| {
            assert_eq!(d["label"], "query.png");
            let b: [f32; 4] = serde_json::from_value(d["box"].clone()).expect("a box");
            (
                d["score"].as_f64().expect("a score") as f32,
                0,
                b.map(|v| v / side),
            )
        })
        .collect();
    let want = guided_reference_detections(&r);
    same_detections(&got, &want).unwrap();

    let out = run(&repo().join("models/fixtures/grounding-dino-tiny"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("--query-image needs an OWLv2"),
        "{stderr}"
    );
}

/// The pipeline's detect stage with OWLv2: each ontology phrase one query, a
/// class's box threshold on the query probability (its text threshold does
/// not apply), boxes clipped to the image.
#[test]
fn owlv2_pipeline_detect_stage_reads_the_ontology_phrases_as_queries() {
    use autolabel::data::frame::Frame;
    use autolabel::pipeline::detect::{DetectSettings, DetectorModel, FrameDetector};
    use autolabel::pipeline::ontology::{Ontology, OntologyClass};

    let r = reference();
    let detector = DetectorModel::from_dir(&dir(), &Device::flex()).expect("the fixture loads");
    assert_eq!(detector.model_type(), "owlv2");
    let q = queries();
    let class = |name: &str, phrases: &[String]| OntologyClass {
        name: name.into(),
        phrases: phrases.to_vec(),
        box_threshold: threshold(),
        text_threshold: 0.999,
    };
    let ontology = Ontology {
        classes: vec![class("cat", &q[..2]), class("light", &q[2..])],
    };
    let names = ["cat".to_string(), "light".to_string()];
    let caption = ontology.caption(&names).expect("a caption");
    let settings = DetectSettings {
        nms_iou: None,
        ..DetectSettings::default()
    };
    let stage = FrameDetector::new(&detector, &ontology, caption, settings).expect("queries fit");
    let [h, w] = image_hw(&r);
    let rgb: Vec<u8> = get(&r, "image_rgb").1.iter().map(|&v| v as u8).collect();
    let frame = Frame {
        index: 0,
        timestamp_us: 0,
        rgb: image::RgbImage::from_raw(w as u32, h as u32, rgb).expect("an RGB buffer"),
    };
    let found = stage.detect(&frame).expect("detect").detections;
    let side = h.max(w) as f32;
    let inside = |b: &[f32; 4]| b[0] * side < w as f32 && b[1] * side < h as f32;
    let want: Vec<(f32, &str)> = reference_detections(&r)
        .iter()
        .filter(|d| inside(&d.2))
        .map(|d| (d.0, if d.1 < 2 { "cat" } else { "light" }))
        .collect();
    assert!(!want.is_empty());
    assert_eq!(found.len(), want.len(), "{found:?}");
    for (d, (score, class)) in found.iter().zip(&want) {
        assert_eq!(d.class, *class);
        assert!(
            (d.score as f32 - score).abs() <= TOLERANCE,
            "{d:?} vs {score}"
        );
        assert!(
            d.bbox[2] <= w as f64 && d.bbox[3] <= h as f64,
            "not clipped: {d:?}"
        );
    }
}
