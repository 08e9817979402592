//! Text prompts for the open-vocabulary detectors: BERT's WordPiece tokenizer
//! ([`bert`], Grounding DINO's text encoder input), CLIP's byte-level BPE
//! ([`clip`], OWLv2's queries) and the normalisation of a
//! user's class list into Grounding DINO's caption ([`prompt`]).

pub mod bert;
pub mod clip;
pub mod prompt;

pub use bert::{
    BERT_BASE_UNCASED_VOCAB, BasicOptions, BertTokenizer, Encoding, TokenizerError, Vocab,
};
pub use prompt::{EncodedPrompt, MAX_TEXT_LEN, Prompt, PromptError};
