"""The CTC head: its loss against a brute-force NumPy CTC, and its place in the speech backbone."""

import itertools

import keras
import numpy as np
import pytest

from kseq2seq.layers.ctc import CTCHead
from kseq2seq.models.speech import SpeechBackbone


def _collapse(path, blank=0):
    merged = [token for i, token in enumerate(path) if i == 0 or token != path[i - 1]]
    return [token for token in merged if token != blank]


def _ctc_nll(logits, labels):
    """-log P(labels | logits `[frames, vocabulary]`): every path of frames that collapses to labels, summed."""
    probabilities = np.exp(logits - logits.max(-1, keepdims=True))
    probabilities /= probabilities.sum(-1, keepdims=True)
    frames, vocabulary = logits.shape
    total = 0.0
    for path in itertools.product(range(vocabulary), repeat=frames):
        if _collapse(list(path)) == list(labels):
            total += np.prod(probabilities[np.arange(frames), list(path)])
    return -np.log(total)


def _head_and_inputs(vocabulary=4, frames=5, width=3):
    keras.utils.set_random_seed(1)
    head = CTCHead(vocabulary, weight=0.5)
    values = np.random.default_rng(0).normal(size=(3, frames, width)).astype("float32")
    # Decoder inputs: [START] (here id 2, dropped) + transcript; 0 pads. Row 2 has 2 frames for
    # "1 1", which needs 3 (a blank between the repeats): no alignment.
    token_ids = np.array([[2, 1, 3, 3, 0], [2, 2, 0, 0, 0], [2, 1, 1, 0, 0]], "int32")
    frame_mask = np.arange(frames)[None, :] < np.array([[5], [4], [2]])
    logits = np.zeros((3, 5, vocabulary), "float32")
    return head, (logits, values, frame_mask, token_ids, token_ids != 0)


def test_ctc_loss_is_the_weighted_per_token_nll_of_a_brute_force_reference():
    head, inputs = _head_and_inputs()
    _, values, frame_mask, _, _ = inputs
    head(*inputs, training=True)
    (loss,) = head.losses
    kernel, bias = (w.numpy() for w in head.projection.weights)
    ctc_logits = values @ kernel + bias
    nll = _ctc_nll(ctc_logits[0], [1, 3, 3]) + _ctc_nll(ctc_logits[1, :4], [2])  # row 2 left out
    np.testing.assert_allclose(float(loss), 0.5 * nll / 4, rtol=1e-5)


def test_ctc_head_returns_the_logits_and_adds_nothing_outside_training():
    head, inputs = _head_and_inputs()
    logits = np.random.default_rng(2).normal(size=inputs[0].shape).astype("float32")
    output = head(logits, *inputs[1:], training=False)
    np.testing.assert_array_equal(np.asarray(output), logits)
    assert head.losses == []


@pytest.mark.parametrize("weight", [0, 1.5, -0.1, "0.3"])
def test_ctc_weight_outside_0_to_1_is_refused(weight):
    with pytest.raises(ValueError, match="ctc_weight"):
        CTCHead(4, weight=weight)


def _tiny_backbone(**kwargs):
    return SpeechBackbone(target_vocabulary_size=8, units=8, filters=8, num_mel_bins=16, embedding_dim=8, **kwargs)


def _batch():
    rng = np.random.default_rng(3)
    return {"waveform": rng.normal(size=(2, 4000)).astype("float32"),
            "decoder_token_ids": np.array([[2, 5, 6, 7], [2, 4, 4, 0]], "int32")}


def test_backbone_adds_the_ctc_loss_while_training_only_and_saves_its_weight(tmp_path):
    keras.utils.set_random_seed(0)
    backbone = _tiny_backbone(ctc_weight=0.3)
    batch = _batch()
    backbone(batch, training=True)
    assert len(backbone.losses) == 1 and float(backbone.losses[0]) > 0
    backbone(batch, training=False)
    assert backbone.losses == []
    path = str(tmp_path / "ctc.keras")
    backbone.save(path)
    restored = keras.models.load_model(path)
    assert restored.ctc_weight == 0.3
    np.testing.assert_array_equal(restored.ctc.projection.kernel.numpy(), backbone.ctc.projection.kernel.numpy())
    np.testing.assert_allclose(np.asarray(restored(batch)), np.asarray(backbone(batch)), atol=1e-6)


def test_backbone_without_ctc_has_no_ctc_layer():
    backbone = _tiny_backbone()
    assert backbone.ctc is None and "ctc" not in [layer.name for layer in backbone.layers]
