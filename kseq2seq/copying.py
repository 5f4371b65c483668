"""Level 1: the extended vocabulary of a pointer-generator, computed in graph.

A pointer-generator (See et al., 2017) outputs a target-vocabulary word or
copies a source word. Source words that the target vocabulary lacks get
per-example ids from `vocabulary_size` on, numbered in order of first
appearance in that source:

    target vocabulary size 100, source "mr. zorbel met zorbel 's aide"
    with "zorbel" unknown  ->  extended ids [.., 100, .., 100, .., ..],
    source words [["zorbel"]]

A target word that the vocabulary lacks but its source holds is labelled with
that extended id, so the model learns to copy it; other unknown target words
stay [UNK]. Everything is TensorFlow ops on ragged tensors, so it runs in the
tf.data pipeline and inside exported SavedModels.
"""

import tensorflow as tf

from kseq2seq.utils import UNK_ID

_SEPARATOR = "\x1f"  # between a row number and a word in per-example keys


def _row_keys(rows, tokens):
    """`"<row>\\x1f<token>"`: makes `tf.unique` work per example on a flat batch."""
    return tf.strings.join([tf.strings.as_string(rows), tokens], separator=_SEPARATOR)


def extend_source(source_tokens, target_ids, vocabulary_size):
    """Extended ids of a batch of sources.

    Args:
        source_tokens: ragged strings `[batch, None]` (standardized and split).
        target_ids: the same tokens looked up in the target vocabulary (ragged int32).
        vocabulary_size: the target vocabulary size V.

    Returns:
        `(extended_ids, source_words)`: ragged int32 `[batch, None]` aligned with
        `source_tokens`, and ragged strings `[batch, None]` naming ids V, V+1, ...
    """
    tokens, ids = source_tokens.flat_values, target_ids.flat_values
    rows = tf.cast(source_tokens.value_rowids(), tf.int32)
    nrows = tf.cast(source_tokens.nrows(), tf.int32)
    unknown = tf.where(ids == UNK_ID)[:, 0]
    unknown_rows = tf.gather(rows, unknown)
    unknown_tokens = tf.gather(tokens, unknown)
    # Rows come in order, so each row's unique words get consecutive indices
    # in order of first appearance; the row's smallest index is its offset.
    _, index = tf.unique(_row_keys(unknown_rows, unknown_tokens), out_idx=tf.int32)
    offsets = tf.math.unsorted_segment_min(index, unknown_rows, nrows)
    rank = index - tf.gather(offsets, unknown_rows)
    extended = tf.tensor_scatter_nd_update(ids, unknown[:, tf.newaxis], vocabulary_size + rank)
    num_unique = tf.reduce_max(tf.concat([index, [-1]], 0)) + 1
    first = tf.math.unsorted_segment_min(tf.range(tf.size(index)), index, num_unique)
    words = tf.RaggedTensor.from_value_rowids(
        tf.gather(unknown_tokens, first), tf.cast(tf.gather(unknown_rows, first), tf.int64), tf.cast(nrows, tf.int64)
    )
    return source_tokens.with_flat_values(extended), words


def extend_target(target_tokens, target_ids, source_words, vocabulary_size):
    """Target ids with unknown words found in their source's `source_words` replaced by extended ids."""
    tokens, ids = target_tokens.flat_values, target_ids.flat_values
    rows = tf.cast(target_tokens.value_rowids(), tf.int32)
    unknown = tf.where(ids == UNK_ID)[:, 0]
    word_rows = tf.cast(source_words.value_rowids(), tf.int32)
    word_keys = _row_keys(word_rows, source_words.flat_values)
    num_words = tf.size(word_keys)
    # Source words first: their unique indices are 0..num_words-1, so a target
    # key whose index is below num_words is that source word.
    _, index = tf.unique(
        tf.concat([word_keys, _row_keys(tf.gather(rows, unknown), tf.gather(tokens, unknown))], 0), out_idx=tf.int32
    )
    match = index[num_words:]
    offsets = tf.cast(source_words.row_starts(), tf.int32)
    rank = match - tf.gather(offsets, tf.gather(rows, unknown))
    replacement = tf.where(match < num_words, vocabulary_size + rank, UNK_ID)
    extended = tf.tensor_scatter_nd_update(ids, unknown[:, tf.newaxis], replacement)
    return target_tokens.with_flat_values(extended)
