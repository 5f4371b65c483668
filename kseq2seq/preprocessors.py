"""Level 2: text pairs -> padded token ids, inside the tf.data / serving graph."""

import keras
import tensorflow as tf

from kseq2seq import copying
from kseq2seq.tokenizers import END_ID, START_ID, UNK
from kseq2seq.utils import check_bool, check_one_of, check_positive_int


@keras.saving.register_keras_serializable(package="kseq2seq")
class Seq2SeqPreprocessor(keras.layers.Layer):
    """Tokenizes a batch of source (and target) strings for a seq2seq model.

    `preprocessor(source)` -> `{"encoder_token_ids"}`;
    `preprocessor(source, target)` -> `(x, labels)` with
    `x = {"encoder_token_ids", "decoder_token_ids"}`, where the decoder input
    is `[START] + target` and the labels are `target + [END]` (teacher
    forcing). Everything is padded with 0 to the longest sequence of the batch,
    after truncating sources to `source_length` and targets to
    `target_length` tokens (counting [END]). `truncate_source="start"` keeps
    a long source's last tokens instead of its first.

    With `copy_source_words=True` (pointer-generator models), `x` also holds
    `encoder_extended_ids` (the source in the target vocabulary extended with
    the source's unknown words, see `kseq2seq.copying`) and the labels use
    those extended ids, so that the model learns to copy unknown words.
    """

    def __init__(self, source_tokenizer, target_tokenizer, source_length=64, target_length=64,
                 copy_source_words=False, truncate_source="end", **kwargs):
        kwargs.setdefault("dtype", "string")
        super().__init__(**kwargs)
        self.source_tokenizer = source_tokenizer
        self.target_tokenizer = target_tokenizer
        self.source_length = check_positive_int("source_length", source_length)
        self.target_length = check_positive_int("target_length", target_length, minimum=2)
        self.copy_source_words = check_bool("copy_source_words", copy_source_words)
        # "end" keeps a long source's first tokens; "start" keeps its last (a dialogue's latest turns).
        self.truncate_source = check_one_of("truncate_source", truncate_source, {"end", "start"})

    def __call__(self, source, target=None, **kwargs):
        # Keras only accepts tensors positionally; accept Python strings too.
        source = _as_batch(source, "source")
        target = None if target is None else _as_batch(target, "target")
        return super().__call__(source, target, **kwargs)

    def build(self, *args, **kwargs):
        # Nothing to build: the tokenizers' vocabularies are fixed at construction.
        self.built = True

    @property
    def encoder_input_names(self):
        names = ("encoder_token_ids", "encoder_extended_ids")
        return names if self.copy_source_words else names[:1]

    def encoder_input_specs(self, batch=None):
        """Specs of the encoder inputs, for id-level signatures (int32 `[batch, length]`)."""
        return [tf.TensorSpec([batch, None], tf.int32, name=name) for name in self.encoder_input_names]

    def tokenize_source(self, source):
        """Source strings -> padded ids `[batch, length]`, length >= 1.

        A batch of empty strings still gets one (padding) position, so the
        encoder always has a step to run; its fully masked row encodes to zeros.
        """
        return _pad_to_tensor(self._source_tokens(_as_batch(source, "source"))[1])

    def encode_source(self, source):
        """Source strings -> `(inputs, source_words)`: the model's encoder inputs (dense)
        and, when copying, the strings of the extended ids `[batch, n]` (else None)."""
        tokens, ids = self._source_tokens(_as_batch(source, "source"))
        inputs = {"encoder_token_ids": _pad_to_tensor(ids)}
        if not self.copy_source_words:
            return inputs, None
        extended, words = self._extend_source(tokens)
        inputs["encoder_extended_ids"] = _pad_to_tensor(extended)
        return inputs, words.to_tensor(UNK)

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

    def tokenize_pairs(self, source, target):
        """Ragged `(x, labels)` for a batch, before padding (see the class docstring)."""
        tokens, source_ids = self._source_tokens(_as_batch(source, "source"))
        target_tokens = self.target_tokenizer.split(self.target_tokenizer.standardize(_as_batch(target, "target")))
        target_tokens = target_tokens[:, : self.target_length - 1]
        target_ids = self.target_tokenizer.lookup(target_tokens)
        batch = target_ids.nrows()
        start, end = tf.fill([batch, 1], START_ID), tf.fill([batch, 1], END_ID)
        x = {"encoder_token_ids": source_ids, "decoder_token_ids": tf.concat([start, target_ids], axis=1)}
        if self.copy_source_words:
            x["encoder_extended_ids"], words = self._extend_source(tokens)
            size = self.target_tokenizer.vocabulary_size
            target_ids = copying.extend_target(target_tokens, target_ids, words, size)
        return x, tf.concat([target_ids, end], axis=1)

    def pair_lengths(self, source, target):
        """Untruncated token counts `(source [batch], target [batch])` (target without [END])."""
        lengths = []
        for tokenizer, texts, name in ((self.source_tokenizer, source, "source"), (self.target_tokenizer, target, "target")):
            tokens = tokenizer.split(tokenizer.standardize(_as_batch(texts, name)))
            lengths.append(tf.cast(tokens.row_lengths(), tf.int32))
        return tuple(lengths)

    def fits(self, source, target):
        """Which pairs fit `source_length` / `target_length` without truncation."""
        source_lengths, target_lengths = self.pair_lengths(source, target)
        return (source_lengths <= self.source_length) & (target_lengths < self.target_length)

    def _source_tokens(self, source):
        tokenizer = self.source_tokenizer
        tokens = tokenizer.split(tokenizer.standardize(source))
        tokens = tokens[:, : self.source_length] if self.truncate_source == "end" else tokens[:, -self.source_length :]
        return tokens, tokenizer.lookup(tokens)

    def _extend_source(self, source_tokens):
        target_ids = self.target_tokenizer.lookup(source_tokens)
        return copying.extend_source(source_tokens, target_ids, self.target_tokenizer.vocabulary_size)

    def call(self, source, target=None):
        if target is None:
            return self.encode_source(source)[0]
        x, labels = self.tokenize_pairs(source, target)
        return {k: v.to_tensor(0) for k, v in x.items()}, labels.to_tensor(0)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "source_tokenizer": keras.saving.serialize_keras_object(self.source_tokenizer),
                "target_tokenizer": keras.saving.serialize_keras_object(self.target_tokenizer),
                "source_length": self.source_length,
                "target_length": self.target_length,
                "copy_source_words": self.copy_source_words,
                "truncate_source": self.truncate_source,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("source_tokenizer", "target_tokenizer"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)


def _as_batch(texts, name):
    texts = tf.convert_to_tensor(texts, dtype=tf.string)
    if texts.shape.rank == 0:
        return texts[tf.newaxis]
    if texts.shape.rank != 1:
        raise ValueError(f"Expected {name} to be a string or a 1-D batch of strings. Received: shape={texts.shape}")
    return texts


def _pad_to_tensor(ids):
    """Ragged ids -> dense, 0-padded, at least one column."""
    ids = ids.to_tensor(0)
    return tf.pad(ids, [[0, 0], [0, tf.maximum(1 - tf.shape(ids)[1], 0)]])
