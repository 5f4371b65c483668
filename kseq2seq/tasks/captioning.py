"""Level 3: the image captioning task: encoded image in, sentence out."""

import os

import keras
import numpy as np
import tensorflow as tf

from kseq2seq.image_preprocessing import ImageCaptionPreprocessor
from kseq2seq.models import CaptionBackbone
from kseq2seq.tasks.task import GENERATION_DEFAULTS, Generation, Seq2SeqTask, _split_pairs
from kseq2seq.tokenizers import WordTokenizer

BACKBONE_KEYS = ("image_size", "image_encoder", "image_encoder_weights", "trainable_image_encoder", "filters",
                 "num_blocks", "embedding_dim", "units", "cell_type", "attention", "dropout",
                 "attention_regularization")
_COMMON = {
    "lowercase": True,
    "max_vocabulary_size": None,
    "min_count": 1,
    "image_encoder": "conv",
    "image_encoder_weights": None,
    "trainable_image_encoder": False,
    "cell_type": "lstm",
    "attention": "bahdanau",
    "learning_rate": 2e-3,
    "clipnorm": 1.0,
    "batch_size": 64,
    "bucket_boundaries": None,
    "sampler": "greedy",
}
PRESETS = {
    "show_attend_tell_small": {
        **_COMMON,
        "description": "Small CNN (64 x 64 image -> 8 x 8 grid) + LSTM 256 with Bahdanau attention over the cells.",
        "image_size": 64, "filters": 64, "num_blocks": 3, "embedding_dim": 64, "units": 256, "dropout": 0.0,
        "attention_regularization": 0.0, "target_length": 16, "max_length": 16, "epochs": 10,
    },
    "show_attend_tell_photos": {
        **_COMMON,
        "description": "CNN from scratch on 128 x 128 photos (8 x 8 grid), LSTM 256, doubly stochastic "
        "attention (λ = 1), dropout; beam 3, no [UNK] in captions.",
        "min_count": 2, "max_vocabulary_size": 5000,
        "image_size": 128, "filters": 64, "num_blocks": 4, "embedding_dim": 128, "units": 256, "dropout": 0.3,
        "attention_regularization": 1.0, "target_length": 24, "max_length": 24, "epochs": 20,
        "sampler": "beam", "num_beams": 3, "length_penalty": 0.6, "allow_unknown": False,
    },
    "mobilenet_attention": {
        **_COMMON,
        "description": "Frozen MobileNetV3-Small (weights from a local file: image_encoder_weights=PATH) -> "
        "7 x 7 grid, LSTM 256 with Bahdanau attention.",
        "min_count": 2, "max_vocabulary_size": 5000,
        "image_size": 224, "image_encoder": "mobilenet_v3_small", "filters": 256, "num_blocks": 3,
        "embedding_dim": 128, "units": 256, "dropout": 0.3, "attention_regularization": 1.0,
        "target_length": 24, "max_length": 24, "epochs": 10, "sampler": "beam", "num_beams": 3,
        "length_penalty": 0.6, "allow_unknown": False,
    },
}
_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM")


def read_image(image, index=0):
    """Encoded image bytes from bytes or a file path, checked to be JPEG, PNG, GIF or BMP."""
    if isinstance(image, str):
        if not os.path.isfile(image):
            raise ValueError(f"Expected images[{index}] to be encoded image bytes or an image file path. "
                             f"Received: {image[:80]!r}")
        with open(image, "rb") as f:
            image = f.read()
    if not isinstance(image, bytes):
        raise ValueError(f"Expected images[{index}] to be bytes or a file path. Received: {type(image).__name__}")
    if not image.startswith(_MAGIC):
        raise ValueError(f"Expected images[{index}] to be a JPEG, PNG, GIF or BMP image. "
                         f"Received: {len(image)} bytes starting {image[:8]!r}")
    return image


@keras.saving.register_keras_serializable(package="kseq2seq")
class Captioner(Seq2SeqTask):
    """Describes images: a grid image encoder + an attention decoder (Show, Attend and Tell).

    `fit` takes `(image, caption)` pairs, images as encoded bytes (JPEG, PNG,
    GIF, BMP); `generate` takes bytes or file paths. Grayscale images are
    repeated to 3 channels and an alpha channel is dropped.

    Example:

    >>> train, val, test = kseq2seq.datasets.shapes.load_shapes(num_train=512)
    >>> captioner = kseq2seq.Captioner.from_preset("show_attend_tell_small", train_texts=train, units=32)
    >>> history = captioner.fit(train, epochs=1, verbose=0)
    >>> captioner.generate([image for image, _ in test[:2]])
    """

    presets = PRESETS

    @classmethod
    def from_preset(cls, preset, train_texts, **overrides):
        config = cls.preset_config(preset, **overrides)
        _, captions = _split_pairs(train_texts)
        tokenizer = WordTokenizer.from_texts(captions, max_vocabulary_size=config["max_vocabulary_size"],
                                             min_count=config["min_count"], lowercase=config["lowercase"],
                                             name="target_tokenizer")
        preprocessor = ImageCaptionPreprocessor(tokenizer, image_size=config["image_size"],
                                                target_length=config["target_length"])
        backbone = CaptionBackbone(tokenizer.vocabulary_size, **{k: config[k] for k in BACKBONE_KEYS})
        generation_config = {k: config[k] for k in GENERATION_DEFAULTS if k in config}
        task = cls(backbone, preprocessor, max_length=config["max_length"], preset=preset,
                   generation_config=generation_config)
        task.compile(optimizer=keras.optimizers.Adam(config["learning_rate"], clipnorm=config["clipnorm"]))
        return task

    def _pairs_dataset(self, pairs):
        images, captions = _split_pairs(pairs)
        images = [read_image(image, i) for i, image in enumerate(images)]
        return tf.data.Dataset.from_tensor_slices((images, captions))

    def generate(self, images, **kwargs):
        """Captions one image or a list of images (encoded bytes or file paths)."""
        single = isinstance(images, (bytes, str))
        batch = [read_image(image, i) for i, image in enumerate([images] if single else list(images))]
        if not batch:
            raise ValueError("Expected at least one image. Received: []")
        try:
            outputs = super().generate(batch, **kwargs)
        except tf.errors.InvalidArgumentError as error:
            raise ValueError(f"Could not decode an image of this batch: {error.message.splitlines()[0]}") from None
        if kwargs.get("return_scores") and not kwargs.get("return_attention"):
            outputs, scores = outputs
            return (outputs[0], scores[0]) if single else (outputs, scores)
        return outputs[0] if single else outputs

    def _generations(self, sources, result):
        """Records whose `attention` is `[output tokens, grid height, grid width]` (for `plot_image_attention`)."""
        records = []
        tokenizer = self.preprocessor.target_tokenizer
        for i in range(len(sources)):
            ids = result["token_ids"][i, 0].numpy().tolist()
            length = ids.index(3) + 1 if 3 in ids else len(ids)
            weights = result["attention"][i, 0, :length].numpy()
            side = int(round(np.sqrt(weights.shape[-1])))
            records.append(Generation(
                text=result["texts"][i, 0].numpy().decode("utf-8"), score=float(result["scores"][i, 0]),
                source_tokens=None, output_tokens=[tokenizer.id_to_token(t) for t in ids[:length]],
                attention=weights.reshape(length, side, -1)))
        return records
