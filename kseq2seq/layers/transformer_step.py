"""Level 1: one target position through a keras-hub Transformer decoder layer, from its caches.

Decoding calls a decoder layer once per generated token. The layer's own
call in cached mode runs its training-shaped path for that one position:
the `[batch, 2, length, heads, head_dim]` self-attention cache is split and
re-stacked, both products transpose the whole cache, a causal mask is built.
`decode_position` runs only one position's work with the same weights and
the same math (the tests hold it to the teacher-forced pass), on caches laid
out heads before positions: full-length ones written in place, or ones that
grow by the new position (`grow=True`).
"""

import keras
import tensorflow as tf


def project_heads(dense, x):
    """`[batch, hidden]` through an attention projection (`abc,cde->abde`) -> `[batch, heads, head_dim]`."""
    kernel = keras.ops.cast(dense.kernel, x.dtype)
    heads, head_dim = kernel.shape[1], kernel.shape[2]
    bias = tf.reshape(keras.ops.cast(dense.bias, x.dtype), [-1])
    y = tf.matmul(x, tf.reshape(kernel, [-1, heads * head_dim])) + bias
    return tf.reshape(y, [-1, heads, head_dim])


def merge_heads(dense, x):
    """`[batch, heads, head_dim]` through an attention output projection (`abcd,cde->abe`) -> `[batch, hidden]`."""
    kernel = keras.ops.cast(dense.kernel, x.dtype)
    merged = tf.reshape(x, [-1, kernel.shape[0] * kernel.shape[1]])
    return tf.matmul(merged, tf.reshape(kernel, [merged.shape[-1], -1])) + keras.ops.cast(dense.bias, x.dtype)


def attend(attention, query, keys, values, mask):
    """One query per row over `keys`/`values` `[batch, heads, length, head_dim]`; `mask` (None: every
    position) broadcasts to `[batch, 1, length]`. Returns the context `[batch, heads, head_dim]` and the
    weights `[batch, heads, length]`.

    Keras' `MultiHeadAttention` math (scaled query, masked positions set to
    its large negative number, softmax, masked weights zeroed) with the heads
    as a batch axis, so the products need no transposes of the cached keys
    and values.
    """
    query = query * tf.cast(attention._inverse_sqrt_key_dim, query.dtype)
    scores = tf.einsum("bhd,bhtd->bht", query, keys)
    if mask is None:
        weights = tf.nn.softmax(scores)
    else:
        scores = tf.where(mask, scores, tf.cast(-3e4 if scores.dtype == tf.float16 else -1e9, scores.dtype))
        weights = tf.where(mask, tf.nn.softmax(scores), tf.zeros([], scores.dtype))
    return tf.einsum("bht,bhtd->bhd", weights, values), weights


def write_position(cache, index, update):
    """`cache` `[batch, heads, length, head_dim]` with position `index` set to `update` `[batch, heads, head_dim]`.

    A select: plain graphs, XLA and TFLite's builtins all have it. Keras'
    `slice_update` (`XlaDynamicUpdateSlice`) decoded no faster in the
    decoding benchmark.
    """
    hit = tf.range(tf.shape(cache)[2]) == index
    return tf.where(hit[:, tf.newaxis], update[:, :, tf.newaxis], cache)


def decode_position(layer, x, keys, values, cross_keys, cross_values, encoder_mask, index, grow=False):
    """One target position through a `keras_hub.layers.TransformerDecoder` at inference, from its caches.

    `x` is the position's input `[batch, hidden]`; `keys`/`values` the
    self-attention cache `[batch, heads, positions, head_dim]`: with
    `grow=True` it holds the positions before `index` and the new one is
    appended, else it is full-length and written at `index`;
    `cross_keys`/`cross_values` the projected source `[batch, heads, S,
    head_dim]`; `encoder_mask` `[batch, S]`. Returns
    `(x, keys, values, cross-attention weights [batch, heads, S])`. No
    dropout: this is inference.
    """
    def block(norm, inner, x):
        h = norm(x) if layer.normalize_first else x
        x = x + inner(h)
        return x if layer.normalize_first else norm(x)

    def self_attention(h):
        nonlocal keys, values
        attention = layer._self_attention_layer
        key, value = project_heads(attention._key_dense, h), project_heads(attention._value_dense, h)
        if grow:
            keys = tf.concat([keys, key[:, :, tf.newaxis]], axis=2)
            values = tf.concat([values, value[:, :, tf.newaxis]], axis=2)
            visible = None
        else:
            keys, values = write_position(keys, index, key), write_position(values, index, value)
            visible = (tf.range(tf.shape(keys)[2]) <= index)[tf.newaxis, tf.newaxis]
        context, _ = attend(attention, project_heads(attention._query_dense, h), keys, values, visible)
        return merge_heads(attention._output_dense, context)

    def cross_attention(h):
        nonlocal weights
        attention = layer._cross_attention_layer
        context, weights = attend(attention, project_heads(attention._query_dense, h), cross_keys, cross_values,
                                  encoder_mask[:, tf.newaxis])
        return merge_heads(attention._output_dense, context)

    def feedforward(h):
        return layer._feedforward_output_dense(layer._feedforward_intermediate_dense(h))

    weights = None
    x = block(layer._self_attention_layer_norm, self_attention, x)
    x = block(layer._cross_attention_layer_norm, cross_attention, x)
    x = block(layer._feedforward_layer_norm, feedforward, x)
    return x, keys, values, weights
