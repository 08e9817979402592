"""transformers' BertTokenizer as the oracle of the Rust BERT tokenizer (crate/src/text/bert.rs).

Usage: bert_tokenizer.py VOCAB_TXT OUT_JSONL

Encodes every line of the corpus (tokenizer_corpus.py) with BertTokenizer (uncased:
do_lower_case, tokenize_chinese_chars, strip_accents unset) and writes one JSON object
per line: {"text", "ids" ([CLS] … [SEP]), "offsets" (character ranges)}. Prints a JSON
summary (line count, versions) on stdout.

transformers 5 pitfall: BertTokenizer(vocab_file=...) silently ignores the file (every token
becomes [UNK]); the vocabulary is passed as a dict instead.
"""

import json
import sys

import tokenizers
import transformers
from transformers import BertTokenizer

from tokenizer_corpus import corpus


def read_vocab(path):
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f]


def main():
    vocab_path, out_path = sys.argv[1:3]
    vocab = read_vocab(vocab_path)
    tokenizer = BertTokenizer(vocab={t: i for i, t in enumerate(vocab)})
    lines = corpus(vocab)
    encoded = tokenizer(lines, return_offsets_mapping=True)
    with open(out_path, "w", encoding="utf-8") as f:
        for text, ids, offsets in zip(lines, encoded["input_ids"], encoded["offset_mapping"]):
            f.write(json.dumps({"text": text, "ids": ids, "offsets": offsets}, ensure_ascii=False))
            f.write("\n")
    print(json.dumps({"lines": len(lines), "transformers": transformers.__version__,
                      "tokenizers": tokenizers.__version__}))


if __name__ == "__main__":
    main()
