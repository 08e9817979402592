//! CLIP's byte-level BPE tokenizer, the text front end of OWLv2, and the
//! padding of a query list to OWLv2's text context.
//!
//! Papers: Radford et al., "Learning Transferable Visual Models From Natural
//! Language Supervision" (CLIP), 2021; Sennrich et al., "Neural Machine
//! Translation of Rare Words with Subword Units" (BPE), 2016. Reference:
//! Hugging Face transformers v5.23.0 `CLIPTokenizer`
//! (`models/clip/tokenization_clip.py`), which in transformers 5 runs on Hugging
//! Face tokenizers 0.23, and `Owlv2Processor` (`padding="max_length"`). The
//! steps, in its order:
//!
//! 1. the special tokens `<|startoftext|>`, `<|endoftext|>` and the pad token
//!    (OWLv2's is `!`) are cut out of the raw text where written (leftmost,
//!    longest first) and become their own ids — so every `!` of an OWLv2
//!    query is id 0, as with the published tokenizer;
//! 2. each remaining stretch is normalised: NFC, every run of white space one
//!    space, lower-cased character by character;
//! 3. split into pieces by CLIP's pattern (the start/end tokens, the English
//!    contractions `'s 't 're 've 'm 'll 'd`, runs of letters, single digits,
//!    runs of other non-space characters); spaces are dropped; each piece split
//!    again by GPT-2's pattern (the byte-level pre-tokenizer's), which cuts
//!    only a start/end token literal that was not cut out in step 1 (written
//!    in upper case, say) into `<|`, the word, `|>`;
//! 4. each piece's UTF-8 bytes mapped to GPT-2's printable byte characters,
//!    `</w>` appended to its last character, and merged by BPE: repeatedly
//!    the adjacent pair of lowest merge rank (leftmost on ties);
//! 5. `<|startoftext|>` … `<|endoftext|>` around the ids.
//!
//! A query for OWLv2 is then padded with the pad id to the text context (16
//! tokens). The reference's processor does not truncate (a longer query
//! fails inside the model); [`ClipTokenizer::encode_padded`] refuses it with
//! an error naming the query, or truncates as the tokenizer's
//! `truncation=True` does (the text's tokens cut, the end token kept).

use std::collections::HashMap;

use regex::Regex;
use unicode_normalization_alignments::UnicodeNormalization;

/// The CLIP vocabulary (`vocab.json`, 49,408 tokens) of every published
/// OWLv2 checkpoint, for model directories that lack one.
pub const CLIP_VOCAB_JSON: &str = include_str!("../../../models/vocab/clip/vocab.json");
/// The CLIP merges (`merges.txt`, 48,894 merges).
pub const CLIP_MERGES: &str = include_str!("../../../models/vocab/clip/merges.txt");

/// OWLv2's pad token (`tokenizer_config.json`'s `pad_token`).
pub const OWLV2_PAD_TOKEN: &str = "!";

const BOS: &str = "<|startoftext|>";
const EOS: &str = "<|endoftext|>";
/// Appended to the last character of every piece.
const END_OF_WORD: &str = "</w>";
/// CLIP's pre-tokenisation pattern (`CLIPTokenizer`'s `Split`).
const PATTERN: &str =
    r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+";
/// GPT-2's pattern, which the `ByteLevel` pre-tokenizer applies to every
/// piece, without its white-space alternatives (pieces hold no white space).
/// It splits only the start/end token literals further (`<|`, `endoftext`,
/// `|>`).
const BYTE_LEVEL_PATTERN: &str = r"'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}+|[^\s\p{L}\p{N}]+";

/// What can go wrong building a tokenizer.
#[derive(Debug, thiserror::Error)]
pub enum ClipTokenizerError {
    #[error("vocab.json: {0}")]
    Vocab(String),
    #[error("merges.txt line {line}: {reason}")]
    Merges { line: usize, reason: String },
    #[error("tokenizer_config.json: {0}")]
    Config(String),
    #[error("the vocabulary lacks the token {0:?}")]
    MissingToken(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// A query list OWLv2 cannot take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("no queries: give one or more, e.g. \"a car\", \"a traffic light\"")]
    Empty,
    #[error(
        "query {index} ({query:?}) is {tokens} tokens with the start and end tokens; the text context holds {context}: shorten it"
    )]
    TooLong {
        index: usize,
        query: String,
        tokens: usize,
        context: usize,
    },
}

/// The merges by id: `(left, right)` → `(rank, merged)`.
type MergeTable = HashMap<(u32, u32), (u32, u32)>;

/// CLIP's BPE tokenizer.
#[derive(Debug, Clone)]
pub struct ClipTokenizer {
    vocab: HashMap<String, u32>,
    merges: MergeTable,
    /// The special tokens with their ids, longest first.
    specials: Vec<(String, u32)>,
    bos: u32,
    eos: u32,
    pad: u32,
    pattern: Regex,
    byte_level_pattern: Regex,
    /// GPT-2's `bytes_to_unicode`: each byte's printable character.
    byte_chars: [char; 256],
}

impl ClipTokenizer {
    /// From the text of `vocab.json` and `merges.txt`, padding with
    /// `pad_token`.
    pub fn new(
        vocab_json: &str,
        merges: &str,
        pad_token: &str,
    ) -> Result<Self, ClipTokenizerError> {
        let vocab: HashMap<String, u32> = serde_json::from_str(vocab_json)
            .map_err(|e| ClipTokenizerError::Vocab(e.to_string()))?;
        let id = |token: &str| {
            vocab
                .get(token)
                .copied()
                .ok_or_else(|| ClipTokenizerError::MissingToken(token.to_string()))
        };
        let (bos, eos, pad) = (id(BOS)?, id(EOS)?, id(pad_token)?);
        let mut specials = vec![
            (BOS.to_string(), bos),
            (EOS.to_string(), eos),
            (pad_token.to_string(), pad),
        ];
        specials.sort_by_key(|(s, _)| std::cmp::Reverse(s.len()));
        specials.dedup_by(|a, b| a.0 == b.0);
        Ok(ClipTokenizer {
            merges: parse_merges(merges, &vocab)?,
            vocab,
            specials,
            bos,
            eos,
            pad,
            pattern: Regex::new(PATTERN).expect("CLIP's pattern is a valid regex"),
            byte_level_pattern: Regex::new(BYTE_LEVEL_PATTERN)
                .expect("GPT-2's pattern is a valid regex"),
            byte_chars: bytes_to_unicode(),
        })
    }

    /// The embedded CLIP vocabulary with OWLv2's pad token `!`.
    pub fn owlv2() -> Self {
        Self::new(CLIP_VOCAB_JSON, CLIP_MERGES, OWLV2_PAD_TOKEN)
            .expect("the embedded CLIP vocabulary is valid")
    }

    /// A model directory's `vocab.json` and `merges.txt`, with the
    /// `pad_token` of its `tokenizer_config.json` (`!` where it names none).
    #[cfg(feature = "native")]
    pub fn from_model_dir(dir: &std::path::Path) -> Result<Self, ClipTokenizerError> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read_to_string(&path).map_err(|source| ClipTokenizerError::Io {
                path: path.display().to_string(),
                source,
            })
        };
        let pad = match std::fs::read_to_string(dir.join("tokenizer_config.json")) {
            Ok(json) => pad_token_of(&json)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => OWLV2_PAD_TOKEN.to_string(),
            Err(source) => {
                return Err(ClipTokenizerError::Io {
                    path: dir.join("tokenizer_config.json").display().to_string(),
                    source,
                });
            }
        };
        Self::new(&read("vocab.json")?, &read("merges.txt")?, &pad)
    }

    /// The pad id.
    pub fn pad_id(&self) -> u32 {
        self.pad
    }

    /// The id of a token, if the vocabulary has it.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.vocab.get(token).copied()
    }

    /// `<|startoftext|>`, the text's tokens, `<|endoftext|>`.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut ids = vec![self.bos];
        let mut rest = text;
        while !rest.is_empty() {
            match self.next_special(rest) {
                Some((start, len, id)) => {
                    self.encode_plain(&rest[..start], &mut ids);
                    ids.push(id);
                    rest = &rest[start + len..];
                }
                None => {
                    self.encode_plain(rest, &mut ids);
                    rest = "";
                }
            }
        }
        ids.push(self.eos);
        ids
    }

    /// [`ClipTokenizer::encode`] padded with the pad id to `length`. A longer
    /// encoding is an error, or with `truncate` cut to `length` with its end
    /// token kept (`truncation=True`).
    pub fn encode_padded(
        &self,
        text: &str,
        length: usize,
        truncate: bool,
    ) -> Result<Vec<u32>, usize> {
        let mut ids = self.encode(text);
        if ids.len() > length {
            if !truncate || length < 2 {
                return Err(ids.len());
            }
            ids.truncate(length - 1);
            ids.push(self.eos);
        }
        ids.resize(length, self.pad);
        Ok(ids)
    }

    /// OWLv2's queries: each encoded and padded to `context` tokens, as
    /// `Owlv2Processor` does; refuses an empty list and a query longer than
    /// the context.
    pub fn encode_queries<S: AsRef<str>>(
        &self,
        queries: &[S],
        context: usize,
    ) -> Result<Vec<Vec<i64>>, QueryError> {
        if queries.is_empty() {
            return Err(QueryError::Empty);
        }
        queries
            .iter()
            .enumerate()
            .map(|(index, q)| {
                let query = q.as_ref();
                self.encode_padded(query, context, false)
                    .map(|ids| ids.into_iter().map(i64::from).collect())
                    .map_err(|tokens| QueryError::TooLong {
                        index,
                        query: query.to_string(),
                        tokens,
                        context,
                    })
            })
            .collect()
    }

    /// The leftmost special token of `text` (longest on ties): its byte
    /// offset, byte length and id.
    fn next_special(&self, text: &str) -> Option<(usize, usize, u32)> {
        text.char_indices().find_map(|(i, _)| {
            self.specials
                .iter()
                .find(|(s, _)| text[i..].starts_with(s.as_str()))
                .map(|(s, id)| (i, s.len(), *id))
        })
    }

    /// Steps 2–4 on a stretch without special tokens.
    fn encode_plain(&self, text: &str, ids: &mut Vec<u32>) {
        if text.is_empty() {
            return;
        }
        let normalized = normalize(text);
        for piece in self.pattern.find_iter(&normalized) {
            for word in self.byte_level_pattern.find_iter(piece.as_str()) {
                self.bpe(word.as_str(), ids);
            }
        }
    }

    /// Byte-level BPE of one piece.
    fn bpe(&self, piece: &str, ids: &mut Vec<u32>) {
        let chars: Vec<char> = piece
            .bytes()
            .map(|b| self.byte_chars[usize::from(b)])
            .collect();
        let last = chars.len() - 1;
        let mut symbols: Vec<u32> = chars
            .iter()
            .enumerate()
            .map(|(i, &c)| {
                let mut s = c.to_string();
                if i == last {
                    s.push_str(END_OF_WORD);
                }
                // Unknown characters become the unknown token (`<|endoftext|>`).
                self.vocab.get(&s).copied().unwrap_or(self.eos)
            })
            .collect();
        while let Some((at, merged)) = self.best_merge(&symbols) {
            symbols[at] = merged;
            symbols.remove(at + 1);
        }
        ids.extend(symbols);
    }

    /// The adjacent pair of lowest rank (leftmost on ties) and what it
    /// merges into.
    fn best_merge(&self, symbols: &[u32]) -> Option<(usize, u32)> {
        symbols
            .windows(2)
            .enumerate()
            .filter_map(|(i, pair)| {
                self.merges
                    .get(&(pair[0], pair[1]))
                    .map(|&(rank, merged)| (rank, i, merged))
            })
            .min_by_key(|&(rank, i, _)| (rank, i))
            .map(|(_, i, merged)| (i, merged))
    }
}

/// NFC, white space runs to one space, lower case character by character.
fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_space = false;
    for c in text.nfc().map(|(c, _)| c) {
        if c.is_whitespace() {
            if !in_space {
                out.push(' ');
            }
            in_space = true;
        } else {
            in_space = false;
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// `merges.txt`: a `#version` header, then `left right` a line, rank = order.
fn parse_merges(
    text: &str,
    vocab: &HashMap<String, u32>,
) -> Result<MergeTable, ClipTokenizerError> {
    let mut merges = HashMap::new();
    let lines = text
        .lines()
        .enumerate()
        .filter(|(i, l)| !(l.is_empty() || *i == 0 && l.starts_with("#version")));
    for (rank, (i, line)) in lines.enumerate() {
        let bad = |reason: String| ClipTokenizerError::Merges {
            line: i + 1,
            reason,
        };
        let (left, right) = line
            .split_once(' ')
            .ok_or_else(|| bad(format!("{line:?} is not two tokens")))?;
        let id = |t: &str| {
            vocab
                .get(t)
                .copied()
                .ok_or_else(|| bad(format!("token {t:?} is not in the vocabulary")))
        };
        let merged = id(&format!("{left}{right}"))?;
        merges.insert((id(left)?, id(right)?), (rank as u32, merged));
    }
    Ok(merges)
}

/// The `pad_token` of a `tokenizer_config.json` (a string or an added-token
/// object with `content`), `!` where it names none.
#[cfg(any(feature = "native", test))]
fn pad_token_of(json: &str) -> Result<String, ClipTokenizerError> {
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|e| ClipTokenizerError::Config(e.to_string()))?;
    Ok(match value.get("pad_token") {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(object) => object
            .get("content")
            .and_then(|c| c.as_str())
            .ok_or_else(|| {
                ClipTokenizerError::Config(format!("pad_token {object} is not a token"))
            })?
            .to_string(),
        None => OWLV2_PAD_TOKEN.to_string(),
    })
}

/// GPT-2's `bytes_to_unicode`: printable Latin-1 bytes map to themselves,
/// the others to U+0100 onwards in byte order.
fn bytes_to_unicode() -> [char; 256] {
    let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
    let mut out = ['\0'; 256];
    let mut next = 256u32;
    for b in 0..=255u8 {
        out[usize::from(b)] = if printable(b) {
            char::from(b)
        } else {
            let c = char::from_u32(next).expect("U+0100 to U+0143 are characters");
            next += 1;
            c
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_encodings() {
        let tok = ClipTokenizer::owlv2();
        assert_eq!(
            tok.encode("a photo of a cat"),
            [49406, 320, 1125, 539, 320, 2368, 49407]
        );
        // `!` is OWLv2's pad token, a special token of its own.
        assert_eq!(
            tok.encode("hello!!! wow!"),
            [49406, 3306, 0, 0, 0, 2781, 0, 49407]
        );
        assert_eq!(
            tok.encode("Hi <|endoftext|> there"),
            [49406, 1883, 49407, 997, 49407]
        );
        assert_eq!(tok.encode("  "), [49406, 49407]);
        // A start/end literal in other case is text, split by GPT-2's pattern.
        assert_eq!(
            tok.encode("<|ENDOFTEXT|>"),
            [49406, 27, 347, 40786, 4160, 91, 285, 49407]
        );
        let plain = ClipTokenizer::new(CLIP_VOCAB_JSON, CLIP_MERGES, EOS).unwrap();
        assert_eq!(
            plain.encode("hello!!! wow!"),
            [49406, 3306, 995, 2781, 256, 49407]
        );
    }

    #[test]
    fn padding_and_truncation() {
        let tok = ClipTokenizer::owlv2();
        let padded = tok.encode_padded("a cat", 16, false).unwrap();
        assert_eq!(&padded[..4], &[49406, 320, 2368, 49407]);
        assert!(padded[4..].iter().all(|&id| id == 0));
        let long = "x ".repeat(20);
        assert_eq!(tok.encode_padded(&long, 16, false), Err(22));
        let cut = tok.encode_padded(&long, 16, true).unwrap();
        assert_eq!(cut.len(), 16);
        assert_eq!((cut[14], cut[15]), (343, 49407));
        let err = tok.encode_queries(&["a car", &long], 16).unwrap_err();
        assert_eq!(
            err,
            QueryError::TooLong {
                index: 1,
                query: long.clone(),
                tokens: 22,
                context: 16
            }
        );
        assert!(err.to_string().contains("22 tokens"), "{err}");
        assert_eq!(tok.encode_queries::<&str>(&[], 16), Err(QueryError::Empty));
    }

    #[test]
    fn pad_token_from_the_config() {
        assert_eq!(pad_token_of(r#"{"pad_token": "!"}"#).unwrap(), "!");
        let object = r#"{"pad_token": {"content": "<|endoftext|>", "special": true}}"#;
        assert_eq!(pad_token_of(object).unwrap(), EOS);
        assert_eq!(pad_token_of("{}").unwrap(), "!");
    }
}
