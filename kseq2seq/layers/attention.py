"""Level 1: attention scorers over encoder outputs.

Both layers share one interface so a decoder can use either:

    keys = attention.project_keys(values)          # once per source sequence
    kernels = attention.loop_kernels()             # once per call of a decoder's time loop
    context, weights = attention(query, values, keys=keys, encoder_padding_mask=mask, kernels=kernels)

`query` is `[batch, query_dim]` (one decoder step) or `[batch, steps, query_dim]`.
Weights of padded source positions are exactly 0.
"""

import keras
from keras import ops

from kseq2seq.layers.loop_kernels import loop_kernel, loop_matmul
from kseq2seq.utils import check_one_of, check_positive_int


def masked_softmax(scores, mask):
    """Softmax over the last axis; positions where `mask` is False get weight exactly 0."""
    if mask is None:
        return ops.softmax(scores, axis=-1)
    mask = ops.cast(ops.expand_dims(mask, axis=1), "bool")  # [batch, 1, source]
    # A large negative (not -inf) keeps fully padded rows finite; the final
    # `where` then makes their weights exactly 0 rather than uniform.
    scores = ops.where(mask, scores, ops.full_like(scores, -1e9 if scores.dtype == "float32" else -3e4))
    return ops.where(mask, ops.softmax(scores, axis=-1), ops.zeros_like(scores))


class _Attention(keras.layers.Layer):
    """Shared call: score, masked softmax, weighted sum; subclasses define the score."""

    def project_keys(self, values):
        raise NotImplementedError

    def memory(self, values, encoder_padding_mask=None):
        """What each decoding step reads of a source: `values`, `keys` (projected once here) and the mask."""
        memory = {"values": values, "keys": self.project_keys(values)}
        if encoder_padding_mask is not None:
            memory["encoder_padding_mask"] = encoder_padding_mask
        return memory

    def loop_kernels(self, transpose=True):
        """Weights the query side uses, read once per time loop (see `loop_kernels.loop_kernel`); `{}` if none."""
        return {}

    def score(self, query, keys, kernels=None):
        """query `[batch, dq]` or `[batch, steps, dq]`, keys `[batch, source, dk]` -> `[batch, steps, source]`."""
        raise NotImplementedError

    def call(self, query, values, keys=None, encoder_padding_mask=None, kernels=None):
        single_step = len(query.shape) == 2
        if keys is None:
            keys = self.project_keys(values)
        weights = masked_softmax(self.score(query, keys, kernels), encoder_padding_mask)
        context = ops.matmul(weights, values)
        if single_step:
            return ops.squeeze(context, axis=1), ops.squeeze(weights, axis=1)
        return context, weights

    def compute_output_spec(self, query, values, keys=None, encoder_padding_mask=None, kernels=None):
        prefix = tuple(query.shape[:-1])
        context = keras.KerasTensor(prefix + (values.shape[-1],), dtype=self.compute_dtype)
        weights = keras.KerasTensor(prefix + (values.shape[1],), dtype=self.compute_dtype)
        return context, weights


@keras.saving.register_keras_serializable(package="kseq2seq")
class BahdanauAttention(_Attention):
    """Additive attention (Bahdanau et al., 2015).

    `score(s_t, h_i) = vᵀ tanh(W₁ h_i + W₂ s_t)`; `W₁ h_i` are the keys,
    computed once per source sequence by `project_keys`.

    Args:
        units: size of the hidden layer of the scorer (rows of W₁, W₂ and v).
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = check_positive_int("units", units)
        self.key_projection = keras.layers.Dense(units, use_bias=False, name="w1", dtype=self.dtype_policy)
        self.query_projection = keras.layers.Dense(units, use_bias=True, name="w2", dtype=self.dtype_policy)
        self.score_projection = keras.layers.Dense(1, use_bias=False, name="v", dtype=self.dtype_policy)

    def build(self, query_shape, values_shape, keys_shape=None, encoder_padding_mask_shape=None):
        self.key_projection.build(values_shape)
        self.query_projection.build(query_shape)
        self.score_projection.build(tuple(values_shape[:-1]) + (self.units,))

    def project_keys(self, values):
        return self.key_projection(values)

    def loop_kernels(self, transpose=True):
        dtype = self.compute_dtype
        return {"w2": loop_kernel(self.query_projection.kernel, dtype, transpose),
                "b2": ops.cast(self.query_projection.bias, dtype)}

    def score(self, query, keys, kernels=None):
        # Dense layers only ever see 2-D/3-D inputs, and v is applied as a product and a sum: Keras' Dense
        # on a 4-D tensor is a tensordot whose gradient inside the decoder's while loop XLA cannot compile.
        # Inside a time loop the caller reads the kernels once per loop; otherwise they are read here.
        kernels = kernels or self.loop_kernels(transpose=False)
        projected = loop_matmul(ops.cast(query, self.compute_dtype), kernels["w2"]) + kernels["b2"]
        projected = _with_steps_axis(projected)
        hidden = ops.tanh(ops.expand_dims(keys, 1) + ops.expand_dims(projected, 2))  # [batch, steps, source, units]
        v = ops.cast(self.score_projection.kernel[:, 0], hidden.dtype)
        return ops.sum(hidden * v, axis=-1)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@keras.saving.register_keras_serializable(package="kseq2seq")
class LuongAttention(_Attention):
    """Multiplicative attention (Luong et al., 2015).

    `"dot"`: `score = s_tᵀ h_i` (query and values must have the same size);
    `"general"`: `score = s_tᵀ W h_i`, with `W h_i` computed once as the keys.
    """

    def __init__(self, score_mode="general", **kwargs):
        super().__init__(**kwargs)
        self.score_mode = check_one_of("score_mode", score_mode, {"dot", "general"})
        self.key_projection = None

    def build(self, query_shape, values_shape, keys_shape=None, encoder_padding_mask_shape=None):
        if self.score_mode == "general":
            self.key_projection = keras.layers.Dense(
                query_shape[-1], use_bias=False, name="w", dtype=self.dtype_policy
            )
            self.key_projection.build(values_shape)
        elif query_shape[-1] != values_shape[-1]:
            raise ValueError(
                "Expected query and values of the same size for score_mode='dot'. "
                f"Received: query_shape={query_shape}, values_shape={values_shape}"
            )

    def project_keys(self, values):
        return values if self.key_projection is None else self.key_projection(values)

    def score(self, query, keys, kernels=None):
        return ops.matmul(_with_steps_axis(query), ops.transpose(keys, (0, 2, 1)))

    def get_config(self):
        return {**super().get_config(), "score_mode": self.score_mode}


def _with_steps_axis(query):
    return ops.expand_dims(query, axis=1) if len(query.shape) == 2 else query


ATTENTIONS = {"bahdanau": BahdanauAttention, "luong": LuongAttention}


def make_attention(kind, units, dtype=None):
    check_one_of("attention", kind, set(ATTENTIONS))
    if kind == "bahdanau":
        return BahdanauAttention(units, name="attention", dtype=dtype)
    return LuongAttention(name="attention", dtype=dtype)
