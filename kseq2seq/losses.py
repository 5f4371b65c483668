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


def token_losses(labels, logits, label_smoothing=0.0):
    """Per-token cross-entropy `[batch, T]` (0 at padding) and the float mask of real tokens.

    `label_smoothing` ε: the target distribution is `(1 - ε)` on the label
    plus `ε` spread evenly over the vocabulary (Szegedy et al., 2016; Keras'
    `label_smoothing` on one-hot labels).
    """
    labels = tf.cast(labels, tf.int32)
    mask = label_mask(labels)
    logits = tf.cast(logits, tf.float32)
    per_token = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
    if label_smoothing:
        uniform = -tf.reduce_mean(tf.nn.log_softmax(logits), axis=-1)
        per_token = (1.0 - label_smoothing) * per_token + label_smoothing * uniform
    return per_token * mask, mask


def check_label_smoothing(label_smoothing):
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, (int, float)) \
            or not 0 <= label_smoothing < 1:
        raise ValueError(f"Expected label_smoothing in [0, 1). Received: label_smoothing={label_smoothing!r}")
    return float(label_smoothing)


def token_loss_and_correct(logits, labels, tokens, label_smoothing=0.0):
    """The masked cross-entropy summed over the target tokens and divided by `tokens`; correctly predicted tokens."""
    losses, mask = token_losses(labels, logits, label_smoothing)
    correct = tf.reduce_sum(tf.cast(tf.argmax(logits, -1, output_type=tf.int32) == labels, tf.float32) * mask)
    return tf.reduce_sum(losses) / tokens, correct


@keras.saving.register_keras_serializable(package="kseq2seq")
class MaskedCrossEntropy(keras.losses.Loss):
    """Mean cross-entropy over a batch's non-padding target tokens (logits in, as the backbones output)."""

    def __init__(self, name="masked_cross_entropy", reduction="sum", label_smoothing=0.0, **kwargs):
        # "sum" of per-token losses already divided by the token count: the masked mean.
        super().__init__(name=name, reduction=reduction, **kwargs)
        self.label_smoothing = check_label_smoothing(label_smoothing)

    def call(self, y_true, y_pred):
        losses, mask = token_losses(y_true, y_pred, self.label_smoothing)
        return losses / tf.maximum(tf.reduce_sum(mask), 1.0)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


@keras.saving.register_keras_serializable(package="kseq2seq")
def masked_accuracy(y_true, y_pred):
    """Token accuracy over non-padding labels (label 0 is padding)."""
    y_true = tf.cast(y_true, tf.int32)
    mask = label_mask(y_true)
    hits = tf.cast(tf.argmax(y_pred, axis=-1, output_type=tf.int32) == y_true, tf.float32)
    return tf.reduce_sum(hits * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)
