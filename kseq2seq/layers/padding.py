"""Level 1: padding masks: the preprocessor's, or (only where a caller gives bare ids) one read off the ids.

Preprocessors produce `encoder_padding_mask` and `decoder_padding_mask`
(True at real tokens) with the ids, and backbones pass them on to every
layer that needs them. A caller that feeds token ids alone (the id-level
export signatures, a TFLite app, a test) may leave them out; `padding_mask`
then reads the mask off the ids (id 0 is padding), here and nowhere else.
"""

import keras
from keras import ops

# Each mask and the ids it belongs to.
MASK_SOURCES = {"encoder_padding_mask": "encoder_token_ids", "decoder_padding_mask": "decoder_token_ids"}


def padding_mask(token_ids, mask=None):
    """`mask` if given, else `token_ids != 0` (bool, the shape of `token_ids`)."""
    return ops.not_equal(token_ids, 0) if mask is None else ops.cast(mask, "bool")


def mask_input(name):
    """A bool `[batch, length]` model input; callers of an `OptionalMasks` model may leave it out."""
    return keras.Input(shape=(None,), dtype="bool", name=name)


class OptionalMasks:
    """Mixin for functional models with mask inputs: a dict of inputs without a mask gets it read off its ids."""

    def __call__(self, inputs, *args, **kwargs):
        if isinstance(inputs, dict) and isinstance(self.input, dict):
            missing = {mask: ids for mask, ids in MASK_SOURCES.items()
                       if mask in self.input and inputs.get(mask) is None and ids in inputs}
            if missing:
                # Keras refuses a dict that mixes arrays and tensors: the given values become tensors too.
                inputs = {name: ops.convert_to_tensor(value) for name, value in inputs.items() if value is not None}
                inputs.update({mask: padding_mask(inputs[ids]) for mask, ids in missing.items()})
        return super().__call__(inputs, *args, **kwargs)
