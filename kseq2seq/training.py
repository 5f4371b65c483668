"""Level 4: training helpers: callbacks shared by the CLI and users' own `fit` calls."""

import logging
import time

import keras

logger = logging.getLogger(__name__)


class TimeBudget(keras.callbacks.Callback):
    """Stops training cleanly once `minutes` of wall-clock time have passed.

    Checked after every batch, so the overshoot is at most one step; the
    epoch in progress ends early (Keras still runs its end-of-epoch
    validation and callbacks).
    """

    def __init__(self, minutes):
        super().__init__()
        if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or minutes <= 0:
            raise ValueError(f"Expected minutes > 0. Received: minutes={minutes!r}")
        self.minutes = minutes
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
