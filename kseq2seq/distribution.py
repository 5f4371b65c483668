"""Level 4: where training runs: the strategy from `TF_CONFIG`, the chief, and a wall-clock budget for Keras `fit`."""

import json
import logging
import os
import time

import keras
import tensorflow as tf

logger = logging.getLogger("kseq2seq.training")


class TimeBudget(keras.callbacks.Callback):
    """Stops Keras `fit` cleanly once `minutes` of wall-clock time have passed.

    Checked after every batch, so the overshoot is at most one step; the
    epoch in progress ends early (Keras still runs its end-of-epoch
    validation and callbacks).
    """

    def __init__(self, minutes):
        super().__init__()
        self.minutes = check_minutes(minutes)
        self.stopped_at_step = None
        self._start = None

    def on_train_begin(self, logs=None):
        self._start = time.monotonic()
        self._steps = 0

    def on_train_batch_end(self, batch, logs=None):
        self._steps += 1
        if time.monotonic() - self._start >= 60.0 * self.minutes and not self.model.stop_training:
            self.model.stop_training = True
            self.stopped_at_step = self._steps
            logger.info("Time budget of %s minutes reached after %d steps; stopping.", self.minutes, self._steps)


def check_minutes(minutes, name="minutes"):
    if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or minutes <= 0:
        raise ValueError(f"Expected {name} > 0. Received: {name}={minutes!r}")
    return minutes


def cluster_workers():
    """The worker addresses of `TF_CONFIG` (an empty list when unset)."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return []
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ValueError(f"Expected TF_CONFIG to be JSON. Received: {raw[:200]!r}") from error
    return list(config.get("cluster", {}).get("worker", []))


def get_strategy(devices=None):
    """`MultiWorkerMirroredStrategy` when `TF_CONFIG` has several workers, else `MirroredStrategy`.

    `devices`: the local devices to mirror over (default: every GPU, or the
    CPU when there is none).
    """
    if len(cluster_workers()) > 1:
        return tf.distribute.MultiWorkerMirroredStrategy()
    if devices is None:
        devices = [d.name for d in tf.config.list_logical_devices("GPU")] or ["/cpu:0"]
    return tf.distribute.MirroredStrategy(devices)


def is_chief(strategy):
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    return task_type == "chief" or (task_type == "worker" and task_id == 0 and "chief" not in resolver.cluster_spec().jobs)


def task_id(strategy):
    resolver = getattr(strategy, "cluster_resolver", None)
    return getattr(resolver, "task_id", 0) or 0
