import numpy as np
import pytest
import tensorflow as tf

from kseq2seq.batching import batch_dataset


def _pairs(lengths, image=False):
    """Unbatched `(x, labels)` with ids 1..n for each length n (and a 2x2x1 image when asked)."""

    def generate():
        for n in lengths:
            x = {"encoder_token_ids": np.arange(1, n + 1, dtype="int32")}
            if image:
                x["images"] = np.full((2, 2, 1), n, "float32")
            yield x, np.arange(1, n + 1, dtype="int32")

    x_spec = {"encoder_token_ids": tf.TensorSpec([None], tf.int32)}
    if image:
        x_spec["images"] = tf.TensorSpec([2, 2, 1], tf.float32)
    return tf.data.Dataset.from_generator(generate, output_signature=(x_spec, tf.TensorSpec([None], tf.int32)))


def test_length_buckets_batch_pairs_of_similar_length():
    lengths = [2, 9, 3, 10, 2, 9, 3, 10]
    batches = [labels.numpy() for _, labels in batch_dataset(_pairs(lengths), 4, [5])]
    # Bucket < 5 gets [2, 3, 2, 3], bucket >= 5 gets [9, 10, 9, 10]; each batch is padded to its longest pair.
    assert sorted((b.shape, tuple((b != 0).sum(1))) for b in batches) == [
        ((4, 3), (2, 3, 2, 3)), ((4, 10), (9, 10, 9, 10))]
    unbucketed = [labels.shape for _, labels in batch_dataset(_pairs(lengths), 4)]
    assert unbucketed == [(4, 10), (4, 10)]


def test_lengths_padded_to_a_multiple_keep_the_ids_and_leave_images_alone():
    (x, labels), = batch_dataset(_pairs([3, 5], image=True), 2, pad_to_multiple_of=4)
    np.testing.assert_array_equal(labels, [[1, 2, 3, 0, 0, 0, 0, 0], [1, 2, 3, 4, 5, 0, 0, 0]])
    np.testing.assert_array_equal(x["encoder_token_ids"], labels)
    assert x["images"].shape == (2, 2, 2, 1) and x["images"].dtype == tf.float32
    bucketed = [labels.shape[1] for _, labels in batch_dataset(_pairs([3, 9, 4, 10]), 2, [5], pad_to_multiple_of=4)]
    assert sorted(bucketed) == [4, 12]
    with pytest.raises(ValueError, match="pad_to_multiple_of=0"):
        batch_dataset(_pairs([3]), 1, pad_to_multiple_of=0)


def test_batch_tokens_sizes_buckets_by_their_length():
    lengths = [3] * 20 + [9] * 20
    ids = tf.data.Dataset.from_generator(
        lambda: (({"encoder_token_ids": np.ones(n, "int32")}, np.ones(n, "int32")) for n in lengths),
        output_signature=({"encoder_token_ids": tf.TensorSpec([None], tf.int32)}, tf.TensorSpec([None], tf.int32)),
    )
    sizes = sorted({int(labels.shape[0]) for _, labels in batch_dataset(ids, 0, [4, 8], batch_tokens=32)})
    # Bucket < 4 holds 32 // 4 = 8 sequences; bucket >= 8 (upper 16) holds 32 // 16 = 2; leftovers smaller.
    assert 8 in sizes and 2 in sizes and max(sizes) == 8
    with pytest.raises(ValueError, match="bucket_boundaries"):
        batch_dataset(ids, 8, None, batch_tokens=32)


@pytest.mark.parametrize("boundaries", [[10, 5], [5, 5], [0, 5], [2.5], "10,20", [True]])
def test_bucket_boundaries_that_are_not_increasing_lengths_are_refused(boundaries):
    with pytest.raises(ValueError, match=r"Expected bucket_boundaries to be increasing token lengths"):
        batch_dataset(_pairs([3]), 2, boundaries)


def test_batch_size_is_checked_unless_batch_tokens_sizes_the_buckets():
    for boundaries in (None, [5]):
        with pytest.raises(ValueError, match="batch_size=0"):
            batch_dataset(_pairs([3]), 0, boundaries)
    assert [labels.shape for _, labels in batch_dataset(_pairs([3, 3]), 0, [5], batch_tokens=10)] == [(2, 3)]

