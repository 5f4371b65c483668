"""Level 2: encoded images + captions -> model inputs, inside the tf.data / serving graph.

Images arrive as encoded bytes (JPEG, PNG, GIF or BMP), so exported models
take what a client has on disk. Each is decoded to 3 channels (grayscale is
repeated, an alpha channel is dropped, an animation's first frame is used),
resized to `image_size` x `image_size` (aspect ratio not kept, bilinear) and
scaled to [0, 1].
"""

import keras
import tensorflow as tf

from kseq2seq.tokenizers import END_ID, START_ID
from kseq2seq.utils import check_positive_int


def decode_images(encoded, image_size):
    """Encoded image bytes `[batch]` -> float32 `[batch, image_size, image_size, 3]` in [0, 1]."""

    def decode(data):
        image = tf.io.decode_image(data, channels=3, expand_animations=False)
        image = tf.image.resize(tf.cast(image, tf.float32), (image_size, image_size), antialias=True)
        return tf.clip_by_value(image / 255.0, 0.0, 1.0)

    return tf.map_fn(decode, encoded, fn_output_signature=tf.TensorSpec((image_size, image_size, 3), tf.float32))


@keras.saving.register_keras_serializable(package="kseq2seq")
class ImageCaptionPreprocessor(keras.layers.Layer):
    """`(image bytes, caption)` -> `({"images", "decoder_token_ids"}, labels)` for a captioning model.

    Same interface as `Seq2SeqPreprocessor` (`encode_source`, `tokenize_pairs`,
    `detokenize`, ...), with images in place of source text.
    """

    encoder_input_names = ("images",)
    copy_source_words = False

    def __init__(self, target_tokenizer, image_size=64, target_length=32, **kwargs):
        kwargs.setdefault("dtype", "string")
        super().__init__(**kwargs)
        self.target_tokenizer = target_tokenizer
        self.image_size = check_positive_int("image_size", image_size, minimum=16)
        self.target_length = check_positive_int("target_length", target_length, minimum=2)

    def build(self, *args, **kwargs):
        self.built = True

    def encoder_input_specs(self, batch=None):
        return [tf.TensorSpec([batch, self.image_size, self.image_size, 3], tf.float32, name="images")]

    def encode_source(self, images):
        return {"images": decode_images(_as_batch(images), self.image_size)}, None

    def detokenize(self, token_ids, source_words=None):
        token_ids = tf.convert_to_tensor(token_ids)
        if token_ids.shape.rank == 2:
            return self.target_tokenizer.detokenize(token_ids)
        shape = tf.shape(token_ids)
        flat = tf.reshape(token_ids, [shape[0] * shape[1], shape[2]])
        return tf.reshape(self.target_tokenizer.detokenize(flat), shape[:2])

    def tokenize_pairs(self, images, captions):
        tokens = self.target_tokenizer.tokenize(_as_batch(captions))[:, : self.target_length - 1]
        batch = tokens.nrows()
        x = {"images": decode_images(_as_batch(images), self.image_size),
             "decoder_token_ids": tf.concat([tf.fill([batch, 1], START_ID), tokens], axis=1)}
        return x, tf.concat([tokens, tf.fill([batch, 1], END_ID)], axis=1)

    def fits(self, images, captions):
        """Which pairs fit without truncation (only the caption can be too long)."""
        tokenizer = self.target_tokenizer
        lengths = tokenizer.split(tokenizer.standardize(_as_batch(captions))).row_lengths()
        return tf.cast(lengths, tf.int32) < self.target_length

    def call(self, images, captions=None):
        if captions is None:
            return self.encode_source(images)[0]
        x, labels = self.tokenize_pairs(images, captions)
        return {"images": x["images"], "decoder_token_ids": x["decoder_token_ids"].to_tensor(0)}, labels.to_tensor(0)

    def __call__(self, images, captions=None, **kwargs):
        return super().__call__(_as_batch(images), None if captions is None else _as_batch(captions), **kwargs)

    def get_config(self):
        config = super().get_config()
        config.update({"target_tokenizer": keras.saving.serialize_keras_object(self.target_tokenizer),
                       "image_size": self.image_size, "target_length": self.target_length})
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["target_tokenizer"] = keras.saving.deserialize_keras_object(config["target_tokenizer"])
        return cls(**config)


def _as_batch(values):
    values = tf.convert_to_tensor(values, dtype=tf.string)
    return values[tf.newaxis] if values.shape.rank == 0 else values
