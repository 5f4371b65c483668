"""Level 1: a CTC loss on the encoder, beside the attention decoder's (joint CTC-attention, Kim et al. 2017).

    logits = CTCHead(vocabulary_size, weight=0.3)(logits, values, frame_mask, decoder_token_ids, decoder_padding_mask)

An endpoint layer (Keras' pattern for a loss that needs the targets inside
the model): while training it projects the encoder's outputs `values`
`[batch, frames, d]` to the target vocabulary and adds `weight` times the
CTC loss of the transcript (`keras.ops.ctc_loss`) with `add_loss`; it
returns the decoder's `logits` unchanged, so the model's output stays the
attention decoder's. The transcript is the decoder's input after its
`[START]` (`decoder_token_ids[:, 1:]` where `decoder_padding_mask`), and
the CTC blank is id 0, `[PAD]`, which no transcript contains. The loss is
the summed negative log-likelihood over the batch divided by its
transcripts' tokens, the unit of the attention loss.

CTC's monotonic alignment is what attention lacks at first: the encoder
learns to place each token in time, which helps attention decoders align
on small data (Kim, Hori and Watanabe 2017). An utterance too short for
its transcript (fewer frames than tokens plus repeated neighbours, each of
which needs a blank between) has no CTC alignment; it adds nothing.
Outside training the layer computes nothing: validation losses stay those
of the attention decoder, comparable across models with and without it.
"""

import keras
from keras import ops

from kseq2seq.utils import check_fraction


@keras.saving.register_keras_serializable(package="kseq2seq")
class CTCHead(keras.layers.Layer):
    """A vocabulary projection of the encoder trained with CTC, as an auxiliary loss (see the module docstring).

    Args:
        vocabulary_size: the target vocabulary (id 0 is the blank).
        weight: the CTC loss's weight beside the attention loss, in (0, 1].
    """

    def __init__(self, vocabulary_size, weight=0.3, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size = vocabulary_size
        self.weight = check_fraction("ctc_weight", weight, low=0.0, high=1.0, include_high=True)
        if not self.weight:
            raise ValueError(f"Expected ctc_weight > 0 for a CTC head. Received: ctc_weight={weight!r}")
        self.projection = keras.layers.Dense(vocabulary_size, dtype=self.dtype_policy, name="projection")

    def build(self, logits_shape, values_shape, *args):
        self.projection.build(values_shape)

    def call(self, logits, values, frame_mask, decoder_token_ids, decoder_padding_mask, training=False):
        if training:
            self.add_loss(self.weight * self.token_loss(values, frame_mask, decoder_token_ids, decoder_padding_mask))
        return logits

    def token_loss(self, values, frame_mask, decoder_token_ids, decoder_padding_mask):
        """The batch's CTC negative log-likelihood per transcript token (utterances without an alignment left out)."""
        ctc_logits = ops.cast(self.projection(values), "float32")
        labels = ops.cast(decoder_token_ids[:, 1:], "int32")
        label_mask = ops.cast(decoder_padding_mask[:, 1:], "int32")
        labels = labels * label_mask
        label_length = ops.sum(label_mask, axis=1)
        frames = ops.sum(ops.cast(frame_mask, "int32"), axis=1)
        repeats = ops.sum(ops.cast(labels[:, 1:] == labels[:, :-1], "int32") * label_mask[:, 1:], axis=1)
        aligned = frames >= label_length + repeats
        # An unalignable row is given an empty transcript (a finite loss) and then a weight of 0.
        label_length = ops.where(aligned, label_length, 0)
        losses = keras.ops.ctc_loss(labels, ctc_logits, label_length, frames, mask_index=0)
        aligned = ops.cast(aligned, "float32")
        tokens = ops.sum(ops.cast(label_length, "float32"))
        return ops.sum(losses * aligned) / ops.maximum(tokens, 1.0)

    def compute_output_spec(self, logits, *args, **kwargs):
        return keras.KerasTensor(logits.shape, dtype=logits.dtype)

    def get_config(self):
        return {**super().get_config(), "vocabulary_size": self.vocabulary_size, "weight": self.weight}
