//! `autolabel track`: SAM 2's video predictor on a clip from point and box
//! prompts, forward, backward or both; per frame and object a COCO RLE mask at
//! the frame's size, the object's presence logit and its box, as JSON.
//!
//! Paper: Ravi et al., "SAM 2", 2024; the model is
//! `autolabel::models::sam2::Sam2VideoModel` (a port of transformers'
//! `Sam2VideoModel`), the stage `autolabel::pipeline::propagate`.

use std::error::Error;
use std::path::PathBuf;
use std::time::Instant;

use autolabel::data::clip::Clip;
use autolabel::models::BackendKind;
use autolabel::models::device::init_device;
use autolabel::models::sam2::{Sam2Error, Sam2VideoModel};
use autolabel::pipeline::propagate::{ClipShape, Direction, PropagationPrompt, propagate};

use crate::model_arg::{SEGMENTER_FILES, model_dir};

/// Frames per second assumed for a frame folder (only timestamps depend on it).
const FOLDER_FPS: f64 = 12.0;

/// Arguments of `autolabel track`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// SAM 2 video checkpoint: a Hugging Face model directory or hub id, e.g.
    /// `facebook/sam2.1-hiera-tiny`.
    #[arg(long)]
    pub model: String,
    /// The clip: a folder of JPG/PNG frames (in natural name order) or an MP4 (H.264).
    #[arg(long)]
    pub clip: PathBuf,
    /// JSON list of `{"frame": i, "object_id": k, "points": [[x, y, label], …]?,
    /// "box": [x0, y0, x1, y1]?}` in frame pixels; each object's first prompt
    /// frame is where it is first known.
    #[arg(long)]
    pub prompts: PathBuf,
    /// From the earliest prompted frame: to the end, to frame 0, or both.
    #[arg(long, value_enum, default_value = "forward")]
    pub direction: DirectionArg,
    /// Where the model runs: `cpu` or `wgpu`.
    #[arg(long, default_value = "cpu")]
    pub device: BackendKind,
    /// No per-frame progress on stderr.
    #[arg(long)]
    pub quiet: bool,
    /// Write the JSON here instead of stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum DirectionArg {
    Forward,
    Backward,
    Both,
}

impl From<DirectionArg> for Direction {
    fn from(d: DirectionArg) -> Self {
        match d {
            DirectionArg::Forward => Direction::Forward,
            DirectionArg::Backward => Direction::Backward,
            DirectionArg::Both => Direction::Both,
        }
    }
}

fn open_clip(path: &std::path::Path) -> Result<Clip, Box<dyn Error>> {
    let clip = if path.is_dir() {
        Clip::folder(path, FOLDER_FPS)
    } else {
        Clip::video(path)
    }
    .map_err(|e| format!("--clip {}: {e}", path.display()))?;
    if clip.is_empty() {
        return Err(format!("--clip {}: no frames", path.display()).into());
    }
    Ok(clip)
}

fn read_prompts(
    path: &std::path::Path,
    frames: usize,
) -> Result<Vec<PropagationPrompt>, Box<dyn Error>> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("--prompts {}: {e}", path.display()))?;
    let prompts: Vec<PropagationPrompt> =
        serde_json::from_str(&text).map_err(|e| format!("--prompts {}: {e}", path.display()))?;
    if prompts.is_empty() {
        return Err(format!("--prompts {}: the list is empty", path.display()).into());
    }
    for (i, p) in prompts.iter().enumerate() {
        if p.frame >= frames {
            return Err(format!(
                "--prompts {}: prompt {i} is on frame {}, the clip has {frames} frames",
                path.display(),
                p.frame
            )
            .into());
        }
        if p.points.is_empty() && p.bbox.is_none() {
            return Err(format!(
                "--prompts {}: prompt {i} has neither points nor a box",
                path.display()
            )
            .into());
        }
        p.prompt()
            .check()
            .map_err(|e| format!("--prompts {}: prompt {i}: {e}", path.display()))?;
    }
    Ok(prompts)
}

/// Runs `autolabel track`.
pub fn run(args: Args) -> Result<(), Box<dyn Error>> {
    let mut clip = open_clip(&args.clip)?;
    let prompts = read_prompts(&args.prompts, clip.len())?;
    let first = clip
        .frame(0)
        .map_err(|e| format!("--clip {}: {e}", args.clip.display()))?;
    let (width, height) = first.rgb.dimensions();
    let shape = ClipShape {
        frames: clip.len(),
        width: width as usize,
        height: height as usize,
    };

    let device = init_device(args.device)?;
    let start = Instant::now();
    let dir = model_dir("--model", &args.model, SEGMENTER_FILES)?;
    let model = Sam2VideoModel::from_dir(&dir, &device)
        .map_err(|e| format!("--model {}: {e}", dir.display()))?;
    eprintln!(
        "loaded {} in {:.2} s",
        dir.display(),
        start.elapsed().as_secs_f64()
    );

    let clip_name = args.clip.display().to_string();
    let mut frames = |index: usize| -> Result<Vec<u8>, Sam2Error> {
        let frame = clip
            .frame(index)
            .map_err(|e| Sam2Error::Image(format!("{clip_name}: {e}")))?;
        if frame.rgb.dimensions() != (width, height) {
            return Err(Sam2Error::Image(format!(
                "{clip_name}: frame {index} is {}×{}, frame 0 is {width}×{height}",
                frame.rgb.width(),
                frame.rgb.height()
            )));
        }
        Ok(frame.rgb.into_raw())
    };
    let start = Instant::now();
    let mut done = 0usize;
    let quiet = args.quiet;
    let mut progress = |f: &autolabel::pipeline::propagate::PropagatedFrame| {
        done += 1;
        if !quiet {
            let rate = done as f64 / start.elapsed().as_secs_f64().max(1e-9);
            eprintln!(
                "frame {:>5}: {} object(s), {rate:.2} frames/s",
                f.frame,
                f.objects.len()
            );
        }
    };
    let result = propagate(
        &model,
        shape,
        &prompts,
        args.direction.into(),
        &mut frames,
        &mut progress,
    )?;
    eprintln!(
        "tracked {} object(s) over {} frame(s) in {:.2} s",
        result.frames.first().map_or(0, |f| f.objects.len()),
        result.frames.len(),
        start.elapsed().as_secs_f64()
    );
    crate::write_json(&result, args.out.as_deref())
}
