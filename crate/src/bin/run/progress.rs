//! A progress line per stage on stderr: frames done, rate, time left.

use std::io::Write;

use autolabel::pipeline::run::StageProgress;

/// One stage's progress line.
pub struct Progress {
    stage: &'static str,
    total: usize,
    done: usize,
    seconds: f64,
    quiet: bool,
}

impl Progress {
    pub fn new(stage: &'static str, total: usize, quiet: bool) -> Self {
        Progress {
            stage,
            total,
            done: 0,
            seconds: 0.0,
            quiet,
        }
    }

    /// Frames a previous, killed run already finished.
    pub fn resume(&mut self, done: usize, seconds: f64) {
        self.done = done;
        self.seconds = seconds;
        if done > 0 && !self.quiet {
            eprintln!(
                "{}: resuming after {done} of {} frames",
                self.stage, self.total
            );
        }
        self.draw();
    }

    /// One more frame, which took `seconds`.
    pub fn step(&mut self, seconds: f64) {
        self.done += 1;
        self.seconds += seconds;
        self.draw();
    }

    /// A line of its own above the progress line; shown with `--quiet` too.
    pub fn line(&self, text: &str) {
        if self.quiet {
            eprintln!("{text}");
        } else {
            eprintln!("\r{text:<72}");
            self.draw();
        }
    }

    pub fn finish(&self) {
        if !self.quiet {
            eprintln!();
        }
    }

    fn draw(&self) {
        if self.quiet {
            return;
        }
        let width = 24;
        let filled = (self.done * width).checked_div(self.total).unwrap_or(width);
        let bar: String = (0..width)
            .map(|i| if i < filled { '#' } else { '.' })
            .collect();
        let progress = StageProgress {
            done: self.done,
            total: self.total,
            seconds: self.seconds,
        };
        let eta = progress
            .eta_seconds()
            .map(|s| format!("ETA {s:.0} s"))
            .unwrap_or_default();
        let rate = progress
            .rate()
            .map(|r| format!("{r:.2} frames/s"))
            .unwrap_or_default();
        // A closed stderr is no reason to stop labelling.
        let _ = write!(
            std::io::stderr(),
            "\r{:<8} [{bar}] {}/{} {rate} {eta}   ",
            self.stage,
            self.done,
            self.total
        );
    }
}
