"""Level 1: recurrent encoder: embedding, then stacked (bi)directional LSTM/GRU layers."""

import keras
from keras import ops

from kseq2seq.layers.time_loop import run_rnn_layer
from kseq2seq.utils import check_bool, check_fraction, check_one_of, check_positive_int, config_fields

RNN_LAYERS = {"gru": keras.layers.GRU, "lstm": keras.layers.LSTM}


@keras.saving.register_keras_serializable(package="kseq2seq")
class RNNEncoder(keras.layers.Layer):
    """Embeds source token ids and runs a stack of recurrent layers over them.

    Padded positions (mask False) are skipped by the recurrent layers, so the
    final state is the state after the last real token. The Keras layers hold
    the weights; `run_rnn_layer` runs them (the same math and masking, with a
    faster backward pass on CPU).

    Call args:
        token_ids: int `[batch, source_length]`.
        encoder_padding_mask: bool `[batch, source_length]`, True for real tokens.

    Returns:
        `(outputs, states)`: outputs `[batch, source_length, output_dim]` (the
        top layer's states at every position) and the top layer's final states,
        a list (`[h]` for GRU, `[h, c]` for LSTM) where bidirectional layers
        concatenate the forward and backward halves.
    """

    def __init__(
        self,
        vocabulary_size,
        embedding_dim,
        units,
        cell_type="gru",
        bidirectional=False,
        num_layers=1,
        dropout=0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocabulary_size = check_positive_int("vocabulary_size", vocabulary_size)
        self.embedding_dim = check_positive_int("embedding_dim", embedding_dim)
        self.units = check_positive_int("units", units)
        self.cell_type = check_one_of("cell_type", cell_type, set(RNN_LAYERS))
        self.bidirectional = check_bool("bidirectional", bidirectional)
        self.num_layers = check_positive_int("num_layers", num_layers)
        self.dropout = check_fraction("dropout", dropout)

        self.embedding = keras.layers.Embedding(
            vocabulary_size, embedding_dim, name="embedding", dtype=self.dtype_policy
        )
        self.rnn_layers = []
        for i in range(num_layers):
            rnn = RNN_LAYERS[cell_type](
                units, return_sequences=True, return_state=True, name=f"{cell_type}_{i}", dtype=self.dtype_policy
            )
            if bidirectional:
                rnn = keras.layers.Bidirectional(rnn, name=f"bidirectional_{i}", dtype=self.dtype_policy)
            self.rnn_layers.append(rnn)
        self.dropout_layer = keras.layers.Dropout(dropout, dtype=self.dtype_policy)

    @property
    def output_dim(self):
        return self.units * (2 if self.bidirectional else 1)

    @property
    def num_states(self):
        return 2 if self.cell_type == "lstm" else 1

    def build(self, token_ids_shape, encoder_padding_mask_shape=None):
        self.embedding.build(token_ids_shape)
        shape = tuple(token_ids_shape) + (self.embedding_dim,)
        for rnn in self.rnn_layers:
            rnn.build(shape)
            shape = shape[:-1] + (self.output_dim,)

    def call(self, token_ids, encoder_padding_mask=None, training=False):
        x = self.dropout_layer(self.embedding(token_ids), training=training)
        for i, rnn in enumerate(self.rnn_layers):
            x, states = run_rnn_layer(rnn, x, encoder_padding_mask)
            if i < self.num_layers - 1:
                x = self.dropout_layer(x, training=training)
        if self.bidirectional:
            n = self.num_states
            states = [ops.concatenate([fw, bw], axis=-1) for fw, bw in zip(states[:n], states[n:])]
        return x, states

    def compute_output_spec(self, token_ids, encoder_padding_mask=None, training=False):
        batch, length = token_ids.shape[0], token_ids.shape[1]
        outputs = keras.KerasTensor((batch, length, self.output_dim), dtype=self.compute_dtype)
        states = [keras.KerasTensor((batch, self.output_dim), dtype=self.compute_dtype) for _ in range(self.num_states)]
        return outputs, states

    def get_config(self):
        fields = config_fields(self, "vocabulary_size", "embedding_dim", "units", "cell_type", "bidirectional",
                               "num_layers", "dropout")
        return {**super().get_config(), **fields}
