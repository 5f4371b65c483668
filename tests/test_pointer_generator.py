import keras
import numpy as np
import pytest

from kseq2seq.layers import RNNEncoder
from kseq2seq.layers.pointer_generator import PointerGeneratorDecoder

V = 9
SRC = np.array([[5, 6, 7, 8, 4], [5, 6, 0, 0, 0]], "int32")
# Extended ids: row 0's positions 2 and 4 hold the same unknown word (id V), position 3 another (V + 1).
EXT = np.array([[5, 6, V, V + 1, V], [5, 6, 0, 0, 0]], "int32")
TGT = np.array([[2, 4, 5, 1], [2, 7, 8, 0]], "int32")


def encode():
    encoder = RNNEncoder(10, 4, 6, cell_type="lstm", bidirectional=True)
    mask = SRC != 0
    values, states = encoder(SRC, encoder_padding_mask=mask)
    return values, states, mask


def run_steps(decoder, values, states, mask):
    keys = decoder.attention.project_keys(values)
    state = decoder.initial_state(states, values)
    outputs = []
    for t in range(TGT.shape[1]):
        coverage = state.get("coverage")
        log_probs, state, weights = decoder.step(TGT[:, t], state, values, keys, mask, EXT)
        outputs.append((log_probs.numpy(), weights.numpy(), None if coverage is None else coverage.numpy()))
    return outputs


@pytest.mark.parametrize("coverage", [False, True])
def test_distribution_sums_to_one_and_teacher_forcing_equals_steps(coverage):
    values, states, mask = encode()
    decoder = PointerGeneratorDecoder(V, 4, 12, cell_type="lstm", coverage=coverage)
    log_probs = decoder(TGT, values, states, EXT, encoder_padding_mask=mask).numpy()
    assert log_probs.shape == (2, 4, V + 2)
    np.testing.assert_allclose(np.exp(log_probs).sum(-1), 1.0, atol=1e-5)
    for t, (step_log_probs, weights, _) in enumerate(run_steps(decoder, values, states, mask)):
        np.testing.assert_allclose(step_log_probs, log_probs[:, t], atol=1e-5)
        assert np.all(weights[~mask] == 0.0)


def test_copy_mass_goes_to_the_unknown_source_word():
    values, states, mask = encode()
    decoder = PointerGeneratorDecoder(V, 4, 12, cell_type="lstm")
    decoder(TGT, values, states, EXT, encoder_padding_mask=mask)
    kernel, bias = decoder.generation_gate.get_weights()
    decoder.generation_gate.set_weights([np.zeros_like(kernel), np.full_like(bias, -30.0)])  # p_gen ≈ 0: copy only
    log_probs, weights, _ = run_steps(decoder, values, states, mask)[0]
    probs = np.exp(log_probs)
    np.testing.assert_allclose(probs[0, V], weights[0, 2] + weights[0, 4], atol=1e-6)
    np.testing.assert_allclose(probs[0, V + 1], weights[0, 3], atol=1e-6)
    np.testing.assert_allclose(probs[0, 5], weights[0, 0], atol=1e-6)
    # Row 1 has no unknown words: its extended slots get (almost) nothing.
    assert probs[1, V] < 1e-8 and probs[1, V + 1] < 1e-8
    np.testing.assert_allclose(probs[1, 5] + probs[1, 6], 1.0, atol=1e-5)


def test_coverage_loss_is_the_mean_over_target_tokens_of_sum_min_attention_coverage():
    values, states, mask = encode()
    decoder = PointerGeneratorDecoder(V, 4, 12, cell_type="lstm", coverage=True, coverage_loss_weight=0.5)
    decoder(TGT, values, states, EXT, encoder_padding_mask=mask)
    decoder.coverage_vector.assign(np.linspace(-1, 1, decoder.attention_units))  # coverage shifts attention
    decoder(TGT, values, states, EXT, encoder_padding_mask=mask)
    (loss,) = decoder.losses
    steps = run_steps(decoder, values, states, mask)
    target_mask = TGT != 0
    expected = sum(
        np.minimum(weights, coverage).sum(-1)[target_mask[:, t]].sum() for t, (_, weights, coverage) in enumerate(steps)
    )
    np.testing.assert_allclose(float(loss), 0.5 * expected / target_mask.sum(), rtol=1e-5)
    # Coverage is the running sum of past attention.
    np.testing.assert_allclose(steps[2][2], steps[0][1] + steps[1][1], atol=1e-6)


def test_config_round_trip_and_bad_arguments():
    decoder = PointerGeneratorDecoder(V, 4, 12, coverage=True, coverage_loss_weight=2.0)
    restored = PointerGeneratorDecoder.from_config(decoder.get_config())
    assert restored.coverage and restored.coverage_loss_weight == 2.0
    with pytest.raises(ValueError, match="attention='bahdanau'"):
        PointerGeneratorDecoder(V, 4, 12, attention="luong", coverage=True)
    with pytest.raises(ValueError, match="coverage_loss_weight"):
        PointerGeneratorDecoder(V, 4, 12, coverage=True, coverage_loss_weight=-1.0)
    with pytest.raises(ValueError, match="Expected coverage to be True or False. Received: coverage=1"):
        PointerGeneratorDecoder(V, 4, 12, attention="luong", coverage=1)  # the type first, then the combination
    assert keras.saving.get_registered_object("kseq2seq>PointerGeneratorDecoder") is PointerGeneratorDecoder
