"""Level 1: recurrent decoder with attention and input feeding.

One step, shared by training (teacher forcing over a whole sequence) and by
decoding (one token at a time), so both compute the same function:

    x_t     = embed(y_{t-1})
    s_t     = RNNCell([x_t ; c_{t-1}], state_{t-1})        # input feeding
    c_t, α_t = attention(s_t, encoder outputs)              # keys precomputed
    logits_t = W_o [s_t ; c_t]      (W_o s_t with output_reads_context=False)

With `attentional_layer=True` (Luong et al., 2015, §3.3; OpenNMT's RNN
decoder) the step feeds and projects the attentional vector instead:

    s_t     = RNNCell([x_t ; h̃_{t-1}], state_{t-1})
    h̃_t     = tanh(W_c [c_t ; s_t])
    logits_t = W_o h̃_t

The decoder's recurrent state is carried from step to step; the encoder's
final state only initialises it (through a tanh bridge, as in Bahdanau et al.).
The cell and the attention query read their weights as `LoopKernel`s, prepared
once per call, whose products have a fast backward pass in the time loop.
"""

import keras
from keras import ops

from kseq2seq.layers.attention import make_attention
from kseq2seq.layers.cell_steps import cell_kernels, cell_step
from kseq2seq.layers.loop_kernels import loop_kernel, loop_matmul
from kseq2seq.layers.padding import padding_mask
from kseq2seq.layers.time_loop import scan
from kseq2seq.utils import check_bool, check_fraction, check_one_of, check_positive_int, config_fields

CELLS = {"gru": keras.layers.GRUCell, "lstm": keras.layers.LSTMCell}


@keras.saving.register_keras_serializable(package="kseq2seq")
class AttentionDecoder(keras.layers.Layer):
    """Embedding + LSTM/GRU cell + attention over encoder outputs + vocabulary projection.

    Methods used by decoding:
        `initial_state(encoder_states, values)` -> state dict,
        `memory(values, encoder_padding_mask)` -> what every step reads, keys projected once per source,
        `step(token_ids, state, **memory)` -> `(logits, state, weights)`.
    """

    def __init__(
        self,
        vocabulary_size,
        embedding_dim,
        units,
        cell_type="gru",
        attention="bahdanau",
        attention_units=None,
        dropout=0.0,
        attention_regularization=0.0,
        output_reads_context=True,
        attentional_layer=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocabulary_size = check_positive_int("vocabulary_size", vocabulary_size)
        self.embedding_dim = check_positive_int("embedding_dim", embedding_dim)
        self.units = check_positive_int("units", units)
        self.cell_type = check_one_of("cell_type", cell_type, set(CELLS))
        self.attention_type = attention
        self.attention_units = check_positive_int("attention_units", attention_units or units)
        self.dropout = check_fraction("dropout", dropout)
        # λ of Show, Attend and Tell's doubly stochastic regularizer: λ mean_i (1 - Σ_t α_ti)².
        self.attention_regularization = check_fraction("attention_regularization", attention_regularization, 0.0,
                                                       float("inf"))
        # True: the vocabulary projection reads [s_t; c_t], as Bahdanau et al.'s
        # output layer reads c_i. False: s_t alone, as the TensorFlow tutorial
        # does; the context still feeds the next step, and at units 1024,
        # vocabulary 5000 a training step needs about a fifth fewer FLOPs.
        self.output_reads_context = check_bool("output_reads_context", output_reads_context)
        self.attentional_layer = check_bool("attentional_layer", attentional_layer)
        if self.attentional_layer and not self.output_reads_context:
            raise ValueError("Expected output_reads_context=True with attentional_layer=True (the attentional "
                             "vector tanh(W_c [c_t; s_t]) reads the context). Received: output_reads_context=False")

        policy = self.dtype_policy
        self.embedding = keras.layers.Embedding(vocabulary_size, embedding_dim, name="embedding", dtype=policy)
        self.cell = CELLS[cell_type](units, name=f"{cell_type}_cell", dtype=policy)
        self.attention = make_attention(attention, self.attention_units, dtype=policy)
        self.bridges = [
            keras.layers.Dense(units, activation="tanh", name=f"bridge_{i}", dtype=policy)
            for i in range(2 if cell_type == "lstm" else 1)
        ]
        if self.attentional_layer:
            # No bias, as in Luong et al. and OpenNMT's "general"/"dot" attention.
            self.attentional = keras.layers.Dense(units, use_bias=False, name="attentional", dtype=policy)
        self.output_projection = keras.layers.Dense(vocabulary_size, name="logits", dtype=policy)
        self.dropout_layer = keras.layers.Dropout(dropout, dtype=policy)

    def build(self, token_ids_shape, values_shape, encoder_states_shape=None, encoder_padding_mask_shape=None):
        batch, values_dim = values_shape[0], values_shape[-1]
        self.embedding.build(token_ids_shape)
        fed_dim = self.units if self.attentional_layer else values_dim
        self.cell.build((batch, self.embedding_dim + fed_dim))
        self.attention.build((batch, self.units), values_shape)
        for bridge, shape in zip(self.bridges, encoder_states_shape or []):
            bridge.build(shape)
        if self.attentional_layer:
            self.attentional.build((batch, values_dim + self.units))
            self.output_projection.build((batch, self.units))
        else:
            self.output_projection.build((batch, self.units + (values_dim if self.output_reads_context else 0)))

    def initial_state(self, encoder_states, values):
        """Decoder state at step 0: bridged encoder states and a zero context.

        `context` is what input feeding carries to the next step: `c_t`, or
        `h̃_t` with the attentional layer.
        """
        rnn = [bridge(s) for bridge, s in zip(self.bridges, encoder_states)]
        context = ops.zeros_like(rnn[0] if self.attentional_layer else values[:, 0, :])
        return {"rnn": rnn, "context": context}

    def memory(self, values, encoder_padding_mask=None):
        """The per-source tensors `step` reads: encoder outputs, their keys (projected once) and the mask."""
        return self.attention.memory(values, encoder_padding_mask)

    def loop_kernels(self, transpose=True):
        """The cell's and the attention query's weights, read once per call; `transpose` for a backward pass."""
        kernels = {"cell": cell_kernels(self.cell, self.compute_dtype, transpose),
                   "attention": self.attention.loop_kernels(transpose)}
        if self.attentional_layer:
            kernels["attentional"] = loop_kernel(self.attentional.kernel, self.compute_dtype, transpose)
        return kernels

    def _recurrence(self, x, state, values, keys, encoder_padding_mask, kernels):
        inputs = ops.concatenate([x, state["context"]], axis=-1)
        output, rnn = cell_step(self.cell, inputs, state["rnn"], kernels["cell"])
        context, weights = self.attention(output, values, keys=keys, encoder_padding_mask=encoder_padding_mask,
                                          kernels=kernels["attention"])
        if self.attentional_layer:
            context = ops.tanh(loop_matmul(ops.concatenate([context, output], axis=-1), kernels["attentional"]))
        return output, {"rnn": rnn, "context": context}, weights

    def _output_features(self, output, state):
        """What the vocabulary projection reads: `[s_t ; c_t]`, `s_t` alone, or the attentional vector `h̃_t`."""
        if self.attentional_layer:
            return state["context"]
        return ops.concatenate([output, state["context"]], axis=-1) if self.output_reads_context else output

    def step(self, token_ids, state, values, keys, encoder_padding_mask=None):
        """One decoding step for token ids `[batch]`; returns logits `[batch, vocab]`."""
        x = self.embedding(token_ids)
        kernels = self.loop_kernels(transpose=False)
        output, state, weights = self._recurrence(x, state, values, keys, encoder_padding_mask, kernels)
        logits = self.output_projection(self._output_features(output, state))
        return logits, state, weights

    def call(self, token_ids, values, encoder_states, encoder_padding_mask=None, decoder_padding_mask=None,
             training=False):
        """Teacher forcing: decoder inputs `[batch, target_length]` -> logits `[batch, target_length, vocab]`.

        `decoder_padding_mask` (the preprocessor's; None reads it off the ids)
        keeps padding steps out of the attention regularizer.
        """
        keys = self.attention.project_keys(values)
        kernels = self.loop_kernels()
        embedded = self.dropout_layer(self.embedding(token_ids), training=training)

        regularize = bool(self.attention_regularization)

        def body(state, x_t):
            output, state, weights = self._recurrence(x_t, state, values, keys, encoder_padding_mask, kernels)
            features = self._output_features(output, state)
            return state, (features, weights) if regularize else features

        # The time loop is a tf.while_loop (compiled into the graph, XLA-able);
        # the vocabulary projection then runs once over all steps.
        dtypes = (embedded.dtype, embedded.dtype) if regularize else None
        _, features = scan(body, self.initial_state(encoder_states, values), embedded, dtypes)
        if regularize:
            features, weights = features
            mask = padding_mask(token_ids, decoder_padding_mask)
            self.add_loss(self.attention_regularization * doubly_stochastic_penalty(weights, mask))
        features = self.dropout_layer(features, training=training)
        return self.output_projection(features)

    def compute_output_spec(self, token_ids, values, encoder_states, encoder_padding_mask=None,
                            decoder_padding_mask=None, training=False):
        return keras.KerasTensor(tuple(token_ids.shape) + (self.vocabulary_size,), dtype=self.compute_dtype)

    def get_config(self):
        fields = config_fields(self, "vocabulary_size", "embedding_dim", "units", "cell_type", "attention_units",
                               "dropout", "attention_regularization", "output_reads_context", "attentional_layer",
                               attention="attention_type")
        return {**super().get_config(), **fields}


def doubly_stochastic_penalty(weights, decoder_padding_mask):
    """`(1 - Σ_t α_ti)²` averaged over positions i and the batch, summing over non-padding target steps only.

    Xu et al. sum over positions; the mean (as common implementations use)
    keeps λ = 1 from swamping the cross-entropy on large grids (64 cells and
    12 words: a sum of about 40 against a cross-entropy of about 4).
    """
    mask = ops.cast(decoder_padding_mask, weights.dtype)
    totals = ops.sum(weights * ops.expand_dims(mask, -1), axis=1)  # [batch, source]
    return ops.mean(ops.square(1.0 - totals))
