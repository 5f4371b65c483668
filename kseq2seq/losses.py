"""Level 1: the one masked token loss, shared by Keras `fit` and the distributed `Trainer`.

Label 0 is padding: it adds nothing to the loss, the accuracy or the token
count. Keras' `fit` takes the mean over a batch's target tokens
(`MaskedCrossEntropy`); the `Trainer` takes the sum of the same per-token
losses and divides by the global batch's token count
(`token_loss_and_correct`), so N replicas compute one device's gradient.
"""

import keras
import tensorflow as tf


def label_mask(labels):
    """1.0 at real target tokens, 0.0 at padding (label 0), as float32."""
    return tf.cast(tf.not_equal(labels, 0), tf.float32)


def token_losses(labels, logits):
    """Per-token cross-entropy `[batch, T]` (0 at padding) and the float mask of real tokens."""
    labels = tf.cast(labels, tf.int32)
    mask = label_mask(labels)
    per_token = keras.losses.sparse_categorical_crossentropy(labels, tf.cast(logits, tf.float32), from_logits=True)
    return per_token * mask, mask


def token_loss_and_correct(logits, labels, tokens):
    """The masked cross-entropy summed over the target tokens and divided by `tokens`; correctly predicted tokens."""
    losses, mask = token_losses(labels, logits)
    correct = tf.reduce_sum(tf.cast(tf.argmax(logits, -1, output_type=tf.int32) == labels, tf.float32) * mask)
    return tf.reduce_sum(losses) / tokens, correct


@keras.saving.register_keras_serializable(package="kseq2seq")
class MaskedCrossEntropy(keras.losses.Loss):
    """Mean cross-entropy over a batch's non-padding target tokens (logits in, as the backbones output)."""

    def __init__(self, name="masked_cross_entropy", reduction="sum", **kwargs):
        # "sum" of per-token losses already divided by the token count: the masked mean.
        super().__init__(name=name, reduction=reduction, **kwargs)

    def call(self, y_true, y_pred):
        losses, mask = token_losses(y_true, y_pred)
        return losses / tf.maximum(tf.reduce_sum(mask), 1.0)


@keras.saving.register_keras_serializable(package="kseq2seq")
def masked_accuracy(y_true, y_pred):
    """Token accuracy over non-padding labels (label 0 is padding)."""
    y_true = tf.cast(y_true, tf.int32)
    mask = label_mask(y_true)
    hits = tf.cast(tf.argmax(y_pred, axis=-1, output_type=tf.int32) == y_true, tf.float32)
    return tf.reduce_sum(hits * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)
