"""Level 2: the image backbone: grid image encoder + attention decoder (Show, Attend and Tell)."""

import keras

from kseq2seq.layers.decoders import AttentionDecoder
from kseq2seq.layers.image_encoders import ConvGridEncoder, PretrainedGridEncoder
from kseq2seq.layers.padding import mask_input
from kseq2seq.models.backbone import Backbone
from kseq2seq.utils import constructor_args, set_dtype_policy


@keras.saving.register_keras_serializable(package="kseq2seq")
class CaptionBackbone(Backbone):
    """Image grid encoder + attention decoder (Show, Attend and Tell), trained with teacher forcing.

    Inputs: `{"images": float [batch, image_size, image_size, 3] in [0, 1],
    "decoder_token_ids": [batch, T]}`. Output: logits `[batch, T, vocabulary]`.
    The decoder attends over the encoder's grid cells (e.g. 8 x 8) with the
    same attention layers as text models; its state starts from the mean cell.

    Args:
        image_encoder: `"conv"` (a small CNN trained from scratch) or a
            `keras.applications` name from `image_encoders.APPLICATIONS`, whose
            weights come from the local file `image_encoder_weights`.
        attention_regularization: λ of the doubly stochastic attention regularizer (0 = off).
    """

    def __init__(self, target_vocabulary_size, image_size=64, image_encoder="conv", image_encoder_weights=None,
                 trainable_image_encoder=False, filters=64, num_blocks=3, embedding_dim=64, units=256,
                 cell_type="lstm", attention="bahdanau", dropout=0.0, attention_regularization=0.0, dtype=None,
                 **kwargs):
        # === Layers ===
        if image_encoder == "conv":
            self.image_encoder = ConvGridEncoder(filters, num_blocks, dtype=dtype, name="image_encoder")
        else:
            self.image_encoder = PretrainedGridEncoder(image_encoder, image_encoder_weights, image_size,
                                                       trainable_image_encoder, filters, dtype=dtype,
                                                       name="image_encoder")
        self.decoder = AttentionDecoder(target_vocabulary_size, embedding_dim, units, cell_type=cell_type,
                                        attention=attention, dropout=dropout,
                                        attention_regularization=attention_regularization, dtype=dtype,
                                        name="decoder")
        # === Functional Model ===
        inputs = {
            "images": keras.Input(shape=(image_size, image_size, 3), dtype="float32", name="images"),
            "decoder_token_ids": keras.Input(shape=(None,), dtype="int32", name="decoder_token_ids"),
            "decoder_padding_mask": mask_input("decoder_padding_mask"),
        }
        values, state = self.image_encoder(inputs["images"])
        logits = self.decoder(inputs["decoder_token_ids"], values, self._states(state),
                              decoder_padding_mask=inputs["decoder_padding_mask"])
        super().__init__(inputs=inputs, outputs=logits, dtype=dtype, **kwargs)
        set_dtype_policy(self, dtype)
        # === Config ===
        self.target_vocabulary_size = target_vocabulary_size
        self.image_size = image_size
        self.image_encoder_name = image_encoder
        self.image_encoder_weights = image_encoder_weights
        self.trainable_image_encoder = trainable_image_encoder
        self.filters = filters
        self.num_blocks = num_blocks
        self.embedding_dim = embedding_dim
        self.units = units
        self.cell_type = cell_type
        self.attention = attention
        self.dropout = dropout
        self.attention_regularization = attention_regularization

    def _states(self, state):
        return [state, state] if self.decoder.cell_type == "lstm" else [state]

    def encode(self, encoder_inputs):
        """Encodes images once, for decoding: `(memory, decoder_state)` (see `Seq2SeqBackbone.encode`)."""
        images = encoder_inputs["images"] if isinstance(encoder_inputs, dict) else encoder_inputs
        values, state = self.image_encoder(images)
        return self.decoder.memory(values), self.decoder.initial_state(self._states(state), values)

    @classmethod
    def from_preset_config(cls, config, preprocessor):
        return cls(preprocessor.target_tokenizer.vocabulary_size, **constructor_args(cls, config))

    def get_config(self):
        return {
            **super().get_config(),
            "target_vocabulary_size": self.target_vocabulary_size,
            "image_size": self.image_size,
            "image_encoder": self.image_encoder_name,
            "image_encoder_weights": self.image_encoder_weights,
            "trainable_image_encoder": self.trainable_image_encoder,
            "filters": self.filters,
            "num_blocks": self.num_blocks,
            "embedding_dim": self.embedding_dim,
            "units": self.units,
            "cell_type": self.cell_type,
            "attention": self.attention,
            "dropout": self.dropout,
            "attention_regularization": self.attention_regularization,
        }
