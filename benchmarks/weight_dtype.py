"""Would bfloat16 weights speed up step-by-step decoding here? A probe of the decoder's matmuls alone.

    python benchmarks/weight_dtype.py [--units 1024] [--write]

A decoder step multiplies the state by every decoder kernel (GRU cell,
attention query and score, output projection). At batch 1 those matmuls read
every weight once per step, so storing the weights in bfloat16 (2 bytes
instead of 4) could at most halve the step time; at batch 64 it depends on
the bfloat16 matmul kernels. This times 20 steps of exactly those kernel
shapes (taken from the real backbone) in a `tf.while_loop`, plain and with
XLA, with the weights stored in float32 and in bfloat16. No attention or
gates: only the part that bfloat16 storage could change.
"""

import os
import sys

import tensorflow as tf

sys.path.insert(0, os.path.dirname(__file__))
from common import argument_parser, report, timed  # noqa: E402

from kseq2seq.models import Seq2SeqBackbone  # noqa: E402

STEPS = 20


def decoder_kernels(backbone):
    decoder = backbone.decoder
    layers = [decoder.cell, decoder.attention.query_projection, decoder.attention.score_projection,
              decoder.output_projection]
    return [w for layer in layers for w in layer.weights if len(w.shape) == 2]


def steps_per_second(kernels, dtype, batch, jit_compile):
    weights = [tf.Variable(tf.cast(w, dtype)) for w in kernels]
    widest = max(w.shape[0] for w in weights)
    state = tf.cast(tf.random.normal([batch, widest]), dtype)

    @tf.function(jit_compile=jit_compile)
    def run(state):
        def body(i, h):
            # Every kernel once per step; the sum keeps each product live.
            out = [tf.reduce_sum(tf.matmul(h[:, : w.shape[0]], w), axis=1, keepdims=True) for w in weights]
            return i + 1, h + tf.tanh(tf.add_n(out)) * 1e-3

        return tf.while_loop(lambda i, _: i < STEPS, body, (0, state))[1]

    return STEPS / timed(lambda: run(state).numpy(), 5)


def main(argv=None):
    parser = argument_parser(__doc__)
    parser.add_argument("--units", type=int, default=1024)
    parser.add_argument("--vocabulary-size", type=int, default=5000)
    args = parser.parse_args(argv)
    backbone = Seq2SeqBackbone(args.vocabulary_size, args.vocabulary_size, embedding_dim=256, units=args.units,
                               cell_type="gru", bidirectional=True)
    kernels = decoder_kernels(backbone)
    megabytes = sum(w.shape[0] * w.shape[1] for w in kernels) * 4 / 1e6
    rows = [
        "| batch | compile | float32 weights, steps/s | bfloat16 weights, steps/s | bfloat16 / float32 |",
        "|---:|---|---:|---:|---:|",
    ]
    for batch in (1, 64):
        for jit_compile in (False, True):
            f32, bf16 = (steps_per_second(kernels, dtype, batch, jit_compile) for dtype in (tf.float32, tf.bfloat16))
            rows.append(f"| {batch} | {'XLA' if jit_compile else 'graph'} | {f32:,.0f} | {bf16:,.0f} | "
                        f"{bf16 / f32:.2f}x |")
            print(rows[-1], flush=True)
    report(f"weight-dtype-units-{args.units}", f"bfloat16 weights for decoding? units {args.units}",
           f"`python benchmarks/weight_dtype.py --units {args.units}{' --write' if args.write else ''}`: the "
           f"{len(kernels)} decoder kernels of the units-{args.units} Bahdanau GRU backbone ({megabytes:.0f} MB in "
           f"float32), each multiplied once per step for {STEPS} steps in a `tf.while_loop` (no attention or gates), "
           "median of 5 runs.", rows, args.write)


if __name__ == "__main__":
    main()
