"""Level 1: the pointer-generator decoder (See et al., 2017), with optional coverage.

At each step, on top of the attention decoder (see `decoders.py`):

    p_gen   = σ(w · [c_t ; s_t ; x_t] + b)                     generate or copy
    P(w)    = p_gen · P_vocab(w) + (1 - p_gen) · Σ_{i: w_i = w} α_t,i

over the extended vocabulary: the target vocabulary plus the source's own
unknown words (ids from `vocabulary_size` on, see `kseq2seq.copying`). With
coverage, `cov_t = Σ_{t' < t} α_t'` enters the attention score,
`e_t,i = vᵀ tanh(W₁h_i + W₂s_t + w_c cov_t,i)`, and the coverage loss
`λ · Σ_i min(α_t,i, cov_t,i)` (mean over target tokens) is added to the model's loss.

The decoder returns log-probabilities (not logits) of that mixture; they are
valid logits too (`log_softmax` leaves them unchanged), so the usual masked
cross-entropy with `from_logits=True` and every decoding strategy apply as is.
"""

import keras
import tensorflow as tf
from keras import ops

from kseq2seq.layers.decoders import AttentionDecoder
from kseq2seq.layers.padding import padding_mask
from kseq2seq.layers.time_loop import scan
from kseq2seq.utils import UNK_ID, check_bool, check_fraction

_TINY = 1e-10  # keeps log() finite for words with no probability mass


@keras.saving.register_keras_serializable(package="kseq2seq")
class PointerGeneratorDecoder(AttentionDecoder):
    """`AttentionDecoder` that can also copy source words, with optional coverage.

    Args (beyond `AttentionDecoder`'s):
        coverage: feed the coverage vector to the (Bahdanau) attention score
            and add the coverage loss.
        coverage_loss_weight: λ of the coverage loss.
    """

    def __init__(self, vocabulary_size, embedding_dim, units, coverage=False, coverage_loss_weight=1.0, **kwargs):
        super().__init__(vocabulary_size, embedding_dim, units, **kwargs)
        if not self.output_reads_context:  # p_gen and P_vocab read c_t (See et al.)
            raise ValueError("Expected output_reads_context=True for a pointer-generator. "
                             "Received: output_reads_context=False")
        if self.attentional_layer:  # p_gen reads c_t and s_t themselves
            raise ValueError("Expected attentional_layer=False for a pointer-generator. Received: attentional_layer=True")
        self.coverage = check_bool("coverage", coverage)
        if coverage and self.attention_type != "bahdanau":
            raise ValueError(f"Expected attention='bahdanau' with coverage=True. Received: attention={self.attention_type!r}")
        self.coverage_loss_weight = check_fraction("coverage_loss_weight", coverage_loss_weight, 0.0, float("inf"))
        self.generation_gate = keras.layers.Dense(1, activation="sigmoid", name="p_gen", dtype=self.dtype_policy)

    def build(self, token_ids_shape, values_shape, encoder_states_shape=None, encoder_extended_ids_shape=None,
              encoder_padding_mask_shape=None):
        super().build(token_ids_shape, values_shape, encoder_states_shape, encoder_padding_mask_shape)
        self.generation_gate.build((values_shape[0], values_shape[-1] + self.units + self.embedding_dim))
        if self.coverage:
            # Zero start: an untrained coverage term leaves attention as it is.
            self.coverage_vector = self.add_weight(shape=(self.attention_units,), initializer="zeros", name="w_c")

    def initial_state(self, encoder_states, values):
        state = super().initial_state(encoder_states, values)
        if self.coverage:
            state["coverage"] = ops.zeros_like(values[:, :, 0])
        return state

    def _recurrence(self, x, state, values, keys, encoder_padding_mask, kernels):
        if self.coverage:
            keys = keys + ops.expand_dims(state["coverage"], -1) * ops.cast(self.coverage_vector, keys.dtype)
        output, new_state, weights = super()._recurrence(x, state, values, keys, encoder_padding_mask, kernels)
        if self.coverage:
            new_state["coverage"] = state["coverage"] + weights
        return output, new_state, weights

    def step(self, token_ids, state, values, keys, encoder_padding_mask=None, encoder_extended_ids=None):
        """One decoding step -> `(log_probs [batch, extended vocab], state, weights)`."""
        # A copied word has no embedding of its own: it is read back as [UNK].
        token_ids = tf.where(token_ids >= self.vocabulary_size, UNK_ID, token_ids)
        x = self.embedding(token_ids)
        kernels = self.loop_kernels(transpose=False)
        output, state, weights = self._recurrence(x, state, values, keys, encoder_padding_mask, kernels)
        features = ops.concatenate([output, state["context"]], axis=-1)
        return self.final_distribution(features, x, weights, encoder_extended_ids), state, weights

    def call(self, token_ids, values, encoder_states, encoder_extended_ids, encoder_padding_mask=None,
             decoder_padding_mask=None, training=False):
        """Teacher forcing -> log-probabilities `[batch, target_length, extended vocab]`."""
        keys = self.attention.project_keys(values)
        kernels = self.loop_kernels()
        embedded = self.dropout_layer(self.embedding(token_ids), training=training)

        def body(state, x_t):
            coverage = state.get("coverage")
            output, state, weights = self._recurrence(x_t, state, values, keys, encoder_padding_mask, kernels)
            overlap = ops.sum(ops.minimum(weights, coverage), axis=-1) if self.coverage else weights[:, 0] * 0
            return state, (ops.concatenate([output, state["context"]], axis=-1), weights, overlap)

        dtype = self.compute_dtype
        _, (features, weights, overlap) = scan(
            body, self.initial_state(encoder_states, values), embedded, (dtype, dtype, dtype)
        )
        if self.coverage and self.coverage_loss_weight:
            mask = padding_mask(token_ids, decoder_padding_mask)
            self.add_loss(self.coverage_loss_weight * coverage_loss(overlap, mask))
        features = self.dropout_layer(features, training=training)
        return self.final_distribution(features, embedded, weights, encoder_extended_ids)

    def final_distribution(self, features, x, weights, extended_ids):
        """Log of `p_gen · P_vocab ⊕ (1 - p_gen) · copy(α)` over the extended vocabulary.

        `features` = `[s_t ; c_t]` and `x` (the decoder input's embedding) with
        any leading shape `[batch, ...]`; `weights` α `[batch, ..., source]`;
        `extended_ids` `[batch, source]`.
        """
        vocabulary = ops.softmax(ops.cast(self.output_projection(features), "float32"), axis=-1)
        context = features[..., self.units :]
        p_gen = ops.cast(self.generation_gate(ops.concatenate([context, features[..., : self.units], x], -1)), "float32")
        extended_ids = tf.cast(extended_ids, tf.int32)
        size = tf.maximum(self.vocabulary_size, tf.reduce_max(extended_ids) + 1)
        vocabulary = tf.pad(vocabulary * p_gen, _pad_last(vocabulary, size - self.vocabulary_size))
        copy = scatter_copy(ops.cast(weights, "float32") * (1.0 - p_gen), extended_ids, size)
        return ops.log(vocabulary + copy + _TINY)

    def compute_output_spec(self, token_ids, values, encoder_states, encoder_extended_ids, encoder_padding_mask=None,
                            decoder_padding_mask=None, training=False):
        return keras.KerasTensor(tuple(token_ids.shape) + (None,), dtype="float32")

    def get_config(self):
        return {**super().get_config(), "coverage": self.coverage, "coverage_loss_weight": self.coverage_loss_weight}


def scatter_copy(weights, extended_ids, size):
    """Sums attention weights `[batch, (steps,) source]` into `[batch, (steps,) size]` by each position's id."""
    single_step = len(weights.shape) == 2
    if single_step:
        weights = weights[:, tf.newaxis, :]
    shape = tf.shape(weights)
    batch, steps, source = shape[0], shape[1], shape[2]
    grid = [batch, steps, source]
    rows = tf.broadcast_to(tf.range(batch)[:, None, None], grid)
    times = tf.broadcast_to(tf.range(steps)[None, :, None], grid)
    ids = tf.broadcast_to(extended_ids[:, None, :], grid)
    copied = tf.scatter_nd(tf.stack([rows, times, ids], axis=-1), weights, [batch, steps, size])
    return copied[:, 0, :] if single_step else copied


def coverage_loss(overlap, target_mask):
    """Mean over non-padding target steps of `Σ_i min(α_t,i, cov_t,i)` (given per step as `overlap`)."""
    mask = ops.cast(target_mask, overlap.dtype)
    return ops.sum(overlap * mask) / ops.maximum(ops.sum(mask), 1.0)


def _pad_last(tensor, amount):
    rank = len(tensor.shape)
    return [[0, 0]] * (rank - 1) + [[0, amount]]
