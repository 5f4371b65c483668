"""Level 2: text pairs -> padded token ids, inside the tf.data / serving graph."""

import keras
import tensorflow as tf

from kseq2seq.tokenizers import END_ID, START_ID
from kseq2seq.utils import check_positive_int


@keras.saving.register_keras_serializable(package="kseq2seq")
class Seq2SeqPreprocessor(keras.layers.Layer):
    """Tokenizes a batch of source (and target) strings for a seq2seq model.

    `preprocessor(source)` -> `{"encoder_token_ids"}`;
    `preprocessor(source, target)` -> `(x, labels)` with
    `x = {"encoder_token_ids", "decoder_token_ids"}`, where the decoder input
    is `[START] + target` and the labels are `target + [END]` (teacher
    forcing). Everything is padded with 0 to the longest sequence of the batch,
    after truncating sources to `source_length` and targets to
    `target_length` tokens (counting [END]).
    """

    def __init__(self, source_tokenizer, target_tokenizer, source_length=64, target_length=64, **kwargs):
        kwargs.setdefault("dtype", "string")
        super().__init__(**kwargs)
        self.source_tokenizer = source_tokenizer
        self.target_tokenizer = target_tokenizer
        self.source_length = check_positive_int("source_length", source_length)
        self.target_length = check_positive_int("target_length", target_length, minimum=2)

    def __call__(self, source, target=None, **kwargs):
        # Keras only accepts tensors positionally; accept Python strings too.
        source = _as_batch(source, "source")
        target = None if target is None else _as_batch(target, "target")
        return super().__call__(source, target, **kwargs)

    def build(self, *args, **kwargs):
        # Nothing to build: the tokenizers' vocabularies are fixed at construction.
        self.built = True

    def tokenize_source(self, source):
        """Source strings -> padded ids `[batch, length]`, length >= 1.

        A batch of empty strings still gets one (padding) position, so the
        encoder always has a step to run; its fully masked row encodes to zeros.
        """
        source = _as_batch(source, "source")
        ids = self.source_tokenizer.tokenize(source)[:, : self.source_length]
        ids = ids.to_tensor(0)
        return tf.pad(ids, [[0, 0], [0, tf.maximum(1 - tf.shape(ids)[1], 0)]])

    def tokenize_pairs(self, source, target):
        """Ragged `(encoder_ids, decoder_ids, labels)` for a batch, before padding."""
        source_ids = self.source_tokenizer.tokenize(_as_batch(source, "source"))[:, : self.source_length]
        target = self.target_tokenizer.tokenize(_as_batch(target, "target"))[:, : self.target_length - 1]
        batch = target.nrows()
        decoder_ids = tf.concat([tf.fill([batch, 1], START_ID), target], axis=1)
        labels = tf.concat([target, tf.fill([batch, 1], END_ID)], axis=1)
        return source_ids, decoder_ids, labels

    def call(self, source, target=None):
        if target is None:
            return {"encoder_token_ids": self.tokenize_source(source)}
        source_ids, decoder_ids, labels = self.tokenize_pairs(source, target)
        x = {"encoder_token_ids": source_ids.to_tensor(0), "decoder_token_ids": decoder_ids.to_tensor(0)}
        return x, labels.to_tensor(0)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "source_tokenizer": keras.saving.serialize_keras_object(self.source_tokenizer),
                "target_tokenizer": keras.saving.serialize_keras_object(self.target_tokenizer),
                "source_length": self.source_length,
                "target_length": self.target_length,
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
