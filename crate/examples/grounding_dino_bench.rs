//! Benchmark of the Grounding DINO port (Liu et al., "Grounding DINO", 2023)
//! on one of Burn's backends (`--device cpu|wgpu`): detection on an 800×1333
//! input (the processor keeps that size) with the prompt "a cat. a remote
//! control." — preprocessing, forward pass, readback and post-processing, as
//! `autolabel detect` runs them — the median of `--iters` runs after a
//! warm-up, plus the process's peak resident memory. Prints one JSON object;
//! `tests/parity/grounding_dino_bench.py` runs it beside PyTorch
//! (transformers' `GroundingDinoForObjectDetection`) on the same weights and
//! writes `docs/BENCHMARKS.md`.
//!
//! cargo run --release -p autolabel --example grounding_dino_bench -- --model DIR [--iters 3] [--device cpu|wgpu]

use std::time::Instant;

use autolabel::models::BackendKind;
use autolabel::models::device::init_device;
use autolabel::models::grounding_dino::{DetectOptions, Detector};

/// Large tensor buffers in transparent huge pages (see `autolabel::huge_pages`).
#[cfg(target_os = "linux")]
#[global_allocator]
static ALLOCATOR: autolabel::huge_pages::HugePages = autolabel::huge_pages::HugePages;

mod support;
use support::{median, peak_rss_mib};

/// The benchmark's prompt, the one of transformers' docstring example.
const PROMPT: &str = "a cat. a remote control.";
/// `[height, width]` of the input: already the processor's size.
const SIZE: [usize; 2] = [800, 1333];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let usage = "usage: grounding_dino_bench --model DIR [--iters N] [--device cpu|wgpu]";
    let dir = std::path::PathBuf::from(value("--model").ok_or(usage)?);
    let iters: usize = value("--iters")
        .map(|v| v.parse())
        .transpose()?
        .unwrap_or(3)
        .max(1);
    let kind: BackendKind = value("--device").unwrap_or_else(|| "cpu".into()).parse()?;

    let device = init_device(kind)?;
    let start = Instant::now();
    let (detector, _) = Detector::from_dir(&dir, &device)?;
    let load_s = start.elapsed().as_secs_f64();

    let [h, w] = SIZE;
    let rgb: Vec<u8> = (0..w * h * 3)
        .map(|i| ((i * 2654435761) >> 13) as u8)
        .collect();
    let detect = || detector.detect(&rgb, w, h, PROMPT, DetectOptions::default());

    // Warm-up (untimed): first-call costs such as shader compilation on wgpu.
    let start = Instant::now();
    let found = detect()?.detections.len();
    let warm_up_s = start.elapsed().as_secs_f64();
    let mut runs = Vec::new();
    for _ in 0..iters {
        let start = Instant::now();
        detect()?; // reads the outputs back: the device has finished
        runs.push(start.elapsed().as_secs_f64());
    }
    println!(
        "{}",
        serde_json::json!({
            "backend": match kind {
                BackendKind::Cpu => "burn flex (CPU)",
                BackendKind::Wgpu => "burn wgpu",
            },
            "input": SIZE,
            "prompt": PROMPT,
            "load_s": load_s,
            "warm_up_s": warm_up_s,
            "detect_s": median(runs.clone()),
            "detect_runs_s": runs,
            "detections": found,
            "peak_rss_mib": peak_rss_mib(),
        })
    );
    Ok(())
}
