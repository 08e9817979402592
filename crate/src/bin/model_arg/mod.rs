//! A model argument (`--model`, `--detector`, `--segmenter`): a local model
//! directory or a Hugging Face hub id, fetched once into the standard cache
//! (`autolabel::models::hub`).

use std::path::PathBuf;

use autolabel::models::hub::{ModelFile, ModelSource, resolve_model};

/// The files of a detector checkpoint: Grounding DINO (`vocab.txt`) or
/// OWLv2 (`vocab.json`, `merges.txt`, `tokenizer_config.json`).
pub const DETECTOR_FILES: &[ModelFile] = &[
    ModelFile::required("config.json"),
    ModelFile::required("model.safetensors"),
    ModelFile::optional("vocab.txt"),
    ModelFile::optional("vocab.json"),
    ModelFile::optional("merges.txt"),
    ModelFile::optional("tokenizer_config.json"),
    ModelFile::optional("preprocessor_config.json"),
];

/// The files of a SAM 2 checkpoint.
pub const SEGMENTER_FILES: &[ModelFile] = &[
    ModelFile::required("config.json"),
    ModelFile::required("model.safetensors"),
];

/// The directory `arg` names, downloading what a hub id lacks in the cache;
/// errors name the argument.
pub fn model_dir(flag: &str, arg: &str, files: &[ModelFile]) -> Result<PathBuf, String> {
    let resolved = resolve_model(arg, files).map_err(|e| format!("{flag} {arg}: {e}"))?;
    if let ModelSource::Hub {
        repo, downloaded, ..
    } = &resolved.source
        && !downloaded.is_empty()
    {
        eprintln!("{flag}: downloaded {} of {repo}", downloaded.join(", "));
    }
    Ok(resolved.dir)
}
