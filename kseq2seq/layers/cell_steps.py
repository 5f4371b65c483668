"""Level 1: one step of a Keras GRUCell/LSTMCell computed from `LoopKernel`s.

The same math as the cells' own `call` (GRU with `reset_after=True`, LSTM
with fused gates; no cell dropout), on the cells' own variables, so saved
weights are unchanged. Decoders and `time_loop.run_rnn_layer` use it inside
their time loops so that the cell's weight products go through `loop_matmul`.
"""

import keras
from keras import ops

from kseq2seq.layers.loop_kernels import loop_kernel, loop_matmul


def cell_kernels(cell, dtype, transpose=True, in_loop_inputs=True):
    """The cell's weights as `dtype`, read once per call (see `loop_kernel`).

    `in_loop_inputs=False`: the caller projects the inputs of all steps before
    the loop (`projected_inputs` of `cell_step`), so the input kernel needs no
    stored transpose.
    """
    _check_supported(cell)
    return {
        "kernel": loop_kernel(cell.kernel, dtype, transpose and in_loop_inputs),
        "recurrent_kernel": loop_kernel(cell.recurrent_kernel, dtype, transpose),
        "bias": ops.cast(cell.bias, dtype),
    }


def _check_supported(cell):
    """The math below covers the cells our layers build; anything else would be computed wrongly, so it fails."""
    supported = (
        isinstance(cell, (keras.layers.GRUCell, keras.layers.LSTMCell))
        and cell.use_bias
        and not cell.dropout
        and not cell.recurrent_dropout
        and getattr(cell, "reset_after", True)
    )
    if not supported:
        raise ValueError(
            "Expected a GRUCell (reset_after=True) or LSTMCell with use_bias=True and no dropout or "
            f"recurrent_dropout. Received: cell={cell.__class__.__name__}(use_bias={getattr(cell, 'use_bias', None)}, "
            f"dropout={getattr(cell, 'dropout', None)}, recurrent_dropout={getattr(cell, 'recurrent_dropout', None)}, "
            f"reset_after={getattr(cell, 'reset_after', None)})"
        )


def cell_step(cell, inputs, states, kernels, projected_inputs=None):
    """`(output, new_states)` of `cell` for `inputs` `[batch, in]` and the list of `states`.

    `projected_inputs` (`inputs @ kernel`, computed for all steps before a
    loop) replaces `inputs`.
    """
    if projected_inputs is None:
        projected_inputs = loop_matmul(inputs, kernels["kernel"])
    if isinstance(cell, keras.layers.GRUCell):
        return _gru_step(cell, projected_inputs, states, kernels)
    return _lstm_step(cell, projected_inputs, states, kernels)


def _gru_step(cell, projected_inputs, states, kernels):
    h_tm1 = states[0]
    bias = kernels["bias"]
    x_z, x_r, x_h = ops.split(projected_inputs + bias[0], 3, axis=-1)
    h_z, h_r, h_h = ops.split(loop_matmul(h_tm1, kernels["recurrent_kernel"]) + bias[1], 3, axis=-1)
    z = cell.recurrent_activation(x_z + h_z)
    r = cell.recurrent_activation(x_r + h_r)
    candidate = cell.activation(x_h + r * h_h)  # reset gate after the product (reset_after=True)
    h = z * h_tm1 + (1 - z) * candidate
    return h, [h]


def _lstm_step(cell, projected_inputs, states, kernels):
    h_tm1, c_tm1 = states
    z = ops.add(projected_inputs, loop_matmul(h_tm1, kernels["recurrent_kernel"]))
    z_i, z_f, z_c, z_o = ops.split(ops.add(z, kernels["bias"]), 4, axis=-1)
    c = cell.recurrent_activation(z_f) * c_tm1 + cell.recurrent_activation(z_i) * cell.activation(z_c)
    h = cell.recurrent_activation(z_o) * cell.activation(c)
    return h, [h, c]
