"""Padding ratio of training batches with and without length bucketing (Multi30k en→de).

    python benchmarks/padding.py [--data ../shared/data/multi30k] [--write]

The share of padded positions (source and target sides together) over one
epoch of `bahdanau_lstm_base` training batches: plain shuffled batches of 64,
length buckets (the preset's boundaries) with batches of 64, and buckets with
batches of about 2,048 tokens. Writes the table to docs/benchmarks.md.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from common import argument_parser, report  # noqa: E402


def padding_ratio(batches):
    real = padded = 0
    for x, labels in batches:
        for ids in (x["encoder_token_ids"], labels):
            real += int((ids != 0).numpy().sum())
            padded += int(ids.shape[0] * ids.shape[1])
    return 1.0 - real / padded, padded


def main(argv=None):
    parser = argument_parser(__doc__)
    parser.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data",
                                                       "multi30k"))
    args = parser.parse_args(argv)
    import kseq2seq
    from kseq2seq.datasets.text_files import load_text_pairs
    from kseq2seq.batching import batch_dataset

    pairs = load_text_pairs(os.path.join(args.data, "train.en"), os.path.join(args.data, "train.de"))
    task = kseq2seq.Translator.from_preset("bahdanau_lstm_base", train_texts=pairs, units=8, embedding_dim=4)
    boundaries = kseq2seq.Translator.presets["bahdanau_lstm_base"]["bucket_boundaries"]
    ids = task.tokenize_dataset(pairs).shuffle(100_000, seed=0)
    rows = [
        ("padded batches of 64", batch_dataset(ids, 64)),
        (f"length buckets {boundaries}, batches of 64", batch_dataset(ids, 64, boundaries)),
        ("length buckets, about 2,048 tokens per batch", batch_dataset(ids, 64, boundaries, batch_tokens=2048)),
    ]
    lines = ["| batching | padded positions | positions computed |", "|---|---:|---:|"]
    for name, batches in rows:
        ratio, positions = padding_ratio(batches)
        lines.append(f"| {name} | {ratio:.1%} | {positions:,} |")
        print(lines[-1])
    report("padding", "Padding with and without length bucketing (Multi30k en→de)",
           f"One epoch of `bahdanau_lstm_base` batches over the {len(pairs):,} Multi30k training pairs "
           "(lowercased words; source and target sides together), by `benchmarks/padding.py`. "
           "Fewer padded positions means less wasted computation per epoch.", lines, args.write)


if __name__ == "__main__":
    main()
