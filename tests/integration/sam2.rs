//! SAM 2 (Ravi et al., 2024) against the reference, transformers 5.23.0, on
//! Burn's CPU backend and on its wgpu runtime (lavapipe on CI): the committed
//! tiny checkpoint in `models/fixtures/sam2-tiny` (written by
//! `tests/parity/sam2_fixtures.py`, random weights at a discriminative scale)
//! is loaded through the same loader users use, and the image embeddings,
//! high-resolution features, IoU scores, object scores and masks of seven
//! prompt sets (one with a mask input) must match the reference's to
//! `TOLERANCE` max abs. Deliberately wrong variants (one resize with
//! `align_corners` flipped, the dynamic multimask fallback skipped) are shown
//! to fail the same comparison.

use std::collections::BTreeMap;
use std::path::PathBuf;

use autolabel::models::BackendKind;
use autolabel::models::burn::tensor::module::interpolate;
use autolabel::models::burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use autolabel::models::burn::tensor::{Device, Tensor, TensorData, f16};
use autolabel::models::checkpoint::{half_precision_copy, read_all_f32};
use autolabel::models::device::init_device;
use autolabel::models::sam2::processing::{self, upscale_masks};
use autolabel::models::sam2::{Prompt, Sam2Config, Sam2Error, Sam2ImagePredictor, Sam2Model};
use serde_json::Value;

use crate::support::max_abs;
use crate::support::repo;

/// The bar: max abs error on the CPU backend.
const TOLERANCE: f32 = 1e-4;

type Tensors = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// The committed tiny fixture, or `$AUTOLABEL_SAM2_FIXTURE` (the full-size
/// parity script points it at a generated directory).
fn dir() -> PathBuf {
    std::env::var_os("AUTOLABEL_SAM2_FIXTURE")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("models/fixtures/sam2-tiny"))
}

fn device() -> Device {
    Device::flex()
}

fn read(name: &str) -> Tensors {
    let bytes =
        std::fs::read(dir().join(name)).expect("fixture file (run tests/parity/sam2_fixtures.py)");
    read_all_f32(&bytes).expect("fixture is safetensors")
}

fn get<'a>(t: &'a Tensors, key: &str) -> &'a (Vec<usize>, Vec<f32>) {
    t.get(key)
        .unwrap_or_else(|| panic!("fixture lacks '{key}'"))
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().expect("f32 tensor")
}

fn tensor<const D: usize>(entry: &(Vec<usize>, Vec<f32>)) -> Tensor<D> {
    tensor_on(entry, &device())
}

fn tensor_on<const D: usize>(entry: &(Vec<usize>, Vec<f32>), device: &Device) -> Tensor<D> {
    let shape: [usize; D] = entry.0.clone().try_into().expect("rank");
    Tensor::from_data(TensorData::new(entry.1.clone(), shape), device)
}

fn max_magnitude(v: &[f32]) -> f32 {
    v.iter().fold(0.0, |m, x| m.max(x.abs()))
}

fn config() -> Sam2Config {
    let json = std::fs::read_to_string(dir().join("config.json")).expect("config.json");
    Sam2Config::from_json(&json).expect("fixture config parses")
}

fn model_with(config: Sam2Config, device: &Device) -> Sam2Model {
    let bytes = std::fs::read(dir().join("model.safetensors")).expect("model.safetensors");
    Sam2Model::from_safetensors(config, &bytes, device).expect("fixture weights load")
}

fn predictor_of(model: Sam2Model) -> Sam2ImagePredictor {
    let image = read("image.safetensors");
    let (shape, rgb) = get(&image, "image_rgb");
    let rgb: Vec<u8> = rgb.iter().map(|&v| v as u8).collect();
    let mut predictor = Sam2ImagePredictor::new(model);
    predictor
        .set_image(&rgb, shape[1], shape[0])
        .expect("set_image");
    predictor
}

fn cases() -> Vec<Value> {
    let json = std::fs::read_to_string(dir().join("cases.json")).expect("cases.json");
    let v: Value = serde_json::from_str(&json).expect("cases.json parses");
    v["cases"].as_array().expect("cases").clone()
}

fn f32s(v: &Value) -> Vec<f32> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number") as f32)
        .collect()
}

/// A case's prompt sets in original-image pixels, as the predictor takes them.
fn prompts(case: &Value) -> Vec<Prompt> {
    let boxes: Vec<[f32; 4]> = case
        .get("boxes")
        .map(|b| {
            b.as_array()
                .expect("boxes")
                .iter()
                .map(|b| f32s(b).try_into().expect("4 numbers"))
                .collect()
        })
        .unwrap_or_default();
    let points: Vec<Vec<([f32; 2], i32)>> = case
        .get("points")
        .map(|sets| {
            let labels = case["labels"].as_array().expect("labels");
            sets.as_array()
                .expect("point sets")
                .iter()
                .zip(labels)
                .map(|(set, labels)| {
                    set.as_array()
                        .expect("points")
                        .iter()
                        .zip(labels.as_array().expect("labels"))
                        .map(|(p, l)| {
                            (
                                f32s(p).try_into().expect("x, y"),
                                l.as_i64().expect("label") as i32,
                            )
                        })
                        .collect()
                })
                .collect()
        })
        .unwrap_or_default();
    // A case with `mask_from` feeds a low-res mask back (SAM2ImagePredictor's mask_input).
    let mask_input = case.get("mask_from").map(|_| {
        let name = case["name"].as_str().expect("name");
        get(&read(&format!("case_{name}.safetensors")), "input_masks")
            .1
            .clone()
    });
    let n = boxes.len().max(points.len());
    (0..n)
        .map(|i| Prompt {
            points: points.get(i).cloned().unwrap_or_default(),
            bbox: boxes.get(i).copied(),
            mask_input: mask_input.clone(),
        })
        .collect()
}

fn predictor_with(config: Sam2Config, device: &Device) -> Sam2ImagePredictor {
    predictor_of(model_with(config, device))
}

/// Worst error of every output of one case: (iou, object score, low-res logits,
/// upscaled logits, binary mask pixels that differ where the reference logit
/// is farther than `tolerance` from the threshold).
fn case_errors(predictor: &Sam2ImagePredictor, case: &Value, tolerance: f32) -> [f32; 5] {
    case_report(predictor, case, tolerance).0
}

/// [`case_errors`], the largest reference magnitude of each output, and the
/// number of mask pixels.
fn case_report(
    predictor: &Sam2ImagePredictor,
    case: &Value,
    tolerance: f32,
) -> ([f32; 5], [f32; 4], usize) {
    let name = case["name"].as_str().expect("name");
    let want = read(&format!("case_{name}.safetensors"));
    let multimask = case["multimask"].as_bool().expect("multimask");
    let predictions = predictor
        .predict(&prompts(case), multimask)
        .expect("predict");
    let flat = |f: &dyn Fn(&autolabel::models::sam2::Prediction) -> Vec<f32>| -> Vec<f32> {
        predictions.iter().flat_map(f).collect()
    };
    let iou = max_abs(
        name,
        &flat(&|p| p.iou_scores.clone()),
        &get(&want, "iou_scores").1,
    );
    let obj = max_abs(
        name,
        &flat(&|p| vec![p.object_score_logit]),
        &get(&want, "object_score_logits").1,
    );
    let low = get(&want, "pred_masks");
    let low_res = max_abs(name, &flat(&|p| p.low_res_logits.clone()), &low.1);
    let logits_ref = get(&want, "masks_logits");
    let [h, w] = [logits_ref.0[2], logits_ref.0[3]];
    let logits = values(upscale_masks(tensor::<4>(low), [h, w]));
    let upscaled = max_abs(name, &logits, &logits_ref.1);
    let binary: Vec<f32> = flat(&|p| {
        p.masks
            .iter()
            .flat_map(|m| m.data().iter().map(|&v| f32::from(v)).collect::<Vec<_>>())
            .collect()
    });
    let masks_ref = &get(&want, "masks").1;
    let flipped = binary
        .iter()
        .zip(masks_ref)
        .zip(&logits_ref.1)
        .filter(|((a, b), logit)| a != b && logit.abs() > tolerance)
        .count();
    let magnitudes = [
        max_magnitude(&get(&want, "iou_scores").1),
        max_magnitude(&get(&want, "object_score_logits").1),
        max_magnitude(&low.1),
        max_magnitude(&logits_ref.1),
    ];
    (
        [iou, obj, low_res, upscaled, flipped as f32],
        magnitudes,
        masks_ref.len(),
    )
}

#[test]
fn sam2_preprocessing_matches_the_image_processor() {
    let image = read("image.safetensors");
    let (shape, rgb) = get(&image, "image_rgb");
    let rgb: Vec<u8> = rgb.iter().map(|&v| v as u8).collect();
    let size = config().image_size();
    let ours = processing::preprocess_rgb(&rgb, shape[1], shape[0], size);
    let err = max_abs("pixel_values", &ours, &get(&image, "pixel_values").1);
    assert!(err <= TOLERANCE, "pixel_values max abs {err}");
}

#[test]
fn sam2_image_features_match_the_reference() {
    check_image_features(&device(), TOLERANCE);
}

#[test]
fn sam2_prompt_sets_match_the_reference() {
    check_prompt_sets(&device(), TOLERANCE);
}

/// The tolerance on Burn's wgpu runtime, the CPU bar: its kernels sum
/// in another order and use the driver's `exp`/`erf`; measured ≤ 1.2e-5 on
/// lavapipe (mesa 22.3.6).
const WGPU_TOLERANCE: f32 = 1e-4;

/// The wgpu runtime on the machine's adapter; on CI that is mesa's lavapipe
/// (software Vulkan, `mesa-vulkan-drivers`), installed by `.ci/install`.
fn wgpu() -> Device {
    init_device(BackendKind::Wgpu)
        .expect("a wgpu adapter (Debian: apt install mesa-vulkan-drivers)")
}

#[test]
fn sam2_image_features_match_the_reference_on_wgpu() {
    check_image_features(&wgpu(), WGPU_TOLERANCE);
}

#[test]
fn sam2_prompt_sets_match_the_reference_on_wgpu() {
    check_prompt_sets(&wgpu(), WGPU_TOLERANCE);
}

fn check_image_features(device: &Device, tolerance: f32) {
    let image = read("image.safetensors");
    let model = model_with(config(), device);
    let features = model.image_features(tensor_on::<4>(get(&image, "pixel_values"), device));
    for (name, got) in [
        ("image_embeddings", features.image_embeddings),
        ("high_res_s0", features.high_res_s0),
        ("high_res_s1", features.high_res_s1),
    ] {
        let want = get(&image, name);
        assert_eq!(got.dims().to_vec(), want.0, "{name} shape");
        let err = max_abs(name, &values(got), &want.1);
        eprintln!("sam2 {name} ({device:?}): max abs {err:.2e}");
        assert!(err <= tolerance, "{name}: max abs {err} > {tolerance}");
    }
}

fn check_prompt_sets(device: &Device, tolerance: f32) {
    let predictor = predictor_with(config(), device);
    for case in cases() {
        let [iou, obj, low, up, flipped] = case_errors(&predictor, &case, tolerance);
        eprintln!(
            "sam2 {} ({device:?}): iou {iou:.1e}, object {obj:.1e}, low-res logits {low:.1e}, masks logits {up:.1e}, flipped {flipped}",
            case["name"]
        );
        for (what, err) in [
            ("iou", iou),
            ("object score", obj),
            ("low-res logits", low),
            ("mask logits", up),
        ] {
            assert!(
                err <= tolerance,
                "{}: {what} max abs {err} > {tolerance}",
                case["name"]
            );
        }
        assert_eq!(
            flipped, 0.0,
            "{}: mask pixels differ away from the threshold",
            case["name"]
        );
    }
}

/// The fixture's outputs are discriminative: the outputs spread, so a port
/// that computed something else would not pass by luck.
#[test]
fn sam2_fixture_outputs_are_discriminative() {
    let mut ious = Vec::new();
    for case in cases() {
        ious.extend(
            case["iou_scores"]
                .as_array()
                .expect("iou")
                .iter()
                .flat_map(f32s),
        );
        let name = case["name"].as_str().expect("name");
        let low = read(&format!("case_{name}.safetensors"));
        let logits = &get(&low, "pred_masks").1;
        let spread = logits.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(spread > 1.0, "{name}: mask logits within ±{spread}");
        let inside = get(&low, "masks").1.iter().filter(|&&v| v > 0.0).count();
        assert!(
            inside > 0 && inside < get(&low, "masks").1.len(),
            "{name}: masks are all one value"
        );
    }
    let (lo, hi) = ious
        .iter()
        .fold((1.0f32, 0.0f32), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    assert!(hi - lo > 0.3, "IoU scores span only [{lo}, {hi}]");
}

/// Wrong variant 1: the mask upscaling with `align_corners = true` (Burn's
/// default, PyTorch's opposite) fails the comparison the port passes.
#[test]
fn sam2_upscaling_with_align_corners_flipped_fails() {
    for case in cases() {
        let name = case["name"].as_str().expect("name");
        let want = read(&format!("case_{name}.safetensors"));
        let low = tensor::<4>(get(&want, "pred_masks"));
        let reference = get(&want, "masks_logits");
        let hw = [reference.0[2], reference.0[3]];
        let right = max_abs(name, &values(upscale_masks(low.clone(), hw)), &reference.1);
        let flipped = interpolate(
            low,
            InterpolateOptions::new(InterpolateMode::Bilinear)
                .with_align_corners(true)
                .with_output_size(hw),
        );
        let wrong = max_abs(name, &values(flipped), &reference.1);
        assert!(
            right <= TOLERANCE,
            "{name}: the right upscaling is off by {right}"
        );
        assert!(
            wrong > 100.0 * TOLERANCE,
            "{name}: align_corners=true passes ({wrong})"
        );
    }
}

/// Wrong variant 2: skipping the dynamic multimask fallback changes the
/// single-mask outputs of the prompts whose single mask is unstable.
#[test]
fn sam2_skipping_the_dynamic_multimask_fallback_fails() {
    let mut config = config();
    config.mask_decoder.dynamic_multimask_via_stability = false;
    let predictor = predictor_with(config, &device());
    let mut failing = 0;
    let mut single = 0;
    for case in cases() {
        if case["multimask"].as_bool() == Some(true) {
            continue;
        }
        single += 1;
        let [iou, obj, low, up, _] = case_errors(&predictor, &case, TOLERANCE);
        assert!(
            obj <= TOLERANCE,
            "the object score does not depend on the mask choice"
        );
        if iou.max(low).max(up) > 100.0 * TOLERANCE {
            failing += 1;
        }
    }
    assert!(single >= 2, "the fixture needs single-mask cases");
    assert!(
        failing >= 1,
        "no single-mask case notices the skipped fallback"
    );
}

#[test]
fn sam2_weight_errors_name_the_key_and_shapes() {
    let bytes = std::fs::read(dir().join("model.safetensors")).expect("model.safetensors");
    let load = |config: Sam2Config| match Sam2Model::from_safetensors(config, &bytes, &device()) {
        Err(Sam2Error::Weights(p)) => p,
        Err(other) => panic!("expected a weights error, got {other}"),
        Ok(_) => panic!("a wrong config loaded"),
    };

    let mut wider = config();
    wider.mask_decoder.iou_head_hidden_dim = 48;
    let problems = load(wider);
    assert!(
        problems
            .mismatched
            .contains(&"key 'mask_decoder.iou_prediction_head.proj_in.weight' expected [48, 32], got [32, 32]".to_string()),
        "{problems}"
    );

    let mut deeper = config();
    deeper.vision.backbone.blocks_per_stage = vec![1, 1, 2, 2];
    let problems = load(deeper);
    assert!(
        problems
            .missing
            .iter()
            .any(|k| k == "vision_encoder.backbone.blocks.5.attn.qkv.weight"),
        "{problems}"
    );

    let mut shallower = config();
    shallower.vision.backbone.blocks_per_stage = vec![1, 1, 1, 1];
    shallower.vision.backbone.global_attention_blocks = vec![];
    let problems = load(shallower);
    assert!(!problems.unexpected.is_empty(), "{problems}");
    let message = Sam2Error::Weights(problems).to_string();
    assert!(message.contains("unexpected"), "{message}");

    match Sam2Model::from_safetensors(config(), b"not a safetensors file", &device()) {
        Err(Sam2Error::Safetensors(_)) => {}
        other => panic!("garbage bytes: {:?}", other.err()),
    }
}

#[test]
fn sam2_checkpoint_dir_loads_and_predict_needs_an_image() {
    let model = Sam2Model::from_dir(&dir(), &device()).expect("the fixture directory loads");
    assert_eq!(model.config(), &config());
    let predictor = Sam2ImagePredictor::new(model);
    assert!(matches!(
        predictor.predict(&[Prompt::default()], true),
        Err(Sam2Error::NoImage)
    ));
    let missing = Sam2Model::from_dir(&dir().join("nowhere"), &device());
    assert!(matches!(missing, Err(Sam2Error::Io { .. })));
}

/// The full-size parity report (`tests/parity/sam2_full.py` runs it with
/// `AUTOLABEL_SAM2_FIXTURE` set): max abs and relative error of every output,
/// one `SAM2_PARITY {json}` line each. It asserts nothing but that it ran.
#[test]
#[ignore = "run by tests/parity/sam2_full.py on a generated full-size fixture"]
fn sam2_parity_report() {
    let report = |what: &str, abs: f32, magnitude: f32| {
        println!(
            "SAM2_PARITY {}",
            serde_json::json!({"output": what, "max_abs": abs, "max_rel": abs / magnitude.max(f32::MIN_POSITIVE), "ref_max": magnitude})
        );
    };
    let image = read("image.safetensors");
    let size = config().image_size();
    let (shape, rgb) = get(&image, "image_rgb");
    let rgb: Vec<u8> = rgb.iter().map(|&v| v as u8).collect();
    let pixels = &get(&image, "pixel_values").1;
    let ours = processing::preprocess_rgb(&rgb, shape[1], shape[0], size);
    report(
        "pixel_values",
        max_abs("pixel_values", &ours, pixels),
        max_magnitude(pixels),
    );

    let model = model_with(config(), &device());
    let features = model.image_features(tensor::<4>(get(&image, "pixel_values")));
    for (name, got) in [
        ("image_embeddings", features.image_embeddings),
        ("high_res_s0", features.high_res_s0),
        ("high_res_s1", features.high_res_s1),
    ] {
        let want = &get(&image, name).1;
        report(name, max_abs(name, &values(got), want), max_magnitude(want));
    }
    let predictor = predictor_with(config(), &device());
    for case in cases() {
        let name = case["name"].as_str().expect("name").to_string();
        let (errors, magnitudes, pixels) = case_report(&predictor, &case, TOLERANCE);
        for (i, what) in [
            "iou_scores",
            "object_score_logits",
            "pred_masks",
            "masks_logits",
        ]
        .iter()
        .enumerate()
        {
            report(&format!("{name}/{what}"), errors[i], magnitudes[i]);
        }
        println!(
            "SAM2_PARITY {}",
            serde_json::json!({"output": format!("{name}/masks"), "flipped_pixels": errors[4], "pixels": pixels})
        );
    }
}

/// The page's half-precision cache copy: half the bytes, every weight the
/// original rounded to F16, loaded by the same loader, and the outputs of
/// every prompt set close to the reference's.
#[test]
fn sam2_half_precision_copy_loads_and_stays_close() {
    let bytes = std::fs::read(dir().join("model.safetensors")).expect("model.safetensors");
    let copy = half_precision_copy(&bytes).expect("converts");
    assert!(
        copy.len() < bytes.len() * 11 / 20,
        "{} of {} bytes",
        copy.len(),
        bytes.len()
    );
    let (original, half) = (read_all_f32(&bytes).unwrap(), read_all_f32(&copy).unwrap());
    assert_eq!(
        original.keys().collect::<Vec<_>>(),
        half.keys().collect::<Vec<_>>()
    );
    for (key, (shape, values)) in &original {
        assert_eq!(&half[key].0, shape, "{key}");
        for (&v, &h) in values.iter().zip(&half[key].1) {
            assert_eq!(h, f16::from_f32(v).to_f32(), "{key}: {v} stored as {h}");
        }
    }
    let model = Sam2Model::from_safetensors(config(), &copy, &device()).expect("the copy loads");
    let predictor = predictor_of(model);
    // Measured on this fixture: IoU ≤ 2.6e-4, object score ≤ 3.0e-3, low-res
    // logits ≤ 0.17 % of their largest magnitude, ≤ 0.06 % of mask pixels
    // flipped (all next to the threshold).
    for case in cases() {
        let ([iou, obj, low, _, flipped], magnitudes, pixels) = case_report(&predictor, &case, 0.0);
        let name = &case["name"];
        eprintln!(
            "sam2 f16 copy {name}: iou {iou:.1e}, object {obj:.1e}, low-res logits {low:.1e} of {:.1}, {flipped} of {pixels} pixels flipped",
            magnitudes[2]
        );
        assert!(iou <= 1e-3, "{name}: iou {iou}");
        assert!(obj <= 1e-2, "{name}: object score {obj}");
        assert!(low <= 4e-3 * magnitudes[2], "{name}: low-res logits {low}");
        assert!(
            flipped <= 1e-3 * pixels as f32,
            "{name}: {flipped} pixels flipped"
        );
    }
}
