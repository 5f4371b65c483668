"""Level 1: sampling's filters (temperature, top-k, top-p) and its counter-based random numbers."""

import tensorflow as tf

from kseq2seq.utils import check_positive_int

NEG_INF = -1e9


def filter_logits(logits, temperature=1.0, top_k=None, top_p=None):
    """Temperature scaling, then top-k and nucleus (top-p) filtering; removed tokens get -1e9."""
    logits = logits / temperature
    if top_k is not None:
        kth = tf.math.top_k(logits, k=tf.minimum(top_k, tf.shape(logits)[-1])).values[:, -1:]
        logits = tf.where(logits < kth, NEG_INF, logits)
    if top_p is not None and top_p < 1.0:
        sorted_logits = tf.sort(logits, axis=-1, direction="DESCENDING")
        cumulative = tf.cumsum(tf.nn.softmax(sorted_logits), axis=-1, exclusive=True)
        # keep the smallest prefix whose mass reaches top_p (the first token always)
        kept = tf.reduce_sum(tf.cast(cumulative < top_p, tf.int32), axis=-1, keepdims=True)
        threshold = tf.gather(sorted_logits, kept - 1, batch_dims=1)
        logits = tf.where(logits < threshold, NEG_INF, logits)
    return logits


def check_sampling_args(temperature=1.0, top_k=None, top_p=None):
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or temperature < 0:
        raise ValueError(f"Expected temperature >= 0. Received: temperature={temperature!r}")
    if top_k is not None:
        check_positive_int("top_k", top_k)
    if top_p is not None:
        if isinstance(top_p, bool) or not isinstance(top_p, (int, float)) or not 0 < top_p <= 1:
            raise ValueError(f"Expected top_p in (0, 1]. Received: top_p={top_p!r}")


def _mix32(x):
    """murmur3's 32-bit finalizer: a bijective avalanche of uint32 values."""
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 16)) * tf.constant(0x85EBCA6B, tf.uint32)
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 13)) * tf.constant(0xC2B2AE35, tf.uint32)
    return tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 16))


def hash_uniform(shape, seed, step):
    """Uniform floats in (0, 1) from a counter-based hash of (seed, step, position).

    TensorFlow's stateless random ops give other numbers under XLA when the
    seed is a runtime tensor; integer hashing gives the same bits everywhere.
    """
    key = _mix32(tf.cast(seed, tf.uint32) * tf.constant(0x9E3779B9, tf.uint32) + _mix32(tf.cast(step, tf.uint32)))
    counter = tf.cast(tf.range(tf.reduce_prod(shape)), tf.uint32)
    bits = tf.bitwise.right_shift(_mix32(counter + key), 8)  # 24 bits: exact in float32
    return tf.reshape((tf.cast(bits, tf.float32) + 0.5) / float(1 << 24), shape)


