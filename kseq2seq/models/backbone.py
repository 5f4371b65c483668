"""Level 2: the interface every backbone shares, so tasks and decoding never depend on one.

A backbone is a functional Keras model from the preprocessor's inputs
(`encoder_token_ids` or `images`, ..., and `decoder_token_ids`) to logits
over the target vocabulary, trained with teacher forcing. For decoding it
also offers:

- `encode(encoder_inputs) -> (memory, state)`: the encoder, run once;
  `memory` holds the per-source tensors every step reads (batch-first),
  `state` the decoder's initial state;
- `step(token_ids, state, memory) -> (logits, state, attention weights)`.

`kseq2seq.decoding.decode` takes both and tiles the memory for beams
itself. `from_preset_config(config, preprocessor)` builds one from a preset.
"""

import keras

from kseq2seq.layers.padding import OptionalMasks


class Backbone(OptionalMasks, keras.Model):
    """Base of the backbones; see the module docstring."""

    @classmethod
    def from_preset_config(cls, config, preprocessor):
        raise NotImplementedError

    def encode(self, encoder_inputs):
        raise NotImplementedError

    def step(self, token_ids, state, memory):
        """One decoding step: `(logits [batch, vocab], state, attention weights [batch, S])`."""
        return self.decoder.step(token_ids, state, **memory)

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            # The mixed-precision policy the layers were built with (Keras layers save theirs the same way).
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
        }
