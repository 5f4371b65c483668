"""Training throughput: our training step against tutorial-style references, side by side in one process.

    python benchmarks/train_throughput.py [--units 1024] [--steps 8] [--write]

Every variant trains a Bahdanau-attention GRU translator with Adam on the same
random batch (64 sentences, source and target length 20, vocabularies 5000,
embedding 256), so every target position is a real token. The references are
written here in the style of the classic TensorFlow "NMT with attention"
tutorial: one `tf.function` whose Python loop over target steps is unrolled
into the graph, with the keys `W₁h` re-projected at every step (as the tutorial
does), projected once, or compiled with XLA; and a whole-sequence Keras model
with `AdditiveAttention` after the decoder (no input feeding), as in the Keras
examples. The matrix-multiply ceiling is measured in the same run.
"""

import os
import sys
import threading
import time

try:  # optional reference; PyTorch must load before TensorFlow (importing it after TF ran ops crashed here)
    import torch
except ImportError:
    torch = None

import keras
import numpy as np
import tensorflow as tf

sys.path.insert(0, os.path.dirname(__file__))
from common import argument_parser, matmul_gflops, report, time_in_turn  # noqa: E402

from kseq2seq.models import Seq2SeqBackbone  # noqa: E402
from kseq2seq.preprocessors import Seq2SeqPreprocessor  # noqa: E402
from kseq2seq.tasks.translation import Translator  # noqa: E402
from kseq2seq.tokenizers import SPECIAL_TOKENS, START_ID, WordTokenizer  # noqa: E402
from kseq2seq.training import Trainer, get_strategy  # noqa: E402

BATCH, LENGTH, VOCAB, EMBEDDING = 64, 20, 5000, 256
OURS = "kseq2seq: Bahdanau input feeding, uni-GRU encoder (the reference's shape)"
SAME_MATH = "kseq2seq: same, output layer reads s_t alone (output_reads_context=False: the reference's math)"


# --- tutorial-style reference ------------------------------------------------
class TutorialAttention(keras.layers.Layer):
    def __init__(self, units):
        super().__init__()
        self.W1, self.W2, self.V = keras.layers.Dense(units), keras.layers.Dense(units), keras.layers.Dense(1)

    def call(self, query, values, keys=None):
        keys = self.W1(values) if keys is None else keys
        score = self.V(tf.nn.tanh(keys + self.W2(query)[:, None]))
        weights = tf.nn.softmax(score, axis=1)
        return tf.reduce_sum(weights * values, axis=1)


class TutorialModel(keras.Model):
    """Encoder GRU; decoder: attention on the previous state, [context; embedding] -> GRU -> Dense."""

    def __init__(self, units):
        super().__init__()
        self.source_embedding = keras.layers.Embedding(VOCAB, EMBEDDING)
        self.encoder = keras.layers.GRU(units, return_sequences=True, return_state=True)
        self.target_embedding = keras.layers.Embedding(VOCAB, EMBEDDING)
        self.decoder = keras.layers.GRU(units, return_sequences=True, return_state=True)
        self.attention = TutorialAttention(units)
        self.fc = keras.layers.Dense(VOCAB)

    def decoder_step(self, token_ids, hidden, values, keys):
        context = self.attention(hidden, values, keys)
        x = tf.concat([context[:, None], self.target_embedding(token_ids)], axis=-1)
        output, hidden = self.decoder(x, initial_state=hidden)
        return self.fc(output[:, 0]), hidden


def tutorial_step(model, optimizer, keys_once, jit_compile):
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function(jit_compile=jit_compile)
    def step(source, target):
        with tf.GradientTape() as tape:
            values, hidden = model.encoder(model.source_embedding(source))
            keys = model.attention.W1(values) if keys_once else None
            token_ids, loss = tf.fill([BATCH, 1], START_ID), 0.0
            for t in range(LENGTH):  # unrolled into the graph, as in the tutorial
                logits, hidden = model.decoder_step(token_ids, hidden, values, keys)
                loss += loss_fn(target[:, t], logits)
                token_ids = target[:, t : t + 1]
            loss /= LENGTH
        variables = model.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    return step


def tutorial_variant(units, keys_once, jit_compile, source, target):
    model = TutorialModel(units)
    model.decoder_step(tf.zeros([BATCH, 1], tf.int32), tf.zeros([BATCH, units]), tf.zeros([BATCH, LENGTH, units]),
                       None)
    model.encoder(model.source_embedding(tf.zeros([BATCH, LENGTH], tf.int32)))
    optimizer = keras.optimizers.Adam(1e-3)
    optimizer.build(model.trainable_variables)
    step = tutorial_step(model, optimizer, keys_once, jit_compile)
    return lambda: float(step(source, target))


# --- PyTorch tutorial style (only when torch is importable; never a dependency) ---
def torch_variant(units, keys_once, source, target):
    """The PyTorch seq2seq tutorial's Bahdanau decoder: a GRUCell loop, keys `U_a h` every step unless `keys_once`."""
    from torch import nn

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.source_embedding = nn.Embedding(VOCAB, EMBEDDING)
            self.target_embedding = nn.Embedding(VOCAB, EMBEDDING)
            self.encoder = nn.GRU(EMBEDDING, units, batch_first=True)
            self.Wa, self.Ua, self.Va = nn.Linear(units, units), nn.Linear(units, units), nn.Linear(units, 1)
            self.cell = nn.GRUCell(EMBEDDING + units, units)
            self.out = nn.Linear(units, VOCAB)

        def forward(self, source, target):
            values, hidden = self.encoder(self.source_embedding(source))
            hidden, keys = hidden[0], self.Ua(values) if keys_once else None
            token_ids, logits = torch.full((source.shape[0],), START_ID, dtype=torch.long), []
            for t in range(target.shape[1]):
                step_keys = keys if keys_once else self.Ua(values)
                scores = self.Va(torch.tanh(self.Wa(hidden)[:, None] + step_keys))
                context = (torch.softmax(scores, dim=1) * values).sum(dim=1)
                hidden = self.cell(torch.cat([self.target_embedding(token_ids), context], dim=-1), hidden)
                logits.append(self.out(hidden))
                token_ids = target[:, t]  # teacher forcing
            return torch.stack(logits, dim=1)

    model = Model()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    source, target = (torch.as_tensor(t.numpy(), dtype=torch.long) for t in (source, target))

    def step():
        optimizer.zero_grad()
        logits = model(source, target)
        loss = nn.functional.cross_entropy(logits.reshape(-1, VOCAB), target.reshape(-1))
        loss.backward()
        optimizer.step()
        return float(loss)

    return step


# --- whole-sequence Keras model (no input feeding) ---------------------------
def keras_additive_variant(units, source, target):
    source_ids = keras.Input((None,), dtype="int32")
    decoder_input = keras.Input((None,), dtype="int32")
    values, state = keras.layers.GRU(units, return_sequences=True, return_state=True)(
        keras.layers.Embedding(VOCAB, EMBEDDING)(source_ids))
    outputs = keras.layers.GRU(units, return_sequences=True)(
        keras.layers.Embedding(VOCAB, EMBEDDING)(decoder_input), initial_state=state)
    context = keras.layers.AdditiveAttention()([outputs, values])
    logits = keras.layers.Dense(VOCAB)(keras.layers.Concatenate()([outputs, context]))
    model = keras.Model([source_ids, decoder_input], logits)
    model.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  jit_compile=True)
    return lambda: float(model.train_on_batch([source, _shift(target)], target))


# --- ours ---------------------------------------------------------------------
def kseq2seq_variant(units, source, target, bidirectional=False, input_feeding=True, policy="float32",
                     jit_compile=False, vocabulary_size=VOCAB, embedding=EMBEDDING, cell_type="gru",
                     output_reads_context=True, real_pipeline=False):
    """The training step `kseq2seq train` runs (`Trainer`, under the default strategy).

    `real_pipeline`: batches come through `Trainer`'s input pipeline (string pairs tokenized in graph, length
    buckets, the distributed iterator), as in `kseq2seq train`, instead of one fixed batch.
    """
    keras.mixed_precision.set_global_policy(policy)
    try:
        vocabulary = list(SPECIAL_TOKENS) + [f"w{i}" for i in range(vocabulary_size - len(SPECIAL_TOKENS))]
        strategy = get_strategy()
        with strategy.scope():
            backbone = Seq2SeqBackbone(vocabulary_size, vocabulary_size, embedding, units, cell_type=cell_type,
                                       bidirectional=bidirectional,
                                       attention="bahdanau" if input_feeding else "luong",
                                       input_feeding=input_feeding, output_reads_context=output_reads_context)
            preprocessor = Seq2SeqPreprocessor(WordTokenizer(vocabulary), WordTokenizer(vocabulary))
            task = Translator(backbone, preprocessor)
            task.compile(keras.optimizers.Adam(1e-3, clipnorm=1.0))
        trainer = Trainer(task, strategy, jit_compile=jit_compile)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    step = trainer._step_function(training=True)
    if real_pipeline:
        # The same tokens as the fixed batch, as text: the target drops its last word for the [END] token.
        pairs = [(" ".join(f"w{i}" for i in s), " ".join(f"w{i}" for i in t[:-1]))
                 for s, t in zip(source.numpy().tolist(), target.numpy().tolist())]
        ids = trainer.task.tokenize_dataset(pairs)
        iterator = iter(trainer._distributed(ids, BATCH, seed=0, epoch=0, bucket_boundaries=[LENGTH + 1]))
    else:  # the step function alone: data comes from a fixed batch, so only the training step is timed
        batch = ({"encoder_token_ids": source, "decoder_token_ids": _shift(target)}, target)
        iterator = iter(strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensors(batch).repeat()))
    return lambda: float(step(iterator)[0])


def _shift(target):
    return tf.concat([tf.fill([tf.shape(target)[0], 1], START_ID), target[:, :-1]], axis=1)


# --- measuring ----------------------------------------------------------------
class PeakRSS:
    """Highest resident set size of this process (MiB) while the block runs, sampled every 20 ms."""

    def __enter__(self):
        self.peak, self._running = _rss_mib(), True
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while self._running:
            self.peak = max(self.peak, _rss_mib())
            time.sleep(0.02)

    def __exit__(self, *exc):
        self._running = False
        self._thread.join()


def _rss_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def model_flops(units, bidirectional=False, output_reads_context=True):
    """Training FLOPs per target token of the attention GRU translator (matrix multiplies, keys once; 3x forward)."""
    values = units * (2 if bidirectional else 1)
    encoder = 6 * (EMBEDDING + units) * units * (2 if bidirectional else 1)
    decoder = 6 * (EMBEDDING + values + units) * units
    attention = 2 * units * units + 2 * values * units + 4 * LENGTH * units
    output = 2 * (units + (values if output_reads_context else 0)) * VOCAB
    return 3 * (encoder + decoder + attention + output)


def main(argv=None):
    parser = argument_parser(__doc__)
    parser.add_argument("--units", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=8, help="timed steps per variant (median)")
    parser.add_argument("--only", nargs="*", help="run only variants whose name contains one of these")
    args = parser.parse_args(argv)
    units = args.units
    rng = np.random.default_rng(0)
    source = tf.constant(rng.integers(4, VOCAB, (BATCH, LENGTH)), tf.int32)
    target = tf.constant(rng.integers(4, VOCAB, (BATCH, LENGTH)), tf.int32)
    ceiling = {"float32": matmul_gflops(tf.float32), "bfloat16": matmul_gflops(tf.bfloat16)}
    print(f"matmul 2048^2: fp32 {ceiling['float32']:.0f} GFLOP/s, bf16 {ceiling['bfloat16']:.0f} GFLOP/s", flush=True)

    tutorial_flops, ours_flops = model_flops(units, output_reads_context=False), model_flops(units)
    variants = [
        ("reference: tutorial style, keys every step", lambda *data: tutorial_variant(units, False, False, *data),
         tutorial_flops, "float32"),
        ("reference: tutorial style, keys every step, XLA", lambda *data: tutorial_variant(units, False, True, *data),
         tutorial_flops, "float32"),
        ("reference: tutorial style, keys once", lambda *data: tutorial_variant(units, True, False, *data), tutorial_flops,
         "float32"),
        ("reference: tutorial style, keys once, XLA", lambda *data: tutorial_variant(units, True, True, *data), tutorial_flops,
         "float32"),
        ("reference: whole-sequence Keras, AdditiveAttention after the decoder, XLA",
         lambda *data: keras_additive_variant(units, *data), None, "float32"),
        (OURS, lambda *data: kseq2seq_variant(units, *data), ours_flops, "float32"),
        ("kseq2seq: same, XLA (jit_compile=True)", lambda *data: kseq2seq_variant(units, *data, jit_compile=True),
         ours_flops, "float32"),
        ("kseq2seq: same, mixed_bfloat16", lambda *data: kseq2seq_variant(units, *data, policy="mixed_bfloat16"),
         ours_flops, "bfloat16"),
        ("kseq2seq: same, mixed_bfloat16, XLA",
         lambda *data: kseq2seq_variant(units, *data, policy="mixed_bfloat16", jit_compile=True), ours_flops,
         "bfloat16"),
        (SAME_MATH, lambda *data: kseq2seq_variant(units, *data, output_reads_context=False), tutorial_flops,
         "float32"),
        (f"{SAME_MATH}, mixed_bfloat16",
         lambda *data: kseq2seq_variant(units, *data, output_reads_context=False, policy="mixed_bfloat16"),
         tutorial_flops, "bfloat16"),
        ("kseq2seq: Bahdanau input feeding, bi-GRU encoder (preset default)",
         lambda *data: kseq2seq_variant(units, *data, bidirectional=True), model_flops(units, True), "float32"),
        ("kseq2seq: preset default (bi-GRU), batches from the real input pipeline (`kseq2seq train`'s)",
         lambda *data: kseq2seq_variant(units, *data, bidirectional=True, real_pipeline=True),
         model_flops(units, True), "float32"),
        ("kseq2seq: whole-sequence Luong decoder (input_feeding=False)",
         lambda *data: kseq2seq_variant(units, *data, input_feeding=False), None, "float32"),
        ("kseq2seq: whole-sequence Luong decoder, XLA",
         lambda *data: kseq2seq_variant(units, *data, input_feeding=False, jit_compile=True), None, "float32"),
    ]
    if torch is not None:
        variants += [
            (f"reference: PyTorch {torch.__version__} tutorial style, GRUCell loop, keys every step",
             lambda *data: torch_variant(units, False, *data), tutorial_flops, "float32"),
            (f"reference: PyTorch {torch.__version__} tutorial style, keys once",
             lambda *data: torch_variant(units, True, *data), tutorial_flops, "float32"),
        ]
    built = []
    for name, build, flops, dtype in variants:
        if args.only and not any(word in name for word in args.only):
            continue
        with PeakRSS() as rss:
            step = build(source, target)
            step()  # traced, compiled and run once
        built.append((name, step, flops, dtype, rss.peak))
        print(f"{name}: built, peak RSS {rss.peak:,.0f} MiB", flush=True)
    cpu = {}
    seconds = time_in_turn({name: step for name, step, *_ in built}, args.steps, cpu=cpu)
    results = []
    for name, _, flops, dtype, peak in built:
        tokens_per_second = BATCH * LENGTH / seconds[name]
        fraction = None if flops is None else tokens_per_second * flops / (ceiling[dtype] * 1e9)
        system_share = cpu[name][1] / max(sum(cpu[name]), 1e-9)
        results.append((name, tokens_per_second, fraction, dtype, peak, system_share))
        print(f"{name}: {tokens_per_second:,.0f} target tokens/s", flush=True)
    report_results(args, units, ceiling, results, tutorial_flops, ours_flops)


def report_results(args, units, ceiling, results, tutorial_flops, ours_flops):
    by_name = {name: tps for name, tps, *_ in results}
    base = by_name.get("reference: tutorial style, keys every step")
    best_reference = max((tps for name, tps, *_ in results if name.startswith("reference")), default=None)
    description = (
        f"`python benchmarks/train_throughput.py --units {units} --write`: one training step (forward, backward, "
        f"Adam) on a fixed random batch of {BATCH} pairs, source and target length {LENGTH}, vocabularies "
        f"{VOCAB}/{VOCAB}, embedding {EMBEDDING}, units {units}, GRU, Bahdanau attention unless named; median of "
        f"{args.steps} steps. All variants live in one process: each is built and run once, then they are timed "
        "in turn (one step of each, again and again), so that the machine's drift hits all alike. The system "
        "share is the kernel's part of the process's CPU time during each variant's timed steps; malloc "
        f"thresholds: {os.environ.get('KSEQ2SEQ_MALLOC', 'sound')} (`KSEQ2SEQ_MALLOC`, see kseq2seq.runtime)."
    )
    machine_note = (
        f" Matrix multiply (2048², measured in the same run): fp32 "
        f"{ceiling['float32']:.0f} GFLOP/s, bf16 {ceiling['bfloat16']:.0f} GFLOP/s. Training FLOPs per target "
        f"token (matrix multiplies, keys once): reference {tutorial_flops / 1e6:.0f} M, ours "
        f"{ours_flops / 1e6:.0f} M (its default output layer reads `[s_t; c_t]`, not `s_t` alone; with "
        "`output_reads_context=False` it has the reference's math), so the fp32 ceilings are "
        f"{ceiling['float32'] * 1e9 / tutorial_flops:,.0f} and {ceiling['float32'] * 1e9 / ours_flops:,.0f} "
        "tokens/s."
    )
    lines = [
        "| variant | target tokens/s | vs tutorial style | of the matmul ceiling | peak RSS when built (MiB) | "
        "system share of CPU time |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, tps, fraction, dtype, rss, system_share in results:
        ratio = f"{tps / base:.2f}x" if base else "n/a"
        share = "n/a" if fraction is None else f"{100 * fraction:.0f}% ({dtype})"
        lines.append(f"| {name} | {tps:,.0f} | {ratio} | {share} | {rss:,.0f} | {system_share:.0%} |")
    if best_reference and base:
        lines += ["", f"Best reference: {best_reference:,.0f} tokens/s."]
        pairs = (("Ours", OURS, "kseq2seq: same, mixed_bfloat16"),
                 ("Ours with the reference's math", SAME_MATH, f"{SAME_MATH}, mixed_bfloat16"))
        for label, fp32_name, bf16_name in pairs:
            fp32, bf16 = by_name.get(fp32_name), by_name.get(bf16_name)
            if fp32:
                lines.append(f"{label} (fp32) is {fp32 / base:.2f}x the tutorial style as written and "
                             f"{fp32 / best_reference:.2f}x the best reference.")
            if fp32 and bf16:
                lines.append(f"{label}: mixed_bfloat16 is {bf16 / fp32:.2f}x the fp32 figure.")
    if torch is None:
        lines.append("PyTorch references: not run (PyTorch is not importable here; it is not a dependency).")
    report(f"train-throughput-units-{units}", f"Training throughput, units {units}", description, lines, args.write,
           machine_note)


if __name__ == "__main__":
    main()
