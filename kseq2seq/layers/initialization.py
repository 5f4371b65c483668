"""Level 1: OpenNMT's parameter initialization, every trainable weight drawn from U(-scale, scale).

Keras' layer defaults (Glorot-uniform kernels, orthogonal recurrent kernels,
zero biases with an LSTM forget-gate bias of 1, U(-0.05, 0.05) embeddings)
are what a model gets otherwise. OpenNMT-py and eole draw every parameter,
biases included, from U(-0.1, 0.1) for their RNN models. With Keras' defaults
an LSTM encoder-decoder on Multi30k starts by attending only to the last
source position and learns slowly from there (docs/presets.md); the
uniform draw lets attention spread from the first steps.
"""

import keras

from kseq2seq.utils import check_fraction


def initialize_uniformly(model, scale):
    """Redraws `model`'s trainable weights from U(-scale, scale); `scale=0` keeps Keras' initializers.

    Frozen weights (a pretrained image encoder) are left alone. Draws follow
    `keras.utils.set_random_seed`.
    """
    check_fraction("param_init", scale, 0.0, 1.0, include_high=True)
    if not scale:
        return
    for variable in model.trainable_weights:
        variable.assign(keras.random.uniform(variable.shape, -scale, scale, dtype=variable.dtype))
