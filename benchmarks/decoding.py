"""Decoding speed: output tokens/s of greedy and beam search, in graph vs a Python loop of eager steps.

    python benchmarks/decoding.py [--units 1024] [--dtype-policy mixed_bfloat16] [--write]

An untrained model decodes a fixed number of steps (the end token is
disabled), so every configuration does the same work. Two Python-loop
baselines: ours (keys `W₁h` projected once per source) and the tutorial style
(keys re-projected at every step, as the classic TensorFlow tutorial's
`evaluate` loop does). The same run measures the machine's matmul rate and
memory bandwidth, and from the model's weights gives the most sentences/s a
step-by-step decoder can reach: at batch 1 every weight is read from memory at
every step, at large batches the matmuls bound it. `--dtype-policy
mixed_bfloat16` builds the model as `--mixed-precision mixed_bfloat16` trains
it (float32 weights, bfloat16 matmuls). `--write` replaces the decoding section
of docs/benchmarks.md.
"""

import os
import sys

import keras
import numpy as np
import tensorflow as tf

sys.path.insert(0, os.path.dirname(__file__))
from common import argument_parser, matmul_gflops, memory_gbytes_per_second, report, timed  # noqa: E402

from kseq2seq import decoding  # noqa: E402
from kseq2seq.models import Seq2SeqBackbone  # noqa: E402

NO_END = -1  # never produced: every sequence runs max_length steps


def make_functions(backbone, max_length, num_beams):
    def run(ids, sampler):
        memory, state = backbone.encode(ids)

        def step_fn(tokens, state, memory):
            logits, state, _ = backbone.step(tokens, state, memory)
            return logits, state

        return decoding.decode(step_fn, state, tf.shape(ids)[0], 2, NO_END, max_length, memory=memory,
                               sampler=sampler, num_beams=num_beams).token_ids

    def python_loop(ids, keys_every_step=False):
        memory, state = backbone.encode(ids)
        tokens = tf.fill([ids.shape[0]], 2)
        outputs = []
        for _ in range(max_length):
            if keys_every_step:
                memory = {**memory, "keys": backbone.decoder.attention.project_keys(memory["values"])}
            logits, state, _ = backbone.step(tokens, state, memory)
            tokens = tf.argmax(logits, axis=-1, output_type=tf.int32)
            outputs.append(tokens)
        return tf.stack(outputs, axis=1)

    return {
        "greedy, Python loop of eager steps": python_loop,
        "greedy, Python loop of eager steps, keys every step (tutorial style)":
            lambda ids: python_loop(ids, keys_every_step=True),
        "greedy, tf.function while_loop": tf.function(lambda ids: run(ids, "greedy")),
        "greedy, tf.function + XLA": tf.function(lambda ids: run(ids, "greedy"), jit_compile=True),
        f"beam {num_beams}, tf.function while_loop": tf.function(lambda ids: run(ids, "beam")),
        f"beam {num_beams}, tf.function + XLA": tf.function(lambda ids: run(ids, "beam"), jit_compile=True),
    }


def main(argv=None):
    parser = argument_parser(__doc__)
    parser.add_argument("--units", type=int, default=1024)
    parser.add_argument("--embedding-dim", type=int, default=256)
    parser.add_argument("--vocabulary-size", type=int, default=5000)
    parser.add_argument("--source-length", type=int, default=20)
    parser.add_argument("--max-length", type=int, default=20)
    parser.add_argument("--num-beams", type=int, default=4)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dtype-policy", default="float32", choices=["float32", "mixed_bfloat16"])
    args = parser.parse_args(argv)

    keras.config.set_dtype_policy(args.dtype_policy)
    backbone = Seq2SeqBackbone(args.vocabulary_size, args.vocabulary_size, embedding_dim=args.embedding_dim,
                               units=args.units, cell_type="gru", bidirectional=True)
    functions = make_functions(backbone, args.max_length, args.num_beams)
    rng = np.random.default_rng(0)
    rows, results = [], {}
    for batch in args.batch_sizes:
        ids = tf.constant(rng.integers(4, args.vocabulary_size, (batch, args.source_length)), tf.int32)
        for name, fn in functions.items():
            seconds = timed(lambda: fn(ids).numpy(), args.repeats)
            results[(name, batch)] = tokens_per_second = batch * args.max_length / seconds
            print(f"batch {batch:3d}  {name:40s} {tokens_per_second:10.0f} tokens/s  {batch / seconds:8.1f} sentences/s")
            rows.append((batch, name, tokens_per_second, batch / seconds))

    def ratio(a, b, batch):
        return results[(a, batch)] / results[(b, batch)]

    loop, tutorial, graph, xla = list(functions)[:4]
    beam_xla = list(functions)[5]
    mixed = args.dtype_policy != "float32"
    flag = f" --dtype-policy {args.dtype_policy}" if mixed else ""
    description = (
        f"`python benchmarks/decoding.py --units {args.units}{flag}{' --write' if args.write else ''}`: "
        f"Bahdanau GRU backbone (bi-GRU encoder), embedding {args.embedding_dim}, units {args.units}, "
        f"vocabulary {args.vocabulary_size}, source length {args.source_length}, {args.max_length} decoding steps "
        f"(end token disabled), median of {args.repeats} runs after a warm-up."
    )
    lines = [
        "| batch | decoding | output tokens/s | sentences/s |",
        "|---:|---|---:|---:|",
    ]
    lines += [f"| {b} | {n} | {t:,.0f} | {s:,.1f} |" for b, n, t, s in rows]
    lines += ["", "Ratios (in-graph vs the Python loop; beam cost vs greedy, both XLA):", ""]
    for batch in args.batch_sizes:
        lines.append(
            f"- batch {batch}: while_loop {ratio(graph, loop, batch):.1f}x, XLA {ratio(xla, loop, batch):.1f}x our Python loop "
            f"({ratio(graph, tutorial, batch):.1f}x, {ratio(xla, tutorial, batch):.1f}x the tutorial-style loop); "
            f"beam {args.num_beams} costs {ratio(xla, beam_xla, batch):.1f}x greedy per output token"
        )
    limits = bounds(backbone, args, {b: max(results[(graph, b)], results[(xla, b)]) / args.max_length
                                     for b in args.batch_sizes})
    lines += ["", *limits]
    suffix = f"-{args.dtype_policy}" if mixed else ""
    report(f"decoding-units-{args.units}{suffix}",
           f"Decoding speed, units {args.units}{', ' + args.dtype_policy if mixed else ''}", description, lines,
           args.write)


# Weights that fit in the caches are not re-read from memory, so small models can pass the memory bound.
CACHE_NOTE = {"memory": ", when the weights do not fit in the caches", "matmul": ""}


def weight_count(layers):
    return sum(int(np.prod(w.shape)) for layer in layers for w in layer.weights)


def bounds(backbone, args, best_sentences_per_second):
    """The most sentences/s a step-by-step decoder of this model can reach here, from measured rates."""
    decoder = backbone.decoder
    attention = decoder.attention
    step = weight_count([decoder.cell, attention.query_projection, attention.score_projection,
                         decoder.output_projection])
    encoder = weight_count([backbone.encoder]) - weight_count([backbone.encoder.embedding])
    keys = weight_count([attention.key_projection])
    # Per sentence: every decoder weight at every output step, every encoder weight at every source step.
    weights_read = args.max_length * step + args.source_length * encoder + keys
    flops = 2 * weights_read
    # Mixed precision keeps float32 weights (read at 4 bytes each) and multiplies in bfloat16.
    compute = tf.as_dtype(keras.config.dtype_policy().compute_dtype)
    bandwidth, gflops = memory_gbytes_per_second(), matmul_gflops(compute)
    lines = [
        f"Bounds, measured in the same run: memory bandwidth {bandwidth:.1f} GB/s, {compute.name} matmul "
        f"{gflops:.0f} GFLOP/s. "
        f"A sentence reads {4 * weights_read / 1e6:,.0f} MB of weights step by step ({4 * step / 1e6:.1f} MB per "
        f"decoder step) and needs {flops / 1e9:.2f} GFLOP of matmuls.",
        "",
    ]
    for batch, achieved in best_sentences_per_second.items():
        limit = {"memory": batch * bandwidth * 1e9 / (4 * weights_read), "matmul": gflops * 1e9 / flops}
        kind = min(limit, key=limit.get)
        bound = limit[kind]
        lines.append(f"- batch {batch}: at most {bound:,.1f} sentences/s ({kind}-bound{CACHE_NOTE[kind]}); "
                     f"the best in-graph figure above, {achieved:,.1f}, is {achieved / bound:.0%} of it")
    return lines


if __name__ == "__main__":
    main()
