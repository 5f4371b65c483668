"""Level 1: a training progress line every few seconds (step, loss, throughput, time left of a budget).

`kseq2seq train` logs it at INFO; a run of an hour otherwise says nothing
until its first epoch ends.
"""

import datetime
import logging
import time

logger = logging.getLogger("kseq2seq.training")


def _clock(seconds):
    return str(datetime.timedelta(seconds=int(seconds)))


class Progress:
    """Accumulates steps and logs `step, epoch position, loss, target tokens/s, elapsed, left` every `every` s.

    Example:

    >>> progress = Progress(steps_per_epoch=100, time_budget=None, every=0)
    >>> progress.update(step=5, epoch=0, loss=2.5, tokens=640.0)  # doctest: +SKIP
    INFO kseq2seq.training: step 5 (epoch 1: 5/100), loss 2.5000, ... target tokens/s, elapsed 0:00:00
    """

    def __init__(self, steps_per_epoch, time_budget=None, every=30.0):
        self.steps_per_epoch = steps_per_epoch
        self.time_budget = time_budget
        self.every = every
        self.start = self.last = time.monotonic()
        self.loss_tokens = self.tokens = 0.0
        self.lines = 0

    def update(self, step, epoch, loss, tokens):
        """Adds one step's mean loss and target tokens; logs a line when `every` seconds have passed."""
        self.loss_tokens += loss * tokens
        self.tokens += tokens
        now = time.monotonic()
        if now - self.last < self.every:
            return
        elapsed = now - self.start
        line = (f"step {step} (epoch {epoch + 1}: {step - epoch * self.steps_per_epoch}/{self.steps_per_epoch}), "
                f"loss {self.loss_tokens / max(self.tokens, 1.0):.4f}, "
                f"{self.tokens / max(now - self.last, 1e-9):,.0f} target tokens/s, elapsed {_clock(elapsed)}")
        if self.time_budget:
            line += f", {_clock(max(60 * self.time_budget - elapsed, 0))} left of the time budget"
        logger.info(line)
        self.lines += 1
        self.last, self.loss_tokens, self.tokens = now, 0.0, 0.0
