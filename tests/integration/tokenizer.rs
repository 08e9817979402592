//! transformers' `BertTokenizer` (v5.23.0 on tokenizers 0.23.3), live, as the
//! oracle of the BERT tokenizer (`autolabel::text::bert`): on the > 100k lines
//! of `tests/oracle/tokenizer_corpus.py` (standard-library source, licences,
//! the vocabulary, driving prompts, adversarial Unicode) every id and every
//! character offset is the reference's. Variants with one normalisation step
//! switched off disagree on thousands of lines, so the corpus discriminates.
//! The same for the CLIP tokenizer (`autolabel::text::clip`, OWLv2's queries)
//! against transformers' `CLIPTokenizer` on that corpus and CLIP-specific
//! lines (`tests/oracle/clip_tokenizer.py`): ids unpadded and padded to 16.

use std::sync::OnceLock;

use autolabel::text::clip::{CLIP_MERGES, CLIP_VOCAB_JSON, ClipTokenizer};
use autolabel::text::{BasicOptions, BertTokenizer};
use serde::Deserialize;

use crate::support::{Scratch, repo, run_oracle};

/// One corpus line and the reference's encoding of it.
#[derive(Deserialize)]
struct Line {
    text: String,
    ids: Vec<u32>,
    offsets: Vec<(usize, usize)>,
}

fn vocab_path() -> std::path::PathBuf {
    repo().join("models/vocab/bert-base-uncased/vocab.txt")
}

/// The corpus encoded by the reference (run once for all tests).
fn reference() -> &'static [Line] {
    static LINES: OnceLock<Vec<Line>> = OnceLock::new();
    LINES.get_or_init(|| oracle_lines("bert_tokenizer.py", &vocab_path()))
}

/// What the oracle `script` writes for the corpus given `vocab`, one JSON
/// object a line.
fn oracle_lines<T: serde::de::DeserializeOwned>(script: &str, vocab: &std::path::Path) -> Vec<T> {
    let scratch = Scratch::new(script);
    let out = scratch.0.join("reference.jsonl");
    let summary = run_oracle(script, &[vocab.to_str().unwrap(), out.to_str().unwrap()]);
    eprintln!("oracle {script}: {}", summary.trim());
    let jsonl = std::fs::read_to_string(&out).expect("read the oracle's output");
    jsonl
        .lines()
        .map(|l| serde_json::from_str(l).expect("an oracle line"))
        .collect()
}

fn uncased() -> BertTokenizer {
    BertTokenizer::from_file(&vocab_path()).expect("the BERT vocabulary")
}

/// The lines whose ids `tokenizer` gets wrong, and those whose offsets only.
fn mismatches(tokenizer: &BertTokenizer, lines: &[Line]) -> (Vec<usize>, Vec<usize>) {
    let (mut ids, mut offsets) = (Vec::new(), Vec::new());
    for (i, line) in lines.iter().enumerate() {
        let ours = tokenizer.encode(&line.text);
        if ours.ids != line.ids {
            ids.push(i);
        } else if ours.offsets != line.offsets {
            offsets.push(i);
        }
    }
    (ids, offsets)
}

/// The first few mismatching lines, tokens side by side.
fn report(tokenizer: &BertTokenizer, lines: &[Line], bad: &[usize]) -> String {
    let names = |ids: &[u32]| -> Vec<&str> {
        ids.iter()
            .map(|&id| tokenizer.vocab().token(id).unwrap_or("?"))
            .collect()
    };
    let mut out = String::new();
    for &i in bad.iter().take(8) {
        let ours = tokenizer.encode(&lines[i].text);
        out += &format!(
            "line {i}: {:?}\n  transformers {:?} {:?}\n  ours         {:?} {:?}\n",
            lines[i].text,
            names(&lines[i].ids),
            lines[i].offsets,
            names(&ours.ids),
            ours.offsets,
        );
    }
    out
}

#[test]
fn tokenizer_equals_transformers_on_the_corpus() {
    let lines = reference();
    assert!(lines.len() >= 100_000, "corpus of {} lines", lines.len());
    let tokenizer = uncased();
    let (bad_ids, bad_offsets) = mismatches(&tokenizer, lines);
    let tokens: usize = lines.iter().map(|l| l.ids.len()).sum();
    eprintln!(
        "tokenizer: {} lines, {tokens} tokens; {} lines with other ids, {} with other offsets only",
        lines.len(),
        bad_ids.len(),
        bad_offsets.len()
    );
    for (what, bad) in [("ids", &bad_ids), ("offsets", &bad_offsets)] {
        assert!(
            bad.is_empty(),
            "{} of {} lines have other {what} than transformers':\n{}",
            bad.len(),
            lines.len(),
            report(&tokenizer, lines, bad)
        );
    }
}

#[test]
fn tokenizer_oracle_discriminates() {
    let lines = reference();
    let defaults = BasicOptions::default();
    let variants = [
        (
            "accents kept",
            BasicOptions {
                strip_accents: Some(false),
                ..defaults
            },
        ),
        (
            "no CJK spacing",
            BasicOptions {
                tokenize_chinese_chars: false,
                ..defaults
            },
        ),
        (
            "cased",
            BasicOptions {
                lowercase: false,
                ..defaults
            },
        ),
    ];
    for (name, options) in variants {
        let broken = uncased().with_options(options);
        let bad = mismatches(&broken, lines).0.len();
        eprintln!("tokenizer variant {name}: {bad} mismatching lines");
        assert!(bad > 1000, "variant {name}: only {bad} mismatching lines");
    }
}

/// One corpus line and transformers' `CLIPTokenizer` (OWLv2's, pad `!`)
/// encoding of it: unpadded, and padded/truncated to OWLv2's 16 tokens.
#[derive(Deserialize)]
struct ClipLine {
    text: String,
    ids: Vec<u32>,
    ids16: Vec<u32>,
}

fn clip_vocab_dir() -> std::path::PathBuf {
    repo().join("models/vocab/clip")
}

/// The corpus (the BERT corpus with the CLIP vocabulary as its vocabulary
/// section, plus CLIP-specific lines) encoded by the reference, once.
fn clip_reference() -> &'static [ClipLine] {
    static LINES: OnceLock<Vec<ClipLine>> = OnceLock::new();
    LINES.get_or_init(|| oracle_lines("clip_tokenizer.py", &clip_vocab_dir()))
}

/// The lines whose ids `tokenizer` gets wrong: unpadded, and padded to 16
/// with truncation.
fn clip_mismatches(tokenizer: &ClipTokenizer, lines: &[ClipLine]) -> (Vec<usize>, Vec<usize>) {
    let (mut full, mut padded) = (Vec::new(), Vec::new());
    for (i, line) in lines.iter().enumerate() {
        if tokenizer.encode(&line.text) != line.ids {
            full.push(i);
        }
        if tokenizer.encode_padded(&line.text, 16, true).as_ref() != Ok(&line.ids16) {
            padded.push(i);
        }
    }
    (full, padded)
}

#[test]
fn clip_tokenizer_equals_transformers_on_the_corpus() {
    let lines = clip_reference();
    assert!(lines.len() >= 100_000, "corpus of {} lines", lines.len());
    let tokenizer = ClipTokenizer::from_model_dir(&clip_vocab_dir()).expect("the CLIP vocabulary");
    let (full, padded) = clip_mismatches(&tokenizer, lines);
    let tokens: usize = lines.iter().map(|l| l.ids.len()).sum();
    eprintln!(
        "clip tokenizer: {} lines, {tokens} tokens; {} lines with other ids, {} with other padded ids",
        lines.len(),
        full.len(),
        padded.len()
    );
    for (what, bad) in [("ids", &full), ("padded ids", &padded)] {
        let shown: Vec<String> = bad
            .iter()
            .take(8)
            .map(|&i| {
                format!(
                    "line {i}: {:?}\n  transformers {:?}\n  ours         {:?}",
                    lines[i].text,
                    lines[i].ids,
                    tokenizer.encode(&lines[i].text)
                )
            })
            .collect();
        assert!(
            bad.is_empty(),
            "{} of {} lines have other {what} than transformers':\n{}",
            bad.len(),
            lines.len(),
            shown.join("\n")
        );
    }
}

/// Without OWLv2's `!` pad token as a special token (the plain
/// `CLIPTokenizer`), thousands of lines differ: the corpus discriminates.
#[test]
fn clip_tokenizer_oracle_discriminates() {
    let lines = clip_reference();
    let plain = ClipTokenizer::new(CLIP_VOCAB_JSON, CLIP_MERGES, "<|endoftext|>")
        .expect("the embedded vocabulary");
    let bad = clip_mismatches(&plain, lines).0.len();
    eprintln!("clip tokenizer variant without the `!` special token: {bad} mismatching lines");
    assert!(bad > 1000, "only {bad} mismatching lines");
}
