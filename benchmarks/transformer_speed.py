"""Transformer speed: our training step against the Keras example's, and cached against recomputing decoding.

    python benchmarks/transformer_speed.py [--part training|decoding|both] [--batches 24] [--write]

Training: the `multi30k_transformer` sizes (3 + 3 layers, width 256, 4 heads,
feed-forward 1024, vocabularies 8,000) on batches of 64 pairs whose lengths
are those of the first Multi30k training pairs (words + 1; token ids drawn at
random, so no vocabulary is learned). The reference is written the way Keras'
"English-to-Spanish translation with KerasHub" example writes it: keras-hub
layers in a functional model with `mask_zero` embeddings, a softmax output,
every batch padded to 40 tokens, `model.fit`. Ours is `kseq2seq train`'s step
(`Trainer`: length buckets, logits with a masked loss), with and without XLA
and in `mixed_bfloat16`. Throughput counts real (non-padding) target tokens;
all variants run in one process, each epoch of `--batches` batches timed in
turn. Peak RSS is the process's, so each row includes the variants built
before it: only the first two rows compare.

Decoding: greedy decoding of 64 sources (20 tokens) for 30 steps, our cached
step (`TransformerBackbone.step`) against the same caches kept the way
keras-hub's layers keep them and passed through each layer's own cached call,
against a decoder that runs the whole prefix through the decoder stack at
every step (the encoder once, the last position's logits only), and against
the Keras example's way (the whole model on the prefix every step); ours also
under XLA, and with full-length caches written in place (as XLA and TFLite
need) against caches that grow a position a step, in greedy and 4-beam
search.
"""

import os
import sys
import time

import keras
import keras_hub
import numpy as np
import tensorflow as tf

sys.path.insert(0, os.path.dirname(__file__))
from common import argument_parser, report, time_in_turn  # noqa: E402
from train_throughput import PeakRSS  # noqa: E402

from kseq2seq import decoding  # noqa: E402
from kseq2seq.models import TransformerBackbone  # noqa: E402
from kseq2seq.preprocessors import Seq2SeqPreprocessor  # noqa: E402
from kseq2seq.tasks.translation import Translator  # noqa: E402
from kseq2seq.tokenizers import END_ID, SPECIAL_TOKENS, START_ID, WordTokenizer  # noqa: E402
from kseq2seq.training import Trainer, get_strategy  # noqa: E402

BATCH, VOCAB, LAYERS, HEADS, WIDTH, FEED_FORWARD, PADDED = 64, 8000, 3, 4, 256, 1024, 40
BUCKETS = [10, 13, 16, 20, 25, 32, 40]
DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "multi30k")


def pairs(num_batches, seed=0):
    """Word strings `w<id>` with the lengths of the first Multi30k pairs (at most 39 words a side)."""
    rng = np.random.default_rng(seed)
    with open(os.path.join(DATA, "train.en"), encoding="utf-8") as en, \
            open(os.path.join(DATA, "train.de"), encoding="utf-8") as de:
        lengths = [(len(s.split()), len(t.split())) for s, t, _ in zip(en, de, range(num_batches * BATCH))]
    words = lambda n: " ".join(f"w{i}" for i in rng.integers(0, VOCAB - len(SPECIAL_TOKENS), min(n, PADDED - 1)))  # noqa: E731
    return [(words(s), words(t)) for s, t in lengths]


def vocabulary():
    return list(SPECIAL_TOKENS) + [f"w{i}" for i in range(VOCAB - len(SPECIAL_TOKENS))]


# --- the Keras example's model -----------------------------------------------
def keras_example_variant(data, policy="float32"):
    keras.mixed_precision.set_global_policy(policy)
    try:
        encoder_inputs = keras.Input(shape=(None,), dtype="int32", name="encoder_inputs")
        x = keras_hub.layers.TokenAndPositionEmbedding(VOCAB, PADDED, WIDTH, mask_zero=True)(encoder_inputs)
        for _ in range(LAYERS):
            x = keras_hub.layers.TransformerEncoder(FEED_FORWARD, HEADS, dropout=0.1)(x)
        decoder_inputs = keras.Input(shape=(None,), dtype="int32", name="decoder_inputs")
        y = keras_hub.layers.TokenAndPositionEmbedding(VOCAB, PADDED, WIDTH, mask_zero=True)(decoder_inputs)
        for _ in range(LAYERS):
            y = keras_hub.layers.TransformerDecoder(FEED_FORWARD, HEADS, dropout=0.1)(y, x)
        y = keras.layers.Dropout(0.1)(y)
        outputs = keras.layers.Dense(VOCAB, activation="softmax", dtype="float32")(y)
        model = keras.Model([encoder_inputs, decoder_inputs], outputs)
        model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    finally:
        keras.mixed_precision.set_global_policy("float32")
    tokenizer = WordTokenizer(vocabulary())

    def pad(texts, add_start):
        ids = tokenizer.tokenize(tf.constant(texts)).to_list()
        ids = [([START_ID] if add_start else []) + row + ([] if add_start else [END_ID]) for row in ids]
        return keras.utils.pad_sequences(ids, maxlen=PADDED, padding="post", truncating="post")

    sources, targets = pad([s for s, _ in data], False), pad([t for _, t in data], False)
    inputs = pad([t for _, t in data], True)
    dataset = tf.data.Dataset.from_tensor_slices(((sources, inputs), targets)).batch(BATCH).cache()
    return lambda: model.fit(dataset, epochs=1, verbose=0), int(np.sum(targets != 0))


# --- ours ---------------------------------------------------------------------
def kseq2seq_variant(data, policy="float32", jit_compile=False):
    keras.mixed_precision.set_global_policy(policy)
    try:
        strategy = get_strategy()
        with strategy.scope():
            backbone = TransformerBackbone(VOCAB, VOCAB, LAYERS, HEADS, WIDTH, FEED_FORWARD, dropout=0.1,
                                           max_source_length=64, max_target_length=64)
            preprocessor = Seq2SeqPreprocessor(WordTokenizer(vocabulary()), WordTokenizer(vocabulary()))
            task = Translator(backbone, preprocessor)
            task.compile(keras.optimizers.Adam(1e-3, clipnorm=1.0))
        trainer = Trainer(task, strategy, jit_compile=jit_compile)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    ids = task.tokenize_dataset(data)
    tokens = int(sum(int(np.sum(labels.numpy() != 0)) for _, labels in ids))
    batches = len(data) // BATCH
    step = trainer._step_function(training=True)

    def epoch():
        iterator = iter(trainer._distributed(ids, BATCH, seed=0, epoch=0, bucket_boundaries=BUCKETS))
        return [float(step(iterator)[0]) for _ in range(batches)]

    return epoch, tokens * batches * BATCH / len(data)


# --- decoding -------------------------------------------------------------------
def decoding_variants(steps=30):
    keras.utils.set_random_seed(0)
    backbone = TransformerBackbone(VOCAB, VOCAB, LAYERS, HEADS, WIDTH, FEED_FORWARD, dropout=0.1,
                                   max_source_length=64, max_target_length=steps)
    source = tf.constant(np.random.default_rng(0).integers(4, VOCAB, (BATCH, 20)), tf.int32)

    def cached(sampler="greedy"):
        memory, state = backbone.encode(source)
        # end id -1 never comes: every row decodes all `steps` tokens
        return decoding.decode(backbone.step, state, BATCH, START_ID, -1, steps, memory=memory, sampler=sampler,
                               num_beams=4).token_ids

    def cached_full_length(sampler="greedy"):
        with decoding.fixed_shapes():  # caches of every position from the start, written in place
            return cached(sampler)

    def keras_hub_cached():
        """Each decoder layer's own cached call, as keras-hub's generation does it: stacked
        `[batch, 2, steps, heads, head_dim]` self-attention caches, cross-attention keys and values once."""
        mask = source != 0
        encoded = backbone._encode_sequence(source, mask)
        cross = [tf.stack([layer._cross_attention_layer._key_dense(encoded),
                           layer._cross_attention_layer._value_dense(encoded)], axis=1)
                 for layer in backbone.decoder_layers]

        def step(token_ids, state, _=None):
            index = state["index"][0]
            x = backbone.decoder_embedding(token_ids[:, tf.newaxis], start_index=index)
            caches = []
            for layer, cache, cross_cache in zip(backbone.decoder_layers, state["caches"], cross):
                x, cache, _ = layer(x, encoded, encoder_padding_mask=mask, self_attention_cache=cache,
                                    self_attention_cache_update_index=index, cross_attention_cache=cross_cache)
                caches.append(cache)
            return (backbone._logits(x)[:, 0], {"caches": tuple(caches), "index": state["index"] + 1},
                    tf.zeros(tf.shape(source), tf.float32))

        empty = tf.zeros([BATCH, 2, steps, HEADS, WIDTH // HEADS])
        state = {"caches": (empty,) * LAYERS, "index": tf.zeros([BATCH], tf.int32)}
        return decoding.decode(step, state, BATCH, START_ID, -1, steps).token_ids

    def recompute():
        mask = source != 0
        encoded = backbone._encode_sequence(source, mask)

        def body(t, prefix):
            x = backbone.decoder_embedding(prefix)
            for layer in backbone.decoder_layers:
                x = layer(x, encoded, encoder_padding_mask=mask)
            token = tf.argmax(backbone._logits(x[:, -1:])[:, 0], -1, output_type=tf.int32)
            return t + 1, tf.concat([prefix, token[:, None]], 1)

        start = tf.fill([BATCH, 1], START_ID)
        _, prefix = tf.while_loop(lambda t, _: t < steps, body, (0, start),
                                  shape_invariants=(tf.TensorShape([]), tf.TensorShape([BATCH, None])))
        return prefix[:, 1:]

    def whole_model():
        """The Keras example's `decode_sequences`: the whole model (encoder too) on the prefix, every step."""

        def body(t, prefix):
            logits = backbone({"encoder_token_ids": source, "decoder_token_ids": prefix})
            token = tf.argmax(logits[:, -1], -1, output_type=tf.int32)
            return t + 1, tf.concat([prefix, token[:, None]], 1)

        start = tf.fill([BATCH, 1], START_ID)
        _, prefix = tf.while_loop(lambda t, _: t < steps, body, (0, start),
                                  shape_invariants=(tf.TensorShape([]), tf.TensorShape([BATCH, None])))
        return prefix[:, 1:]

    functions = {"cached": tf.function(cached), "cached, full length": tf.function(cached_full_length),
                 "keras-hub cached": tf.function(keras_hub_cached),
                 "recompute": tf.function(recompute),
                 "whole model": tf.function(whole_model),
                 "cached, XLA": tf.function(cached, jit_compile=True)}  # a growing prefix has no XLA shape
    expected = functions["recompute"]().numpy()
    for name, function in functions.items():  # the same tokens every way
        np.testing.assert_array_equal(np.reshape(function().numpy(), expected.shape), expected, err_msg=name)
    beams = {"beam 4": tf.function(lambda: cached("beam")),
             "beam 4, full length": tf.function(lambda: cached_full_length("beam"))}
    np.testing.assert_array_equal(beams["beam 4"]().numpy(), beams["beam 4, full length"]().numpy())
    functions.update(beams)
    return {name: (lambda f=function: f().numpy()) for name, function in functions.items()}


def training_part(args):
    data = pairs(args.batches)
    variants = [
        ("reference: Keras example style (padded to 40, softmax, model.fit), float32", keras_example_variant),
        ("kseq2seq: Trainer step (length buckets, logits), float32", kseq2seq_variant),
        ("kseq2seq: same, XLA (--jit-compile)", lambda d: kseq2seq_variant(d, jit_compile=True)),
        ("kseq2seq: same, mixed_bfloat16", lambda d: kseq2seq_variant(d, policy="mixed_bfloat16")),
        ("kseq2seq: same, mixed_bfloat16, XLA",
         lambda d: kseq2seq_variant(d, policy="mixed_bfloat16", jit_compile=True)),
    ]
    built, tokens, peaks = {}, {}, {}
    for name, build in variants:
        with PeakRSS() as rss:
            built[name], tokens[name] = build(data)
            built[name]()
        peaks[name] = rss.peak
        print(f"{name}: built, peak RSS {rss.peak:,.0f} MiB", flush=True)
    seconds = time_in_turn(built, args.repeats)
    reference = tokens[variants[0][0]] / seconds[variants[0][0]]
    body = ["| variant | target tokens/s | × reference | peak RSS while building and the first epoch (MiB) |",
            "|---|---|---|---|"]
    for name, _ in variants:
        rate = tokens[name] / seconds[name]
        body.append(f"| {name} | {rate:,.0f} | {rate / reference:.2f}× | {peaks[name]:,.0f} |")
        print(body[-1], flush=True)
    return body


def decoding_part(args):
    with PeakRSS() as rss:
        steps = decoding_variants()
        for step in steps.values():
            step()
    decode_seconds = time_in_turn(steps, args.repeats_decoding)
    body = ["| greedy decoding, batch 64, 30 steps | seconds | tokens/s |", "|---|---|---|"]
    for name, label in [("cached", "cached self-attention and cross-attention projections (ours; the caches "
                                   "grow a position a step)"),
                        ("cached, full length", "the same, caches of all 30 positions from the start, written "
                                                "in place (as under XLA and in TFLite)"),
                        ("keras-hub cached", "the same caches through keras-hub's own cached layer call"),
                        ("recompute", "whole prefix through the decoder stack every step"),
                        ("whole model", "whole model (encoder, decoder, every position's logits) every step, "
                                        "as the Keras example decodes"),
                        ("cached, XLA", "cached, compiled with XLA")]:
        body.append(f"| {label} | {decode_seconds[name]:.3f} | {BATCH * 30 / decode_seconds[name]:,.0f} |")
    body += ["", "| beam search, 4 beams, batch 64, 30 steps | seconds |", "|---|---|"]
    for name, label in [("beam 4", "cached, the caches grow (ours)"),
                        ("beam 4, full length", "cached, full-length caches written in place")]:
        body.append(f"| {label} | {decode_seconds[name]:.3f} |")
    ratio = decode_seconds["recompute"] / decode_seconds["cached"]
    xla_ratio = decode_seconds["recompute"] / decode_seconds["cached, XLA"]
    whole_ratio = decode_seconds["whole model"] / decode_seconds["cached"]
    layer_call_ratio = decode_seconds["keras-hub cached"] / decode_seconds["cached"]
    growing_ratio = decode_seconds["cached, full length"] / decode_seconds["cached"]
    beam_ratio = decode_seconds["beam 4, full length"] / decode_seconds["beam 4"]
    body += ["", f"Cached decoding: **{ratio:.1f}×** the recomputing decoder in a plain graph, **{xla_ratio:.1f}×** "
                 f"with the cached one under XLA (the recomputing one's growing prefix has no static shape), "
                 f"**{whole_ratio:.1f}×** the Keras example's way, **{layer_call_ratio:.2f}×** keras-hub's cached "
                 f"layer call, **{growing_ratio:.2f}×** full-length caches (**{beam_ratio:.2f}×** in beam search, "
                 f"where every step reorders the caches; the same tokens every way); peak RSS of the decoding part {rss.peak:,.0f} MiB."]
    print("\n".join(body), flush=True)
    return body


PARTS = {  # --part -> (result, title, docstring paragraph, function)
    "training": ("transformer-speed", "Transformer training speed", 2, training_part),
    "decoding": ("transformer-decoding", "Transformer decoding speed: cached against recomputing", 3, decoding_part),
}


def main(argv=None):
    parser = argument_parser(__doc__)
    parser.add_argument("--part", choices=["training", "decoding", "both"], default="both")
    parser.add_argument("--batches", type=int, default=24, help="batches per timed epoch (training)")
    parser.add_argument("--repeats", type=int, default=3, help="timed epochs per variant (median)")
    parser.add_argument("--repeats-decoding", type=int, default=5, help="timed decodings per variant (median)")
    args = parser.parse_args(argv)
    for part in (["training", "decoding"] if args.part == "both" else [args.part]):
        name, title, paragraph, run = PARTS[part]
        body = run(args)
        flags = f" --batches {args.batches}" if part == "training" else ""
        description = (f"`python benchmarks/transformer_speed.py --part {part}{flags} --write`, "
                       f"{time.strftime('%Y-%m-%d')}: " + __doc__.split("\n\n")[paragraph].replace("\n", " "))
        report(name, title, description, body, args.write)


if __name__ == "__main__":
    main()
