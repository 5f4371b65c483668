"""Level 1: a time loop over a sequence that stacks only its outputs."""

import tensorflow as tf


def scan_outputs(fn, state, xs, dtypes=None):
    """Runs `state, ys = fn(state, x_t)` over axis 1 of `xs`; returns the ys stacked on axis 1.

    `ys` may be a nested structure of `[batch, ...]` tensors, described by
    `dtypes` (the same structure of dtypes; default: one tensor of `xs.dtype`).
    Unlike `tf.scan`/`keras.ops.scan`, only the outputs are stacked, not every
    intermediate state.
    """
    dtypes = xs.dtype if dtypes is None else dtypes
    xs_time_major = tf.transpose(xs, (1, 0, 2))
    steps = tf.shape(xs_time_major)[0]
    arrays = [tf.TensorArray(dtype, size=steps) for dtype in tf.nest.flatten(dtypes)]

    def body(t, state, arrays):
        state, ys = fn(state, xs_time_major[t])
        return t + 1, state, [a.write(t, y) for a, y in zip(arrays, tf.nest.flatten(ys))]

    _, _, arrays = tf.while_loop(
        lambda t, *_: t < steps, body, (tf.constant(0), state, arrays), maximum_iterations=steps
    )
    return tf.nest.pack_sequence_as(dtypes, [_batch_major(a.stack()) for a in arrays])


def _batch_major(stacked):
    rank = len(stacked.shape)
    return tf.transpose(stacked, [1, 0] + list(range(2, rank)))
