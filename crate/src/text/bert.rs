//! BERT's WordPiece tokenizer (uncased by default), the text front end of
//! Grounding DINO.
//!
//! Paper: Devlin et al., "BERT: Pre-training of Deep Bidirectional Transformers
//! for Language Understanding", NAACL 2019 (WordPiece: Wu et al., 2016).
//! Reference: Hugging Face transformers v5.23.0 `BertTokenizer`
//! (`models/bert/tokenization_bert.py`), which in transformers 5 runs on Hugging
//! Face tokenizers 0.23: `BertNormalizer` + `BertPreTokenizer` (transformers 4's
//! Python `BasicTokenizer`), the `WordPiece` model (`WordpieceTokenizer`) and a
//! template wrapping the tokens in `[CLS]` … `[SEP]`. The steps, in its order:
//!
//! 1. the special tokens `[PAD]` `[UNK]` `[CLS]` `[SEP]` `[MASK]`, written as
//!    such (case-sensitive) in the text, are kept whole;
//! 2. clean: `\0`, U+FFFD and control characters (categories Cc, Cf, Co; not
//!    tab, newline, carriage return) are dropped, any white space becomes ' ';
//! 3. a space either side of every CJK ideograph;
//! 4. accents stripped — canonical decomposition (NFD), nonspacing marks (Mn)
//!    dropped — when lower-casing, unless [`BasicOptions::strip_accents`] says
//!    otherwise;
//! 5. lower-casing, character by character (so no final-sigma rule);
//! 6. split on white space, then every punctuation character (ASCII 33–47,
//!    58–64, 91–96, 123–126 and Unicode P*) stands alone;
//! 7. WordPiece: greedy longest match first against the vocabulary, pieces after
//!    the first prefixed `##`; a word longer than
//!    [`MAX_INPUT_CHARS_PER_WORD`] characters, or with a rest that matches
//!    nothing, is a single `[UNK]`.
//!
//! The Unicode data is the tokenizers' own, so ids agree on any input: its
//! version 9.0 category tables (`unicode_categories`) and decompositions
//! (`unicode-normalization-alignments`), and std's white space and lower case.
//! Transformers 4's Python `BasicTokenizer` differs only in corner cases (it
//! lower-cases before stripping accents, with Python's Unicode tables and final
//! sigma).
//!
//! [`BertTokenizer::decode`] is the inverse transformers' `tokenizer.decode`
//! runs: tokenizers' `WordPiece` decoder (`prefix="##"`, `cleanup=True`).

use std::collections::HashMap;

use unicode_categories::UnicodeCategories;
use unicode_normalization_alignments::char::{canonical_combining_class, decompose_canonical};

/// Words longer than this many characters (after normalisation) become
/// `[UNK]` (transformers' `max_input_chars_per_word`).
pub const MAX_INPUT_CHARS_PER_WORD: usize = 100;

/// The special tokens, kept whole when written in the text.
const SPECIAL_TOKENS: [&str; 5] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];

/// Prefix of the WordPiece pieces that continue a word.
const CONTINUATION: &str = "##";

/// bert-base-uncased's `vocab.txt` (30,522 tokens), the vocabulary of every
/// published Grounding DINO checkpoint, for model directories that lack one.
pub const BERT_BASE_UNCASED_VOCAB: &str =
    include_str!("../../../models/vocab/bert-base-uncased/vocab.txt");

/// What can go wrong building a tokenizer.
#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    #[error("vocab.txt: the vocabulary lacks the special token {0}")]
    MissingToken(&'static str),
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// A WordPiece vocabulary: one token a line, the id is the line number
/// (`vocab.txt`).
#[derive(Debug, Clone)]
pub struct Vocab {
    ids: HashMap<String, u32>,
    tokens: Vec<String>,
}

impl Vocab {
    /// Reads the contents of a `vocab.txt` (`\n` or `\r\n` line ends; a
    /// repeated token takes the id of its last line, as transformers').
    pub fn parse(contents: &str) -> Self {
        let tokens: Vec<String> = contents.lines().map(str::to_owned).collect();
        let ids = tokens
            .iter()
            .zip(0..)
            .map(|(t, id)| (t.clone(), id))
            .collect();
        Vocab { ids, tokens }
    }

    /// The id of a token.
    pub fn id(&self, token: &str) -> Option<u32> {
        self.ids.get(token).copied()
    }

    /// The token of an id.
    pub fn token(&self, id: u32) -> Option<&str> {
        self.tokens.get(id as usize).map(String::as_str)
    }

    /// The number of ids.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether there are no tokens at all.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }
}

/// The switches of the basic tokenizer, as transformers' `do_lower_case`,
/// `strip_accents` and `tokenize_chinese_chars`. The default is BERT uncased.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BasicOptions {
    pub lowercase: bool,
    /// `None`: strip accents exactly when lower-casing.
    pub strip_accents: Option<bool>,
    pub tokenize_chinese_chars: bool,
}

impl Default for BasicOptions {
    fn default() -> Self {
        BasicOptions {
            lowercase: true,
            strip_accents: None,
            tokenize_chinese_chars: true,
        }
    }
}

/// A character of the normalised text, with the index (in characters) of the
/// input character it came from.
#[derive(Debug, Clone, Copy)]
struct Normalized {
    c: char,
    origin: usize,
}

/// Normalisation and the split into words and punctuation (steps 2–6).
#[derive(Debug, Clone, Copy, Default)]
pub struct BasicTokenizer {
    options: BasicOptions,
}

impl BasicTokenizer {
    pub fn new(options: BasicOptions) -> Self {
        BasicTokenizer { options }
    }

    /// The words and punctuation marks of `text`, normalised.
    pub fn tokenize(&self, text: &str) -> Vec<String> {
        let chars = self.normalize(text, 0);
        split_words(&chars)
            .into_iter()
            .map(|w| w.iter().map(|n| n.c).collect())
            .collect()
    }

    /// The normalised characters of `text`, whose first character has index
    /// `base` in the whole input.
    fn normalize(&self, text: &str, base: usize) -> Vec<Normalized> {
        let o = self.options;
        let mut chars = clean(text, base, o.tokenize_chinese_chars);
        if o.strip_accents.unwrap_or(o.lowercase) {
            chars = strip_accents(&chars);
        }
        if o.lowercase {
            chars = lowercase(&chars);
        }
        chars
    }
}

/// Steps 2 and 3: controls dropped, white space to ' ', CJK ideographs spaced.
fn clean(text: &str, base: usize, space_chinese: bool) -> Vec<Normalized> {
    let mut out = Vec::with_capacity(text.len());
    for (i, c) in text.chars().enumerate() {
        let origin = base + i;
        let mut push = |c| out.push(Normalized { c, origin });
        if c == '\0' || c == '\u{fffd}' || is_control(c) {
            continue;
        } else if c.is_whitespace() {
            push(' ');
        } else if space_chinese && is_chinese_char(c) {
            push(' ');
            push(c);
            push(' ');
        } else {
            push(c);
        }
    }
    out
}

/// Control characters as BERT counts them: Cc, Cf and Co, but not the three
/// white-space controls (tab, newline, carriage return).
fn is_control(c: char) -> bool {
    !matches!(c, '\t' | '\n' | '\r') && c.is_other()
}

/// The CJK Unified Ideographs blocks BERT spaces out (not Hangul, kana, …).
fn is_chinese_char(c: char) -> bool {
    matches!(
        c as u32,
        0x4E00..=0x9FFF
            | 0x3400..=0x4DBF
            | 0x20000..=0x2A6DF
            | 0x2A700..=0x2B73F
            | 0x2B740..=0x2B81F
            | 0x2B920..=0x2CEAF
            | 0xF900..=0xFAFF
            | 0x2F800..=0x2FA1F
    )
}

/// Step 4: NFD (decomposition, then each run of combining marks stably sorted
/// by combining class), nonspacing marks dropped.
///
/// Origins follow tokenizers' `NormalizedString` alignment, which is by
/// position: after the reordering, the first piece of each decomposition takes
/// the next input character's origin, later pieces the same again.
fn strip_accents(chars: &[Normalized]) -> Vec<Normalized> {
    let mut pieces = Vec::with_capacity(chars.len());
    for n in chars {
        let mut first = true;
        decompose_canonical(n.c, |c| {
            pieces.push((c, first));
            first = false;
        });
    }
    let is_mark = |c: char| canonical_combining_class(c) != 0;
    for run in pieces.chunk_by_mut(|a, b| is_mark(a.0) && is_mark(b.0)) {
        run.sort_by_key(|&(c, _)| canonical_combining_class(c));
    }
    let mut inputs = chars.iter();
    let mut origin = 0;
    let mut out = Vec::with_capacity(pieces.len());
    for (c, first) in pieces {
        if first {
            origin = inputs
                .next()
                .expect("one first piece per input char")
                .origin;
        }
        if !c.is_mark_nonspacing() {
            out.push(Normalized { c, origin });
        }
    }
    out
}

/// Step 5: each character lower-cased on its own.
fn lowercase(chars: &[Normalized]) -> Vec<Normalized> {
    chars
        .iter()
        .flat_map(|n| n.c.to_lowercase().map(|c| Normalized { c, ..*n }))
        .collect()
}

/// BERT's punctuation: ASCII punctuation (including `$`, `+`, `<`, `^`, `` ` ``,
/// `|`, `~`, which Unicode counts as symbols) and Unicode's P* categories.
fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation() || c.is_punctuation()
}

/// Step 6: split on white space, every punctuation character on its own.
fn split_words(chars: &[Normalized]) -> Vec<&[Normalized]> {
    let mut words = Vec::new();
    for chunk in chars.split(|n| n.c.is_whitespace()) {
        let mut start = 0;
        for (i, n) in chunk.iter().enumerate() {
            if is_punctuation(n.c) {
                words.push(&chunk[start..i]);
                words.push(&chunk[i..i + 1]);
                start = i + 1;
            }
        }
        words.push(&chunk[start..]);
    }
    words.retain(|w| !w.is_empty());
    words
}

/// Token ids with the characters of the input each came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Encoding {
    pub ids: Vec<u32>,
    /// Per token, the range of input characters (code points, not bytes) it
    /// covers, as transformers' `offset_mapping`; `(0, 0)` for `[CLS]` and
    /// `[SEP]`.
    pub offsets: Vec<(usize, usize)>,
}

impl Encoding {
    fn push(&mut self, id: u32, offsets: (usize, usize)) {
        self.ids.push(id);
        self.offsets.push(offsets);
    }
}

/// `BertTokenizer`: special tokens, basic tokenizer, WordPiece.
#[derive(Debug, Clone)]
pub struct BertTokenizer {
    vocab: Vocab,
    basic: BasicTokenizer,
    /// The special tokens and their ids, in [`SPECIAL_TOKENS`] order.
    specials: [(&'static str, u32); 5],
}

impl BertTokenizer {
    /// An uncased tokenizer from the contents of a `vocab.txt`, which must hold
    /// the five special tokens.
    pub fn from_vocab(contents: &str) -> Result<Self, TokenizerError> {
        let vocab = Vocab::parse(contents);
        let mut specials = SPECIAL_TOKENS.map(|t| (t, 0));
        for (token, id) in &mut specials {
            *id = vocab.id(token).ok_or(TokenizerError::MissingToken(token))?;
        }
        Ok(BertTokenizer {
            vocab,
            basic: BasicTokenizer::default(),
            specials,
        })
    }

    /// Reads a `vocab.txt` file.
    #[cfg(feature = "native")]
    pub fn from_file(path: &std::path::Path) -> Result<Self, TokenizerError> {
        let contents = std::fs::read_to_string(path).map_err(|source| TokenizerError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_vocab(&contents)
    }

    /// Reads the `vocab.txt` of a Hugging Face model directory, e.g. a download
    /// of `IDEA-Research/grounding-dino-tiny`.
    #[cfg(feature = "native")]
    pub fn from_model_dir(dir: &std::path::Path) -> Result<Self, TokenizerError> {
        Self::from_file(&dir.join("vocab.txt"))
    }

    /// The same vocabulary with other basic-tokenizer switches (e.g. cased).
    pub fn with_options(self, options: BasicOptions) -> Self {
        BertTokenizer {
            basic: BasicTokenizer::new(options),
            ..self
        }
    }

    pub fn vocab(&self) -> &Vocab {
        &self.vocab
    }

    fn special(&self, token: &str) -> u32 {
        self.specials
            .iter()
            .find(|(t, _)| *t == token)
            .map(|&(_, id)| id)
            .expect("one of SPECIAL_TOKENS")
    }

    /// `[CLS]`, the tokens of `text`, `[SEP]`: transformers'
    /// `tokenizer(text)["input_ids"]` (and `offset_mapping`).
    pub fn encode(&self, text: &str) -> Encoding {
        let mut out = Encoding::default();
        out.push(self.special("[CLS]"), (0, 0));
        self.tokenize_into(text, &mut out);
        out.push(self.special("[SEP]"), (0, 0));
        out
    }

    /// The tokens of `text`, without `[CLS]` and `[SEP]`.
    pub fn tokenize(&self, text: &str) -> Encoding {
        let mut out = Encoding::default();
        self.tokenize_into(text, &mut out);
        out
    }

    /// The text of token ids as transformers' `tokenizer.decode(ids)` gives
    /// it (special tokens kept): tokenizers' `WordPiece` decoder joins the
    /// tokens with spaces, glues `##` pieces to the token before (a leading
    /// one keeps its `##`) and, its `cleanup`, drops the space before `.`,
    /// `?`, `!` and `,`. Ids outside the vocabulary are skipped, as there.
    pub fn decode(&self, ids: &[u32]) -> String {
        let mut out = String::new();
        for token in ids.iter().filter_map(|&id| self.vocab.token(id)) {
            if out.is_empty() {
                out.push_str(token);
            } else if let Some(rest) = token.strip_prefix(CONTINUATION) {
                out.push_str(rest);
            } else if matches!(token, "." | "?" | "!" | ",") {
                out.push_str(token);
            } else {
                out.push(' ');
                out.push_str(token);
            }
        }
        out
    }

    /// Step 1: the text between special tokens goes through the rest.
    fn tokenize_into(&self, text: &str, out: &mut Encoding) {
        let (mut rest, mut base) = (text, 0);
        while let Some((at, token, id)) = self.next_special(rest) {
            self.tokenize_plain(&rest[..at], base, out);
            base += rest[..at].chars().count();
            out.push(id, (base, base + token.len()));
            base += token.len();
            rest = &rest[at + token.len()..];
        }
        self.tokenize_plain(rest, base, out);
    }

    /// The first special token in `text`: byte position, token, id.
    fn next_special(&self, text: &str) -> Option<(usize, &'static str, u32)> {
        self.specials
            .iter()
            .filter_map(|&(token, id)| text.find(token).map(|at| (at, token, id)))
            .min_by_key(|&(at, _, _)| at)
    }

    /// Steps 2–7 on text free of special tokens starting at character `base`.
    fn tokenize_plain(&self, text: &str, base: usize, out: &mut Encoding) {
        let chars = self.basic.normalize(text, base);
        for word in split_words(&chars) {
            self.word_pieces(word, out);
        }
    }

    /// Step 7: the WordPiece pieces of one word, or `[UNK]`.
    fn word_pieces(&self, word: &[Normalized], out: &mut Encoding) {
        let span = |a: usize, b: usize| (word[a].origin, word[b - 1].origin + 1);
        let unk = (self.special("[UNK]"), span(0, word.len()));
        if word.len() > MAX_INPUT_CHARS_PER_WORD {
            out.push(unk.0, unk.1);
            return;
        }
        let text: String = word.iter().map(|n| n.c).collect();
        let bounds: Vec<usize> = text
            .char_indices()
            .map(|(i, _)| i)
            .chain([text.len()])
            .collect();
        let mut key = String::new();
        let mut pieces = Vec::new();
        let mut start = 0;
        while start < word.len() {
            let longest = (start + 1..=word.len()).rev().find_map(|end| {
                key.clear();
                if start > 0 {
                    key.push_str(CONTINUATION);
                }
                key.push_str(&text[bounds[start]..bounds[end]]);
                self.vocab.id(&key).map(|id| (id, end))
            });
            let Some((id, end)) = longest else {
                out.push(unk.0, unk.1);
                return;
            };
            pieces.push((id, span(start, end)));
            start = end;
        }
        for (id, offsets) in pieces {
            out.push(id, offsets);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uncased() -> BertTokenizer {
        BertTokenizer::from_vocab(BERT_BASE_UNCASED_VOCAB).unwrap()
    }

    fn tokens(tok: &BertTokenizer, text: &str) -> Vec<String> {
        tok.tokenize(text)
            .ids
            .iter()
            .map(|&id| tok.vocab().token(id).unwrap().to_string())
            .collect()
    }

    #[test]
    fn vocabulary() {
        let tok = uncased();
        assert_eq!(tok.vocab().len(), 30522);
        assert_eq!(tok.vocab().id("[CLS]"), Some(101));
        assert_eq!(tok.vocab().token(1012), Some("."));
        assert!(matches!(
            BertTokenizer::from_vocab("[PAD]\n[UNK]\n[CLS]\n[SEP]\n"),
            Err(TokenizerError::MissingToken("[MASK]"))
        ));
    }

    #[test]
    fn reference_example() {
        let enc = uncased().encode("a cat. a remote control.");
        assert_eq!(
            enc.ids,
            [101, 1037, 4937, 1012, 1037, 6556, 2491, 1012, 102]
        );
        let offsets = [(0, 0), (0, 1), (2, 5), (5, 6), (7, 8), (9, 15), (16, 23)];
        assert_eq!(enc.offsets[..7], offsets);
    }

    #[test]
    fn basic_tokenizer() {
        let basic = BasicTokenizer::default();
        assert_eq!(
            basic.tokenize(" \tHeLLo!how  \n Are yoU?  "),
            ["hello", "!", "how", "are", "you", "?"]
        );
        assert_eq!(basic.tokenize("H\u{00E9}llo"), ["hello"]);
        assert_eq!(
            basic.tokenize("ah\u{535A}\u{63A8}zz"),
            ["ah", "\u{535A}", "\u{63A8}", "zz"]
        );
        assert_eq!(basic.tokenize("a\0b\u{fffd}c\u{200b}d\u{7}e"), ["abcde"]);
        assert_eq!(basic.tokenize("x\u{3000}y\u{a0}z"), ["x", "y", "z"]);
        assert_eq!(
            basic.tokenize("$5+3=8 \u{201C}ok\u{201D}"),
            ["$", "5", "+", "3", "=", "8", "\u{201C}", "ok", "\u{201D}"]
        );
        let cased = BasicTokenizer::new(BasicOptions {
            lowercase: false,
            ..BasicOptions::default()
        });
        assert_eq!(cased.tokenize("H\u{00E9}llo"), ["H\u{00E9}llo"]);
    }

    #[test]
    fn word_pieces() {
        let tok = uncased();
        assert_eq!(tokens(&tok, "unaffable"), ["una", "##ffa", "##ble"]);
        assert_eq!(tokens(&tok, "Grounding"), ["ground", "##ing"]);
        let long = "a".repeat(MAX_INPUT_CHARS_PER_WORD + 1);
        assert_eq!(tokens(&tok, &format!("x {long} y")), ["x", "[UNK]", "y"]);
        let enc = tok.tokenize(&"b".repeat(MAX_INPUT_CHARS_PER_WORD));
        assert!(enc.ids.len() > 1 && !enc.ids.contains(&100));
    }

    #[test]
    fn special_tokens_in_text() {
        let tok = uncased();
        let enc = tok.encode("x[SEP]y [MASK] [mask]");
        let want = [101, 1060, 102, 1061, 103, 1031, 7308, 1033, 102];
        assert_eq!(enc.ids, want);
        assert_eq!(enc.offsets[2], (1, 6));
    }

    #[test]
    fn offsets_are_characters_of_the_input() {
        let enc = uncased().tokenize("Caf\u{e9} \u{5317}x");
        assert_eq!(enc.offsets, [(0, 4), (5, 6), (6, 7)]);
    }

    /// Checked against transformers 5.23.0 `BertTokenizer(vocab=...)`.decode.
    #[test]
    fn decode_as_transformers() {
        let tok = uncased();
        let cases: [(&[u32], &str); 7] = [
            (
                &[101, 1037, 4937, 1012, 1037, 6556, 2491, 1012, 102],
                "[CLS] a cat. a remote control. [SEP]",
            ),
            (&[4937, 1012, 102], "cat. [SEP]"),
            (&[1041, 1011, 8040, 17206, 2121], "e - scooter"),
            (&[7668, 1879, 1755, 2123, 1005, 1056], "cafe 東 京 don ' t"),
            (&[2015], "##s"),
            (&[102, 4937], "[SEP] cat"),
            (&[], ""),
        ];
        for (ids, want) in cases {
            assert_eq!(tok.decode(ids), want, "{ids:?}");
        }
    }
}
