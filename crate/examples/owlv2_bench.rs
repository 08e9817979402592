//! Benchmark of the OWLv2 port (Minderer et al., "Scaling Open-Vocabulary
//! Object Detection", 2023) on one of Burn's backends (`--device cpu|wgpu`):
//! detection on a 960×960 image (the processor pads and resizes nothing at
//! that size) with 7 driving-class queries — preprocessing, tokenisation,
//! forward pass, readback and post-processing, as `autolabel detect` runs
//! them — the median of `--iters` runs after a warm-up, plus the process's
//! peak resident memory. Prints one JSON object; `tests/parity/owlv2_bench.py`
//! runs it beside PyTorch (transformers' `Owlv2ForObjectDetection`) on the
//! same weights and writes `docs/BENCHMARKS.md`.
//!
//! cargo run --release -p autolabel --example owlv2_bench -- --model DIR [--iters 3] [--device cpu|wgpu]

use std::time::Instant;

use autolabel::models::device::init_device;
use autolabel::models::owlv2::{DetectOptions, Detector};

/// Large tensor buffers in transparent huge pages (see `autolabel::huge_pages`).
#[cfg(target_os = "linux")]
#[global_allocator]
static ALLOCATOR: autolabel::huge_pages::HugePages = autolabel::huge_pages::HugePages;

mod support;
use support::{BenchArgs, peak_rss_mib, test_rgb, timed};

/// The benchmark's queries (`tests/parity/owlv2_bench.py` uses the same).
const QUERIES: [&str; 7] = [
    "car",
    "truck",
    "bus",
    "pedestrian",
    "bicycle",
    "traffic light",
    "traffic cone",
];
/// Side of the square input: the model's, so the processor keeps it.
const SIDE: usize = 960;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = BenchArgs::parse("owlv2_bench")?;
    let device = init_device(args.kind)?;
    let start = Instant::now();
    let detector = Detector::from_dir(&args.dir, &device)?;
    let load_s = start.elapsed().as_secs_f64();

    let rgb = test_rgb(SIDE, SIDE);
    // Each run reads the outputs back: the device has finished.
    let (first, times) = timed(args.iters, || {
        detector.detect(&rgb, SIDE, SIDE, &QUERIES, DetectOptions::default())
    })?;
    println!(
        "{}",
        serde_json::json!({
            "backend": args.backend(),
            "input": [SIDE, SIDE],
            "queries": QUERIES,
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
