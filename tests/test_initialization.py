import keras
import numpy as np
import pytest

import kseq2seq
from kseq2seq.layers.initialization import initialize_uniformly

PAIRS = [("a man plays football", "ein mann spielt fußball"), ("two girls play", "zwei mädchen spielen")] * 4


def lstm_translator(**overrides):
    keras.utils.set_random_seed(3)
    return kseq2seq.Translator.from_preset("multi30k_gru_wordpiece", train_texts=PAIRS, cell_type="lstm", units=8,
                                           embedding_dim=4, max_vocabulary_size=60, **overrides)


def forget_biases(task):
    biases = [v.numpy() for v in task.backbone.trainable_weights if v.path.endswith("lstm_cell/bias")]
    return [b[len(b) // 4 : len(b) // 2] for b in biases]


def test_param_init_draws_every_trainable_weight_uniformly_and_reproducibly():
    task = lstm_translator(param_init=0.1)
    values = [v.numpy() for v in task.backbone.trainable_weights]
    assert len(values) > 10 and all(np.abs(v).max() <= 0.1 for v in values)
    # Uniform on [-0.1, 0.1]: the largest draw of the output kernel is near the bound, its spread ~0.1/sqrt(3).
    kernel = task.backbone.decoder.output_projection.kernel.numpy()
    assert np.abs(kernel).max() > 0.09 and abs(kernel.std() - 0.1 / np.sqrt(3)) < 0.01
    assert all(np.abs(b - 1.0).min() > 0 for b in forget_biases(task))  # Keras' forget bias of 1 is redrawn too
    again = lstm_translator(param_init=0.1)
    for a, b in zip(values, again.backbone.trainable_weights):
        np.testing.assert_array_equal(a, b.numpy())


def test_param_init_zero_keeps_keras_initializers():
    task = lstm_translator()
    assert all(np.all(b == 1.0) for b in forget_biases(task)) and len(forget_biases(task)) == 3


def test_frozen_weights_are_left_alone():
    frozen = keras.layers.Dense(3, name="frozen", trainable=False)
    model = keras.Sequential([keras.Input((4,)), frozen, keras.layers.Dense(2)])
    before = frozen.kernel.numpy()
    initialize_uniformly(model, 0.05)
    np.testing.assert_array_equal(frozen.kernel.numpy(), before)
    assert np.abs(model.layers[1].kernel.numpy()).max() <= 0.05


@pytest.mark.parametrize("value", [-0.1, 1.5, "0.1", True])
def test_param_init_is_checked_before_the_vocabularies_are_learned(value):
    class Unread(list):
        def __iter__(self):
            raise AssertionError("the training texts were read before param_init was checked")

    with pytest.raises(ValueError, match=f"Expected param_init in \\[0.0, 1.0\\]. Received: param_init={value!r}"):
        kseq2seq.Translator.from_preset("multi30k_gru_wordpiece", train_texts=Unread(PAIRS), param_init=value)
