import io
import logging
import re

import numpy as np
import pytest

import kseq2seq
from kseq2seq import averaging, cli
from kseq2seq.training import Trainer, get_strategy


def _task(tiny_dates):
    strategy = get_strategy()
    with strategy.scope():
        task = kseq2seq.Translator.from_preset("bahdanau_gru_small", train_texts=tiny_dates, units=8)
    return task, strategy


def _floating(weights):
    return [w for w in weights if np.issubdtype(w.dtype, np.floating)]


@pytest.mark.parametrize("val_losses,averaged_loss,kept", [([1.0, 0.6, 0.8], 0.5, True),
                                                           ([1.0, 0.6, 0.8], 0.7, False)])
def test_the_average_of_the_last_checkpoints_is_kept_only_when_its_validation_loss_is_lower(
        tiny_dates, tmp_path, monkeypatch, val_losses, averaged_loss, kept):
    task, strategy = _task(tiny_dates)
    trainer = Trainer(task, strategy, checkpoint_dir=str(tmp_path), max_to_keep=3, average_last=2)
    losses, snapshots = iter(val_losses + [averaged_loss]), []

    def evaluate(*args):
        snapshots.append(task.get_weights())
        return next(losses), 0.0

    monkeypatch.setattr(trainer, "evaluate_ids", evaluate)
    history = trainer.fit(tiny_dates, tiny_dates[:8], epochs=3, batch_size=16)
    # epochs 2 and 3 are the last two checkpoints; the average is their floating-point mean
    mean = [(a.astype(np.float64) + b) / 2 for a, b in zip(_floating(snapshots[1]), _floating(snapshots[2]))]
    for average, expected in zip(_floating(snapshots[3]), mean):
        np.testing.assert_allclose(average, expected, rtol=1e-6)
    assert history["averaged"] is kept and history["averaged_val_loss"] == averaged_loss
    assert history["best_val_loss"] == (averaged_loss if kept else 0.6)
    final = _floating(task.get_weights())
    for weights, expected in zip(final, _floating(snapshots[3]) if kept else _floating(snapshots[1])):
        np.testing.assert_allclose(weights, expected, rtol=1e-6)


def test_a_run_with_fewer_checkpoints_than_averaged_keeps_its_best_model(tiny_dates, tmp_path):
    task, strategy = _task(tiny_dates)
    trainer = Trainer(task, strategy, checkpoint_dir=str(tmp_path), max_to_keep=5, average_last=5)
    history = trainer.fit(tiny_dates, tiny_dates[:8], epochs=2, batch_size=16)
    assert history["averaged"] is False and history["averaged_val_loss"] is None
    assert history["best_val_loss"] == min(history["val_loss"])


def test_averaging_needs_enough_kept_checkpoints(tiny_dates, tmp_path):
    task, strategy = _task(tiny_dates)
    with pytest.raises(ValueError, match="max_to_keep >= average_last=5"):
        Trainer(task, strategy, checkpoint_dir=str(tmp_path), max_to_keep=3, average_last=5)
    with pytest.raises(ValueError, match=r"at least 2 checkpoints to average in .*Received: 0"):
        averaging.last_checkpoints(str(tmp_path), 2)


@pytest.mark.large  # a whole `kseq2seq train` run, then the averaging command (about 40 s)
def test_train_logs_progress_and_average_checkpoints_saves_the_mean_model(tmp_path, caplog):
    output = tmp_path / "m"
    args = ["train", "--dataset", "dates", "--preset", "bahdanau_gru_small", "--set", "units=8", "--epochs", "3",
            "--limit", "64", "--batch-size", "16", "--output", str(output), "--progress-every", "0"]
    with caplog.at_level(logging.INFO, logger="kseq2seq"):
        assert cli.main(args, out=io.StringIO()) == 0
    messages = [record.getMessage() for record in caplog.records]
    assert messages[0].startswith("Learning the source and target vocabularies (char) from 64 training pairs")
    assert re.fullmatch(r"Vocabularies learned in \d+ s: \d+ source and \d+ target tokens\.", messages[1])
    steps = [m for m in messages if m.startswith("step ")]
    assert len(steps) == 12  # 3 epochs of 4 steps, a line each with --progress-every 0
    assert re.fullmatch(r"step 6 \(epoch 2: 2/4\), loss \d+\.\d{4}, [\d,]+ target tokens/s, elapsed \d:\d\d:\d\d",
                        steps[5])
    paths = averaging.last_checkpoints(str(output) + ".checkpoints", 3)
    task = kseq2seq.load(str(output))
    snapshots = []
    for path in paths:
        averaging.average_checkpoints(task, [path])
        snapshots.append(_floating(task.get_weights()))
    out = io.StringIO()
    assert cli.main(["average-checkpoints", "--model", str(output), "--last", "3", "--output",
                     str(tmp_path / "avg")], out=out) == 0
    assert "average of 3 checkpoints" in out.getvalue()
    averaged = _floating(kseq2seq.load(str(tmp_path / "avg")).get_weights())
    for weights, *parts in zip(averaged, *snapshots):
        np.testing.assert_allclose(weights, np.mean(parts, axis=0), rtol=1e-5, atol=1e-7)
    assert cli.main(["average-checkpoints", "--model", str(output), "--last", "9", "--output",
                     str(tmp_path / "x")], out=io.StringIO()) == 2
    assert not (tmp_path / "x").exists()
