//! Benchmark of the SAM 2 port (Ravi et al., "SAM 2", 2024) on one of Burn's
//! backends (`--device cpu|wgpu`): image encoder at the model's input size, then the decoder with 1
//! and 16 boxes, each the median of `--iters` runs after a warm-up, plus the process's peak
//! resident memory. Prints one JSON object; `tests/parity/sam2_bench.py` runs
//! it beside PyTorch on the same weights and writes `docs/BENCHMARKS.md`.
//!
//! cargo run --release -p autolabel --example sam2_bench -- --model DIR [--iters 3] [--device cpu|wgpu]

use std::time::Instant;

use autolabel::models::device::init_device;
use autolabel::models::sam2::{Prompt, Sam2Config, Sam2ImagePredictor, Sam2Model};

/// Large tensor buffers in transparent huge pages (see `autolabel::huge_pages`).
#[cfg(target_os = "linux")]
#[global_allocator]
static ALLOCATOR: autolabel::huge_pages::HugePages = autolabel::huge_pages::HugePages;

mod support;
use support::{BenchArgs, peak_rss_mib, test_rgb, timed};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = BenchArgs::parse("sam2_bench")?;
    let device = init_device(args.kind)?;
    let start = Instant::now();
    let dir = &args.dir;
    let config = Sam2Config::from_json(&std::fs::read_to_string(dir.join("config.json"))?)?;
    let weights = std::fs::read(dir.join("model.safetensors"))?;
    let model = Sam2Model::from_safetensors(config, &weights, &device)?;
    drop(weights);
    let load_s = start.elapsed().as_secs_f64();

    let size = model.config().image_size();
    let (w, h) = (size, size);
    let rgb = test_rgb(w, h);
    let mut predictor = Sam2ImagePredictor::new(model);

    let ((), encoder) = timed(args.iters, || -> Result<(), Box<dyn std::error::Error>> {
        predictor.set_image(&rgb, w, h)?;
        device.sync()?; // the GPU queues work lazily: wait for it
        Ok(())
    })?;
    let boxes = |n: usize| -> Vec<Prompt> {
        (0..n)
            .map(|i| {
                let x = (i % 4) as f32 * w as f32 / 4.0;
                let y = (i / 4 % 4) as f32 * h as f32 / 4.0;
                Prompt {
                    points: Vec::new(),
                    bbox: Some([x, y, x + w as f32 / 4.0, y + h as f32 / 4.0]),
                    ..Default::default()
                }
            })
            .collect()
    };
    let decode = |n: usize| {
        let prompts = boxes(n);
        timed(args.iters, || predictor.predict(&prompts, false)).map(|(_, t)| t)
    };
    let decoder_1 = decode(1)?;
    let decoder_16 = decode(16)?;
    println!(
        "{}",
        serde_json::json!({
            "backend": args.backend(),
            "input": size,
            "load_s": load_s,
            "encoder_warm_up_s": encoder.warm_up_s,
            "encoder_s": encoder.median_s(),
            "encoder_runs_s": encoder.runs_s,
            "decoder_1_box_s": decoder_1.median_s(),
            "decoder_16_boxes_s": decoder_16.median_s(),
            "peak_rss_mib": peak_rss_mib(),
        })
    );
    Ok(())
}
