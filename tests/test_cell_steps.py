import keras
import numpy as np
import pytest

from kseq2seq.layers.cell_steps import cell_kernels, cell_step


@pytest.mark.parametrize("cell_class", [keras.layers.GRUCell, keras.layers.LSTMCell])
def test_cell_step_computes_what_the_keras_cell_computes(cell_class):
    rng = np.random.default_rng(0)
    cell = cell_class(6)
    inputs = rng.normal(size=(3, 4)).astype("float32")
    states = [rng.normal(size=(3, 6)).astype("float32") for _ in range(2 if cell_class is keras.layers.LSTMCell else 1)]
    cell.build((3, 4))
    # Non-zero biases, so both GRU bias rows and every LSTM gate's bias are exercised.
    cell.bias.assign(rng.normal(size=cell.bias.shape).astype("float32"))
    expected_output, expected_states = cell(inputs, states)
    for transpose in (True, False):
        output, new_states = cell_step(cell, inputs, states, cell_kernels(cell, "float32", transpose))
        np.testing.assert_allclose(output.numpy(), expected_output.numpy(), atol=1e-6)
        for got, expected in zip(new_states, expected_states):
            np.testing.assert_allclose(got.numpy(), expected.numpy(), atol=1e-6)
    assert len(new_states) == len(states)


@pytest.mark.parametrize("cell", [keras.layers.GRUCell(4, reset_after=False), keras.layers.LSTMCell(4, dropout=0.1),
                                  keras.layers.GRUCell(4, use_bias=False), keras.layers.SimpleRNNCell(4)])
def test_cells_the_math_does_not_cover_are_refused(cell):
    with pytest.raises(ValueError, match="Expected a GRUCell .reset_after=True. or LSTMCell"):
        cell_kernels(cell, "float32")


def test_inputs_projected_before_the_loop_need_no_stored_transpose():
    cell = keras.layers.GRUCell(6)
    cell.build((3, 4))
    kernels = cell_kernels(cell, "float32", in_loop_inputs=False)
    assert kernels["kernel"].transposed is None and kernels["recurrent_kernel"].transposed.shape == (18, 6)
    assert cell_kernels(cell, "float32")["kernel"].transposed.shape == (18, 4)
