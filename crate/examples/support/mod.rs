//! What the benchmark examples share: their command line, the test image
//! (the bytes `tests/parity/bench_rounds.py` builds), a warm-up and timed
//! runs, the median of timed runs, the backend's name and the process's
//! peak resident memory.

use std::path::PathBuf;
use std::time::Instant;

use autolabel::models::BackendKind;

/// `--model DIR [--iters N] [--device cpu|wgpu]`.
pub struct BenchArgs {
    /// The Hugging Face model directory.
    pub dir: PathBuf,
    /// Timed runs after the warm-up (at least 1; default 3).
    pub iters: usize,
    /// Where the model runs (default `cpu`).
    pub kind: BackendKind,
}

impl BenchArgs {
    /// Reads the process's arguments; `name` is the example's, for the usage
    /// line.
    pub fn parse(name: &str) -> Result<Self, Box<dyn std::error::Error>> {
        let args: Vec<String> = std::env::args().collect();
        let value = |flag: &str| {
            args.iter()
                .position(|a| a == flag)
                .and_then(|i| args.get(i + 1))
                .cloned()
        };
        let usage = format!("usage: {name} --model DIR [--iters N] [--device cpu|wgpu]");
        let dir = PathBuf::from(value("--model").ok_or(usage)?);
        let iters: usize = value("--iters")
            .map(|v| v.parse())
            .transpose()?
            .unwrap_or(3)
            .max(1);
        let kind = value("--device").unwrap_or_else(|| "cpu".into()).parse()?;
        Ok(BenchArgs { dir, iters, kind })
    }

    /// The backend as the benchmark tables name it.
    pub fn backend(&self) -> &'static str {
        match self.kind {
            BackendKind::Cpu => "burn flex (CPU)",
            BackendKind::Wgpu => "burn wgpu",
        }
    }
}

/// The benchmark image, interleaved RGB `width × height`.
pub fn test_rgb(width: usize, height: usize) -> Vec<u8> {
    (0..width * height * 3)
        .map(|i| ((i * 2654435761) >> 13) as u8)
        .collect()
}

/// Seconds of a warm-up run and of each timed run.
pub struct Timed {
    pub warm_up_s: f64,
    pub runs_s: Vec<f64>,
}

impl Timed {
    pub fn median_s(&self) -> f64 {
        median(self.runs_s.clone())
    }
}

/// One untimed-for-the-median warm-up run of `run` (first-call costs such as
/// shader compilation on wgpu), then `iters` timed runs; `run` must wait for
/// the device (read back or sync). Returns the warm-up's result.
pub fn timed<T, E>(iters: usize, mut run: impl FnMut() -> Result<T, E>) -> Result<(T, Timed), E> {
    let start = Instant::now();
    let first = run()?;
    let warm_up_s = start.elapsed().as_secs_f64();
    let mut runs_s = Vec::with_capacity(iters);
    for _ in 0..iters {
        let start = Instant::now();
        run()?;
        runs_s.push(start.elapsed().as_secs_f64());
    }
    Ok((first, Timed { warm_up_s, runs_s }))
}

/// The median of `v` (the upper one of an even count).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Peak resident set size in MiB (Linux `VmHWM`), if known.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}
