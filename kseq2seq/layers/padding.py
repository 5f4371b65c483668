"""Level 1: padding masks: the preprocessor's, or (only where a caller gives bare ids) one read off the ids.

Preprocessors produce `encoder_padding_mask` and `decoder_padding_mask`
(True at real tokens) with the ids, and backbones pass them on to every
layer that needs them. A caller that feeds token ids alone (the id-level
export signatures, a TFLite app, a test) leaves them out; `padding_mask`
then reads the mask off the ids (id 0 is padding), in this one place.
"""

import keras
from keras import ops

MASK_NAMES = ("encoder_padding_mask", "decoder_padding_mask")


def padding_mask(token_ids, mask=None):
    """`mask` if given, else `token_ids != 0` (bool, the shape of `token_ids`)."""
    return ops.not_equal(token_ids, 0) if mask is None else ops.cast(mask, "bool")


@keras.saving.register_keras_serializable(package="kseq2seq")
class PaddingMask(keras.layers.Layer):
    """`padding_mask` as a layer, for functional graphs whose mask input is optional."""

    # Not named `mask`: Keras passes its own mask propagation under that name.
    def call(self, token_ids, given=None):
        return padding_mask(token_ids, given)

    def compute_output_spec(self, token_ids, given=None):
        return keras.KerasTensor(token_ids.shape, dtype="bool")


def mask_input(name):
    """An optional bool `[batch, length]` input: callers may leave it out (see `OptionalMasks`)."""
    return keras.Input(shape=(None,), dtype="bool", name=name, optional=True)


class OptionalMasks:
    """Mixin for functional models with optional mask inputs: a dict without them is called with None."""

    def __call__(self, inputs, *args, **kwargs):
        if isinstance(inputs, dict) and isinstance(self.input, dict):
            expected = self.input
            # Keras refuses a dict that mixes None with arrays: make the given values tensors.
            given = {name: value if value is None else ops.convert_to_tensor(value) for name, value in inputs.items()}
            inputs = {**{name: None for name in MASK_NAMES if name in expected}, **given}
        return super().__call__(inputs, *args, **kwargs)
