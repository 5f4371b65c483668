import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

import kseq2seq
from kseq2seq import cli
from kseq2seq.training import TimeBudget, Trainer, get_strategy

HERE = os.path.dirname(os.path.abspath(__file__))
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


def test_time_budget_stops_training_within_a_step(tiny_dates):
    translator = kseq2seq.Translator.from_preset("bahdanau_gru_small", train_texts=tiny_dates, units=8)
    budget = TimeBudget(minutes=1e-9)  # expires after the first step
    history = translator.fit(tiny_dates, batch_size=8, epochs=5, callbacks=[budget], verbose=0)
    assert budget.stopped_at_step == 1 and len(history.history["loss"]) == 1
    with pytest.raises(ValueError, match="minutes"):
        TimeBudget(0)


def _weights(path):
    with np.load(path) as data:
        return [data[k] for k in data.files]


@pytest.mark.large  # several trainings or processes end to end: kept out of the fast suite's 10 minutes
def test_two_mirrored_logical_devices_give_the_loss_curve_of_one_device(tmp_path):
    """Same global batch (32) on 1 and 2 logical CPU devices: same losses, same weights."""
    for devices in ("1", "2"):
        subprocess.run([sys.executable, os.path.join(HERE, "training_worker.py"), str(tmp_path), "mirrored", devices],
                       check=True, env=ENV, capture_output=True)
    one, two = (json.loads((tmp_path / f"mirrored_{n}.json").read_text()) for n in (1, 2))
    assert (one["replicas"], two["replicas"]) == (1, 2)
    np.testing.assert_allclose(two["history"]["loss"], one["history"]["loss"], rtol=1e-5)
    np.testing.assert_allclose(two["history"]["val_loss"], one["history"]["val_loss"], rtol=1e-5)
    for a, b in zip(_weights(tmp_path / "mirrored_1.npz"), _weights(tmp_path / "mirrored_2.npz")):
        np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.large
def test_two_workers_on_localhost_train_on_their_shards_to_identical_weights(tmp_path):
    import socket

    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    workers = [f"127.0.0.1:{port}" for port in ports]
    processes = []
    for index in range(2):
        config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        processes.append(subprocess.Popen(
            [sys.executable, os.path.join(HERE, "training_worker.py"), str(tmp_path), "multiworker"],
            env={**ENV, "TF_CONFIG": json.dumps(config)}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
    for process in processes:
        output = process.communicate(timeout=300)[0].decode(errors="replace")
        assert process.returncode == 0, output[-3000:]
    reports = [json.loads((tmp_path / f"worker_{i}.json").read_text()) for i in range(2)]
    assert [r["replicas"] for r in reports] == [2, 2]
    seen = [set(r["seen"]) for r in reports]
    assert len(seen[0]) == len(seen[1]) == 128 and not seen[0] & seen[1]  # disjoint halves of 256 examples
    assert reports[0]["history"]["loss"] == reports[1]["history"]["loss"]
    assert tf.train.latest_checkpoint(str(tmp_path / "ckpt")).endswith("ckpt-16")  # the chief's, 2 epochs x 8 steps
    for a, b in zip(_weights(tmp_path / "worker_0.npz"), _weights(tmp_path / "worker_1.npz")):
        np.testing.assert_array_equal(a, b)


def _train_command(output, checkpoints, *extra):
    return ["train", "--dataset", "dates", "--limit", "512", "--preset", "bahdanau_gru_small", "--epochs", "2",
            "--batch-size", "16", "--checkpoint-every", "4", "--output", str(output), "--checkpoint-dir",
            str(checkpoints), "--set", "units=16", "--set", "embedding_dim=8", *extra]


def _model_weights(folder):
    return cli.load_model(str(folder)).get_weights()


def _latest_step(folder):
    latest = tf.train.latest_checkpoint(str(folder)) if os.path.isdir(folder) else None
    return None if latest is None else int(latest.rsplit("-", 1)[1])


@pytest.mark.large  # several trainings or processes end to end: kept out of the fast suite's 10 minutes
def test_resume_after_sigkill_mid_epoch_reaches_the_uninterrupted_weights(tmp_path):
    assert cli.main(_train_command(tmp_path / "reference", tmp_path / "reference.ckpt"), out=open(os.devnull, "w")) == 0
    command = [sys.executable, "-m", "kseq2seq.cli"] + _train_command(tmp_path / "model", tmp_path / "model.ckpt")
    process = subprocess.Popen(command, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    # 32 steps per epoch; kill once a mid-epoch checkpoint (step 8 to 24) is the latest one. Polling the
    # checkpoint state, not the files: the state file is updated after a checkpoint's files are written.
    while (_latest_step(tmp_path / "model.ckpt") or 0) < 8:
        assert process.poll() is None and time.monotonic() < deadline, "training ended before it could be killed"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_at = tf.train.latest_checkpoint(str(tmp_path / "model.ckpt"))
    assert not os.path.exists(tmp_path / "model") and 8 <= int(killed_at.rsplit("-", 1)[1]) < 32
    result = subprocess.run(command, env=ENV, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Resumed from" in result.stderr and "Trained 64 steps" in result.stdout
    for a, b in zip(_model_weights(tmp_path / "model"), _model_weights(tmp_path / "reference")):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.large  # trains, exports or starts processes: kept out of the fast suite's 10 minutes
def test_config_file_with_overrides_and_the_resolved_config_reproduce_the_run(tmp_path):
    import yaml

    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({"dataset": "dates", "limit": 128, "preset": "bahdanau_gru_small", "epochs": 1,
                                      "batch_size": 16, "set": {"units": 16, "embedding_dim": 4}}))
    first = ["train", "--config", str(config), "--set", "embedding_dim=8", "--output", str(tmp_path / "a")]
    assert cli.main(first, out=open(os.devnull, "w")) == 0
    resolved = yaml.safe_load((tmp_path / "a.checkpoints" / "config.yaml").read_text())
    assert resolved["set"]["units"] == 16 and resolved["set"]["embedding_dim"] == 8  # the flag won
    assert resolved["set"]["cell_type"] == "gru" and resolved["epochs"] == 1  # every field, resolved
    second = ["train", "--config", str(tmp_path / "a.checkpoints" / "config.yaml"), "--output", str(tmp_path / "b"),
              "--checkpoint-dir", str(tmp_path / "b.checkpoints")]
    assert cli.main(second, out=open(os.devnull, "w")) == 0
    for a, b in zip(_model_weights(tmp_path / "a"), _model_weights(tmp_path / "b")):
        np.testing.assert_array_equal(a, b)
    bad = tmp_path / "bad.yaml"
    bad.write_text("epochz: 3\n")
    assert cli.main(["train", "--config", str(bad), "--output", str(tmp_path / "c")]) == 2


def _trainer(tiny_dates, **kwargs):
    strategy = get_strategy()
    with strategy.scope():
        task = kseq2seq.Translator.from_preset("bahdanau_gru_small", train_texts=tiny_dates, units=8, **kwargs)
    return task, strategy


def test_an_uncompiled_task_or_one_built_outside_the_strategy_scope_is_refused_up_front(tiny_dates):
    task = kseq2seq.Translator.from_preset("bahdanau_gru_small", train_texts=tiny_dates, units=8)
    # Without the check this failed in the first step, with an empty AssertionError from the optimizer.
    with pytest.raises(ValueError, match=r"strategy\.scope\(\).*'encoder/embedding/embeddings' and \d+ more"):
        Trainer(task, get_strategy())
    with pytest.raises(ValueError, match="Expected a compiled task"):
        Trainer(kseq2seq.Translator(task.backbone, task.preprocessor))
    history = Trainer(task).fit(tiny_dates, epochs=1, batch_size=16)  # the strategy it was built under
    assert history["steps"] == len(tiny_dates) // 16 and np.isfinite(history["loss"][0])


def test_early_stopping_restores_the_best_weights(tiny_dates, monkeypatch, tmp_path):
    task, strategy = _trainer(tiny_dates)
    trainer = Trainer(task, strategy, checkpoint_dir=str(tmp_path), early_stopping_patience=2)
    val_losses, snapshots = iter([1.0, 0.5, 0.7, 0.9, 0.1]), []

    def evaluate(*args):
        snapshots.append(task.get_weights())
        return next(val_losses), 0.0

    monkeypatch.setattr(trainer, "evaluate_ids", evaluate)
    history = trainer.fit(tiny_dates, tiny_dates[:8], epochs=5, batch_size=16)
    assert history["stopped"] == "early stopping" and history["val_loss"] == [1.0, 0.5, 0.7, 0.9]
    assert history["best_val_loss"] == 0.5 and history["steps"] == 4 * 4
    for restored, best in zip(task.get_weights(), snapshots[1]):
        np.testing.assert_array_equal(restored, best)


def test_learning_rate_decays_after_epochs_without_a_better_validation_loss(tiny_dates, monkeypatch, tmp_path):
    task, strategy = _trainer(tiny_dates, learning_rate=2e-3)
    trainer = Trainer(task, strategy, checkpoint_dir=str(tmp_path), lr_decay_factor=0.5, lr_decay_patience=1)
    val_losses, rates = iter([1.0, 0.5, 0.7, 0.9, 0.4, 0.6]), []

    def evaluate(*args):
        rates.append(float(task.optimizer.learning_rate.numpy()))
        return next(val_losses), 0.0

    monkeypatch.setattr(trainer, "evaluate_ids", evaluate)
    trainer.fit(tiny_dates, tiny_dates[:8], epochs=6, batch_size=16)
    # The rate each epoch trained with: halved after each epoch that did not beat the best (0.5, then 0.4).
    np.testing.assert_allclose(rates, [2e-3, 2e-3, 2e-3, 1e-3, 5e-4, 5e-4], rtol=1e-6)
    np.testing.assert_allclose(float(task.optimizer.learning_rate.numpy()), 2.5e-4, rtol=1e-6)
    # The decayed rate is in the checkpoint, so a resumed run goes on with it.
    restored, strategy = _trainer(tiny_dates, learning_rate=2e-3)
    Trainer(restored, strategy, checkpoint_dir=str(tmp_path))._resume()
    np.testing.assert_allclose(float(restored.optimizer.learning_rate.numpy()), 2.5e-4, rtol=1e-6)


def test_a_resumed_run_ends_with_the_best_model_and_counters_from_before_the_stop(tiny_dates, monkeypatch, tmp_path):
    task, strategy = _trainer(tiny_dates, learning_rate=2e-3)
    first = Trainer(task, strategy, checkpoint_dir=str(tmp_path), lr_decay_factor=0.5)
    monkeypatch.setattr(first, "evaluate_ids", lambda *args: (next(iter_losses), 0.0))
    iter_losses = iter([1.0, 0.5, 0.7])
    assert first.fit(tiny_dates, tiny_dates[:8], epochs=3, batch_size=16)["best_val_loss"] == 0.5
    best = task.get_weights()  # epoch 2's weights, restored at the end
    # A new process resumes at epoch 3 with one epoch without improvement already counted.
    task, strategy = _trainer(tiny_dates, learning_rate=2e-3)
    resumed = Trainer(task, strategy, checkpoint_dir=str(tmp_path), lr_decay_factor=0.5, early_stopping_patience=3)
    iter_losses = iter([0.9, 0.8])
    monkeypatch.setattr(resumed, "evaluate_ids", lambda *args: (next(iter_losses), 0.0))
    history = resumed.fit(tiny_dates, tiny_dates[:8], epochs=6, batch_size=16)
    assert history["stopped"] == "early stopping" and history["val_loss"] == [0.9, 0.8]
    assert history["best_val_loss"] == 0.5 and int(resumed.bad_epochs.numpy()) == 3
    np.testing.assert_allclose(float(task.optimizer.learning_rate.numpy()), 2e-3 * 0.5 ** 3, rtol=1e-6)
    for restored, expected in zip(task.get_weights(), best):
        np.testing.assert_array_equal(restored, expected)


@pytest.mark.parametrize("arguments,message", [
    ({"lr_decay_factor": 1.0}, r"lr_decay_factor in \(0, 1\)"),
    ({"lr_decay_factor": 0.0}, r"lr_decay_factor in \(0, 1\)"),
    ({"lr_decay_factor": True}, r"lr_decay_factor in \(0, 1\)"),
    ({"jit_compile": "no"}, "Expected jit_compile to be True or False. Received: jit_compile='no'"),
])
def test_bad_trainer_arguments_are_rejected(tiny_dates, arguments, message):
    task, strategy = _trainer(tiny_dates)
    with pytest.raises(ValueError, match=message):
        Trainer(task, strategy, **arguments)


def test_a_learning_rate_schedule_refuses_plateau_decay_and_label_smoothing_comes_from_the_loss(tiny_dates):
    task, strategy = _trainer(tiny_dates, warmup_steps=10, label_smoothing=0.1)
    assert Trainer(task, strategy).label_smoothing == 0.1
    with pytest.raises(ValueError, match="lr_decay_factor=None with a learning-rate schedule"):
        Trainer(task, strategy, lr_decay_factor=0.5)
    history = Trainer(task, strategy).fit(tiny_dates, epochs=1, batch_size=16)
    # 4 steps into a 10-step warm-up from the preset's 2e-3
    np.testing.assert_allclose(float(task.optimizer.learning_rate.numpy()), 2e-3 * 5 / 10, rtol=1e-6)
    assert history["steps"] == 4


def test_non_finite_weights_stop_training_at_the_last_good_checkpoint(tiny_dates, tmp_path):
    task, strategy = _trainer(tiny_dates, learning_rate=1e38, clipnorm=None)
    trainer = Trainer(task, strategy, checkpoint_dir=str(tmp_path), checkpoint_every=1)
    history = trainer.fit(tiny_dates, epochs=3, batch_size=16)
    assert history["stopped"] == "non-finite loss"
    assert all(np.isfinite(w).all() for w in task.get_weights())
    assert int(trainer.step.numpy()) == int(tf.train.latest_checkpoint(str(tmp_path)).rsplit("-", 1)[1])


def test_long_pairs_are_dropped_and_counted(tiny_dates):
    task, strategy = _trainer(tiny_dates, source_length=12)
    expected = sum(len(source) > 12 for source, _ in tiny_dates)
    assert 0 < expected < len(tiny_dates)
    assert task.count_long_pairs(tiny_dates) == expected
    history = Trainer(task, strategy).fit(tiny_dates, epochs=1, batch_size=8, drop_long=True)
    assert history["dropped_long"] == expected and history["steps"] == (len(tiny_dates) - expected) // 8


def test_length_buckets_that_never_fill_a_batch_still_train(tiny_dates):
    """Bucket leftovers carry over into the next pass of the data rather than being dropped at its end."""
    task, strategy = _trainer(tiny_dates)
    ids = task.tokenize_dataset(tiny_dates)
    lengths = [max(int(x["encoder_token_ids"].shape[0]), int(labels.shape[0])) for x, labels in ids]
    # The boundary that splits the pairs most evenly into two buckets.
    boundary = min(set(lengths), key=lambda b: max(sum(n < b for n in lengths), sum(n >= b for n in lengths)))
    batch_size = 48
    shorter = sum(n < boundary for n in lengths)
    assert 0 < shorter < batch_size and len(lengths) - shorter < batch_size  # neither bucket fills a batch
    trainer = Trainer(task, strategy)
    history = trainer.fit(tiny_dates, epochs=2, batch_size=batch_size, bucket_boundaries=[boundary])
    assert history["steps"] == 2 and np.all(np.isfinite(history["loss"]))
    batches = iter(trainer._distributed(ids, batch_size, seed=0, epoch=0, bucket_boundaries=[boundary]))
    for _ in range(3):
        x, labels = next(batches)
        longest = np.maximum((x["encoder_token_ids"].numpy() != 0).sum(1), (labels.numpy() != 0).sum(1))
        assert labels.shape[0] == batch_size
        assert np.all(longest < boundary) or np.all(longest >= boundary)


@pytest.mark.parametrize("make_task", [
    lambda dates: kseq2seq.Translator.from_preset("bahdanau_lstm_base", train_texts=dates, units=8, embedding_dim=4),
    lambda dates: kseq2seq.Summarizer.from_preset("pointer_generator_coverage", train_texts=dates, units=8,
                                                  embedding_dim=4, source_length=30, target_length=12, min_count=1),
], ids=["bi_lstm_translator", "coverage_pointer_generator"])
def test_padding_lengths_to_a_multiple_keeps_logits_and_losses(tiny_dates, make_task):
    """What XLA-compiled training relies on: padded positions change no logit of a real one, nor any loss."""
    from kseq2seq.batching import batch_dataset
    from kseq2seq.losses import token_loss_and_correct

    keras.utils.set_random_seed(0)
    task = make_task(tiny_dates)
    ids = task.tokenize_dataset(tiny_dates[:16])
    (x, labels), = batch_dataset(ids, 16).take(1)
    (padded_x, padded_labels), = batch_dataset(ids, 16, pad_to_multiple_of=8).take(1)
    for name in x:
        length = x[name].shape[1]
        assert padded_x[name].shape[1] % 8 == 0 and padded_x[name].shape[1] > length  # no length is a multiple here
        np.testing.assert_array_equal(padded_x[name][:, :length], x[name])
        assert not np.any(padded_x[name][:, length:])
    length = labels.shape[1]
    assert padded_labels.shape[1] % 8 == 0 and not np.any(padded_labels[:, length:])
    logits, extra_loss = task(x), [float(l) for l in task.losses]
    padded_logits, padded_extra_loss = task(padded_x), [float(l) for l in task.losses]
    np.testing.assert_allclose(padded_logits[:, :length], logits, atol=1e-5)
    tokens = float(np.sum(labels != 0))
    loss = token_loss_and_correct(logits, labels, tokens)
    padded_loss = token_loss_and_correct(padded_logits, padded_labels, tokens)
    np.testing.assert_allclose([float(v) for v in padded_loss], [float(v) for v in loss], rtol=1e-6)
    np.testing.assert_allclose(padded_extra_loss, extra_loss, rtol=1e-6)
    with pytest.raises(ValueError, match="pad_to_multiple_of=0"):
        batch_dataset(ids, 16, pad_to_multiple_of=0)


def test_make_dataset_pads_lengths_to_a_multiple_when_asked(tiny_dates):
    task, _ = _trainer(tiny_dates)
    lengths = lambda data: {int(labels.shape[1]) for _, labels in data}  # noqa: E731
    assert lengths(task.make_dataset(tiny_dates, 16)) == {11}  # 10 characters and [END]
    assert lengths(task.make_dataset(tiny_dates, 16, pad_to_multiple_of=4)) == {12}
    # Keras' own fit never compiles a task with XLA (its StringLookup layers do not support it), so its
    # batches are left as they are by default.
    assert not task.jit_compile


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_trains_like_float32(tiny_dates, policy):
    losses = {}
    for name in ("float32", policy):
        keras.mixed_precision.set_global_policy(name)
        try:
            keras.utils.set_random_seed(0)
            task, strategy = _trainer(tiny_dates, embedding_dim=8)
            losses[name] = Trainer(task, strategy).fit(tiny_dates, epochs=3, batch_size=8)["loss"]
            assert task.backbone.decoder.compute_dtype == name.replace("mixed_", "")
        finally:
            keras.mixed_precision.set_global_policy("float32")
    # float16 runs through Keras' LossScaleOptimizer (scaled loss, skipped non-finite steps).
    assert losses[policy][-1] < losses[policy][0]
    np.testing.assert_allclose(losses[policy], losses["float32"], rtol=0.05)


def test_xla_compiled_steps_train_like_the_plain_graph(tiny_dates):
    """With XLA, batches are padded to a multiple of 8 tokens, so a few shapes are compiled, not one per batch."""
    from kseq2seq.batching import batch_dataset

    results = {}
    for jit_compile in (False, True):
        keras.utils.set_random_seed(0)
        task, strategy = _trainer(tiny_dates, embedding_dim=8)
        trainer = Trainer(task, strategy, jit_compile=jit_compile)
        history = trainer.fit(tiny_dates, epochs=2, batch_size=16)
        results[jit_compile] = history["loss"], task.get_weights()
    np.testing.assert_allclose(results[True][0], results[False][0], rtol=1e-4)
    for a, b in zip(results[True][1], results[False][1]):
        np.testing.assert_allclose(a, b, atol=1e-4)
    # XLA compiles per concrete input shape (inside one traced step), so the batches the trainer feeds are checked.
    ids = task.tokenize_dataset(tiny_dates)
    steps = len(tiny_dates) // 16
    batches = iter(trainer._distributed(ids, 16, seed=0, epoch=0))
    fed = [(int(x["encoder_token_ids"].shape[1]), int(labels.shape[1])) for x, labels in
           (next(batches) for _ in range(steps))]
    plain = {(int(x["encoder_token_ids"].shape[1]), int(labels.shape[1])) for x, labels in batch_dataset(ids, 16)}
    assert trainer.pad_to_multiple_of == 8 and all(s % 8 == 0 and t % 8 == 0 for s, t in fed)
    assert len(set(fed)) < len(plain)  # the dates' source lengths vary within a multiple of 8
    assert Trainer(task, strategy).pad_to_multiple_of is None


def test_tensorboard_logs_loss_accuracy_learning_rate_and_throughput(tiny_dates, tmp_path):
    task, strategy = _trainer(tiny_dates)
    Trainer(task, strategy, log_dir=str(tmp_path)).fit(tiny_dates, epochs=3, batch_size=8)  # 24 steps
    tags = {}
    for name in os.listdir(tmp_path):
        for event in tf.compat.v1.train.summary_iterator(str(tmp_path / name)):
            for value in event.summary.value:
                tags.setdefault(value.tag, []).append(event.step)
    assert set(tags) == {"loss", "accuracy", "learning_rate", "target_tokens_per_second"}
    assert tags["loss"] == [10, 20]
