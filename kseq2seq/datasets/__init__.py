"""Level 3: data sets as `tf.data.Dataset`s of `(source, target)` strings.

`load("dates")` (translation) and `load("news")` (summarization) are
generated and offline; `load("cnn_dailymail", ...)` reads tensorflow-datasets'
CNN/DailyMail from local files; `load_text_pairs` and `load_tsv`
read users' own files.
"""

import tensorflow as tf

from kseq2seq.datasets import cnn_dailymail, dates, dialogue, news, shapes, text_files

BUILTIN = {"dates": dates.load_dates, "news": news.load_news}


def to_dataset(pairs):
    """A list of `(source, target)` pairs -> an unbatched `tf.data.Dataset` of string pairs."""
    pairs = list(pairs)
    if not pairs:
        raise ValueError("Expected at least one (source, target) pair. Received: an empty list")
    sources, targets = zip(*pairs)
    return tf.data.Dataset.from_tensor_slices((list(sources), list(targets)))


def load(name, **kwargs):
    """Loads a data set as `(train, validation, test)` datasets of `(source, target)` strings.

    Built-in generated sets: `"dates"`, `"news"` (keyword arguments: sizes and
    `seed`). `"cnn_dailymail"`: tensorflow-datasets' CNN/DailyMail from local
    files (`data_dir`, `manual_dir`, `limit`; see `cnn_dailymail.py`); with
    `split="test"` (or "train"/"validation") only that split is returned.
    """
    if name == "cnn_dailymail":
        split = kwargs.pop("split", None)
        if split is not None:
            return to_dataset(cnn_dailymail.load_cnn_dailymail(split, **kwargs))
        return tuple(to_dataset(cnn_dailymail.load_cnn_dailymail(s, **kwargs)) for s in cnn_dailymail.SPLITS)
    if name not in BUILTIN:
        raise ValueError(f"Expected name to be one of {sorted([*BUILTIN, 'cnn_dailymail'])}. Received: name={name!r}")
    return tuple(to_dataset(split) for split in BUILTIN[name](**kwargs))


def load_text_pairs(source_file, target_file, limit=None):
    """Line-aligned parallel files -> `tf.data.Dataset` of `(source, target)` strings."""
    return to_dataset(text_files.load_text_pairs(source_file, target_file, limit=limit))


def load_tsv(path, source_column=0, target_column=1, limit=None):
    """A tab-separated file -> `tf.data.Dataset` of `(source, target)` strings."""
    return to_dataset(text_files.load_tsv(path, source_column, target_column, limit=limit))
