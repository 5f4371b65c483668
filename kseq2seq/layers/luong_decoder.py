"""Level 1: whole-sequence decoder with attention after the RNN (Luong et al., 2015, no input feeding).

    s_t      = RNN(embed(y_{t-1}), s_{t-1})
    c_t, α_t = attention(s_t, encoder outputs)
    h̃_t      = tanh(W_c [c_t ; s_t])
    logits_t = W_o h̃_t

The context does not feed the next step, so in training the RNN runs over the
whole target sequence at once and attention, `W_c` and `W_o` are each one
batched matrix multiply over all steps: fewer, larger operations than the
input-feeding decoder, which must attend inside its time loop. Decoding runs
the same cell one step at a time.
"""

import keras
from keras import ops

from kseq2seq.layers.attention import make_attention
from kseq2seq.layers.time_loop import run_rnn_layer
from kseq2seq.utils import check_fraction, check_one_of, check_positive_int, config_fields

RNNS = {"gru": keras.layers.GRU, "lstm": keras.layers.LSTM}


@keras.saving.register_keras_serializable(package="kseq2seq")
class LuongDecoder(keras.layers.Layer):
    """Embedding + LSTM/GRU over the target, then attention, an attentional layer and the vocabulary projection.

    Same decoding interface as `AttentionDecoder`: `initial_state(encoder_states, values)`,
    `step(token_ids, state, values, keys, encoder_padding_mask) -> (logits, state, weights)`,
    and `attention.project_keys(values)`.
    """

    def __init__(self, vocabulary_size, embedding_dim, units, cell_type="gru", attention="luong", dropout=0.0,
                 **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size = check_positive_int("vocabulary_size", vocabulary_size)
        self.embedding_dim = check_positive_int("embedding_dim", embedding_dim)
        self.units = check_positive_int("units", units)
        self.cell_type = check_one_of("cell_type", cell_type, set(RNNS))
        self.attention_type = attention
        self.dropout = check_fraction("dropout", dropout)

        policy = self.dtype_policy
        self.embedding = keras.layers.Embedding(vocabulary_size, embedding_dim, name="embedding", dtype=policy)
        self.rnn = RNNS[cell_type](units, return_sequences=True, name=cell_type, dtype=policy)
        self.attention = make_attention(attention, units, dtype=policy)
        self.bridges = [
            keras.layers.Dense(units, activation="tanh", name=f"bridge_{i}", dtype=policy)
            for i in range(2 if cell_type == "lstm" else 1)
        ]
        self.combine = keras.layers.Dense(units, activation="tanh", use_bias=False, name="attentional", dtype=policy)
        self.output_projection = keras.layers.Dense(vocabulary_size, name="logits", dtype=policy)
        self.dropout_layer = keras.layers.Dropout(dropout, dtype=policy)

    def build(self, token_ids_shape, values_shape, encoder_states_shape=None, encoder_padding_mask_shape=None):
        batch, values_dim = values_shape[0], values_shape[-1]
        self.embedding.build(token_ids_shape)
        self.rnn.build((batch, None, self.embedding_dim))
        self.attention.build((batch, self.units), values_shape)
        for bridge, shape in zip(self.bridges, encoder_states_shape or []):
            bridge.build(shape)
        self.combine.build((batch, self.units + values_dim))
        self.output_projection.build((batch, self.units))

    def memory(self, values, encoder_padding_mask=None):
        """The per-source tensors `step` reads: encoder outputs, their keys (projected once) and the mask."""
        return self.attention.memory(values, encoder_padding_mask)

    def initial_state(self, encoder_states, values=None):
        return {"rnn": [bridge(s) for bridge, s in zip(self.bridges, encoder_states)]}

    def _attend_and_project(self, outputs, values, keys, encoder_padding_mask, training=False):
        context, weights = self.attention(outputs, values, keys=keys, encoder_padding_mask=encoder_padding_mask)
        attentional = self.combine(ops.concatenate([context, outputs], axis=-1))
        return self.output_projection(self.dropout_layer(attentional, training=training)), weights

    def step(self, token_ids, state, values, keys, encoder_padding_mask=None):
        """One decoding step for token ids `[batch]`; returns logits `[batch, vocab]`."""
        output, rnn = self.rnn.cell(self.embedding(token_ids), state["rnn"])
        rnn = list(rnn) if isinstance(rnn, (list, tuple)) else [rnn]
        logits, weights = self._attend_and_project(output, values, keys, encoder_padding_mask)
        return logits, {"rnn": rnn}, weights

    def call(self, token_ids, values, encoder_states, encoder_padding_mask=None, decoder_padding_mask=None,
             training=False):
        """Teacher forcing: decoder inputs `[batch, target_length]` -> logits `[batch, target_length, vocab]`."""
        embedded = self.dropout_layer(self.embedding(token_ids), training=training)
        initial = self.initial_state(encoder_states)["rnn"]
        outputs, _ = run_rnn_layer(self.rnn, embedded, initial_states=initial)  # the Keras layer's math, faster
        keys = self.attention.project_keys(values)
        return self._attend_and_project(outputs, values, keys, encoder_padding_mask, training)[0]

    def compute_output_spec(self, token_ids, values, encoder_states, encoder_padding_mask=None,
                            decoder_padding_mask=None, training=False):
        return keras.KerasTensor(tuple(token_ids.shape) + (self.vocabulary_size,), dtype=self.compute_dtype)

    def get_config(self):
        fields = config_fields(self, "vocabulary_size", "embedding_dim", "units", "cell_type", "dropout",
                               attention="attention_type")
        return {**super().get_config(), **fields}
