"""Level 3: the shared task: a backbone + preprocessor that fits and generates from raw text.

A task is a functional Keras model with the backbone's inputs and outputs,
so `fit`, `evaluate`, `save` and `keras.models.load_model` behave as for
any Keras model. It adds three things: raw `(source, target)` string
datasets are preprocessed in the tf.data graph, `generate` decodes raw
strings inside one `tf.function`, and `from_preset` builds a ready model
from a preset (a dict of sizes and defaults) and training text.
"""

import collections
import types

import keras
import tensorflow as tf

from kseq2seq import decoding
from kseq2seq.batching import batch_dataset
from kseq2seq.models import Seq2SeqBackbone
from kseq2seq.preprocessors import Seq2SeqPreprocessor
from kseq2seq.tokenizers import END_ID, PAD_ID, START_ID, UNK_ID, get_tokenizer_class
from kseq2seq.utils import check_bool, check_positive_int, set_dtype_policy

Generation = collections.namedtuple("Generation", ["text", "score", "source_tokens", "output_tokens", "attention"])

BACKBONE_KEYS = ("embedding_dim", "units", "cell_type", "bidirectional", "num_encoder_layers", "attention", "dropout",
                 "pointer_generator", "coverage", "coverage_loss_weight", "input_feeding", "output_reads_context")
# Decoding defaults; a preset (and so a saved task) may set any of them.
GENERATION_DEFAULTS = {
    "sampler": "greedy",
    "num_beams": 4,
    "length_penalty": 0.6,
    "nbest": 1,
    "temperature": 1.0,
    "top_k": None,
    "top_p": None,
    "min_length": 0,
    "allow_unknown": True,
}


@keras.saving.register_keras_serializable(package="kseq2seq")
def masked_accuracy(y_true, y_pred):
    """Token accuracy over non-padding labels (label 0 is padding)."""
    y_true = tf.cast(y_true, tf.int32)
    mask = tf.cast(y_true != 0, tf.float32)
    hits = tf.cast(tf.argmax(y_pred, axis=-1, output_type=tf.int32) == y_true, tf.float32)
    return tf.reduce_sum(hits * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)


class Seq2SeqTask(keras.Model):
    """Base of every text-to-text task; subclasses only add presets and docs."""

    presets = {}

    def __init__(self, backbone, preprocessor, max_length=32, preset=None, generation_config=None, **kwargs):
        # === Functional Model ===
        inputs = backbone.input
        dtype = kwargs.pop("dtype", None)
        super().__init__(inputs=inputs, outputs=backbone(inputs), **kwargs)
        set_dtype_policy(self, dtype)
        # === Config ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.max_length = check_positive_int("max_length", max_length)
        self.preset = preset
        unknown = sorted(set(generation_config or {}) - set(GENERATION_DEFAULTS))
        if unknown:
            raise ValueError(f"Expected generation_config keys among {sorted(GENERATION_DEFAULTS)}. Received: {unknown}")
        self.generation_config = dict(generation_config or {})
        # A plain holder, not a dict attribute: Keras/TF would track a dict of
        # tf.functions, which breaks saving and export.
        self._generate_cache = types.SimpleNamespace(functions={})

    # --- building -------------------------------------------------------
    @classmethod
    def from_preset(cls, preset, train_texts, **overrides):
        """Builds an untrained, compiled task from a preset name and training pairs.

        Args:
            preset: a name in `cls.presets`.
            train_texts: the training `(source, target)` pairs (a `tf.data.Dataset`
                of string pairs, or a list of pairs) the vocabularies are built from.
            **overrides: any preset field, e.g. `units=256`, `tokenizer="word"`.
        """
        config = cls.preset_config(preset, **overrides)
        sources, targets = _split_pairs(train_texts)
        sources = [cls.format_source(s, config) for s in sources]
        tokenizer_args = {
            "max_vocabulary_size": config["max_vocabulary_size"],
            "min_count": config["min_count"],
            "lowercase": config["lowercase"],
        }
        tokenizer_class = get_tokenizer_class(config["tokenizer"])
        preprocessor = Seq2SeqPreprocessor(
            tokenizer_class.from_texts(sources, name="source_tokenizer", **tokenizer_args),
            tokenizer_class.from_texts(targets, name="target_tokenizer", **tokenizer_args),
            source_length=config["source_length"],
            target_length=config["target_length"],
            copy_source_words=config.get("pointer_generator", False),
            truncate_source=config.get("truncate_source", "end"),
        )
        backbone = Seq2SeqBackbone(
            preprocessor.source_tokenizer.vocabulary_size,
            preprocessor.target_tokenizer.vocabulary_size,
            **{k: config[k] for k in BACKBONE_KEYS if k in config},
        )
        generation_config = {k: config[k] for k in GENERATION_DEFAULTS if k in config}
        task = cls(backbone, preprocessor, max_length=config["max_length"], preset=preset,
                   generation_config=generation_config, **cls.task_arguments(config))
        task.compile(optimizer=keras.optimizers.Adam(config["learning_rate"], clipnorm=config["clipnorm"]))
        return task

    @classmethod
    def format_source(cls, source, config):
        """A source as the preprocessor takes it (a string); subclasses turn richer inputs into one."""
        return source

    def _format_sources(self, sources):
        # Constructor arguments are attributes of the same name, so the task's own values fill the config.
        config = self.task_arguments(vars(self))
        return [self.format_source(s, config) for s in sources]

    def _pairs_dataset(self, pairs):
        sources, targets = _split_pairs(pairs)
        return tf.data.Dataset.from_tensor_slices((self._format_sources(sources), targets))

    @classmethod
    def task_arguments(cls, config):
        """Constructor arguments a subclass takes from its preset config."""
        return {}

    @classmethod
    def preset_config(cls, preset, **overrides):
        if preset not in cls.presets:
            raise ValueError(f"Expected preset to be one of {sorted(cls.presets)}. Received: preset={preset!r}")
        config = dict(cls.presets[preset])
        # Every decoding default may be set, whether or not the preset names it.
        known = set(config) | set(GENERATION_DEFAULTS)
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ValueError(f"Expected overrides among {sorted(known)}. Received unknown: {unknown}")
        config.update(overrides)
        return config

    def compile(self, optimizer="adam", loss=None, metrics=None, **kwargs):
        """Defaults: Adam, masked cross-entropy (`ignore_class=0`) and masked token accuracy."""
        if loss is None:
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0)
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics or [masked_accuracy], **kwargs)

    def compile_from_config(self, config):
        # Keras skips (with a warning) restoring compile state for models that
        # override `compile`; ours keeps Keras' signature, so restore it.
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)

    # --- training -------------------------------------------------------
    def make_dataset(self, data, batch_size=64, shuffle=False, seed=None, bucket_boundaries=None, batch_tokens=None,
                     drop_long=False, pad_to_multiple_of=None):
        """Raw `(source, target)` strings -> batched, tokenized, prefetched dataset.

        Accepts a list of pairs or a `tf.data.Dataset` of string pairs. Unbatched
        data is tokenized once and cached as ids (`tokenize_dataset`), then
        shuffled (optional) and batched (`batch_dataset`). Already batched string
        pairs are tokenized batch by batch; a dataset that already yields token
        ids is returned unchanged.

        `pad_to_multiple_of`: see `batch_dataset` (for a training loop compiled
        with XLA; Keras' `fit` does not compile tasks with XLA, as their
        tokenizers' `StringLookup` layers do not support it).
        """
        if not isinstance(data, tf.data.Dataset):
            data = self._pairs_dataset(data)
        spec = data.element_spec
        if not _is_string_pairs(spec):
            return data
        check_positive_int("batch_size", batch_size)
        if spec[0].shape.rank != 0:
            return data.map(self.preprocessor, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
        ids = self.tokenize_dataset(data, drop_long=drop_long)
        if shuffle:
            ids = ids.shuffle(100_000, seed=seed, reshuffle_each_iteration=True)
        ids = batch_dataset(ids, batch_size, bucket_boundaries, batch_tokens, pad_to_multiple_of=pad_to_multiple_of)
        # The batch count is the same every epoch (bucket sizes do not depend on
        # the shuffle); counting it once (which also fills the cache) lets Keras
        # show progress and avoids its "ran out of data" warning.
        num_batches = int(ids.reduce(0, lambda count, _: count + 1))
        ids = ids.apply(tf.data.experimental.assert_cardinality(num_batches))
        return ids.prefetch(tf.data.AUTOTUNE)

    def tokenize_dataset(self, data, drop_long=False):
        """Unbatched string pairs (a dataset or a list) -> cached, unbatched `(x, labels)` token ids.

        Pairs longer than `source_length` / `target_length` are truncated, or
        with `drop_long=True` left out (`count_long_pairs` counts them).
        """
        if not isinstance(data, tf.data.Dataset):
            data = self._pairs_dataset(data)
        data = data.batch(1024)
        if drop_long:
            data = data.map(self._drop_long_pairs, num_parallel_calls=tf.data.AUTOTUNE)
        ids = data.map(self.preprocessor.tokenize_pairs, num_parallel_calls=tf.data.AUTOTUNE)
        # unbatch() leaves rank-1 ragged specs; a map turns them into the dense
        # tensors that padded_batch needs.
        return ids.unbatch().map(lambda x, labels: (x, labels)).cache()

    def count_long_pairs(self, data):
        """How many pairs of `data` exceed `source_length` or `target_length` (what `drop_long` leaves out)."""
        if not isinstance(data, tf.data.Dataset):
            data = self._pairs_dataset(data)
        fits = data.batch(1024).map(lambda s, t: tf.reduce_sum(tf.cast(~self.preprocessor.fits(s, t), tf.int64)))
        return int(fits.reduce(tf.constant(0, tf.int64), lambda total, n: total + n))

    def _drop_long_pairs(self, sources, targets):
        keep = self.preprocessor.fits(sources, targets)
        return tf.boolean_mask(sources, keep), tf.boolean_mask(targets, keep)

    def fit(self, x=None, y=None, batch_size=64, validation_data=None, shuffle=True, seed=None,
            bucket_boundaries=None, **kwargs):
        """Keras `fit` on raw string pairs (or on already tokenized batches).

        `bucket_boundaries`: sequence lengths at which batches are split into
        buckets of similar length (see `make_dataset`).
        """
        if y is not None:
            return super().fit(x, y, batch_size=batch_size, validation_data=validation_data, **kwargs)
        x = self.make_dataset(x, batch_size, shuffle=shuffle, seed=seed, bucket_boundaries=bucket_boundaries)
        if validation_data is not None:
            validation_data = self.make_dataset(validation_data, batch_size, bucket_boundaries=bucket_boundaries)
        # Shuffling happened in the pipeline; Keras ignores (and warns on) it for datasets.
        return super().fit(x, validation_data=validation_data, shuffle=False, **kwargs)

    def evaluate(self, x=None, y=None, batch_size=None, **kwargs):
        if y is None:
            x = self.make_dataset(x, batch_size or 64)
        return super().evaluate(x, y, batch_size=batch_size, **kwargs)

    # --- generation -----------------------------------------------------
    def generate_ids(self, encoder_inputs, sampler="greedy", max_length=None, seed=0, return_attention=False,
                     allow_unknown=None, **decoding_args):
        """Decodes in graph: encoder inputs -> `decoding.Decoded` with n-best axis.

        `encoder_inputs`: encoder ids `[batch, S]`, or the dict of encoder
        inputs from `preprocessor.encode_source` (pointer-generators need it:
        their output ids from the target vocabulary size on are copied source words).

        `token_ids [batch, nbest, max_length]`, `scores [batch, nbest]` and, with
        `return_attention`, `attention [batch, nbest, max_length, S]`.
        `allow_unknown`: whether `[UNK]` may be generated; None takes the task's
        generation option (so exported signatures follow the preset).
        `decoding_args`: `num_beams`, `length_penalty`, `nbest`, `temperature`, `top_k`, `top_p`, `min_length`.
        """
        if allow_unknown is None:
            allow_unknown = self.generation_options()["allow_unknown"]
        check_bool("allow_unknown", allow_unknown)
        # [PAD] and [START] are never correct outputs; an undertrained model
        # may still rank them first, so they are ruled out. So is [UNK] when
        # asked: a caption or reply with "[UNK]" in it is of no use to a reader.
        never = [PAD_ID, START_ID] + ([] if allow_unknown else [UNK_ID])
        memory, state = self.backbone.encode(encoder_inputs)
        batch_size = tf.shape(memory["values"])[0]
        if sampler == "beam":
            # The step function sees batch * num_beams rows.
            memory = decoding.tile_batch(memory, decoding_args.get("num_beams", 4))

        def step_fn(token_ids, state):
            logits, state, weights = self.backbone.step(token_ids, state, memory)
            ruled_out = tf.reduce_sum(tf.one_hot(never, tf.shape(logits)[-1], on_value=-1e9), axis=0)
            return logits + tf.cast(ruled_out, logits.dtype), state, weights

        return decoding.decode(
            step_fn,
            state,
            batch_size,
            START_ID,
            END_ID,
            self.max_length if max_length is None else max_length,
            sampler=sampler,
            seed=seed,
            return_attention=return_attention,
            **decoding_args,
        )

    def _generate_function(self, config):
        """One traced `tf.function` per decoding configuration; the seed is a tensor argument."""
        key = tuple(sorted(config.items()))
        functions = self._generate_cache.functions
        if key not in functions:

            @tf.function(input_signature=[tf.TensorSpec([None], tf.string), tf.TensorSpec([], tf.int32)])
            def generate_strings(texts, seed):
                inputs, source_words = self.preprocessor.encode_source(texts)
                out = self.generate_ids(inputs, seed=seed, **config)
                strings = self.preprocessor.detokenize(out.token_ids, source_words)
                result = {"texts": strings, "scores": out.scores, "token_ids": out.token_ids}
                if "encoder_token_ids" in inputs:
                    result["source_ids"] = inputs["encoder_token_ids"]
                if source_words is not None:
                    result["source_words"] = source_words
                if out.attention is not None:
                    result["attention"] = out.attention
                return result

            functions[key] = generate_strings
        return functions[key]

    def generation_options(self, **given):
        """The decoding options `generate` uses: `given` (None = unset) over the preset's over the defaults."""
        unknown = sorted(set(given) - set(GENERATION_DEFAULTS))
        if unknown:
            raise ValueError(f"Expected decoding options among {sorted(GENERATION_DEFAULTS)}. Received: {unknown}")
        return {**GENERATION_DEFAULTS, **self.generation_config, **{k: v for k, v in given.items() if v is not None}}

    def generate(self, texts, sampler=None, num_beams=None, length_penalty=None, nbest=None, temperature=None,
                 top_k=None, top_p=None, seed=0, max_length=None, min_length=None, allow_unknown=None, batch_size=64,
                 return_scores=False, return_attention=False):
        """Decodes a string or a list of strings, inside one `tf.function` per batch.

        Decoding arguments left as None take the task's `generation_config`
        (from its preset), then `GENERATION_DEFAULTS` (greedy).

        Args:
            sampler: `"greedy"`, `"beam"` (with `num_beams`, GNMT `length_penalty`
                alpha, `nbest` hypotheses) or `"sample"` (with `temperature`,
                `top_k`, `top_p` and a reproducible `seed`).
            min_length: tokens to generate before `[END]` may be chosen.
            allow_unknown: False rules out generating `[UNK]` (the next most
                likely token comes instead).
            return_scores: also return each output's score (log-probability;
                length-normalised for beam search).
            return_attention: return `Generation` records with source/output
                tokens and attention weights (for `kseq2seq.plot_attention`).

        Returns:
            strings (a list for a list input; a list of `nbest` strings per input
            when `nbest > 1`); with `return_scores`, `(outputs, scores)`.
        """
        check_positive_int("batch_size", batch_size)
        options = self.generation_options(sampler=sampler, num_beams=num_beams, length_penalty=length_penalty,
                                          nbest=nbest, temperature=temperature, top_k=top_k, top_p=top_p,
                                          min_length=min_length, allow_unknown=allow_unknown)
        sampler, nbest = options["sampler"], options["nbest"]
        config = {"sampler": sampler, "max_length": self.max_length if max_length is None else max_length}
        if options["min_length"]:
            config["min_length"] = options["min_length"]
        if sampler == "beam":
            config.update({k: options[k] for k in ("num_beams", "length_penalty", "nbest")})
        elif sampler == "sample":
            config.update({k: options[k] for k in ("temperature", "top_k", "top_p")})
        decoding.check_decoding_config(**{"nbest": nbest, "seed": seed, **config})
        check_bool("allow_unknown", options["allow_unknown"])
        config["allow_unknown"] = options["allow_unknown"]
        if return_attention:
            config["return_attention"] = True
        single = isinstance(texts, str)
        texts = [texts] if single else list(texts)
        if not all(isinstance(t, (str, bytes)) for t in texts):
            raise TypeError(f"Expected texts to be a string or a list of strings. Received: {texts[:3]!r}")
        function = self._generate_function(config)
        outputs, scores = [], []
        for start in range(0, len(texts), batch_size):
            batch = texts[start : start + batch_size]
            result = function(tf.constant(batch, dtype=tf.string), tf.constant(seed, tf.int32))
            if return_attention:
                outputs.extend(self._generations(batch, result))
                continue
            for row, row_scores in zip(result["texts"].numpy(), result["scores"].numpy()):
                strings = [s.decode("utf-8") for s in row]
                outputs.append(strings if nbest > 1 else strings[0])
                scores.append(row_scores.tolist() if nbest > 1 else float(row_scores[0]))
        if single:
            outputs, scores = outputs[0], scores[0] if scores else None
        return (outputs, scores) if return_scores and not return_attention else outputs

    def _generations(self, sources, result):
        """Per-input `Generation` records (best hypothesis) for attention plots."""
        records = []
        source_tokenizer = self.preprocessor.source_tokenizer
        for i in range(len(sources)):
            source_ids = [t for t in result["source_ids"][i].numpy().tolist() if t != 0]
            output_ids = result["token_ids"][i, 0].numpy().tolist()
            length = output_ids.index(END_ID) + 1 if END_ID in output_ids else len(output_ids)
            records.append(
                Generation(
                    text=result["texts"][i, 0].numpy().decode("utf-8"),
                    score=float(result["scores"][i, 0]),
                    source_tokens=[source_tokenizer.id_to_token(t) for t in source_ids],
                    output_tokens=[self._output_token(t, result, i) for t in output_ids[:length]],
                    attention=result["attention"][i, 0, :length, : len(source_ids)].numpy(),
                )
            )
        return records

    def _output_token(self, token_id, result, row):
        size = self.preprocessor.target_tokenizer.vocabulary_size
        if token_id < size:
            return self.preprocessor.target_tokenizer.id_to_token(token_id)
        return result["source_words"][row, token_id - size].numpy().decode("utf-8")

    def export(self, path, formats=("saved_model",), overwrite=False, beam_config=None, tflite_quantization=None):
        """Writes a SavedModel for TF Serving (and/or TFLite) into the version folder `path`; see `kseq2seq.export`."""
        from kseq2seq import export  # the module imports no task code; lazy to keep start-up light

        return export.export(self, path, formats=formats, overwrite=overwrite, beam_config=beam_config,
                             tflite_quantization=tflite_quantization)

    # --- serialization --------------------------------------------------
    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "preprocessor": keras.saving.serialize_keras_object(self.preprocessor),
            "max_length": self.max_length,
            "preset": self.preset,
            "generation_config": self.generation_config,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("backbone", "preprocessor"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)


def _is_string_pairs(spec):
    return (
        isinstance(spec, tuple)
        and len(spec) == 2
        and all(isinstance(s, tf.TensorSpec) and s.dtype == tf.string for s in spec)
    )


def _split_pairs(data):
    """`(sources, targets)` lists of Python strings from a dataset or list of pairs."""
    if isinstance(data, tf.data.Dataset):
        sources, targets = [], []
        batched = data if data.element_spec[0].shape.rank else data.batch(1024)
        for s, t in batched.as_numpy_iterator():
            sources.extend(x.decode("utf-8") for x in s)
            targets.extend(x.decode("utf-8") for x in t)
        return sources, targets
    pairs = list(data)
    if not pairs or not all(len(p) == 2 for p in pairs):
        raise ValueError("Expected a non-empty list of (source, target) pairs.")
    return [p[0] for p in pairs], [p[1] for p in pairs]
