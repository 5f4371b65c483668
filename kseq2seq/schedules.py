"""Level 1: learning-rate schedules a Transformer needs, for every backbone (a preset's `warmup_steps`)."""

import keras
from keras import ops

from kseq2seq.utils import check_positive_int


@keras.saving.register_keras_serializable(package="kseq2seq")
class WarmupInverseSqrt(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up to `peak_learning_rate` over `warmup_steps`, then decay with 1/sqrt(step).

    The "Noam" schedule of Vaswani et al. (2017) and fairseq's
    `inverse_sqrt`, parameterised by its peak as fairseq does:
    `peak * min(step / warmup_steps, sqrt(warmup_steps / step))`, with
    steps counted from 1.

    Example:

    >>> schedule = WarmupInverseSqrt(1e-3, warmup_steps=100)
    >>> [round(float(schedule(step)), 6) for step in (0, 99, 399)]
    [1e-05, 0.001, 0.0005]
    """

    def __init__(self, peak_learning_rate, warmup_steps):
        if isinstance(peak_learning_rate, bool) or not isinstance(peak_learning_rate, (int, float)) \
                or peak_learning_rate <= 0:
            raise ValueError(f"Expected peak_learning_rate > 0. Received: peak_learning_rate={peak_learning_rate!r}")
        self.peak_learning_rate = peak_learning_rate
        self.warmup_steps = check_positive_int("warmup_steps", warmup_steps)

    def __call__(self, step):
        step = ops.cast(step, "float32") + 1.0
        warmup = float(self.warmup_steps)
        return self.peak_learning_rate * ops.minimum(step / warmup, ops.sqrt(warmup / step))

    def get_config(self):
        return {"peak_learning_rate": self.peak_learning_rate, "warmup_steps": self.warmup_steps}
