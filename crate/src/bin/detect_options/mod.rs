//! What to detect and how, as `autolabel run` and `autolabel batch` take it:
//! the ontology (a JSON file, or noun chunks as JSONL) and iterative
//! confidence annealing.

use std::path::{Path, PathBuf};

use autolabel::pipeline::anneal::AnnealSettings;
use autolabel::pipeline::detect::DetectSettings;
use autolabel::pipeline::{Caption, Ontology};

/// The detect stage's arguments.
#[derive(clap::Args, Debug, Default)]
pub struct DetectOptions {
    /// The ontology: classes, their prompt phrases and thresholds (JSON; see
    /// `autolabel ontology`). Default: the seven seed classes.
    #[arg(long, conflicts_with = "noun_chunks")]
    pub ontology: Option<PathBuf>,
    /// Free-form noun chunks instead of an ontology (JSONL: a line is a chunk,
    /// or `{"noun_chunks": [...], "class": "..."}`; see docs/datasets.md).
    #[arg(long)]
    pub noun_chunks: Option<PathBuf>,
    /// Iterative confidence annealing instead of one pass: its settings as
    /// JSON (`{}` for the defaults; see docs/datasets.md).
    #[arg(long)]
    pub anneal: Option<PathBuf>,
}

impl DetectOptions {
    /// The ontology the options name (the seed classes when none).
    pub fn ontology(&self) -> Result<Ontology, String> {
        if let Some(path) = &self.noun_chunks {
            let text = std::fs::read_to_string(path).map_err(|e| at("--noun-chunks", path, &e))?;
            return Ontology::from_noun_chunks(&text).map_err(|e| at("--noun-chunks", path, &e));
        }
        let Some(path) = &self.ontology else {
            return Ok(Ontology::seed());
        };
        let bytes = std::fs::read(path).map_err(|e| at("--ontology", path, &e))?;
        serde_json::from_slice(&bytes).map_err(|e| at("--ontology", path, &e))
    }

    /// The ontology's caption, checked against the class table; an error
    /// names the argument that gave the ontology.
    pub fn caption(&self, ontology: &Ontology, class_table: &[String]) -> Result<Caption, String> {
        ontology
            .caption(class_table)
            .map_err(|e| match self.ontology_source() {
                Some(source) => format!("{source}: {e}"),
                None => e.to_string(),
            })
    }

    /// The detect stage's settings: one pass, or annealing with `--anneal`.
    pub fn settings(&self) -> Result<DetectSettings, String> {
        Ok(DetectSettings {
            anneal: self.anneal()?,
            ..DetectSettings::default()
        })
    }

    /// The argument that gave the ontology and its file, to name in an error
    /// about it.
    fn ontology_source(&self) -> Option<String> {
        let named = |arg: &str, path: &Path| format!("{arg} {}", path.display());
        match (&self.noun_chunks, &self.ontology) {
            (Some(path), _) => Some(named("--noun-chunks", path)),
            (None, Some(path)) => Some(named("--ontology", path)),
            (None, None) => None,
        }
    }

    /// The annealing settings, checked, if `--anneal` is given.
    fn anneal(&self) -> Result<Option<AnnealSettings>, String> {
        let Some(path) = &self.anneal else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(path).map_err(|e| at("--anneal", path, &e))?;
        AnnealSettings::from_json(&text)
            .map(Some)
            .map_err(|e| at("--anneal", path, &e))
    }
}

/// `ARG PATH: error`.
fn at(arg: &str, path: &Path, error: &dyn std::fmt::Display) -> String {
    format!("{arg} {}: {error}", path.display())
}
