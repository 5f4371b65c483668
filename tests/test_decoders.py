import numpy as np
import pytest

from kseq2seq.layers import AttentionDecoder, RNNEncoder

SRC = np.array([[5, 6, 7, 8, 4], [5, 6, 0, 0, 0]], "int32")
TGT = np.array([[2, 4, 5, 6], [2, 7, 8, 0]], "int32")


def encode(cell_type):
    encoder = RNNEncoder(10, 4, 6, cell_type=cell_type, bidirectional=True)
    mask = SRC != 0
    values, states = encoder(SRC, encoder_padding_mask=mask)
    return values, states, mask


@pytest.mark.parametrize("cell_type", ["gru", "lstm"])
@pytest.mark.parametrize("attention", ["bahdanau", "luong"])
def test_teacher_forcing_equals_step_by_step(cell_type, attention):
    values, states, mask = encode(cell_type)
    decoder = AttentionDecoder(9, 4, 12, cell_type=cell_type, attention=attention)
    logits = decoder(TGT, values, states, encoder_padding_mask=mask)
    assert logits.shape == (2, 4, 9)

    keys = decoder.attention.project_keys(values)
    state = decoder.initial_state(states, values)
    for t in range(TGT.shape[1]):
        step_logits, state, weights = decoder.step(TGT[:, t], state, values, keys, mask)
        np.testing.assert_allclose(step_logits.numpy(), logits.numpy()[:, t], atol=1e-5)
        assert np.all(weights.numpy()[~mask] == 0.0)


def test_state_is_carried_and_decoder_is_causal():
    values, states, mask = encode("gru")
    decoder = AttentionDecoder(9, 4, 12)
    logits = decoder(TGT, values, states, encoder_padding_mask=mask).numpy()
    changed = TGT.copy()
    changed[:, 1] = 3
    logits2 = decoder(changed, values, states, encoder_padding_mask=mask).numpy()
    # step 0 cannot see the later token; step 3 must, through the carried state
    np.testing.assert_allclose(logits2[:, 0], logits[:, 0], atol=1e-6)
    assert np.abs(logits2[:, 3] - logits[:, 3]).max() > 1e-4


def test_config_round_trip():
    decoder = AttentionDecoder(9, 4, 12, cell_type="lstm", attention="luong", dropout=0.2)
    config = decoder.get_config()
    assert AttentionDecoder.from_config(config).get_config() == config
    with pytest.raises(ValueError, match="attention='dot'"):
        AttentionDecoder(9, 4, 12, attention="dot")
