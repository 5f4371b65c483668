"""Level 3: saving and loading trained tasks as folders (keras-hub's preset convention).

A task folder holds `model.keras` (the Keras archive: config, weights,
vocabularies, optimizer state) and `metadata.json` (task, preset, versions,
how it was trained); `kseq2seq train` writes one, `task.save_to_preset(dir)`
too. `kseq2seq.load(dir)` restores whatever task it holds, and
`Task.from_preset(dir)` restores it as that task class, so a trained model
can be shared like a built-in preset.
"""

import json
import os

from kseq2seq.utils import atomic_directory

MODEL_FILE = "model.keras"
METADATA_FILE = "metadata.json"


def is_preset_folder(path):
    return isinstance(path, str) and os.path.isfile(os.path.join(path, MODEL_FILE))


def metadata(task, **extra):
    import keras
    import tensorflow as tf

    import kseq2seq

    return {
        "kseq2seq_version": kseq2seq.__version__,
        "tensorflow_version": tf.__version__,
        "keras_version": keras.__version__,
        "task": type(task).__name__,
        "preset": task.preset,
        **extra,
    }


def save(task, path, metadata_fields=None, overwrite=False, serving_version=None):
    """Writes `model.keras`, `metadata.json` and optionally a SavedModel `<version>/` into `path` atomically."""

    def write(folder):
        task.save(os.path.join(folder, MODEL_FILE))
        with open(os.path.join(folder, METADATA_FILE), "w", encoding="utf-8") as f:
            json.dump(metadata(task, **(metadata_fields or {})), f, indent=2, sort_keys=True)
        if serving_version is not None:
            task.export(os.path.join(folder, str(serving_version)))

    return atomic_directory(path, write, overwrite=overwrite)


def save_to_preset(task, path, overwrite=False):
    """`task.save_to_preset(path)`: the folder `from_preset(path)` and `load(path)` restore."""
    return save(task, path, overwrite=overwrite)


def load(path):
    """Restores the task saved in `path` (a task folder, or a `.keras` file), whatever its class."""
    import keras

    from kseq2seq.tasks.registry import import_tasks

    import_tasks()  # registers every task's serializable classes (the package imports them lazily)
    model_file = os.path.join(path, MODEL_FILE) if os.path.isdir(path) else path
    if not os.path.isfile(model_file):
        raise FileNotFoundError(f"Expected a task folder holding {MODEL_FILE} or a .keras file. Received: {path!r}")
    return keras.models.load_model(model_file)


def load_preset(path, task_class, train_texts=None, **overrides):
    """`Task.from_preset(folder)`: the saved task, checked to be a `task_class`; overrides may set decoding options."""
    from kseq2seq.generation import GenerationConfig

    if train_texts is not None:
        raise ValueError(f"Expected no train_texts for the trained preset folder {path!r}: its vocabularies are "
                         "saved with it.")
    unknown = sorted(set(overrides) - set(GenerationConfig.fields()))
    if unknown:
        raise ValueError(f"Expected only decoding options as overrides of a trained preset "
                         f"({list(GenerationConfig.fields())}). Received: {unknown}")
    task = load(path)
    if not isinstance(task, task_class):
        raise ValueError(f"Expected a {task_class.__name__} in {path!r}. Received: a {type(task).__name__} "
                         f"(restore it with kseq2seq.load or {type(task).__name__}.from_preset)")
    if overrides:
        task.generation_config = task.generation_config.replace(**overrides)
    return task
