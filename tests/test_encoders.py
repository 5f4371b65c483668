import numpy as np
import pytest

from kseq2seq.layers import RNNEncoder

IDS = np.array([[5, 6, 7, 8, 9, 4], [5, 6, 7, 0, 0, 0]], "int32")


@pytest.mark.parametrize("cell_type", ["gru", "lstm"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_output_and_state_shapes(cell_type, bidirectional, num_layers):
    encoder = RNNEncoder(12, 4, 6, cell_type=cell_type, bidirectional=bidirectional, num_layers=num_layers)
    outputs, states = encoder(IDS, encoder_padding_mask=IDS != 0)
    width = 12 if bidirectional else 6
    assert outputs.shape == (2, 6, width)
    assert [tuple(s.shape) for s in states] == [(2, width)] * (2 if cell_type == "lstm" else 1)


@pytest.mark.parametrize("cell_type", ["gru", "lstm"])
def test_padding_is_ignored(cell_type):
    """Tokens under the mask change neither real-position outputs nor final states."""
    encoder = RNNEncoder(12, 4, 6, cell_type=cell_type, bidirectional=True, num_layers=2)
    mask = IDS != 0
    outputs, states = encoder(IDS, encoder_padding_mask=mask)
    garbage = np.where(mask, IDS, 11).astype("int32")
    outputs2, states2 = encoder(garbage, encoder_padding_mask=mask)
    np.testing.assert_allclose(outputs2.numpy()[mask], outputs.numpy()[mask], atol=1e-6)
    for s, s2 in zip(states, states2):
        np.testing.assert_allclose(s2.numpy(), s.numpy(), atol=1e-6)
    # and the short row's final state equals encoding it alone, unpadded
    _, alone = encoder(IDS[1:, :3], encoder_padding_mask=mask[1:, :3])
    np.testing.assert_allclose(alone[0].numpy()[0], states[0].numpy()[1], atol=1e-5)


def test_config_round_trip_and_errors():
    encoder = RNNEncoder(12, 4, 6, cell_type="lstm", bidirectional=True, num_layers=2, dropout=0.1)
    config = encoder.get_config()
    clone = RNNEncoder.from_config(config)
    assert clone.get_config() == config
    with pytest.raises(ValueError, match="cell_type='rnn'"):
        RNNEncoder(12, 4, 6, cell_type="rnn")
    with pytest.raises(ValueError, match="dropout=1.5"):
        RNNEncoder(12, 4, 6, dropout=1.5)
    with pytest.raises(ValueError, match="bidirectional='false'"):
        RNNEncoder(12, 4, 6, bidirectional="false")  # truthy: was silently a bi-RNN
