"""Level 1: image encoders that return a spatial grid of features for attention.

    values, state = encoder(images)   # images [batch, H, W, 3] in [0, 1]
    values: [batch, cells, channels]  one vector per grid cell (e.g. 8 x 8 = 64 cells)
    state:  [batch, channels]         the mean over cells, to start the decoder

`ConvGridEncoder` is a small CNN trained from scratch (the offline default).
`PretrainedGridEncoder` wraps a `keras.applications` backbone whose weights
the user passes as a local file: nothing is downloaded.
"""

import os

import keras
from keras import ops

from kseq2seq.utils import check_bool, check_one_of, check_positive_int


@keras.saving.register_keras_serializable(package="kseq2seq")
class ConvGridEncoder(keras.layers.Layer):
    """`num_blocks` x (3x3 conv, stride 2, ReLU; 3x3 conv, ReLU): a 64 x 64 image -> an 8 x 8 grid with 3 blocks."""

    def __init__(self, filters=64, num_blocks=3, **kwargs):
        super().__init__(**kwargs)
        self.filters = check_positive_int("filters", filters)
        self.num_blocks = check_positive_int("num_blocks", num_blocks)
        self.blocks = []
        for i in range(num_blocks):
            width = min(filters * 2 ** max(i - 1, 0), filters * 4)
            self.blocks += [
                keras.layers.Conv2D(width, 3, strides=2, padding="same", activation="relu", name=f"down_{i}",
                                    dtype=self.dtype_policy),
                keras.layers.Conv2D(width, 3, padding="same", activation="relu", name=f"conv_{i}",
                                    dtype=self.dtype_policy),
            ]
        self.projection = keras.layers.Dense(filters, activation="relu", name="projection", dtype=self.dtype_policy)

    def build(self, images_shape):
        shape = tuple(images_shape)
        for layer in self.blocks:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
        self.projection.build(shape)

    def call(self, images):
        x = images
        for layer in self.blocks:
            x = layer(x)
        return _grid(self.projection(x))

    def compute_output_spec(self, images):
        return _grid_spec(self, images, self.filters, 2**self.num_blocks)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "num_blocks": self.num_blocks}


APPLICATIONS = {
    "mobilenet_v3_small": ("MobileNetV3Small", 32),
    "mobilenet_v3_large": ("MobileNetV3Large", 32),
    "efficientnet_b0": ("EfficientNetB0", 32),
}


@keras.saving.register_keras_serializable(package="kseq2seq")
class PretrainedGridEncoder(keras.layers.Layer):
    """A `keras.applications` backbone (no top) as grid encoder, weights from a local file.

    Args:
        backbone: one of `APPLICATIONS` (`"mobilenet_v3_small"`, ...).
        weights: path to a weights file for that backbone without its top
            (e.g. `..._no_top.h5`), or None for random initialisation.
            `"imagenet"` is refused: it would download at run time.
        image_size: the input size (square).
        trainable_backbone: fine-tune the backbone (default: frozen).
        units: size of the projected cell vectors.
    """

    def __init__(self, backbone="mobilenet_v3_small", weights=None, image_size=224, trainable_backbone=False,
                 units=256, **kwargs):
        super().__init__(**kwargs)
        self.backbone_name = check_one_of("backbone", backbone, set(APPLICATIONS))
        if weights is not None and not os.path.isfile(str(weights)):
            raise ValueError(f"Expected weights to be a local weights file or None (no downloads). "
                             f"Received: weights={weights!r}")
        self.weights_path = weights
        self.image_size = check_positive_int("image_size", image_size, minimum=APPLICATIONS[backbone][1])
        self.trainable_backbone = check_bool("trainable_backbone", trainable_backbone)
        self.units = check_positive_int("units", units)
        application = getattr(keras.applications, APPLICATIONS[backbone][0])
        # These applications normalise inside the model and expect [0, 255] inputs (ours are [0, 1]).
        # keras.applications builds under the global policy, not this layer's: a mixed-precision captioner
        # restored under float32 would otherwise run its CNN in float32.
        global_policy = keras.mixed_precision.global_policy()
        keras.mixed_precision.set_global_policy(self.dtype_policy)
        try:
            self.backbone = application(include_top=False, weights=weights, input_shape=(image_size, image_size, 3))
        finally:
            keras.mixed_precision.set_global_policy(global_policy)
        self.backbone.trainable = self.trainable_backbone
        self.projection = keras.layers.Dense(units, activation="relu", name="projection", dtype=self.dtype_policy)

    def build(self, images_shape):
        self.projection.build(self.backbone.output.shape)

    def call(self, images):
        # A frozen backbone keeps its batch-norm statistics (inference mode) even while the rest trains.
        features = self.backbone(images * 255.0, training=None if self.trainable_backbone else False)
        return _grid(self.projection(features))

    def compute_output_spec(self, images):
        cells = self.backbone.output.shape[1] * self.backbone.output.shape[2]
        batch = images.shape[0]
        return (keras.KerasTensor((batch, cells, self.units), dtype=self.compute_dtype),
                keras.KerasTensor((batch, self.units), dtype=self.compute_dtype))

    def get_config(self):
        return {**super().get_config(), "backbone": self.backbone_name, "weights": self.weights_path,
                "image_size": self.image_size, "trainable_backbone": self.trainable_backbone, "units": self.units}


def _grid(features):
    """`[batch, h, w, c]` -> `(values [batch, h*w, c], mean state [batch, c])`."""
    shape = ops.shape(features)
    values = ops.reshape(features, (shape[0], shape[1] * shape[2], shape[3]))
    return values, ops.mean(values, axis=1)


def _grid_spec(layer, images, channels, stride):
    batch, height, width = images.shape[0], images.shape[1], images.shape[2]
    cells = None if height is None or width is None else -(-height // stride) * -(-width // stride)
    return (keras.KerasTensor((batch, cells, channels), dtype=layer.compute_dtype),
            keras.KerasTensor((batch, channels), dtype=layer.compute_dtype))
