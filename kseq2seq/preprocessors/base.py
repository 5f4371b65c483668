"""Level 2: the `Preprocessor` interface every modality implements.

A preprocessor turns raw inputs into model inputs inside the graph (tf.data
and serving), so that one task class fits, generates and exports for every
modality:

- `prepare(inputs)` (Python, before the graph): checks a batch of raw inputs
  and returns what `tf.constant` takes (strings or encoded bytes);
- `encode_source(sources)` -> `(encoder_inputs, source_words or None)`;
- `tokenize_pairs(sources, targets)` -> ragged `(x, labels)` for teacher forcing;
- `detokenize(token_ids, source_words)` -> strings;
- `encoder_input_names`, `encoder_input_specs(batch)` for id-level signatures;
- `from_data(sources, targets, config)` builds one from a preset's config
  and training data (vocabularies, sizes).

Targets are text for every task, so the target half lives here: decoder
inputs are `[START] + target`, labels `target + [END]`, truncated to
`target_length` tokens (counting `[END]`), 0-padded. Padding masks
(`encoder_padding_mask` for token sources, `decoder_padding_mask`) are made
here with the ids, before padding, and passed on to the backbone.
"""

import keras
import tensorflow as tf

from kseq2seq.tokenizers import END_ID, START_ID
from kseq2seq.utils import check_positive_int


class Preprocessor(keras.layers.Layer):
    """Base of the text, image (and later audio, record) preprocessors; see the module docstring."""

    copy_source_words = False
    # String endpoints take one string (text, or encoded bytes) per example.
    input_dtype = tf.string
    # What a person gives it ("text", or a file: "image", "audio"), for the web demo's form.
    input_kind = "text"

    def __init__(self, target_tokenizer, target_length=64, **kwargs):
        kwargs.setdefault("dtype", "string")
        super().__init__(**kwargs)
        self.target_tokenizer = target_tokenizer
        self.target_length = check_positive_int("target_length", target_length, minimum=2)

    # --- what a subclass defines ----------------------------------------
    encoder_input_names = ()

    def encoder_input_specs(self, batch=None):
        raise NotImplementedError

    def encode_source(self, sources):
        raise NotImplementedError

    def encode_sources_for_training(self, sources):
        """`(encoder inputs (ragged or dense), extra)` of a training batch; `extra` goes to `label_ids`."""
        inputs, _ = self.encode_source(sources)
        return inputs, None

    @classmethod
    def from_data(cls, sources, targets, config):
        raise NotImplementedError

    # --- shared ---------------------------------------------------------
    def prepare(self, inputs):
        """A Python batch (a list, as `Seq2SeqTask.format_sources` checks) -> a list of str/bytes; errors name the input."""
        for i, item in enumerate(inputs):
            if not isinstance(item, (str, bytes)):
                raise TypeError(f"Expected inputs[{i}] to be a string. Received: {type(item).__name__}")
        return list(inputs)

    def tokenizers(self):
        """The tokenizers by role (`"source"`, `"target"`), e.g. for vocabularies shipped with a TFLite model."""
        return {"target": self.target_tokenizer}

    def describe(self):
        """What an app needs to feed and read an export (its metadata): tokenizers, vocabularies, sizes."""
        tokenizers = self.tokenizers()
        info = {f"{role}_tokenizer": type(tokenizer).__name__ for role, tokenizer in tokenizers.items()}
        info.update({f"{role}_vocabulary": tokenizer.vocabulary for role, tokenizer in tokenizers.items()})
        first = tokenizers.get("source", self.target_tokenizer)
        info.update(lowercase=first.lowercase, copy_source_words=self.copy_source_words,
                    encoder_inputs=list(self.encoder_input_names), target_length=self.target_length)
        return info

    def source_tokens(self, encoder_inputs, source_words, row):
        """The source's tokens of one row (for attention plots); None where the source is not text."""
        return None

    def attention_map(self, weights):
        """Attention `[output tokens, source positions]` as plots want it (an image grid reshapes it)."""
        return weights

    def build(self, *args, **kwargs):
        # Nothing to build: vocabularies and sizes are fixed at construction.
        self.built = True

    def __call__(self, sources, targets=None, **kwargs):
        # Keras only accepts tensors positionally; accept Python values too.
        sources = as_batch(sources, "sources", self.input_dtype)
        targets = None if targets is None else as_batch(targets, "targets")
        return super().__call__(sources, targets, **kwargs)

    def target_tokens(self, targets):
        """Target strings -> ragged `(tokens, ids)`, truncated to leave room for `[END]`."""
        tokenizer = self.target_tokenizer
        tokens = tokenizer.split(tokenizer.standardize(as_batch(targets, "targets")))[:, : self.target_length - 1]
        return tokens, tokenizer.lookup(tokens)

    def tokenize_pairs(self, sources, targets):
        """Ragged `(x, labels)` for a batch, before padding (see the module docstring)."""
        x, extra = self.encode_sources_for_training(sources)
        tokens, ids = self.target_tokens(targets)
        batch = ids.nrows()
        x["decoder_token_ids"] = tf.concat([tf.fill([batch, 1], START_ID), ids], axis=1)
        x["decoder_padding_mask"] = real_tokens(x["decoder_token_ids"])
        return x, tf.concat([self.label_ids(tokens, ids, extra), tf.fill([batch, 1], END_ID)], axis=1)

    def label_ids(self, target_tokens, target_ids, extra):
        """The target's label ids (before `[END]`); a copying model labels copied words with extended ids."""
        return target_ids

    def target_lengths(self, targets):
        tokenizer = self.target_tokenizer
        return tf.cast(tokenizer.split(tokenizer.standardize(as_batch(targets, "targets"))).row_lengths(), tf.int32)

    def fits(self, sources, targets):
        """Which pairs fit without truncation (the base class checks the target only)."""
        return self.target_lengths(targets) < self.target_length

    def detokenize(self, token_ids, source_words=None):
        """Target ids `[batch, length]` or `[batch, nbest, length]` -> strings `[batch]` / `[batch, nbest]`."""
        token_ids = tf.convert_to_tensor(token_ids)
        if token_ids.shape.rank == 2:
            return self.target_tokenizer.detokenize(token_ids, source_words)
        shape = tf.shape(token_ids)
        flat = tf.reshape(token_ids, [shape[0] * shape[1], shape[2]])
        if source_words is not None:
            source_words = tf.repeat(source_words, shape[1], axis=0)
        return tf.reshape(self.target_tokenizer.detokenize(flat, source_words), shape[:2])

    def call(self, sources, targets=None):
        if targets is None:
            return self.encode_source(sources)[0]
        x, labels = self.tokenize_pairs(sources, targets)
        return {k: v.to_tensor() if isinstance(v, tf.RaggedTensor) else v for k, v in x.items()}, labels.to_tensor()

    def get_config(self):
        config = super().get_config()
        for key, value in vars(self).items():
            if key.endswith("_tokenizer"):
                config[key] = keras.saving.serialize_keras_object(value)
        config["target_length"] = self.target_length
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in [k for k in config if k.endswith("_tokenizer")]:
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)


def as_batch(values, name, dtype=tf.string):
    """A scalar or 1-D batch -> a 1-D tensor; other ranks are an error naming `name`."""
    values = tf.convert_to_tensor(values, dtype=dtype)
    if values.shape.rank == 0:
        return values[tf.newaxis]
    if values.shape.rank != 1:
        raise ValueError(f"Expected {name} to be a string or a 1-D batch of strings. Received: shape={values.shape}")
    return values


def pad_to_tensor(ragged):
    """Ragged ids (or masks) -> dense, padded with 0 (False), at least one column."""
    dense = ragged.to_tensor()
    return tf.pad(dense, [[0, 0], [0, tf.maximum(1 - tf.shape(dense)[1], 0)]], constant_values=tf.zeros([], dense.dtype))


def real_tokens(ragged_ids):
    """The padding mask of ragged ids, before padding: True at every token (padding adds False)."""
    return tf.ones_like(ragged_ids, dtype=tf.bool)

