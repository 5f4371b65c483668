"""Level 1: token-id pairs into padded batches: length buckets, and lengths padded to a multiple.

Elements are unbatched `(x, labels)` pairs as `Seq2SeqTask.tokenize_dataset`
yields them: `x` a dict of id tensors (`encoder_token_ids`, ...; images pass
through), `labels` the target ids.
"""

import numbers

import tensorflow as tf

from kseq2seq.utils import check_positive_int


def batch_dataset(ids, batch_size, bucket_boundaries=None, batch_tokens=None, drop_remainder=False,
                  pad_to_multiple_of=None):
    """Pads unbatched `(x, labels)` ids into batches.

    With `bucket_boundaries` (lengths of the longer of source and target),
    batches group sequences of similar length to cut padding; with
    `batch_tokens` as well, each bucket's batch size is `batch_tokens` divided
    by the bucket's upper length (twice the last boundary for the open last
    bucket), so batches hold at most about that many tokens per side.

    `pad_to_multiple_of`: token lengths are padded up to a multiple of this.
    XLA compiles a step once per input shape; without it every batch padded to
    its own longest pair can bring a new shape and a new compilation.
    """
    batches = _padded_batches(ids, batch_size, bucket_boundaries, batch_tokens, drop_remainder)
    if pad_to_multiple_of is None:
        return batches
    check_positive_int("pad_to_multiple_of", pad_to_multiple_of)
    return batches.map(lambda x, labels: _pad_lengths(x, labels, pad_to_multiple_of))


def _padded_batches(ids, batch_size, bucket_boundaries, batch_tokens, drop_remainder):
    """Each batch padded to its longest pair, in length buckets if given."""
    if not bucket_boundaries:
        if batch_tokens:
            raise ValueError("Expected bucket_boundaries with batch_tokens. Received: bucket_boundaries=None")
        return ids.padded_batch(check_positive_int("batch_size", batch_size), drop_remainder=drop_remainder)
    boundaries = _check_boundaries(bucket_boundaries)
    if batch_tokens:
        check_positive_int("batch_tokens", batch_tokens)
        uppers = boundaries + [boundaries[-1] * 2]
        sizes = [max(1, batch_tokens // upper) for upper in uppers]
    else:
        sizes = [check_positive_int("batch_size", batch_size)] * (len(boundaries) + 1)
    return ids.bucket_by_sequence_length(
        _sequence_length,
        boundaries,
        sizes,
        drop_remainder=drop_remainder,
    )


def _sequence_length(x, labels):
    """The longest token sequence of an example (any 1-D input: ids of any modality; images pass)."""
    lengths = [tf.shape(value)[0] for value in x.values() if value.shape.rank == 1] + [tf.shape(labels)[0]]
    return tf.reduce_max(tf.stack(lengths))


def _check_boundaries(boundaries):
    values = list(boundaries) if isinstance(boundaries, (list, tuple)) else []
    if not (values and all(isinstance(b, numbers.Integral) and not isinstance(b, bool) and b >= 1 for b in values)
            and all(a < b for a, b in zip(values, values[1:]))):
        raise ValueError("Expected bucket_boundaries to be increasing token lengths >= 1, like [10, 20, 40]. "
                         f"Received: bucket_boundaries={boundaries!r}")
    return [int(b) for b in values]


def _pad_lengths(x, labels, multiple):
    """Pads the token id and mask tensors (`[batch, length]`) of a batch with 0 (False) up to a multiple of `multiple`."""

    def pad(ids):
        if not (ids.dtype.is_integer or ids.dtype == tf.bool) or ids.shape.rank != 2:
            return ids  # images
        return tf.pad(ids, [[0, 0], [0, -tf.shape(ids)[1] % multiple]], constant_values=tf.zeros([], ids.dtype))

    return {name: pad(value) for name, value in x.items()}, pad(labels)
