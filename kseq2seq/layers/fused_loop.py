"""Level 1: the input-feeding decoder's teacher-forcing loop, with the work that
does not depend on the previous step taken out of the loop.

The same function as running `AttentionDecoder._recurrence` step by step
(tested to float tolerance), reordered for speed:

- the embedding's share of the cell's input projection, `x_t W_x + b`, is one
  matmul over all steps before the loop; only the context's share, `c_{t-1} W_c`,
  stays in it (input feeding makes it depend on the previous step);
- `s_t [U | W_q]` is one matmul: the recurrent projection of step t+1 and the
  attention query of step t both read `s_t`;
- weights are cast to the compute dtype once per call, not once per step.

For the decoder's Keras GRU (`reset_after=True`, the default) and LSTM cells,
which it builds with biases and without cell dropout.
"""

from keras import ops

from kseq2seq.layers.scan import scan_outputs


def teacher_forcing_features(decoder, embedded, state, values, keys, encoder_padding_mask, return_weights):
    """`[s_t ; c_t]` for every step (and the attention weights if `return_weights`), stacked on axis 1."""
    cell, attention = decoder.cell, decoder.attention
    dtype = embedded.dtype
    kernel = ops.cast(cell.kernel, dtype)
    recurrent_kernel = ops.cast(cell.recurrent_kernel, dtype)
    embedding_dim = embedded.shape[-1]
    gru = hasattr(cell, "reset_after")
    bias = ops.cast(cell.bias, dtype)
    input_bias, recurrent_bias = (bias[0], bias[1]) if gru else (bias, None)
    gates_x = ops.matmul(embedded, kernel[:embedding_dim]) + input_bias  # [batch, steps, gates]
    context_kernel = kernel[embedding_dim:]
    gates = recurrent_kernel.shape[-1]
    query = attention.query_weights()
    if query is None:
        fused_kernel = recurrent_kernel
    else:
        query_kernel, query_bias = (ops.cast(w, dtype) for w in query)
        fused_kernel = ops.concatenate([recurrent_kernel, query_kernel], axis=-1)

    def split(projected):
        recurrent = projected[:, :gates]
        if recurrent_bias is not None:
            recurrent = recurrent + recurrent_bias
        if query is None:
            return recurrent, projected
        return recurrent, projected[:, gates:] + query_bias

    def body(carry, gates_x_t):
        rnn, context, recurrent = carry["rnn"], carry["context"], carry["recurrent"]
        x = gates_x_t + ops.matmul(context, context_kernel)
        rnn = _gru(cell, x, recurrent, rnn) if gru else _lstm(cell, x, recurrent, rnn)
        recurrent, projected_query = split(ops.matmul(rnn[0], fused_kernel))
        if query is None:
            projected_query = rnn[0]
        context, weights = attention.attend(projected_query, values, keys, encoder_padding_mask)
        features = ops.concatenate([rnn[0], context], axis=-1)
        carry = {"rnn": rnn, "context": context, "recurrent": recurrent}
        return carry, (features, weights) if return_weights else features

    first, _ = split(ops.matmul(state["rnn"][0], fused_kernel))
    carry = {"rnn": list(state["rnn"]), "context": state["context"], "recurrent": first}
    return scan_outputs(body, carry, gates_x, (dtype, dtype) if return_weights else dtype)


def _gru(cell, x, recurrent, rnn):
    (h,) = rnn
    x_z, x_r, x_h = ops.split(x, 3, axis=-1)
    r_z, r_r, r_h = ops.split(recurrent, 3, axis=-1)
    z = cell.recurrent_activation(x_z + r_z)
    r = cell.recurrent_activation(x_r + r_r)
    candidate = cell.activation(x_h + r * r_h)
    return [z * h + (1 - z) * candidate]


def _lstm(cell, x, recurrent, rnn):
    h, c = rnn
    i, f, g, o = ops.split(x + recurrent, 4, axis=-1)
    c = cell.recurrent_activation(f) * c + cell.recurrent_activation(i) * cell.activation(g)
    return [cell.recurrent_activation(o) * cell.activation(c), c]
