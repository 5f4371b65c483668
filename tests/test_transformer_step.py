import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from kseq2seq.layers.transformer_step import decode_position

BATCH, LENGTH, SOURCE, HIDDEN, HEADS = 2, 4, 5, 8, 2


@pytest.mark.parametrize("normalize_first", [True, False])
def test_one_position_equals_keras_hubs_cached_call(normalize_first):
    keras.utils.set_random_seed(5)
    layer = keras_hub.layers.TransformerDecoder(16, HEADS, normalize_first=normalize_first)
    rng = np.random.default_rng(0)
    inputs = rng.normal(size=(BATCH, LENGTH, HIDDEN)).astype("float32")
    memory = rng.normal(size=(BATCH, SOURCE, HIDDEN)).astype("float32")
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    layer(inputs, memory, encoder_padding_mask=mask)
    cross = layer._cross_attention_layer
    heads_first = lambda dense: tf.transpose(dense(memory), [0, 2, 1, 3])  # noqa: E731
    cross_keys, cross_values = heads_first(cross._key_dense), heads_first(cross._value_dense)
    # keras-hub's own cached decoding: its cache is [batch, 2, length, heads, head_dim]
    cache = tf.zeros([BATCH, 2, LENGTH, HEADS, HIDDEN // HEADS])
    cross_cache = tf.stack([cross._key_dense(memory), cross._value_dense(memory)], axis=1)
    keys = values = tf.zeros([BATCH, HEADS, LENGTH, HIDDEN // HEADS])
    for t in range(LENGTH):
        expected, cache, _ = layer(inputs[:, t:t + 1], memory, encoder_padding_mask=mask,
                                   self_attention_cache=cache, self_attention_cache_update_index=t,
                                   cross_attention_cache=cross_cache)
        x, keys, values, weights = decode_position(layer, tf.constant(inputs[:, t]), keys, values, cross_keys,
                                                   cross_values, tf.constant(mask), t)
        np.testing.assert_allclose(x.numpy(), expected.numpy()[:, 0], atol=1e-5)
        np.testing.assert_allclose(weights.numpy().sum(-1), 1.0, atol=1e-6)
        np.testing.assert_array_equal(weights.numpy()[0, :, 3:], 0.0)
    # the caches hold what keras-hub's does, heads before positions
    np.testing.assert_allclose(keys.numpy(), np.transpose(cache.numpy()[:, 0], [0, 2, 1, 3]), atol=1e-6)
    np.testing.assert_allclose(values.numpy(), np.transpose(cache.numpy()[:, 1], [0, 2, 1, 3]), atol=1e-6)


def test_positions_after_the_index_are_not_attended():
    keras.utils.set_random_seed(5)
    layer = keras_hub.layers.TransformerDecoder(16, HEADS)
    memory = tf.ones([1, SOURCE, HIDDEN])
    layer(tf.ones([1, 1, HIDDEN]), memory)
    cross = [tf.zeros([1, HEADS, SOURCE, HIDDEN // HEADS])] * 2
    empty = tf.zeros([1, HEADS, LENGTH, HIDDEN // HEADS])
    garbage = empty + 1e3  # whatever a cache holds past the index must not change the output
    x = tf.ones([1, HIDDEN])
    clean = decode_position(layer, x, empty, empty, *cross, tf.ones([1, SOURCE], bool), 0)
    dirty = decode_position(layer, x, garbage, garbage, *cross, tf.ones([1, SOURCE], bool), 0)
    np.testing.assert_allclose(dirty[0].numpy(), clean[0].numpy(), atol=1e-5)
    np.testing.assert_array_equal(dirty[1].numpy()[:, :, 1:], 1e3)  # written at the index only
    np.testing.assert_array_equal(dirty[1].numpy()[:, :, 0], clean[1].numpy()[:, :, 0])
    # a source with no position to attend to gets no weight anywhere, as keras' masked softmax gives
    hidden = decode_position(layer, x, empty, empty, *cross, tf.zeros([1, SOURCE], bool), 0)
    np.testing.assert_array_equal(hidden[3].numpy(), 0.0)
