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

    /// The lowest box threshold of any class: what the detector keeps before
    /// each class applies its own.
    pub fn min_box_threshold(&self) -> f32 {
        self.classes
            .iter()
            .map(|c| c.box_threshold)
            .fold(1.0, f32::min)
    }
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
    fn thresholds_default_and_unknown_fields_are_refused() {
        let o: Ontology =
            serde_json::from_str(r#"{"classes": [{"name": "car", "phrases": ["car"]}]}"#).unwrap();
        assert_eq!(o.classes[0].box_threshold, DEFAULT_BOX_THRESHOLD);
        assert_eq!(o.min_box_threshold(), DEFAULT_BOX_THRESHOLD);
        let bad = r#"{"classes": [{"name": "car", "phrase": ["car"]}]}"#;
        assert!(serde_json::from_str::<Ontology>(bad).is_err());
    }
}
