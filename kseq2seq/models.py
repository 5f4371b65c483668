"""Level 2: backbones, functional encoder-decoder graphs from token ids to logits."""

import keras
from keras import ops

from kseq2seq.layers.decoders import AttentionDecoder
from kseq2seq.layers.encoders import RNNEncoder


@keras.saving.register_keras_serializable(package="kseq2seq")
class Seq2SeqBackbone(keras.Model):
    """RNN encoder + attention decoder, trained with teacher forcing.

    Inputs: `{"encoder_token_ids": [batch, S], "decoder_token_ids": [batch, T]}`
    (int32, 0 = padding). Output: logits `[batch, T, target_vocabulary_size]`.
    The padding mask is derived once from the encoder ids and handed to every
    layer that needs it.

    Example:

    >>> backbone = Seq2SeqBackbone(source_vocabulary_size=20, target_vocabulary_size=12,
    ...                            embedding_dim=8, units=16)
    >>> logits = backbone({"encoder_token_ids": np.ones((2, 5), "int32"),
    ...                    "decoder_token_ids": np.ones((2, 3), "int32")})
    >>> tuple(logits.shape)
    (2, 3, 12)
    """

    def __init__(
        self,
        source_vocabulary_size,
        target_vocabulary_size,
        embedding_dim=64,
        units=128,
        cell_type="gru",
        bidirectional=True,
        num_encoder_layers=1,
        attention="bahdanau",
        dropout=0.0,
        dtype=None,
        **kwargs,
    ):
        # === Layers ===
        self.encoder = RNNEncoder(
            source_vocabulary_size,
            embedding_dim,
            units,
            cell_type=cell_type,
            bidirectional=bidirectional,
            num_layers=num_encoder_layers,
            dropout=dropout,
            dtype=dtype,
            name="encoder",
        )
        self.decoder = AttentionDecoder(
            target_vocabulary_size,
            embedding_dim,
            units,
            cell_type=cell_type,
            attention=attention,
            dropout=dropout,
            dtype=dtype,
            name="decoder",
        )

        # === Functional Model ===
        encoder_token_ids = keras.Input(shape=(None,), dtype="int32", name="encoder_token_ids")
        decoder_token_ids = keras.Input(shape=(None,), dtype="int32", name="decoder_token_ids")
        encoder_padding_mask = ops.not_equal(encoder_token_ids, 0)
        values, states = self.encoder(encoder_token_ids, encoder_padding_mask=encoder_padding_mask)
        logits = self.decoder(decoder_token_ids, values, states, encoder_padding_mask=encoder_padding_mask)
        super().__init__(
            inputs={"encoder_token_ids": encoder_token_ids, "decoder_token_ids": decoder_token_ids},
            outputs=logits,
            dtype=dtype,
            **kwargs,
        )

        # === Config ===
        self.source_vocabulary_size = source_vocabulary_size
        self.target_vocabulary_size = target_vocabulary_size
        self.embedding_dim = embedding_dim
        self.units = units
        self.cell_type = cell_type
        self.bidirectional = bidirectional
        self.num_encoder_layers = num_encoder_layers
        self.attention = attention
        self.dropout = dropout

    def encode(self, encoder_token_ids):
        """Runs the encoder once: returns `(values, keys, decoder_state, encoder_padding_mask)`."""
        encoder_padding_mask = ops.not_equal(encoder_token_ids, 0)
        values, states = self.encoder(encoder_token_ids, encoder_padding_mask=encoder_padding_mask)
        keys = self.decoder.attention.project_keys(values)
        return values, keys, self.decoder.initial_state(states, values), encoder_padding_mask

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "source_vocabulary_size": self.source_vocabulary_size,
            "target_vocabulary_size": self.target_vocabulary_size,
            "embedding_dim": self.embedding_dim,
            "units": self.units,
            "cell_type": self.cell_type,
            "bidirectional": self.bidirectional,
            "num_encoder_layers": self.num_encoder_layers,
            "attention": self.attention,
            "dropout": self.dropout,
        }
