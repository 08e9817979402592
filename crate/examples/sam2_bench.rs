//! Benchmark of the SAM 2 port (Ravi et al., "SAM 2", 2024) on one of Burn's
//! backends (`--device cpu|wgpu`): image encoder at the model's input size, then the decoder with 1
//! and 16 boxes, each the median of `--iters` runs after a warm-up, plus the process's peak
//! resident memory. Prints one JSON object; `tests/parity/sam2_bench.py` runs
//! it beside PyTorch on the same weights and writes `docs/BENCHMARKS.md`.
//!
//! cargo run --release -p autolabel --example sam2_bench -- --model DIR [--iters 3] [--device cpu|wgpu]

use std::time::Instant;

use autolabel::models::BackendKind;
use autolabel::models::device::init_device;
use autolabel::models::sam2::{Prompt, Sam2Config, Sam2ImagePredictor, Sam2Model};

/// Large tensor buffers in transparent huge pages (see `autolabel::huge_pages`).
#[cfg(target_os = "linux")]
#[global_allocator]
static ALLOCATOR: autolabel::huge_pages::HugePages = autolabel::huge_pages::HugePages;

mod support;
use support::{median, peak_rss_mib};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let dir = std::path::PathBuf::from(
        value("--model").ok_or("usage: sam2_bench --model DIR [--iters N]")?,
    );
    let iters: usize = value("--iters")
        .map(|v| v.parse())
        .transpose()?
        .unwrap_or(3)
        .max(1);

    let kind: BackendKind = value("--device").unwrap_or_else(|| "cpu".into()).parse()?;
    let device = init_device(kind)?;
    let start = Instant::now();
    let config = Sam2Config::from_json(&std::fs::read_to_string(dir.join("config.json"))?)?;
    let weights = std::fs::read(dir.join("model.safetensors"))?;
    let model = Sam2Model::from_safetensors(config, &weights, &device)?;
    drop(weights);
    let load_s = start.elapsed().as_secs_f64();

    let size = model.config().image_size();
    let (w, h) = (size, size);
    let rgb: Vec<u8> = (0..w * h * 3)
        .map(|i| ((i * 2654435761) >> 13) as u8)
        .collect();
    let mut predictor = Sam2ImagePredictor::new(model);

    // Warm-up (untimed): first-call costs such as shader compilation on wgpu.
    predictor.set_image(&rgb, w, h)?;
    device.sync()?;
    let mut encoder = Vec::new();
    for _ in 0..iters {
        let start = Instant::now();
        predictor.set_image(&rgb, w, h)?;
        device.sync()?; // the GPU queues work lazily: wait for it
        encoder.push(start.elapsed().as_secs_f64());
    }
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
    let decode = |n: usize| -> Result<Vec<f64>, Box<dyn std::error::Error>> {
        let prompts = boxes(n);
        predictor.predict(&prompts, false)?;
        let mut times = Vec::new();
        for _ in 0..iters {
            let start = Instant::now();
            predictor.predict(&prompts, false)?;
            times.push(start.elapsed().as_secs_f64());
        }
        Ok(times)
    };
    let decoder_1 = decode(1)?;
    let decoder_16 = decode(16)?;
    println!(
        "{}",
        serde_json::json!({
            "backend": match kind {
                BackendKind::Cpu => "burn flex (CPU)",
                BackendKind::Wgpu => "burn wgpu",
            },
            "input": size,
            "load_s": load_s,
            "encoder_s": median(encoder.clone()),
            "encoder_runs_s": encoder,
            "decoder_1_box_s": median(decoder_1),
            "decoder_16_boxes_s": median(decoder_16),
            "peak_rss_mib": peak_rss_mib(),
        })
    );
    Ok(())
}
