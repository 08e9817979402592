//! Building the pipeline's models from checkpoint files held in memory
//! (`config.json` text, `model.safetensors` bytes), for the Run panel's
//! session and the Batch mode's alike; an error names the model and the file.

use autolabel::models::device::cpu_device;
use autolabel::models::sam2::{Sam2Config, Sam2ImagePredictor, Sam2Model};
use autolabel::pipeline::detect::DetectorModel;

/// The detector its `config.json` names (Grounding DINO or OWLv2), on the
/// CPU backend; `name` is what errors call it.
pub fn detector(config_json: &str, weights: &[u8], name: &str) -> Result<DetectorModel, String> {
    DetectorModel::from_bytes(config_json, weights, &cpu_device())
        .map_err(|e| format!("detector {name}: {e}"))
}

/// SAM 2's image predictor, on the CPU backend.
pub fn segmenter(
    config_json: &str,
    weights: &[u8],
    name: &str,
) -> Result<Sam2ImagePredictor, String> {
    let config = Sam2Config::from_json(config_json)
        .map_err(|e| format!("segmenter {name}: config.json: {e}"))?;
    let model = Sam2Model::from_safetensors(config, weights, &cpu_device())
        .map_err(|e| format!("segmenter {name}: model.safetensors: {e}"))?;
    Ok(Sam2ImagePredictor::new(model))
}
