"""transformers' CLIPTokenizer, as OWLv2 loads it, as the oracle of the Rust CLIP tokenizer
(crate/src/text/clip.rs).

Usage: clip_tokenizer.py VOCAB_DIR OUT_JSONL

VOCAB_DIR holds vocab.json, merges.txt and tokenizer_config.json (OWLv2's: pad token `!`,
model_max_length 16), as models/vocab/clip does. Encodes every line of the shared corpus
(tokenizer_corpus.py, with the CLIP vocabulary's tokens as its vocabulary section) plus
CLIP-specific lines (special token literals, contractions, `!` runs, digit runs) and writes
one JSON object per line: {"text", "ids" (<|startoftext|> … <|endoftext|>), "ids16" (as
OWLv2's processor pads, with truncation=True: 16 ids)}. Prints a JSON summary on stdout.
"""

import json
import random
import sys

import tokenizers
import transformers
from transformers import CLIPTokenizer

from tokenizer_corpus import SEED, corpus

CLIP_ATOMS = ["<|startoftext|>", "<|endoftext|>", "<|ENDOFTEXT|>", "<|endoftext", "endoftext|>",
              "'s", "'S", "'t", "'re", "'ve", "'m", "'ll", "'d", "’s", "''", "don't", "I'M", "we'LL",
              "!", "!!", "!!!", "wow!", "!?", "?!", "12345", "3.14", "x2", "a1b2", "hello", "world",
              "traffic light", "a photo of a", "ＡＢＣ", "é", "e\u0301", "ǅ", "Σ", "ς", "İ", "ﬁ"]


def clip_section(rng, count):
    out = []
    for _ in range(count):
        parts = [rng.choice(CLIP_ATOMS) for _ in range(rng.randint(1, 12))]
        out.append("".join(p + rng.choice(["", " ", "  ", "\t", "\n"]) for p in parts))
    return out


def main():
    vocab_dir, out_path = sys.argv[1:3]
    tokenizer = CLIPTokenizer.from_pretrained(vocab_dir)
    with open(f"{vocab_dir}/vocab.json", encoding="utf-8") as f:
        vocab = sorted(json.load(f).items(), key=lambda kv: kv[1])
    lines = corpus([token for token, _ in vocab]) + clip_section(random.Random(SEED), 10_000)
    full = tokenizer(lines)["input_ids"]
    padded = tokenizer(lines, padding="max_length", truncation=True, max_length=16)["input_ids"]
    with open(out_path, "w", encoding="utf-8") as f:
        for text, ids, ids16 in zip(lines, full, padded):
            f.write(json.dumps({"text": text, "ids": ids, "ids16": ids16}, ensure_ascii=False))
            f.write("\n")
    print(json.dumps({"lines": len(lines), "transformers": transformers.__version__,
                      "tokenizers": tokenizers.__version__, "pad_token": tokenizer.pad_token}))


if __name__ == "__main__":
    main()
