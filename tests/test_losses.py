import numpy as np
import pytest

from kseq2seq.losses import MaskedCrossEntropy, token_loss_and_correct
from kseq2seq.schedules import WarmupInverseSqrt

LOGITS = np.random.default_rng(0).normal(size=(2, 3, 5)).astype("float32")
LABELS = np.array([[1, 4, 0], [2, 3, 3]], "int32")


def reference_loss(logits, labels, smoothing):
    """NumPy: cross-entropy against (1 - ε) one-hot + ε / V, averaged over non-padding labels."""
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    target = (1 - smoothing) * np.eye(logits.shape[-1])[labels] + smoothing / logits.shape[-1]
    per_token = -(target * log_probs).sum(-1)
    mask = labels != 0
    return (per_token * mask).sum() / mask.sum()


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.5])
def test_label_smoothing_matches_the_numpy_reference_in_fit_and_trainer_losses(smoothing):
    expected = reference_loss(LOGITS, LABELS, smoothing)
    np.testing.assert_allclose(float(MaskedCrossEntropy(label_smoothing=smoothing)(LABELS, LOGITS)), expected,
                               rtol=1e-5)
    loss, correct = token_loss_and_correct(LOGITS, LABELS, 5.0, smoothing)
    np.testing.assert_allclose(float(loss), expected, rtol=1e-5)
    assert float(correct) == np.sum((LOGITS.argmax(-1) == LABELS) & (LABELS != 0))


def test_masked_cross_entropy_round_trips_its_config_and_checks_smoothing():
    loss = MaskedCrossEntropy(label_smoothing=0.2)
    assert MaskedCrossEntropy.from_config(loss.get_config()).label_smoothing == 0.2
    for bad in (1.0, -0.1, "0.1", True):
        with pytest.raises(ValueError, match=r"label_smoothing in \[0, 1\)"):
            MaskedCrossEntropy(label_smoothing=bad)


def test_warmup_inverse_sqrt_schedule_values():
    schedule = WarmupInverseSqrt(2e-3, warmup_steps=4)
    steps = np.arange(12)
    expected = 2e-3 * np.minimum((steps + 1) / 4, np.sqrt(4 / (steps + 1)))
    np.testing.assert_allclose([float(schedule(s)) for s in steps], expected, rtol=1e-6)
    assert float(schedule(3)) == pytest.approx(2e-3)  # the peak at the last warm-up step
    assert WarmupInverseSqrt.from_config(schedule.get_config()).get_config() == schedule.get_config()
    with pytest.raises(ValueError, match="warmup_steps"):
        WarmupInverseSqrt(1e-3, 0)
    with pytest.raises(ValueError, match="peak_learning_rate"):
        WarmupInverseSqrt(0.0, 10)
