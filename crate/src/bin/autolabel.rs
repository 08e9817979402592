//! The `autolabel` command line: each pipeline stage as a subcommand that reads
//! files and writes JSON to stdout (or `--out FILE`), progress on stderr.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use autolabel::data::classes::ClassMap;
use autolabel::data::nuscenes::{DEFAULT_CHANNEL, NuScenes};
use autolabel::data::synthetic::{SceneConfig, SyntheticScene};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "autolabel",
    version,
    about = "Auto-labelling of driving camera data"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print a nuScenes scene's camera ground truth, projected to 2D boxes, as JSON.
    Gt {
        /// Dataset root (holds `v1.0-*/`, `samples/`, `sweeps/`).
        #[arg(long)]
        nuscenes: PathBuf,
        #[arg(long, default_value = "v1.0-mini")]
        version: String,
        /// Scene name, e.g. `scene-0061`.
        #[arg(long)]
        scene: String,
        /// Camera channel.
        #[arg(long, default_value = DEFAULT_CHANNEL)]
        channel: String,
        /// Walk at most this many frames (keyframes and sweeps) of the camera chain.
        #[arg(long)]
        max_frames: Option<usize>,
        /// Class table (JSON, see `autolabel classes`); the default maps onto
        /// car, truck, bus, pedestrian, cyclist, traffic light, traffic sign.
        #[arg(long)]
        classes: Option<PathBuf>,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Print the default nuScenes category → prompt class table as editable JSON.
    Classes {
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Write the synthetic demo scene as a nuScenes-format dataset.
    Demo {
        /// Dataset root to write (created if missing).
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = SceneConfig::demo().seed)]
        seed: u64,
        /// Number of camera frames (12 per second; every 6th is a keyframe).
        #[arg(long, default_value_t = SceneConfig::demo().frames)]
        frames: usize,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Gt {
            nuscenes,
            version,
            scene,
            channel,
            max_frames,
            classes,
            out,
        } => {
            let classes = load_classes(classes.as_deref())?;
            let db = NuScenes::open(&nuscenes, &version)?;
            let frames = db.camera_frames(&scene, &channel, max_frames)?;
            let gt = db.ground_truth(&frames, &classes)?;
            write_json(&gt, out.as_deref())
        }
        Command::Classes { out } => write_json(&ClassMap::nuscenes_default(), out.as_deref()),
        Command::Demo { out, seed, frames } => {
            let config = SceneConfig {
                seed,
                frames,
                ..SceneConfig::demo()
            };
            let scene = SyntheticScene::generate(&config);
            scene.write_to(&out, |done, total| {
                eprint!("\rwriting {}: {done}/{total} files", out.display());
            })?;
            eprintln!();
            Ok(())
        }
    }
}

fn load_classes(path: Option<&Path>) -> Result<ClassMap> {
    let Some(path) = path else {
        return Ok(ClassMap::nuscenes_default());
    };
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let map: ClassMap =
        serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    map.validate()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(map)
}

fn write_json<T: serde::Serialize>(value: &T, out: Option<&Path>) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    match out {
        Some(path) => std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?,
        None => std::io::stdout().lock().write_all(text.as_bytes())?,
    }
    Ok(())
}
