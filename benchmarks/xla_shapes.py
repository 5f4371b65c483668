"""XLA-compiled training with and without padding lengths to a multiple of 8 (Multi30k en→de).

    python benchmarks/xla_shapes.py [--data ../shared/data/multi30k] [--pairs 3200] [--units 256] [--write]

XLA compiles a training step once per input shape. `Trainer(jit_compile=True)`
pads the token lengths of its batches to a multiple of 8 (its default
`pad_to_multiple_of`); `pad_to_multiple_of=1` leaves every batch padded to
its own longest pair. This trains `multi30k_gru_wordpiece` (smaller units),
with its length buckets and without, for one epoch over the first `--pairs`
training pairs each way, plus once without XLA, and reports the distinct batch shapes fed,
the epoch's wall time and the loss after it.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from common import argument_parser, report  # noqa: E402

PRESET = "multi30k_gru_wordpiece"


def run(pairs, units, jit_compile, pad_to_multiple_of, bucketed):
    import keras

    import kseq2seq
    from kseq2seq.training import Trainer, get_strategy

    keras.utils.set_random_seed(0)
    strategy = get_strategy()
    with strategy.scope():
        task = kseq2seq.Translator.from_preset(PRESET, train_texts=pairs, units=units, embedding_dim=units // 2)
    trainer = Trainer(task, strategy, jit_compile=jit_compile, pad_to_multiple_of=pad_to_multiple_of)
    boundaries = kseq2seq.Translator.presets[PRESET]["bucket_boundaries"] if bucketed else None
    ids = task.tokenize_dataset(pairs)
    steps = len(pairs) // 64
    batches = iter(trainer._distributed(ids, 64, seed=0, epoch=0, bucket_boundaries=boundaries))
    shapes = {(int(x["encoder_token_ids"].shape[1]), int(labels.shape[1]))
              for x, labels in (next(batches) for _ in range(steps))}
    start = time.perf_counter()
    history = trainer.fit(pairs, epochs=1, batch_size=64, bucket_boundaries=boundaries)
    seconds = time.perf_counter() - start
    return len(shapes), seconds, history["steps"], history["loss"][-1]


def main(argv=None):
    parser = argument_parser(__doc__)
    parser.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data",
                                                       "multi30k"))
    parser.add_argument("--pairs", type=int, default=3200)
    parser.add_argument("--units", type=int, default=256)
    args = parser.parse_args(argv)
    from kseq2seq.datasets.text_files import load_text_pairs

    pairs = load_text_pairs(os.path.join(args.data, "train.en"), os.path.join(args.data, "train.de"))[: args.pairs]
    rows = ["| batching | training step | distinct batch shapes | epoch wall time | steps | loss after the epoch |",
            "|---|---|---:|---:|---:|---:|"]
    for bucketed in (True, False):
        batching = "the preset's length buckets" if bucketed else "no buckets (shuffled batches)"
        for name, jit_compile, multiple in (("graph, no XLA", False, None),
                                            ("XLA, each batch padded to its longest pair", True, 1),
                                            ("XLA, lengths padded to a multiple of 8 (default)", True, None)):
            shapes, seconds, steps, loss = run(pairs, args.units, jit_compile, multiple, bucketed)
            rows.append(f"| {batching} | {name} | {shapes} | {seconds:.0f} s | {steps} | {loss:.3f} |")
            print(rows[-1], flush=True)
    report("xla-shapes", "XLA compilations: padding lengths to a multiple of 8",
           f"`python benchmarks/xla_shapes.py --pairs {args.pairs} --units {args.units}`: one epoch of "
           f"`{PRESET}` (units {args.units}, batches of 64) over the first {args.pairs:,} "
           "Multi30k training pairs, with `Trainer(jit_compile=...)`. XLA compiles the step once per batch shape; "
           "the wall time includes those compilations, not the WordPiece vocabulary learning.", rows, args.write)


if __name__ == "__main__":
    main()
