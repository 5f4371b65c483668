"""Level 4: checkpoint averaging: the mean of the last N checkpoints' weights, often a better model than any one.

Vaswani et al. (2017) averaged the last 5-20 checkpoints; fairseq
(`scripts/average_checkpoints.py`) and OpenNMT (`onmt-average-checkpoints`,
`average_models.py`) ship the same tool. Here it reads the `Trainer`'s
checkpoints (model, optimizer, counters) and averages the model's
floating-point weights; other variables (random-seed states) come from the
newest checkpoint.
"""

import logging

import numpy as np
import tensorflow as tf

from kseq2seq.utils import check_positive_int

logger = logging.getLogger(__name__)


def last_checkpoints(folder, last):
    """The newest `last` checkpoint paths of a `Trainer`'s folder, oldest first; an error names what is missing."""
    check_positive_int("last", last)
    state = tf.train.get_checkpoint_state(folder)
    paths = list(state.all_model_checkpoint_paths) if state else []
    if len(paths) < last:
        raise ValueError(f"Expected at least {last} checkpoints to average in {folder!r}. Received: {len(paths)} "
                         "(keep more with kseq2seq train --keep-checkpoints)")
    return paths[-last:]


def average_checkpoints(task, paths):
    """Sets `task`'s weights to the mean of its weights in the checkpoints `paths`; returns them."""
    if not paths:
        raise ValueError("Expected at least one checkpoint path to average. Received: none")
    total = None
    for path in paths:
        tf.train.Checkpoint(model=task).read(path).expect_partial()
        weights = task.get_weights()
        total = weights if total is None else [t + w.astype(np.float64) if _floating(w) else w
                                               for t, w in zip(total, weights)]
    averaged = [(t / len(paths)).astype(w.dtype) if _floating(w) else w for t, w in zip(total, weights)]
    task.set_weights(averaged)
    return averaged


def _floating(array):
    return np.issubdtype(array.dtype, np.floating)


def keep_average_if_better(trainer, last, validation_ids, batch_size, bucket_boundaries=None):
    """After `Trainer.fit`: averages the last `last` checkpoints and keeps them if their validation loss is lower.

    The task holds the best single model on entry; it holds whichever
    scores the lower validation loss on return. Returns the history fields
    `averaged_val_loss` and `averaged` (True when the average was kept).
    """
    best = trainer.task.get_weights()
    best_loss = float(trainer.best_val_loss.numpy())
    try:
        paths = last_checkpoints(trainer.manager.directory, last)
    except ValueError as error:
        # A run shorter than `last` checkpoints still ends with its best model saved, not an error.
        logger.warning("Not averaging: %s", error)
        return {"averaged_val_loss": None, "averaged": False}
    average_checkpoints(trainer.task, paths)
    loss, _ = trainer.evaluate_ids(validation_ids, batch_size, bucket_boundaries)
    kept = loss < best_loss
    logger.info("Average of the last %d checkpoints: validation loss %.4f (best single model: %.4f); %s.",
                last, loss, best_loss, "keeping the average" if kept else "keeping the best single model")
    if kept:
        trainer.best_val_loss.assign(loss)
        if trainer.best_manager is not None:
            trainer.best_manager.save(checkpoint_number=int(trainer.step.numpy()))
    else:
        trainer.task.set_weights(best)
    return {"averaged_val_loss": loss, "averaged": kept}
