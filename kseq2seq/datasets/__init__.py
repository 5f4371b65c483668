"""Level 3: data sets as `tf.data.Dataset`s of `(source, target)` strings.

`load("dates")` is generated and offline; `load_text_pairs` and `load_tsv`
read users' own files.
"""

import tensorflow as tf

from kseq2seq.datasets import dates, text_files

BUILTIN = {"dates": dates.load_dates}


def to_dataset(pairs):
    """A list of `(source, target)` pairs -> an unbatched `tf.data.Dataset` of string pairs."""
    pairs = list(pairs)
    if not pairs:
        raise ValueError("Expected at least one (source, target) pair. Received: an empty list")
    sources, targets = zip(*pairs)
    return tf.data.Dataset.from_tensor_slices((list(sources), list(targets)))


def load(name, **kwargs):
    """Loads a built-in data set: returns `(train, validation, test)` datasets."""
    if name not in BUILTIN:
        raise ValueError(f"Expected name to be one of {sorted(BUILTIN)}. Received: name={name!r}")
    return tuple(to_dataset(split) for split in BUILTIN[name](**kwargs))


def load_text_pairs(source_file, target_file, limit=None):
    """Line-aligned parallel files -> `tf.data.Dataset` of `(source, target)` strings."""
    return to_dataset(text_files.load_text_pairs(source_file, target_file, limit=limit))


def load_tsv(path, source_column=0, target_column=1, limit=None):
    """A tab-separated file -> `tf.data.Dataset` of `(source, target)` strings."""
    return to_dataset(text_files.load_tsv(path, source_column, target_column, limit=limit))
