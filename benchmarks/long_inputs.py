"""Long inputs: the training step at summarization lengths, with the time loops reading their steps from
TensorArrays (ours) against the same loops slicing each step (`x[t]`, as they did before 2026-11-26).

    python benchmarks/long_inputs.py [--lengths 50 100 400] [--steps 3] [--write]

The model is the `attention_lstm` summarization preset's shape: bi-LSTM encoder and LSTM decoder of 256 units,
embedding 128, Bahdanau attention, batch 16, target length 100, vocabulary 20,000 (the preset allows up to
50,000; the output layer's cost does not depend on the loops). Both variants are built in one process and
timed step by step in turn (A B A B ...), so drift of this shared machine hits both alike.

A slice's gradient is a zero tensor of all steps holding one step; summed over the loop, the backward pass of
a sliced loop costs O(steps²) in memory traffic. A TensorArray's read has a TensorArray write as its gradient.
"""

import contextlib
import os
import sys

import numpy as np
import tensorflow as tf

sys.path.insert(0, os.path.dirname(__file__))
from common import argument_parser, report, time_in_turn  # noqa: E402
from train_throughput import kseq2seq_variant  # noqa: E402

from kseq2seq.layers import decoders, time_loop  # noqa: E402

BATCH, TARGET_LENGTH, VOCAB, EMBEDDING, UNITS = 16, 100, 20000, 128, 256
SCAN = time_loop.scan  # ours, kept before `loops_using` swaps it


def sliced_scan(fn, state, xs, dtypes=None):
    """`time_loop.scan` as it was: each step's inputs sliced (`x[t]`) from the time-major tensors."""
    xs_time_major = tf.nest.map_structure(time_loop._swap_batch_and_time, xs)
    first = tf.nest.flatten(xs)[0]
    # Our scan runs over the step indices alone; the body slices the inputs.
    indices = tf.broadcast_to(tf.range(tf.shape(first)[1])[None], tf.shape(first)[:2])

    def body(state, t):
        return fn(state, tf.nest.map_structure(lambda x: x[t[0]], xs_time_major))

    return SCAN(body, state, indices, first.dtype if dtypes is None else dtypes)


@contextlib.contextmanager
def loops_using(scan):
    """Traces the step with `scan` in the encoder's and the decoder's time loops."""
    saved = time_loop.scan, decoders.scan
    time_loop.scan = decoders.scan = scan
    try:
        yield
    finally:
        time_loop.scan, decoders.scan = saved


def build_step(length, scan):
    rng = np.random.default_rng(length)
    source = tf.constant(rng.integers(4, VOCAB, (BATCH, length)), tf.int32)
    target = tf.constant(rng.integers(4, VOCAB, (BATCH, TARGET_LENGTH)), tf.int32)
    with loops_using(scan):
        step = kseq2seq_variant(UNITS, source, target, bidirectional=True, vocabulary_size=VOCAB,
                                embedding=EMBEDDING, cell_type="lstm")
        step()  # traces the step while `scan` is in place
    return step


def main(argv=None):
    parser = argument_parser(__doc__)
    parser.add_argument("--lengths", type=int, nargs="+", default=[50, 100, 400])
    parser.add_argument("--steps", type=int, default=3, help="timed steps per variant (median)")
    args = parser.parse_args(argv)
    rows = []
    for length in args.lengths:
        seconds = time_in_turn({"ours": build_step(length, SCAN), "sliced": build_step(length, sliced_scan)},
                               args.steps)
        rows.append((length, seconds["ours"], seconds["sliced"]))
        print(f"source length {length}: ours {seconds['ours']:.2f} s, sliced {seconds['sliced']:.2f} s", flush=True)
    description = (
        f"`python benchmarks/long_inputs.py --lengths {' '.join(map(str, args.lengths))} --steps {args.steps}"
        f"{' --write' if args.write else ''}`: one training step (forward, backward, Adam) of the `attention_lstm` "
        f"summarization preset's shape (bi-LSTM encoder, LSTM decoder, units {UNITS}, embedding {EMBEDDING}, "
        f"Bahdanau attention), batch {BATCH}, target length {TARGET_LENGTH}, vocabulary {VOCAB:,}; median of "
        f"{args.steps} steps of each variant, timed in turn in one process."
    )
    body = [
        "| source length | ours: steps read from TensorArrays, s/step | steps sliced (`x[t]`), s/step | speed-up |",
        "|---:|---:|---:|---:|",
    ] + [f"| {length} | {ours:.2f} | {sliced:.2f} | {sliced / ours:.2f}x |" for length, ours, sliced in rows]
    report("long-inputs", "Long inputs: time-loop steps read from TensorArrays", description, body, args.write)


if __name__ == "__main__":
    main()
