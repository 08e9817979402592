//! Grounding DINO's text prompt: the class phrases as one lower-case caption,
//! `"car . truck ."`, and its tokens.
//!
//! Paper: Liu et al., "Grounding DINO: Marrying DINO with Grounded Pre-Training
//! for Open-Set Object Detection", 2023. Reference: the caption format of the
//! original GroundingDINO (`groundingdino/util/inference.py`,
//! `preprocess_caption`: lower case, stripped, ending in `.`; phrases joined by
//! `" . "`); transformers v5.23.0 `GroundingDinoProcessor` writes the same
//! tokens as `"car. truck."`. The text encoder reads at most
//! [`MAX_TEXT_LEN`] tokens (`max_text_len`).
//!
//! Phrases are separated by `,`, `.`, `;` or line breaks; each is trimmed, its
//! inner white space collapsed to one space, lower-cased character by character
//! (as BERT does, so the tokens are those of the text as typed); empty phrases
//! are dropped. Any Unicode text is accepted: accents are kept in
//! [`Prompt::text`] and stripped by the tokenizer ("Café" → `cafe`), CJK
//! ideographs become one token each, characters outside the vocabulary make
//! their word `[UNK]`.

use std::ops::Range;

use super::bert::{BertTokenizer, Encoding};

/// Grounding DINO's `max_text_len`: the most tokens, `[CLS]` and `[SEP]`
/// included, its text encoder reads.
pub const MAX_TEXT_LEN: usize = 256;

/// The characters that end a phrase.
const SEPARATORS: [char; 5] = [',', '.', ';', '\n', '\r'];

/// A prompt Grounding DINO cannot take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PromptError {
    #[error(
        "empty prompt: give one or more class phrases separated by ',', '.', ';' or new lines, e.g. \"car, truck\""
    )]
    Empty,
    #[error("prompt phrase {0:?} has no tokens: it holds only control or zero-width characters")]
    NoTokens(String),
    #[error(
        "prompt too long: {tokens} tokens ([CLS] and [SEP] included), Grounding DINO reads at most {MAX_TEXT_LEN}; use fewer or shorter phrases"
    )]
    TooLong { tokens: usize },
}

/// A normalised prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    /// The caption, `"car . truck ."`.
    pub text: String,
    /// Its phrases, `["car", "truck"]`.
    pub phrases: Vec<String>,
}

impl Prompt {
    /// Normalises a user prompt: `"Car, Truck"`, `"car. truck."` and
    /// `"car . truck"` all give `"car . truck ."`.
    pub fn parse(raw: &str) -> Result<Self, PromptError> {
        let phrases: Vec<String> = raw
            .split(SEPARATORS)
            .map(normalize_phrase)
            .filter(|p| !p.is_empty())
            .collect();
        if phrases.is_empty() {
            return Err(PromptError::Empty);
        }
        let text = phrases.join(" . ") + " .";
        Ok(Prompt { text, phrases })
    }

    /// Each phrase's range of characters in [`Prompt::text`].
    fn phrase_spans(&self) -> Vec<Range<usize>> {
        let mut start = 0;
        self.phrases
            .iter()
            .map(|p| {
                let end = start + p.chars().count();
                let span = start..end;
                start = end + " . ".len();
                span
            })
            .collect()
    }
}

/// Trimmed, inner white space collapsed, lower-cased.
fn normalize_phrase(phrase: &str) -> String {
    let words: Vec<&str> = phrase.split_whitespace().collect();
    words
        .join(" ")
        .chars()
        .flat_map(char::to_lowercase)
        .collect()
}

/// A prompt with its tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedPrompt {
    pub prompt: Prompt,
    /// `[CLS]`, the caption's tokens, `[SEP]`; at most [`MAX_TEXT_LEN`].
    pub encoding: Encoding,
    /// Per phrase, its tokens: a range of indices into `encoding.ids`.
    pub phrase_tokens: Vec<Range<usize>>,
}

impl EncodedPrompt {
    /// Normalises and tokenizes a user prompt.
    pub fn new(tokenizer: &BertTokenizer, raw: &str) -> Result<Self, PromptError> {
        let prompt = Prompt::parse(raw)?;
        let encoding = tokenizer.encode(&prompt.text);
        if encoding.ids.len() > MAX_TEXT_LEN {
            return Err(PromptError::TooLong {
                tokens: encoding.ids.len(),
            });
        }
        let phrase_tokens = phrase_tokens(&prompt, &encoding)?;
        Ok(EncodedPrompt {
            prompt,
            encoding,
            phrase_tokens,
        })
    }
}

/// The tokens whose characters lie in each phrase (tokens are in text order,
/// so each phrase's form a range); an error for a phrase without any.
fn phrase_tokens(prompt: &Prompt, encoding: &Encoding) -> Result<Vec<Range<usize>>, PromptError> {
    let body = 1..encoding.ids.len() - 1; // without [CLS] and [SEP]
    let first_from = |char_index: usize| {
        body.clone()
            .find(|&i| encoding.offsets[i].0 >= char_index)
            .unwrap_or(body.end)
    };
    let spans = prompt.phrase_spans();
    let ranges: Vec<Range<usize>> = spans
        .iter()
        .map(|s| first_from(s.start)..first_from(s.end))
        .collect();
    match ranges.iter().position(Range::is_empty) {
        Some(k) => Err(PromptError::NoTokens(prompt.phrases[k].clone())),
        None => Ok(ranges),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::text::bert::BERT_BASE_UNCASED_VOCAB;

    fn tokenizer() -> BertTokenizer {
        BertTokenizer::from_vocab(BERT_BASE_UNCASED_VOCAB).unwrap()
    }

    #[test]
    fn normalisation() {
        for raw in [
            "Car, Truck",
            "car, truck",
            "car . truck",
            "car. truck.",
            "  CAR ;\n\n truck,,  ",
            "car\r\ntruck",
        ] {
            let p = Prompt::parse(raw).unwrap();
            assert_eq!(p.text, "car . truck .", "{raw:?}");
            assert_eq!(p.phrases, ["car", "truck"], "{raw:?}");
        }
        let p = Prompt::parse("Traffic   Light,\tpedestrian").unwrap();
        assert_eq!(p.text, "traffic light . pedestrian .");
    }

    #[test]
    fn non_ascii() {
        let p = Prompt::parse("Café; Straße, ΣΑΣ").unwrap();
        assert_eq!(p.phrases, ["café", "straße", "σασ"]);
        let tok = tokenizer();
        let enc = EncodedPrompt::new(&tok, "Café").unwrap();
        assert_eq!(enc.encoding.ids, tok.encode("cafe .").ids);
    }

    #[test]
    fn empty() {
        for raw in ["", "   ", " . , ;\n."] {
            assert_eq!(Prompt::parse(raw), Err(PromptError::Empty), "{raw:?}");
        }
        let err = EncodedPrompt::new(&tokenizer(), "car, \u{200b}").unwrap_err();
        assert_eq!(err, PromptError::NoTokens("\u{200b}".into()));
        assert!(PromptError::Empty.to_string().contains("empty prompt"));
    }

    #[test]
    fn too_long() {
        let tok = tokenizer();
        let phrases = vec!["car"; 127].join(", "); // 127 × 2 tokens + [CLS] + [SEP]
        assert_eq!(
            EncodedPrompt::new(&tok, &phrases)
                .unwrap()
                .encoding
                .ids
                .len(),
            256
        );
        let err = EncodedPrompt::new(&tok, &(phrases + ", bus")).unwrap_err();
        assert_eq!(err, PromptError::TooLong { tokens: 258 });
        assert!(err.to_string().contains("258 tokens"), "{err}");
    }

    #[test]
    fn phrase_tokens() {
        let enc = EncodedPrompt::new(&tokenizer(), "a cat. a remote control.").unwrap();
        assert_eq!(enc.prompt.text, "a cat . a remote control .");
        assert_eq!(
            enc.encoding.ids,
            [101, 1037, 4937, 1012, 1037, 6556, 2491, 1012, 102]
        );
        assert_eq!(enc.phrase_tokens, [1..3, 4..7]);
    }
}
