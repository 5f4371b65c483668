"""Level 1: time loops as `tf.while_loop`s: a scan that stacks only its outputs, and Keras RNN layers run by it.

`run_rnn_layer` runs a Keras GRU/LSTM layer (or a `Bidirectional` one) with
its own cell's weights and Keras' masking rules, but projects the inputs for
all steps in one product before the loop and multiplies by the recurrent
kernel through `loop_matmul`, whose backward pass TensorFlow runs fast on CPU
(see `loop_kernels`).
"""

import keras
import tensorflow as tf
from keras import ops

from kseq2seq.layers.cell_steps import cell_kernels, cell_step


def scan(fn, state, xs, dtypes=None, shapes=None):
    """Runs `state, ys = fn(state, x_t)` over axis 1 of `xs`; returns `(final state, ys stacked on axis 1)`.

    `xs` may be a nested structure of `[batch, steps, ...]` tensors; `ys` a
    nested structure of `[batch, ...]` tensors, described by `dtypes` (the
    same structure of dtypes; default: one tensor of the first `xs`' dtype)
    and optionally `shapes` (the same structure of `tf.TensorShape`s, which
    the TFLite converter needs where it cannot infer them). Unlike
    `tf.scan`/`keras.ops.scan`, only the outputs are stacked, not every
    intermediate state.
    """
    xs_time_major = tf.nest.map_structure(_swap_batch_and_time, xs)
    first = tf.nest.flatten(xs_time_major)[0]
    dtypes = first.dtype if dtypes is None else dtypes
    steps = tf.shape(first)[0]
    # Steps are read from TensorArrays, not sliced (`x[t]`): a slice's gradient is a zero tensor of all
    # steps holding one step, summed over the loop, so the backward pass would cost O(steps²).
    inputs = [tf.TensorArray(x.dtype, size=steps, element_shape=x.shape[1:]).unstack(x)
              for x in tf.nest.flatten(xs_time_major)]
    shapes = [None] * len(tf.nest.flatten(dtypes)) if shapes is None else tf.nest.flatten(shapes)
    arrays = [tf.TensorArray(dtype, size=steps, element_shape=shape)
              for dtype, shape in zip(tf.nest.flatten(dtypes), shapes)]

    def body(t, state, arrays):
        x_t = tf.nest.pack_sequence_as(xs_time_major, [a.read(t) for a in inputs])
        state, ys = fn(state, x_t)
        return t + 1, state, [a.write(t, y) for a, y in zip(arrays, tf.nest.flatten(ys))]

    _, state, arrays = tf.while_loop(
        lambda t, *_: t < steps, body, (tf.constant(0), state, arrays), maximum_iterations=steps
    )
    return state, tf.nest.pack_sequence_as(dtypes, [_swap_batch_and_time(a.stack()) for a in arrays])


def run_rnn_layer(layer, inputs, mask=None, initial_states=None):
    """`(outputs, final states)` of a Keras GRU/LSTM layer with `return_sequences`, states as lists.

    As Keras computes them: masked steps keep the previous state; a plain
    layer repeats the previous output there, a `Bidirectional` one (concat
    merge) outputs zeros, and its states are the forward then the backward
    ones. `initial_states` (a plain layer's only; default zeros) is a list.
    """
    _check_layer(layer, initial_states)
    if isinstance(layer, keras.layers.Bidirectional):
        forward, forward_states = _run_cell(layer.forward_layer.cell, inputs, mask, zero_masked_outputs=True)
        reversed_mask = None if mask is None else ops.flip(mask, axis=1)
        backward, backward_states = _run_cell(layer.backward_layer.cell, ops.flip(inputs, axis=1), reversed_mask,
                                              zero_masked_outputs=True)
        return ops.concatenate([forward, ops.flip(backward, axis=1)], axis=-1), forward_states + backward_states
    return _run_cell(layer.cell, inputs, mask, zero_masked_outputs=False, states=initial_states)


def _check_layer(layer, initial_states):
    """The settings the loop follows; any other would be silently ignored, so it fails (the cell is checked too)."""
    bidirectional = isinstance(layer, keras.layers.Bidirectional)
    plain = layer.forward_layer if bidirectional else layer
    supported = (
        isinstance(plain, (keras.layers.GRU, keras.layers.LSTM))
        and plain.return_sequences
        and not plain.go_backwards
        and (not bidirectional or (layer.merge_mode == "concat" and initial_states is None))
    )
    if not supported:
        received = (f"{layer.__class__.__name__}(merge_mode={layer.merge_mode!r}) of " if bidirectional else "")
        received += (f"{plain.__class__.__name__}(return_sequences={getattr(plain, 'return_sequences', None)}, "
                     f"go_backwards={getattr(plain, 'go_backwards', None)})")
        raise ValueError(
            "Expected a GRU or LSTM layer with return_sequences=True and go_backwards=False, or a Bidirectional "
            "one of those with merge_mode='concat' and no initial_states. Received: layer="
            f"{received}, initial_states={'given' if initial_states is not None else None}"
        )


def _run_cell(cell, inputs, mask, zero_masked_outputs, states=None):
    dtype = cell.compute_dtype
    kernels = cell_kernels(cell, dtype, in_loop_inputs=False)
    # The input projection of all steps is one large product; only the recurrent one stays in the loop.
    projected = ops.matmul(ops.cast(inputs, dtype), kernels["kernel"].kernel)
    batch = tf.shape(inputs)[0]
    if states is None:
        states = [tf.zeros([batch, cell.units], dtype) for _ in range(2 if isinstance(cell, keras.layers.LSTMCell) else 1)]
    states = [ops.cast(s, dtype) for s in states]

    def body(carry, step):
        states, previous = carry
        x_t, mask_t = step if mask is not None else (step, None)
        output, new_states = cell_step(cell, None, states, kernels, projected_inputs=x_t)
        if mask_t is not None:
            keep = mask_t[:, None]
            new_states = [tf.where(keep, new, old) for new, old in zip(new_states, states)]
            output = tf.where(keep, output, tf.zeros_like(output) if zero_masked_outputs else previous)
        return (new_states, output), output

    steps = projected if mask is None else (projected, ops.cast(mask, "bool"))
    (states, _), outputs = scan(body, (states, tf.zeros_like(states[0])), steps, dtypes=dtype,
                                shapes=tf.TensorShape([inputs.shape[0], cell.units]))
    return outputs, states


def _swap_batch_and_time(tensor):
    rank = len(tensor.shape)
    return tf.transpose(tensor, [1, 0] + list(range(2, rank)))
