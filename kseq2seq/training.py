"""Level 4: training at scale: strategy choice, a distributed training loop, checkpoints and resume.

`Trainer` runs one training loop under any `tf.distribute` strategy:

- `get_strategy()` (`kseq2seq.distribution`): `MultiWorkerMirroredStrategy` when `TF_CONFIG` names
  more than one worker, else `MirroredStrategy` over the local GPUs (one CPU
  device on a CPU-only machine, unless logical devices are configured).
- Why not Keras' `fit`: Keras 3's `fit` fails under
  `MultiWorkerMirroredStrategy` (keras-team/keras#20585: PerReplica values
  reach the symbolic build, then the reduction of scalar metrics), and its
  loss is a mean per replica, so the gradient depends on how padding tokens
  fall across replicas. Here the masked loss is normalised by the token count
  of the *global* batch, so N replicas compute exactly the gradient of one
  device with the same global batch.
- Data: the tokenized examples are sharded explicitly per input pipeline
  (`dataset.shard(num_input_pipelines, pipeline_id)`: each worker reads its
  own examples), shuffled with a per-epoch seed and batched per replica
  (`global batch = per-replica batch × replicas`). Every replica runs the same
  number of steps per epoch (`len(examples) // global batch`).
- Fault tolerance: a checkpoint (model, optimizer, epoch, step) every
  `checkpoint_every` steps and at each epoch end; `fit` resumes from the
  latest one at the same epoch and step (the epoch's data order is a function
  of the seed and the epoch, so the resumed run sees the same batches).
  A non-finite loss stops training and restores the last good checkpoint;
  `early_stopping_patience` stops on validation loss; the best weights by
  validation loss are restored at the end of `fit`. The best loss, the count of
  epochs without improvement and the best weights (`checkpoint_dir/best`) are
  checkpointed too, so a resumed run ends with the best model of the whole run.
- Learning-rate decay on a plateau (`lr_decay_factor`): like Keras'
  `ReduceLROnPlateau`, the rate is multiplied by the factor after
  `lr_decay_patience` epochs without a better validation loss; the rate is an
  optimizer variable, so checkpoints keep it.
- TensorBoard scalars (`log_dir`): loss, token accuracy, learning rate, target tokens/s.
"""

import logging
import math
import os
import time

import keras
import numpy as np
import tensorflow as tf

from kseq2seq.batching import batch_dataset
from kseq2seq.distribution import TimeBudget, check_minutes, cluster_workers, get_strategy, is_chief, task_id
from kseq2seq.averaging import keep_average_if_better
from kseq2seq.losses import label_mask, token_loss_and_correct
from kseq2seq.progress import Progress
from kseq2seq.runtime import prepare_for_training
from kseq2seq.utils import check_bool, check_positive_int

__all__ = ["TimeBudget", "Trainer", "check_minutes", "cluster_workers", "get_strategy", "is_chief"]

logger = logging.getLogger(__name__)
# With XLA, training batches' token lengths are padded to a multiple of this, to bound recompilations.
XLA_PAD_MULTIPLE = 8


def _check_trainable(task, strategy):
    """A task without an optimizer, or with variables made outside the strategy's scope, would fail deep inside
    the first step; say so up front."""
    if getattr(task, "optimizer", None) is None:
        raise ValueError("Expected a compiled task (`from_preset` compiles; else call `task.compile(optimizer)`). "
                         f"Received: a {type(task).__name__} without an optimizer.")
    stray = [v.path for v in task.weights + task.optimizer.variables
             if not strategy.extended.variable_created_in_scope(v.value)]
    if stray:
        more = f" and {len(stray) - 1} more" if len(stray) > 1 else ""
        raise ValueError(
            f"Expected task with variables created in the scope of Trainer's strategy ({type(strategy).__name__}): "
            "build (and compile) it inside `with strategy.scope():`, or leave strategy out to train where it was "
            f"built. Received: a task whose variable {stray[0]!r}{more} was created outside that scope."
        )


class Trainer:
    """Trains a `Seq2SeqTask` built inside `strategy.scope()`, with checkpoints and resume.

    Example:

    >>> strategy = kseq2seq.training.get_strategy()
    >>> with strategy.scope():
    ...     task = kseq2seq.Translator.from_preset("bahdanau_gru_small", train_texts=train)
    >>> history = Trainer(task, strategy, checkpoint_dir="ckpt").fit(train, validation, epochs=3)

    Args:
        task: a compiled task whose variables were created in `strategy.scope()`.
        strategy: a `tf.distribute` strategy (default: `get_strategy()`).
        checkpoint_dir: where checkpoints go; `fit` resumes from the latest one there.
        checkpoint_every: also checkpoint every this many steps (default: epoch ends only).
        max_to_keep: checkpoints kept.
        early_stopping_patience: epochs without a better validation loss before stopping.
        log_dir: TensorBoard logs.
        jit_compile: compile each replica's forward and backward pass with XLA.
        pad_to_multiple_of: pad training batches' token lengths to a multiple
            of this (default: 8 with `jit_compile`, so XLA compiles a few
            shapes instead of one per batch; else none).
        lr_decay_factor: multiply the learning rate by this (in (0, 1)) after
            `lr_decay_patience` epochs without a better validation loss.
        lr_decay_patience: epochs without improvement before each decay.
        average_last: after training, average the last N checkpoints
            (`kseq2seq.averaging`) and keep the average if its validation
            loss beats the best single model's.
        progress_seconds: log a progress line (`kseq2seq.progress`) this often.
    """

    def __init__(self, task, strategy=None, checkpoint_dir=None, checkpoint_every=None, max_to_keep=3,
                 early_stopping_patience=None, log_dir=None, jit_compile=False, lr_decay_factor=None,
                 lr_decay_patience=1, pad_to_multiple_of=None, average_last=None, progress_seconds=30.0):
        prepare_for_training(task.dtype_policy)
        self.task = task
        self.strategy = strategy or tf.distribute.get_strategy()
        self.checkpoint_dir = checkpoint_dir
        self.checkpoint_every = None if checkpoint_every is None else check_positive_int(
            "checkpoint_every", checkpoint_every)
        self.early_stopping_patience = None if early_stopping_patience is None else check_positive_int(
            "early_stopping_patience", early_stopping_patience)
        if lr_decay_factor is not None and (isinstance(lr_decay_factor, bool) or not 0 < lr_decay_factor < 1):
            raise ValueError(f"Expected lr_decay_factor in (0, 1). Received: lr_decay_factor={lr_decay_factor!r}")
        self.lr_decay_factor = lr_decay_factor
        self.lr_decay_patience = check_positive_int("lr_decay_patience", lr_decay_patience)
        schedule = getattr(getattr(task, "optimizer", None), "_learning_rate", None)
        if lr_decay_factor is not None and isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
            raise ValueError("Expected lr_decay_factor=None with a learning-rate schedule (the optimizer's rate "
                             f"follows {type(schedule).__name__}). "
                             f"Received: lr_decay_factor={lr_decay_factor!r}")
        # The compiled loss's smoothing (`MaskedCrossEntropy(label_smoothing=...)`), as `fit` would apply it.
        self.label_smoothing = getattr(task.loss, "label_smoothing", 0.0)
        self.jit_compile = check_bool("jit_compile", jit_compile)
        self.average_last = None if average_last is None else check_positive_int("average_last", average_last)
        if average_last and (not checkpoint_dir or average_last > max_to_keep):
            raise ValueError(f"Expected a checkpoint_dir and max_to_keep >= average_last={average_last}. "
                             f"Received: checkpoint_dir={checkpoint_dir!r}, max_to_keep={max_to_keep}")
        self.log_dir = log_dir
        self.progress_seconds = progress_seconds
        _check_trainable(task, self.strategy)
        self.chief = is_chief(self.strategy)
        with self.strategy.scope():
            self.task.optimizer.build(self.task.trainable_variables)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
            self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
            self.best_val_loss = tf.Variable(math.inf, dtype=tf.float64, trainable=False, name="best_val_loss")
            self.bad_epochs = tf.Variable(0, dtype=tf.int64, trainable=False, name="bad_epochs")
        self.checkpoint = tf.train.Checkpoint(model=task, optimizer=task.optimizer, step=self.step, epoch=self.epoch,
                                              best_val_loss=self.best_val_loss, bad_epochs=self.bad_epochs)
        self.manager = self.best_manager = None
        if checkpoint_dir:
            # Every worker writes (the save is collective); only the chief's copy is kept.
            folder = checkpoint_dir if self.chief else os.path.join(checkpoint_dir, f".worker_{task_id(self.strategy)}")
            self.manager = tf.train.CheckpointManager(self.checkpoint, folder, max_to_keep=max_to_keep)
            # Weights only: restoring the best model must not roll back the optimizer (its decayed rate).
            best = tf.train.Checkpoint(weights=task.weights)
            self.best_manager = tf.train.CheckpointManager(best, os.path.join(folder, "best"), max_to_keep=1)
        self._train_step = None
        self._loss_scaled = isinstance(task.optimizer, keras.optimizers.LossScaleOptimizer)
        self._compiled_gradients = tf.function(self._gradients, jit_compile=True) if jit_compile else self._gradients
        if pad_to_multiple_of is None and self.jit_compile:
            pad_to_multiple_of = XLA_PAD_MULTIPLE
        self.pad_to_multiple_of = None if pad_to_multiple_of is None else check_positive_int(
            "pad_to_multiple_of", pad_to_multiple_of)

    # --- data -----------------------------------------------------------
    @staticmethod
    def shard(ids, pipeline_id, num_pipelines, seed, epoch):
        """The examples input pipeline `pipeline_id` reads in `epoch`, in order (before batching)."""
        shard = ids.shard(num_pipelines, pipeline_id)
        return shard.shuffle(100_000, seed=seed * 100_003 + epoch, reshuffle_each_iteration=False)

    def _distributed(self, ids, batch_size, seed, epoch, skip_steps=0, bucket_boundaries=None, deterministic=True):
        replicas = self.strategy.num_replicas_in_sync
        if batch_size % replicas:
            raise ValueError(f"Expected batch_size divisible by the {replicas} replicas. Received: batch_size={batch_size}")

        def dataset_fn(context):
            per_replica = context.get_per_replica_batch_size(batch_size)
            shard = self.shard(ids, context.input_pipeline_id, context.num_input_pipelines, seed, epoch)
            # Repeated so that every replica has data for every step of the epoch; repeated before
            # batching so that length buckets carry the pairs left at the end of a pass into the
            # next one instead of dropping them: data whose buckets never fill a batch still trains.
            batches = batch_dataset(shard.repeat(), per_replica, bucket_boundaries, drop_remainder=True,
                                    pad_to_multiple_of=self.pad_to_multiple_of)
            replicas_per_pipeline = context.num_replicas_in_sync // context.num_input_pipelines
            options = tf.data.Options()
            # Deterministic order is what makes a resumed run see the batches it missed.
            options.deterministic = deterministic
            # Sharding is done above, by example; tf.data must not shard again.
            options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
            batches = batches.skip(skip_steps * replicas_per_pipeline).with_options(options)
            return batches.prefetch(tf.data.AUTOTUNE)

        return self.strategy.distribute_datasets_from_function(dataset_fn)

    # --- steps ----------------------------------------------------------
    def _replica_step(self, x, labels, training):
        context = tf.distribute.get_replica_context()
        local_tokens = tf.reduce_sum(label_mask(labels))
        # The global token count depends only on the labels, so it is known before the forward pass.
        tokens = tf.maximum(context.all_reduce(tf.distribute.ReduceOp.SUM, local_tokens), 1.0)
        compute = self._compiled_gradients if training else self._loss_and_correct
        loss, correct, gradients = compute(x, labels, tokens)
        if training:
            self._apply(gradients, context)
        return loss, correct, local_tokens

    def _loss_and_correct(self, x, labels, tokens, training=False):
        task = self.task
        # Label smoothing shapes training only; the validation loss stays the plain cross-entropy.
        smoothing = self.label_smoothing if training else 0.0
        loss, correct = token_loss_and_correct(task(x, training=training), labels, tokens, smoothing)
        # Extra losses (e.g. coverage) are means over each replica's batch.
        if task.losses:
            loss += tf.add_n([tf.cast(l, tf.float32) for l in task.losses]) / self.strategy.num_replicas_in_sync
        return loss, correct, None

    def _gradients(self, x, labels, tokens):
        """Forward and backward pass of one replica: `(loss, correct, gradients)`; XLA-compiled with `jit_compile`."""
        with tf.GradientTape() as tape:
            loss, correct, _ = self._loss_and_correct(x, labels, tokens, training=True)
            scaled_loss = self.task.optimizer.scale_loss(loss) if self._loss_scaled else loss
        gradients = tape.gradient(scaled_loss, self.task.trainable_variables)
        if not self._loss_scaled:
            # Embedding gradients come as IndexedSlices; dense tensors all-reduce, clip and divide alike.
            gradients = [tf.convert_to_tensor(g) for g in gradients]
        return loss, correct, gradients

    def _apply(self, gradients, context):
        task, optimizer = self.task, self.task.optimizer
        variables = task.trainable_variables
        if self._loss_scaled:
            # float16: the loss was scaled; Keras unscales, skips non-finite steps (and clips per replica).
            optimizer.apply(gradients, variables)
            return
        # Sum over replicas first, then clip, as one device would; the optimizer
        # sums again (identical values, hence the division) and its own
        # per-variable clipnorm is then a no-op.
        gradients = context.all_reduce(tf.distribute.ReduceOp.SUM, gradients)
        if optimizer.clipnorm:
            gradients = [tf.clip_by_norm(g, optimizer.clipnorm) for g in gradients]
        if optimizer.global_clipnorm:
            gradients, _ = tf.clip_by_global_norm(gradients, optimizer.global_clipnorm)
        replicas = self.strategy.num_replicas_in_sync
        optimizer.apply([g / replicas for g in gradients], variables)

    def _step_function(self, training):
        def step(iterator):
            x, labels = next(iterator)
            loss, correct, tokens = self.strategy.run(self._replica_step, args=(x, labels, training))
            reduce = self.strategy.reduce
            return (reduce(tf.distribute.ReduceOp.SUM, loss, axis=None),
                    reduce(tf.distribute.ReduceOp.SUM, correct, axis=None),
                    reduce(tf.distribute.ReduceOp.SUM, tokens, axis=None))

        return tf.function(step)

    # --- the loop -------------------------------------------------------
    def fit(self, train, validation=None, epochs=1, batch_size=64, seed=0, bucket_boundaries=None,
            time_budget=None, max_steps=None, drop_long=False, deterministic=True):
        """Trains on string pairs (a list or an unbatched dataset); returns a history dict.

        `batch_size` is the global batch. `time_budget` (minutes) and
        `max_steps` stop early, after a checkpoint. Returns per-epoch `loss`,
        `accuracy` (and `val_loss`, `val_accuracy`), plus `steps`, `stopped`
        (why training ended) and `dropped_long` (pairs left out by `drop_long`).
        `deterministic=False` lets tf.data reorder for speed; a resumed run then
        skips as many batches as were trained, not necessarily the same examples.
        """
        check_positive_int("epochs", epochs)
        check_positive_int("batch_size", batch_size)
        if time_budget is not None:
            check_minutes(time_budget)
        dropped = self.task.count_long_pairs(train) if drop_long else 0
        if dropped:
            logger.info("Leaving out %d training pairs longer than the preset's lengths.", dropped)
        ids = self.task.tokenize_dataset(train, drop_long=drop_long)
        num_examples = int(ids.reduce(0, lambda n, _: n + 1))
        steps_per_epoch = num_examples // batch_size
        if steps_per_epoch == 0:
            raise ValueError(f"Expected at least batch_size={batch_size} training pairs. Received: {num_examples}")
        validation_ids = None if validation is None else self.task.tokenize_dataset(validation)
        self._resume()
        history = {"loss": [], "accuracy": [], "val_loss": [], "val_accuracy": [], "dropped_long": dropped}
        train_step = self._train_step = self._train_step or self._step_function(training=True)
        writer = tf.summary.create_file_writer(self.log_dir) if self.log_dir and self.chief else None
        start, stopped, best_weights = time.monotonic(), "epochs", None
        progress = Progress(steps_per_epoch, time_budget, self.progress_seconds)
        while int(self.epoch.numpy()) < epochs and stopped == "epochs":
            epoch = int(self.epoch.numpy())
            done = int(self.step.numpy()) - epoch * steps_per_epoch
            iterator = iter(self._distributed(ids, batch_size, seed, epoch, done, bucket_boundaries, deterministic))
            totals, tick, tick_tokens = np.zeros(3), time.monotonic(), 0.0
            for _ in range(done, steps_per_epoch):
                loss, correct, tokens = (float(v) for v in train_step(iterator))
                if not math.isfinite(loss):
                    stopped = "non-finite loss"
                    logger.warning("Non-finite loss at step %d; restoring the last good checkpoint.", int(self.step.numpy()))
                    self._resume()
                    break
                self.step.assign_add(1)
                progress.update(int(self.step.numpy()), epoch, loss, tokens)
                totals += (loss * tokens, correct, tokens)
                tick_tokens += tokens
                if writer and int(self.step.numpy()) % 10 == 0:
                    self._log(writer, loss, correct / max(tokens, 1), tick_tokens / (time.monotonic() - tick))
                    tick, tick_tokens = time.monotonic(), 0.0
                if self.checkpoint_every and int(self.step.numpy()) % self.checkpoint_every == 0 and not self._save():
                    stopped = "non-finite loss"
                    break
                if time_budget and time.monotonic() - start >= 60 * time_budget:
                    stopped = "time budget"
                if max_steps and int(self.step.numpy()) >= max_steps:
                    stopped = "max_steps"
                if stopped != "epochs":
                    break
            if stopped == "non-finite loss":
                break
            if int(self.step.numpy()) == (epoch + 1) * steps_per_epoch:
                self.epoch.assign_add(1)
            history["loss"].append(float(totals[0] / max(totals[2], 1)))
            history["accuracy"].append(float(totals[1] / max(totals[2], 1)))
            if validation_ids is not None:
                val_loss, val_accuracy = self.evaluate_ids(validation_ids, batch_size, bucket_boundaries)
                history["val_loss"].append(val_loss)
                history["val_accuracy"].append(val_accuracy)
                if val_loss < float(self.best_val_loss.numpy()):
                    best_weights = self._keep_best(val_loss)
                else:
                    self.bad_epochs.assign_add(1)
                bad_epochs = int(self.bad_epochs.numpy())
                # Every `lr_decay_patience` epochs without improvement, as ReduceLROnPlateau with no cooldown.
                if self.lr_decay_factor and bad_epochs and bad_epochs % self.lr_decay_patience == 0:
                    self._decay_learning_rate()
                if self.early_stopping_patience and bad_epochs >= self.early_stopping_patience:
                    stopped = "early stopping"
            if not self._save():
                stopped = "non-finite loss"
                break
            logger.info("epoch %d: step %d, %s", epoch + 1, int(self.step.numpy()),
                        {k: round(v[-1], 4) for k, v in history.items() if isinstance(v, list) and v})
        best_loss = float(self.best_val_loss.numpy())
        if best_weights is not None:
            self.task.set_weights(best_weights)
        elif math.isfinite(best_loss) and self.best_manager and self.best_manager.latest_checkpoint:
            # Resumed, and no epoch since beat the best one from before.
            self.best_manager.checkpoint.restore(self.best_manager.latest_checkpoint).assert_consumed()
        if self.average_last and validation_ids is not None and stopped != "non-finite loss":
            history.update(keep_average_if_better(self, self.average_last, validation_ids, batch_size,
                                                  bucket_boundaries))
            best_loss = float(self.best_val_loss.numpy())
        history.update(steps=int(self.step.numpy()), stopped=stopped,
                       best_val_loss=best_loss if math.isfinite(best_loss) else None)
        return history

    def _keep_best(self, val_loss):
        """Records a new best validation loss; returns the weights (also checkpointed under `best/`)."""
        self.best_val_loss.assign(val_loss)
        self.bad_epochs.assign(0)
        if self.best_manager is not None:
            self.best_manager.save(checkpoint_number=int(self.step.numpy()))
        return self.task.get_weights()

    def evaluate_ids(self, ids, batch_size, bucket_boundaries=None):
        """`(loss, token accuracy)` over tokenized examples, in one pass (no sharding by step count)."""
        batches = batch_dataset(ids, batch_size, bucket_boundaries)
        totals = np.zeros(3)
        for x, labels in batches:
            loss, correct, tokens = self._evaluate_batch(x, labels)
            totals += (float(loss) * float(tokens), float(correct), float(tokens))
        return float(totals[0] / max(totals[2], 1)), float(totals[1] / max(totals[2], 1))

    @tf.function(reduce_retracing=True)
    def _evaluate_batch(self, x, labels):
        """Validation: the token cross-entropy alone (no extra losses such as coverage)."""
        tokens = tf.reduce_sum(label_mask(labels))
        loss, correct = token_loss_and_correct(self.task(x, training=False), labels, tf.maximum(tokens, 1.0))
        return loss, correct, tokens

    def _decay_learning_rate(self):
        optimizer = self.task.optimizer
        rate = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
        optimizer.learning_rate = rate * self.lr_decay_factor
        logger.info("No better validation loss for %d epoch(s): learning rate %.3g -> %.3g.",
                    self.lr_decay_patience, rate, rate * self.lr_decay_factor)

    def _log(self, writer, loss, accuracy, tokens_per_second):
        step = int(self.step.numpy())
        with writer.as_default(step=step):
            tf.summary.scalar("loss", loss)
            tf.summary.scalar("accuracy", accuracy)
            tf.summary.scalar("learning_rate", float(keras.ops.convert_to_numpy(self.task.optimizer.learning_rate)))
            tf.summary.scalar("target_tokens_per_second", tokens_per_second)

    def _save(self):
        """Checkpoints unless a weight is non-finite (then restores the last good checkpoint); False if so."""
        finite = all(bool(tf.reduce_all(tf.math.is_finite(v))) for v in self.task.trainable_variables)
        if not finite:
            # A step can return a finite loss yet leave inf/NaN weights behind.
            logger.warning("Non-finite weights at step %d; restoring the last good checkpoint.", int(self.step.numpy()))
            self._resume()
            return False
        if self.manager is not None:
            self.manager.save(checkpoint_number=int(self.step.numpy()))
        return True

    def _resume(self):
        if self.manager is None or self.manager.latest_checkpoint is None:
            return False
        self.checkpoint.restore(self.manager.latest_checkpoint).expect_partial()
        logger.info("Resumed from %s (epoch %d, step %d).", self.manager.latest_checkpoint, int(self.epoch.numpy()),
                    int(self.step.numpy()))
        return True
