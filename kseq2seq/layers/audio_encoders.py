"""Level 1: the listener of listen, attend and spell: features -> shorter sequence of states, with its mask.

    values, states, mask = SpeechEncoder(units=128)(features, frame_mask)
    features: [batch, frames, bins]; frame_mask: bool [batch, frames]
    values: [batch, steps, 2 * units]; mask: bool [batch, steps]

Time is reduced twice per strided convolution (`num_conv_layers`, kernel 3,
"same" padding) and twice more per pyramidal recurrent layer after the first
(`pyramid=True`: adjacent steps concatenated, as in Chan et al. 2016). Every
reduction keeps every other mask position, so a step is real exactly when
the first frame it covers is: `steps = ceil(frames / 2)` per reduction.
"""

import keras
import tensorflow as tf

from kseq2seq.layers.encoders import RNN_LAYERS
from kseq2seq.layers.time_loop import run_rnn_layer
from kseq2seq.utils import check_bool, check_fraction, check_one_of, check_positive_int, config_fields


def reduced_mask(mask):
    """The mask after one halving of time: every other position, from the first."""
    # Sliced as integers: TFLite's StridedSlice takes no booleans.
    return tf.cast(tf.cast(mask, tf.int32)[:, ::2], tf.bool)


def reduced_length(length, reductions):
    """Real steps left of `length` real frames after `reductions` halvings (ceil each time)."""
    for _ in range(reductions):
        length = -(-length // 2)
    return length


@keras.saving.register_keras_serializable(package="kseq2seq")
class SpeechEncoder(keras.layers.Layer):
    """Strided 1-D convolutions over time, then (pyramidal) bidirectional GRU/LSTM layers.

    Returns `(values, states, mask)`: the top layer's outputs, its final states
    (forward and backward concatenated, `[h]` or `[h, c]`) and the reduced mask.
    """

    def __init__(self, filters=128, num_conv_layers=2, units=128, cell_type="gru", num_layers=2, pyramid=False,
                 dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.filters = check_positive_int("filters", filters)
        self.num_conv_layers = check_positive_int("num_conv_layers", num_conv_layers, minimum=0)
        self.units = check_positive_int("units", units)
        self.cell_type = check_one_of("cell_type", cell_type, set(RNN_LAYERS))
        self.num_layers = check_positive_int("num_layers", num_layers)
        self.pyramid = check_bool("pyramid", pyramid)
        self.dropout = check_fraction("dropout", dropout)
        self.convolutions = [
            keras.layers.Conv1D(filters, 3, strides=2, padding="same", activation="relu", name=f"conv_{i}",
                                dtype=self.dtype_policy)
            for i in range(num_conv_layers)
        ]
        self.rnn_layers = [
            keras.layers.Bidirectional(RNN_LAYERS[cell_type](units, return_sequences=True, return_state=True,
                                                             name=f"{cell_type}_{i}", dtype=self.dtype_policy),
                                       name=f"bidirectional_{i}", dtype=self.dtype_policy)
            for i in range(num_layers)
        ]
        self.dropout_layer = keras.layers.Dropout(dropout, dtype=self.dtype_policy)

    @property
    def reductions(self):
        """Halvings of time from frames to encoder steps."""
        return self.num_conv_layers + (self.num_layers - 1 if self.pyramid else 0)

    @property
    def output_dim(self):
        return 2 * self.units

    @property
    def num_states(self):
        return 2 if self.cell_type == "lstm" else 1

    def build(self, features_shape, frame_mask_shape=None):
        shape = tuple(features_shape)
        for conv in self.convolutions:
            conv.build(shape)
            shape = shape[:-1] + (self.filters,)
        for i, rnn in enumerate(self.rnn_layers):
            rnn.build(shape)
            shape = shape[:-1] + (self.output_dim * (2 if self.pyramid else 1),)

    def call(self, features, frame_mask, training=False):
        x, mask = features, tf.cast(frame_mask, tf.bool)
        for conv in self.convolutions:
            x, mask = conv(x), reduced_mask(mask)
            # Padded steps stay 0 for the next convolution (expand_dims: TFLite takes no new-axis slices).
            x = x * tf.expand_dims(tf.cast(mask, x.dtype), -1)
        for i, rnn in enumerate(self.rnn_layers):
            if i and self.pyramid:
                x, mask = _pair_steps(x), reduced_mask(mask)
            x = self.dropout_layer(x, training=training)
            x, states = run_rnn_layer(rnn, x, mask)
        n = self.num_states
        states = [tf.concat([fw, bw], axis=-1) for fw, bw in zip(states[:n], states[n:])]
        return x, states, mask

    def compute_output_spec(self, features, frame_mask, training=False):
        batch = features.shape[0]
        values = keras.KerasTensor((batch, None, self.output_dim), dtype=self.compute_dtype)
        states = [keras.KerasTensor((batch, self.output_dim), dtype=self.compute_dtype) for _ in range(self.num_states)]
        return values, states, keras.KerasTensor((batch, None), dtype="bool")

    def get_config(self):
        fields = config_fields(self, "filters", "num_conv_layers", "units", "cell_type", "num_layers", "pyramid",
                               "dropout")
        return {**super().get_config(), **fields}


def _pair_steps(x):
    """`[batch, T, d]` -> `[batch, ceil(T / 2), 2 d]`: each pair of adjacent steps concatenated (0-padded)."""
    steps = tf.shape(x)[1]
    x = tf.pad(x, [[0, 0], [0, steps % 2], [0, 0]])
    return tf.reshape(x, [tf.shape(x)[0], (steps + 1) // 2, 2 * x.shape[-1]])
