"""Level 2: encoded images (+ captions) -> model inputs, inside the tf.data / serving graph.

Images arrive as encoded bytes (JPEG, PNG, GIF or BMP), so exported models
take what a client has on disk. Each is decoded to 3 channels (grayscale is
repeated, an alpha channel is dropped, an animation's first frame is used),
resized to `image_size` x `image_size` (aspect ratio not kept, bilinear) and
scaled to [0, 1].
"""

import os

import keras
import numpy as np
import tensorflow as tf

from kseq2seq.preprocessors.base import Preprocessor, as_batch
from kseq2seq.tokenizers import WordTokenizer
from kseq2seq.utils import check_positive_int

_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM")


def decode_images(encoded, image_size):
    """Encoded image bytes `[batch]` -> float32 `[batch, image_size, image_size, 3]` in [0, 1]."""

    def decode(data):
        image = tf.io.decode_image(data, channels=3, expand_animations=False)
        image = tf.image.resize(tf.cast(image, tf.float32), (image_size, image_size), antialias=True)
        return tf.clip_by_value(image / 255.0, 0.0, 1.0)

    return tf.map_fn(decode, encoded, fn_output_signature=tf.TensorSpec((image_size, image_size, 3), tf.float32))


def read_image(image, index=0):
    """Encoded image bytes from bytes or a file path, checked to be JPEG, PNG, GIF or BMP."""
    if isinstance(image, str):
        if not os.path.isfile(image):
            raise ValueError(f"Expected inputs[{index}] to be encoded image bytes or an image file path. "
                             f"Received: {image[:80]!r}")
        with open(image, "rb") as f:
            image = f.read()
    if not isinstance(image, bytes):
        raise ValueError(f"Expected inputs[{index}] to be bytes or a file path. Received: {type(image).__name__}")
    if not image.startswith(_MAGIC):
        raise ValueError(f"Expected inputs[{index}] to be a JPEG, PNG, GIF or BMP image. "
                         f"Received: {len(image)} bytes starting {image[:8]!r}")
    return image


@keras.saving.register_keras_serializable(package="kseq2seq")
class ImageCaptionPreprocessor(Preprocessor):
    """`(image bytes, caption)` -> `({"images", "decoder_token_ids"}, labels)` for a captioning model.

    `prepare` reads file paths and checks that each input is an encoded image,
    naming the bad one; attention over the image comes back as the grid.
    """

    encoder_input_names = ("images",)
    input_kind = "image"

    def __init__(self, target_tokenizer, image_size=64, target_length=32, **kwargs):
        super().__init__(target_tokenizer, target_length, **kwargs)
        self.image_size = check_positive_int("image_size", image_size, minimum=16)

    @classmethod
    def from_data(cls, sources, targets, config):
        """A word vocabulary learned from the training captions."""
        tokenizer = WordTokenizer.from_texts(targets, max_vocabulary_size=config["max_vocabulary_size"],
                                             min_count=config["min_count"], lowercase=config["lowercase"],
                                             name="target_tokenizer")
        return cls(tokenizer, image_size=config["image_size"], target_length=config["target_length"])

    def prepare(self, inputs):
        return [read_image(image, i) for i, image in enumerate(inputs)]

    def encoder_input_specs(self, batch=None):
        return [tf.TensorSpec([batch, self.image_size, self.image_size, 3], tf.float32, name="images")]

    def encode_source(self, images):
        return {"images": decode_images(as_batch(images, "images"), self.image_size)}, None

    def describe(self):
        return {**super().describe(), "image_size": self.image_size}

    def attention_map(self, weights):
        """`[output tokens, cells]` -> `[output tokens, grid height, grid width]` (for `plot_image_attention`)."""
        side = int(round(np.sqrt(weights.shape[-1])))
        return weights.reshape(weights.shape[0], side, -1)

    def get_config(self):
        return {**super().get_config(), "image_size": self.image_size}
