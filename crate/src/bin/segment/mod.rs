//! `autolabel segment`: SAM 2 masks for boxes and points on one image, as JSON
//! with COCO RLE masks at the image's resolution.
//!
//! Paper: Ravi et al., "SAM 2", 2024; the model is `autolabel::models::sam2`
//! (a port of transformers' `Sam2Model`), run on Burn's CPU backend or its wgpu runtime (`--device`).

use std::error::Error;
use std::path::PathBuf;
use std::time::Instant;

use autolabel::data::image_file::open_rgb;
use autolabel::labels::{self, Rle};
use autolabel::models::BackendKind;
use autolabel::models::device::init_device;
use autolabel::models::sam2::{Prompt, Sam2ImagePredictor, Sam2Model};
use serde::Serialize;

use crate::model_arg::{SEGMENTER_FILES, model_dir};
use crate::output::write_json;

/// Arguments of `autolabel segment`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Hugging Face model directory (`config.json`, `model.safetensors`) or
    /// hub id (fetched once into the Hugging Face cache), e.g.
    /// `facebook/sam2.1-hiera-tiny`.
    #[arg(long)]
    pub model: String,
    /// The image (JPEG or PNG).
    #[arg(long)]
    pub image: PathBuf,
    /// A box `X0,Y0,X1,Y1` in image pixels; each box is one prompt set.
    #[arg(long = "box", value_parser = parse_box, allow_hyphen_values = true)]
    pub boxes: Vec<[f32; 4]>,
    /// A point `X,Y,LABEL` (label 1 = object, 0 = background). Without boxes
    /// all points form one prompt set; with one box they join it.
    #[arg(long = "point", value_parser = parse_point, allow_hyphen_values = true)]
    pub points: Vec<([f32; 2], i32)>,
    /// Three masks per prompt set instead of one.
    #[arg(long)]
    pub multimask: bool,
    /// Where the model runs: `cpu` (Burn's flex backend) or `wgpu` (the GPU
    /// through Vulkan/Metal/DX12; a software Vulkan driver works too).
    #[arg(long, default_value = "cpu")]
    pub device: BackendKind,
    /// Write the JSON here instead of stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

fn numbers<const N: usize>(s: &str, what: &str) -> Result<[f32; N], String> {
    let parts: Vec<&str> = s.split(',').map(str::trim).collect();
    if parts.len() != N {
        return Err(format!("{what} '{s}' needs {N} comma-separated numbers"));
    }
    let mut out = [0.0f32; N];
    for (slot, part) in out.iter_mut().zip(&parts) {
        *slot = part
            .parse::<f32>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| format!("{what} '{s}': '{part}' is not a finite number"))?;
    }
    Ok(out)
}

fn parse_box(s: &str) -> Result<[f32; 4], String> {
    let b = numbers::<4>(s, "box")?;
    if b[2] < b[0] || b[3] < b[1] {
        return Err(format!(
            "box '{s}' must be X0,Y0,X1,Y1 with X1 >= X0 and Y1 >= Y0"
        ));
    }
    Ok(b)
}

fn parse_point(s: &str) -> Result<([f32; 2], i32), String> {
    let [x, y, label] = numbers::<3>(s, "point")?;
    if label != 0.0 && label != 1.0 {
        return Err(format!(
            "point '{s}': label must be 1 (object) or 0 (background)"
        ));
    }
    Ok(([x, y], label as i32))
}

#[derive(Serialize)]
struct MaskJson {
    rle: Rle,
    score: f32,
}

#[derive(Serialize)]
struct EntryJson {
    prompt: labels::Prompt,
    masks: Vec<MaskJson>,
    /// Object-presence logit: > 0 means the model sees an object.
    object_score: f32,
}

#[derive(Serialize)]
struct OutputJson {
    image: String,
    width: u32,
    height: u32,
    results: Vec<EntryJson>,
}

/// Builds the prompt sets: one per box (the points join a single box), or one
/// of all the points.
fn prompt_sets(args: &Args) -> Result<Vec<Prompt>, Box<dyn Error>> {
    match args.boxes.as_slice() {
        [] if args.points.is_empty() => Err("give at least one --box or --point".into()),
        [] => Ok(vec![Prompt {
            points: args.points.clone(),
            bbox: None,
            ..Default::default()
        }]),
        [single] => Ok(vec![Prompt {
            points: args.points.clone(),
            bbox: Some(*single),
            ..Default::default()
        }]),
        many if args.points.is_empty() => Ok(many
            .iter()
            .map(|&b| Prompt {
                points: Vec::new(),
                bbox: Some(b),
                ..Default::default()
            })
            .collect()),
        _ => Err("--point can be combined with at most one --box".into()),
    }
}

/// Runs `autolabel segment`.
pub fn run(args: Args) -> Result<(), Box<dyn Error>> {
    let prompts = prompt_sets(&args)?;
    let image = open_rgb(&args.image)?;
    let (width, height) = image.dimensions();

    let device = init_device(args.device)?;
    let start = Instant::now();
    let dir = model_dir("--model", &args.model, SEGMENTER_FILES)?;
    let model = Sam2Model::from_dir(&dir, &device)?;
    eprintln!(
        "loaded {} in {:.2} s",
        dir.display(),
        start.elapsed().as_secs_f64()
    );
    let mut predictor = Sam2ImagePredictor::new(model);
    let start = Instant::now();
    predictor.set_image(image.as_raw(), width as usize, height as usize)?;
    eprintln!(
        "encoded {width}×{height} in {:.2} s",
        start.elapsed().as_secs_f64()
    );
    let start = Instant::now();
    let predictions = predictor.predict(&prompts, args.multimask)?;
    eprintln!(
        "decoded {} prompt set(s) in {:.3} s",
        prompts.len(),
        start.elapsed().as_secs_f64()
    );

    let results = prompts
        .iter()
        .zip(predictions)
        .map(|(prompt, p)| EntryJson {
            prompt: labels::Prompt {
                bbox: prompt.bbox.map(|b| b.map(f64::from)),
                points: prompt
                    .points
                    .iter()
                    .map(|&([x, y], l)| [f64::from(x), f64::from(y), f64::from(l)])
                    .collect(),
            },
            masks: p
                .masks
                .iter()
                .zip(&p.iou_scores)
                .map(|(m, &score)| MaskJson {
                    rle: Rle::encode(m),
                    score,
                })
                .collect(),
            object_score: p.object_score_logit,
        })
        .collect();
    let output = OutputJson {
        image: args.image.display().to_string(),
        width,
        height,
        results,
    };
    write_json(&output, args.out.as_deref())
}
