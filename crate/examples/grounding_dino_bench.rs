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

use autolabel::models::device::init_device;
use autolabel::models::grounding_dino::{DetectOptions, Detector};

/// Large tensor buffers in transparent huge pages (see `autolabel::huge_pages`).
#[cfg(target_os = "linux")]
#[global_allocator]
static ALLOCATOR: autolabel::huge_pages::HugePages = autolabel::huge_pages::HugePages;

mod support;
use support::{BenchArgs, peak_rss_mib, test_rgb, timed};

/// The benchmark's prompt, the one of transformers' docstring example.
const PROMPT: &str = "a cat. a remote control.";
/// `[height, width]` of the input: already the processor's size.
const SIZE: [usize; 2] = [800, 1333];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = BenchArgs::parse("grounding_dino_bench")?;
    let device = init_device(args.kind)?;
    let start = Instant::now();
    let (detector, _) = Detector::from_dir(&args.dir, &device)?;
    let load_s = start.elapsed().as_secs_f64();

    let [h, w] = SIZE;
    let rgb = test_rgb(w, h);
    // Each run reads the outputs back: the device has finished.
    let (first, times) = timed(args.iters, || {
        detector.detect(&rgb, w, h, PROMPT, DetectOptions::default())
    })?;
    println!(
        "{}",
        serde_json::json!({
            "backend": args.backend(),
            "input": SIZE,
            "prompt": PROMPT,
            "load_s": load_s,
            "warm_up_s": times.warm_up_s,
            "detect_s": times.median_s(),
            "detect_runs_s": times.runs_s,
            "detections": first.detections.len(),
            "peak_rss_mib": peak_rss_mib(),
        })
    );
    Ok(())
}
