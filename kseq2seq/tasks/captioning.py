"""Level 3: the image captioning task: encoded image in, sentence out."""

import keras

from kseq2seq.models import CaptionBackbone
from kseq2seq.preprocessors import ImageCaptionPreprocessor
from kseq2seq.tasks.task import Seq2SeqTask

_COMMON = {
    "preprocessor": "image",
    "backbone": "image_rnn",
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


@keras.saving.register_keras_serializable(package="kseq2seq")
class Captioner(Seq2SeqTask):
    """Describes images: a grid image encoder + an attention decoder (Show, Attend and Tell).

    `fit` takes `(image, caption)` pairs, images as encoded bytes (JPEG, PNG,
    GIF, BMP); `generate` takes a list of encoded images or file paths.
    Grayscale images are repeated to 3 channels and an alpha channel is dropped.

    Example:

    >>> train, val, test = kseq2seq.datasets.shapes.load_shapes(num_train=512)
    >>> captioner = kseq2seq.Captioner.from_preset("show_attend_tell_small", train_texts=train, units=32)
    >>> history = captioner.fit(train, epochs=1, verbose=0)
    >>> captions = captioner.generate([image for image, _ in test[:2]])
    """

    presets = PRESETS
    preprocessors = {"image": ImageCaptionPreprocessor}
    backbones = {"image_rnn": CaptionBackbone}
