"""Helper process for tests/test_training.py: trains a tiny translator under a chosen strategy.

    python training_worker.py OUT mirrored NUM_DEVICES   # MirroredStrategy over NUM_DEVICES logical CPUs
    python training_worker.py OUT multiworker            # MultiWorkerMirroredStrategy from TF_CONFIG

Writes OUT/<name>.npz (final weights) and OUT/<name>.json (history and the
training examples this process's input pipeline read).
"""

import json
import os
import sys

import tensorflow as tf


def main(out, mode, num_devices=1):
    if mode == "mirrored":
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * num_devices)
    import keras
    import numpy as np

    import kseq2seq
    from kseq2seq.datasets.dates import load_dates
    from kseq2seq.training import Trainer, get_strategy

    keras.utils.set_random_seed(0)
    train, validation, _ = load_dates(num_train=256, num_validation=32, num_test=1, seed=3)
    strategy = get_strategy([f"/cpu:{i}" for i in range(num_devices)]) if mode == "mirrored" else get_strategy()
    with strategy.scope():
        task = kseq2seq.Translator.from_preset("bahdanau_gru_small", train_texts=train, units=16, embedding_dim=8)
    # Multi-worker: every worker takes part in the (collective) checkpoint saves; the chief's are kept.
    trainer = Trainer(task, strategy, checkpoint_dir=os.path.join(out, "ckpt") if mode == "multiworker" else None,
                      checkpoint_every=4)
    history = trainer.fit(train, validation, epochs=2, batch_size=32, seed=0)
    resolver = getattr(strategy, "cluster_resolver", None)
    worker = resolver.task_id if mode == "multiworker" else 0
    pipelines = len(json.loads(os.environ["TF_CONFIG"])["cluster"]["worker"]) if mode == "multiworker" else 1
    shard = Trainer.shard(task.tokenize_dataset(train), worker, pipelines, seed=0, epoch=0)
    seen = [task.preprocessor.source_tokenizer.detokenize(x["encoder_token_ids"][None]).numpy()[0].decode()
            for x, _ in shard]
    name = f"{mode}_{num_devices}" if mode == "mirrored" else f"worker_{worker}"
    np.savez(os.path.join(out, name + ".npz"), *task.get_weights())
    with open(os.path.join(out, name + ".json"), "w") as f:
        json.dump({"history": history, "replicas": strategy.num_replicas_in_sync, "seen": seen}, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 1)
