//! The ontology: which classes to label, the prompt phrases that find each,
//! and each class's own thresholds (one global slider is the most common
//! complaint about peer tools: a traffic sign wants another threshold than a
//! car).
//!
//! A file is JSON:
//! ```json
//! {"classes": [
//!   {"name": "car", "phrases": ["car"], "box_threshold": 0.35, "text_threshold": 0.25},
//!   {"name": "pedestrian", "phrases": ["pedestrian", "person"]}
//! ]}
//! ```
//! `name` must be a class of the class table (`autolabel classes`) so that the
//! labels can be evaluated; the thresholds default to transformers' documented
//! usage of Grounding DINO (0.4 / 0.3).
//!
//! All phrases of all classes form one caption. A phrase is normalised as
//! Grounding DINO's caption is (lower case, white space collapsed); one that
//! holds a separator (`"car, truck"`) would be read by the detector as two
//! phrases, so it is split into two phrases of the same class, and the
//! normalised caption is what the run prints and records.
//!
//! Free-form noun chunks (TAO Auto-Label's `noun_chunk_path`) make an ontology
//! too ([`Ontology::from_noun_chunks`]): a JSONL file, one line a chunk
//! (`"man pushing a stroller"`) or an object naming chunks and, optionally,
//! the class they stand for:
//! ```text
//! "traffic cone"
//! {"noun_chunks": ["person", "man with an umbrella"], "class": "pedestrian"}
//! {"noun_chunk": "delivery van", "class": "car"}
//! ```
//! A chunk without a class is a class of its own, named after the chunk (fine
//! for a batch; a run evaluated against a class table needs the `class`).

use serde::{Deserialize, Serialize};

use crate::models::grounding_dino::detector::{DEFAULT_BOX_THRESHOLD, DEFAULT_TEXT_THRESHOLD};
use crate::text::Prompt;

/// One class: its name, phrases and thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OntologyClass {
    /// The class, as named in the class table (e.g. `"pedestrian"`).
    pub name: String,
    /// Prompt phrases that find it (e.g. `["pedestrian", "person"]`).
    pub phrases: Vec<String>,
    /// A detection of this class is kept when its score exceeds this.
    #[serde(default = "default_box_threshold")]
    pub box_threshold: f32,
    /// ...and the probability of its best phrase exceeds this.
    #[serde(default = "default_text_threshold")]
    pub text_threshold: f32,
}

fn default_box_threshold() -> f32 {
    DEFAULT_BOX_THRESHOLD
}

fn default_text_threshold() -> f32 {
    DEFAULT_TEXT_THRESHOLD
}

/// The classes to label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ontology {
    pub classes: Vec<OntologyClass>,
}

/// An ontology that cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OntologyError {
    #[error("the ontology has no classes")]
    NoClasses,
    #[error("class '{0}' has no phrases: give at least one prompt phrase")]
    NoPhrases(String),
    #[error("class '{class}': phrase {phrase:?} is empty after normalisation")]
    EmptyPhrase { class: String, phrase: String },
    #[error("class '{class}' is not in the class table {table:?}; use one of those names")]
    UnknownClass { class: String, table: Vec<String> },
    #[error("class '{0}' is listed twice")]
    DuplicateClass(String),
    #[error("phrase '{phrase}' belongs to both '{first}' and '{second}'")]
    SharedPhrase {
        phrase: String,
        first: String,
        second: String,
    },
    #[error("class '{class}': {which} threshold {value} must be in [0, 1]")]
    Threshold {
        class: String,
        which: &'static str,
        value: f32,
    },
    #[error("line {line}: {message}")]
    NounChunks { line: usize, message: String },
    #[error("not an ontology: {0}")]
    Json(String),
}

/// A phrase of the caption and the class it stands for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptionPhrase {
    pub phrase: String,
    /// Position of the class in [`Ontology::classes`].
    pub class: usize,
}

/// The caption the detector reads, and which class each of its phrases names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caption {
    /// `"car . truck . pedestrian . person ."`
    pub text: String,
    pub phrases: Vec<CaptionPhrase>,
}

impl Ontology {
    /// The seven seed classes, each found by its own name.
    pub fn seed() -> Self {
        let class = |name: &str, phrases: &[&str]| OntologyClass {
            name: name.into(),
            phrases: phrases.iter().map(|p| p.to_string()).collect(),
            box_threshold: DEFAULT_BOX_THRESHOLD,
            text_threshold: DEFAULT_TEXT_THRESHOLD,
        };
        Ontology {
            classes: vec![
                class("car", &["car"]),
                class("truck", &["truck"]),
                class("bus", &["bus"]),
                class("pedestrian", &["pedestrian"]),
                class("cyclist", &["cyclist"]),
                class("traffic light", &["traffic light"]),
                class("traffic sign", &["traffic sign"]),
            ],
        }
    }

    /// Checks the ontology against the class table and builds its caption.
    pub fn caption(&self, class_table: &[String]) -> Result<Caption, OntologyError> {
        if self.classes.is_empty() {
            return Err(OntologyError::NoClasses);
        }
        let mut phrases: Vec<CaptionPhrase> = Vec::new();
        for (k, class) in self.classes.iter().enumerate() {
            self.check_class(k, class, class_table)?;
            for phrase in normalised_phrases(class)? {
                if let Some(other) = phrases.iter().find(|p| p.phrase == phrase) {
                    return Err(OntologyError::SharedPhrase {
                        phrase,
                        first: self.classes[other.class].name.clone(),
                        second: class.name.clone(),
                    });
                }
                phrases.push(CaptionPhrase { phrase, class: k });
            }
        }
        let text = phrases
            .iter()
            .map(|p| p.phrase.as_str())
            .collect::<Vec<_>>()
            .join(" . ")
            + " .";
        Ok(Caption { text, phrases })
    }

    fn check_class(
        &self,
        k: usize,
        class: &OntologyClass,
        class_table: &[String],
    ) -> Result<(), OntologyError> {
        if !class_table.contains(&class.name) {
            return Err(OntologyError::UnknownClass {
                class: class.name.clone(),
                table: class_table.to_vec(),
            });
        }
        if self.classes[..k].iter().any(|c| c.name == class.name) {
            return Err(OntologyError::DuplicateClass(class.name.clone()));
        }
        for (which, value) in [("box", class.box_threshold), ("text", class.text_threshold)] {
            if !(0.0..=1.0).contains(&value) {
                return Err(OntologyError::Threshold {
                    class: class.name.clone(),
                    which,
                    value,
                });
            }
        }
        Ok(())
    }

    /// An ontology file's text, as `--ontology` reads a JSON file or
    /// `--noun-chunks` a `.jsonl` one (by `name`, the file's name): what the
    /// page's "Load…" reads.
    pub fn from_file_text(name: &str, text: &str) -> Result<Self, OntologyError> {
        if name.to_ascii_lowercase().ends_with(".jsonl") {
            return Ontology::from_noun_chunks(text);
        }
        serde_json::from_str(text).map_err(|e| OntologyError::Json(e.to_string()))
    }

    /// The ontology of a noun-chunk JSONL file (see the module docs): one
    /// class per `class` named or per chunk without one, in the order first
    /// seen, each with the default thresholds; a chunk listed twice counts
    /// once.
    pub fn from_noun_chunks(jsonl: &str) -> Result<Self, OntologyError> {
        let mut classes: Vec<OntologyClass> = Vec::new();
        for (k, text) in jsonl.lines().enumerate() {
            if text.trim().is_empty() {
                continue;
            }
            let bad = |message: String| OntologyError::NounChunks {
                line: k + 1,
                message,
            };
            let (chunks, class) = chunk_line(text).map_err(bad)?;
            for chunk in chunks {
                let name = class.clone().unwrap_or_else(|| chunk.clone());
                match classes.iter_mut().find(|c| c.name == name) {
                    Some(c) if !c.phrases.contains(&chunk) => c.phrases.push(chunk),
                    Some(_) => {}
                    None => classes.push(OntologyClass {
                        name,
                        phrases: vec![chunk],
                        box_threshold: DEFAULT_BOX_THRESHOLD,
                        text_threshold: DEFAULT_TEXT_THRESHOLD,
                    }),
                }
            }
        }
        if classes.is_empty() {
            return Err(OntologyError::NoClasses);
        }
        Ok(Ontology { classes })
    }

    /// The lowest box threshold of any class: what the detector keeps before
    /// each class applies its own.
    pub fn min_box_threshold(&self) -> f32 {
        self.classes
            .iter()
            .map(|c| c.box_threshold)
            .fold(1.0, f32::min)
    }
}

/// One line of a noun-chunk file: its chunks and the class they name, if any.
fn chunk_line(text: &str) -> Result<(Vec<String>, Option<String>), String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let object = match value {
        serde_json::Value::String(chunk) => return Ok((vec![nonempty(chunk)?], None)),
        serde_json::Value::Object(object) => object,
        _ => return Err("want a string or an object with \"noun_chunks\"".into()),
    };
    let mut chunks = Vec::new();
    let mut class = None;
    for (key, value) in object {
        let string = |v: serde_json::Value| match v {
            serde_json::Value::String(s) => nonempty(s),
            other => Err(format!("\"{key}\": {other} is not a string")),
        };
        match key.as_str() {
            "noun_chunk" => chunks.push(string(value)?),
            "noun_chunks" => match value {
                serde_json::Value::Array(list) => {
                    for v in list {
                        chunks.push(string(v)?);
                    }
                }
                other => return Err(format!("\"noun_chunks\": {other} is not a list")),
            },
            "class" => class = Some(string(value)?),
            _ => {
                return Err(format!(
                    "unknown key \"{key}\": want \"noun_chunks\", \"noun_chunk\" or \"class\""
                ));
            }
        }
    }
    if chunks.is_empty() {
        return Err("no \"noun_chunks\" on the line".into());
    }
    Ok((chunks, class))
}

/// A chunk or class name, trimmed; refused when empty.
fn nonempty(text: String) -> Result<String, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err("an empty noun chunk or class".into());
    }
    Ok(trimmed.to_string())
}

/// A class's phrases, normalised, those holding a separator split.
fn normalised_phrases(class: &OntologyClass) -> Result<Vec<String>, OntologyError> {
    if class.phrases.is_empty() {
        return Err(OntologyError::NoPhrases(class.name.clone()));
    }
    let mut out = Vec::new();
    for raw in &class.phrases {
        let parsed = Prompt::parse(raw).map_err(|_| OntologyError::EmptyPhrase {
            class: class.name.clone(),
            phrase: raw.clone(),
        })?;
        for phrase in parsed.phrases {
            if !out.contains(&phrase) {
                out.push(phrase);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Vec<String> {
        crate::data::classes::ClassMap::nuscenes_default().classes
    }

    #[test]
    fn seed_caption_lists_the_seven_classes() {
        let caption = Ontology::seed().caption(&table()).unwrap();
        assert_eq!(
            caption.text,
            "car . truck . bus . pedestrian . cyclist . traffic light . traffic sign ."
        );
        assert_eq!(caption.phrases[5].class, 5);
    }

    #[test]
    fn a_phrase_the_detector_reads_as_two_is_split() {
        let mut o = Ontology::seed();
        o.classes[0].phrases = vec!["Car, Van".into(), "  SUV ".into()];
        let caption = o.caption(&table()).unwrap();
        assert!(caption.text.starts_with("car . van . suv . truck ."));
        assert_eq!(caption.phrases[1].class, 0);
        assert_eq!(caption.phrases[3].class, 1);
    }

    #[test]
    fn bad_ontologies_say_what_is_wrong() {
        let mut o = Ontology::seed();
        o.classes[2].name = "tram".into();
        let err = o.caption(&table()).unwrap_err().to_string();
        assert!(err.contains("'tram' is not in the class table"), "{err}");

        let mut o = Ontology::seed();
        o.classes[1].phrases.clear();
        assert_eq!(
            o.caption(&table()),
            Err(OntologyError::NoPhrases("truck".into()))
        );

        let mut o = Ontology::seed();
        o.classes[1].phrases = vec![" , ".into()];
        assert!(matches!(
            o.caption(&table()),
            Err(OntologyError::EmptyPhrase { .. })
        ));

        let mut o = Ontology::seed();
        o.classes[1].phrases = vec!["car".into()];
        let err = o.caption(&table()).unwrap_err().to_string();
        assert_eq!(err, "phrase 'car' belongs to both 'car' and 'truck'");

        let mut o = Ontology::seed();
        o.classes[0].box_threshold = 1.5;
        assert!(o.caption(&table()).unwrap_err().to_string().contains("1.5"));

        assert_eq!(
            Ontology { classes: vec![] }.caption(&table()),
            Err(OntologyError::NoClasses)
        );
    }

    #[test]
    fn noun_chunks_become_classes_or_phrases_of_a_named_class() {
        let jsonl = r#"
"traffic cone"
{"noun_chunks": ["person", "man with an umbrella"], "class": "pedestrian"}
{"noun_chunk": "person", "class": "pedestrian"}

{"noun_chunk": " traffic cone "}
"#;
        let o = Ontology::from_noun_chunks(jsonl).unwrap();
        let got: Vec<(&str, Vec<&str>)> = o
            .classes
            .iter()
            .map(|c| {
                (
                    c.name.as_str(),
                    c.phrases.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("traffic cone", vec!["traffic cone"]),
                ("pedestrian", vec!["person", "man with an umbrella"]),
            ]
        );
        assert_eq!(o.classes[0].box_threshold, DEFAULT_BOX_THRESHOLD);
        let caption = o
            .caption(&["traffic cone".into(), "pedestrian".into()])
            .unwrap();
        assert_eq!(
            caption.text,
            "traffic cone . person . man with an umbrella ."
        );
    }

    #[test]
    fn a_file_is_read_as_json_or_by_its_jsonl_name_as_noun_chunks() {
        let chunks = Ontology::from_file_text("chunks.JSONL", "\"cone\"\n").unwrap();
        assert_eq!(chunks.classes[0].name, "cone");
        let json = r#"{"classes": [{"name": "car", "phrases": ["car"]}]}"#;
        assert_eq!(
            Ontology::from_file_text("o.json", json).unwrap().classes[0].phrases,
            ["car"]
        );
        let err = Ontology::from_file_text("o.json", "\"cone\"").unwrap_err();
        assert!(err.to_string().starts_with("not an ontology: "), "{err}");
    }

    #[test]
    fn a_bad_noun_chunk_line_is_named() {
        let err = |text: &str| Ontology::from_noun_chunks(text).unwrap_err().to_string();
        assert!(err("\"car\"\n{car}").starts_with("line 2: not JSON"));
        assert_eq!(
            err("{\"noun_chunks\": \"car\"}"),
            "line 1: \"noun_chunks\": \"car\" is not a list"
        );
        assert!(err("{\"chunks\": [\"car\"]}").contains("unknown key \"chunks\""));
        assert_eq!(
            err("{\"class\": \"car\"}"),
            "line 1: no \"noun_chunks\" on the line"
        );
        assert_eq!(err("\"  \""), "line 1: an empty noun chunk or class");
        assert_eq!(
            err("7"),
            "line 1: want a string or an object with \"noun_chunks\""
        );
        assert_eq!(err("\n\n"), "the ontology has no classes");
    }

    #[test]
    fn thresholds_default_and_unknown_fields_are_refused() {
        let o: Ontology =
            serde_json::from_str(r#"{"classes": [{"name": "car", "phrases": ["car"]}]}"#).unwrap();
        assert_eq!(o.classes[0].box_threshold, DEFAULT_BOX_THRESHOLD);
        assert_eq!(o.min_box_threshold(), DEFAULT_BOX_THRESHOLD);
        let bad = r#"{"classes": [{"name": "car", "phrase": ["car"]}]}"#;
        assert!(serde_json::from_str::<Ontology>(bad).is_err());
    }
}
