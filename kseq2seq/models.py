"""Level 2: backbones, functional encoder-decoder graphs from token ids to logits."""

import keras
from keras import ops

from kseq2seq.layers.decoders import AttentionDecoder
from kseq2seq.layers.encoders import RNNEncoder
from kseq2seq.layers.image_encoders import ConvGridEncoder, PretrainedGridEncoder
from kseq2seq.layers.luong_decoder import LuongDecoder
from kseq2seq.layers.pointer_generator import PointerGeneratorDecoder
from kseq2seq.utils import check_bool, set_dtype_policy


@keras.saving.register_keras_serializable(package="kseq2seq")
class Seq2SeqBackbone(keras.Model):
    """RNN encoder + attention decoder, trained with teacher forcing.

    Inputs: `{"encoder_token_ids": [batch, S], "decoder_token_ids": [batch, T]}`
    (int32, 0 = padding). Output: logits `[batch, T, target_vocabulary_size]`.
    The padding mask is derived once from the encoder ids and handed to every
    layer that needs it.

    With `pointer_generator=True` the decoder can copy source words
    (`PointerGeneratorDecoder`): the model takes a third input,
    `encoder_extended_ids` (from a preprocessor with `copy_source_words=True`),
    and outputs log-probabilities over the extended vocabulary
    `[batch, T, target_vocabulary_size + source unknown words]`. `coverage`
    and `coverage_loss_weight` configure its coverage mechanism.

    `input_feeding=False` swaps in `LuongDecoder`: attention after the RNN,
    so training runs the RNN over the whole target at once (faster; the
    context no longer feeds the next step).

    `output_reads_context=False` makes the input-feeding decoder's vocabulary
    projection read the decoder state `s_t` alone instead of `[s_t; c_t]`
    (the TensorFlow tutorial's model; fewer FLOPs per token).

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
        pointer_generator=False,
        coverage=False,
        coverage_loss_weight=1.0,
        input_feeding=True,
        output_reads_context=True,
        dtype=None,
        **kwargs,
    ):
        # The backbone branches on these flags, so it checks them before any layer sees them.
        for name, flag in [("pointer_generator", pointer_generator), ("coverage", coverage),
                           ("input_feeding", input_feeding), ("output_reads_context", output_reads_context)]:
            check_bool(name, flag)
        if coverage and not pointer_generator:
            raise ValueError("Expected pointer_generator=True with coverage=True. Received: pointer_generator=False")
        if pointer_generator and not input_feeding:
            raise ValueError("Expected input_feeding=True with pointer_generator=True. Received: input_feeding=False")
        if not output_reads_context and not input_feeding:
            # The Luong decoder's output is its attentional vector, tanh(W_c [c_t; h_t]), by definition.
            raise ValueError("Expected input_feeding=True with output_reads_context=False. "
                             "Received: input_feeding=False")
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
        decoder_args = dict(cell_type=cell_type, attention=attention, dropout=dropout, dtype=dtype, name="decoder")
        if pointer_generator:
            self.decoder = PointerGeneratorDecoder(
                target_vocabulary_size, embedding_dim, units, coverage=coverage,
                coverage_loss_weight=coverage_loss_weight, output_reads_context=output_reads_context, **decoder_args
            )
        elif input_feeding:
            self.decoder = AttentionDecoder(target_vocabulary_size, embedding_dim, units,
                                            output_reads_context=output_reads_context, **decoder_args)
        else:
            self.decoder = LuongDecoder(target_vocabulary_size, embedding_dim, units, **decoder_args)

        # === Functional Model ===
        inputs = {
            "encoder_token_ids": keras.Input(shape=(None,), dtype="int32", name="encoder_token_ids"),
            "decoder_token_ids": keras.Input(shape=(None,), dtype="int32", name="decoder_token_ids"),
        }
        if pointer_generator:
            inputs["encoder_extended_ids"] = keras.Input(shape=(None,), dtype="int32", name="encoder_extended_ids")
        encoder_padding_mask = ops.not_equal(inputs["encoder_token_ids"], 0)
        values, states = self.encoder(inputs["encoder_token_ids"], encoder_padding_mask=encoder_padding_mask)
        if pointer_generator:
            outputs = self.decoder(inputs["decoder_token_ids"], values, states, inputs["encoder_extended_ids"],
                                   encoder_padding_mask=encoder_padding_mask)
        else:
            outputs = self.decoder(inputs["decoder_token_ids"], values, states,
                                   encoder_padding_mask=encoder_padding_mask)
        super().__init__(inputs=inputs, outputs=outputs, dtype=dtype, **kwargs)
        set_dtype_policy(self, dtype)

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
        self.pointer_generator = pointer_generator
        self.coverage = coverage
        self.coverage_loss_weight = coverage_loss_weight
        self.input_feeding = input_feeding
        self.output_reads_context = output_reads_context

    def encode(self, encoder_inputs):
        """Runs the encoder once, for decoding.

        `encoder_inputs`: `encoder_token_ids` `[batch, S]`, or a dict of the
        encoder inputs (`encoder_token_ids`, and `encoder_extended_ids` for a
        pointer-generator). Returns `(memory, decoder_state)`: `memory` is the
        dict of per-source tensors `step` needs (`values`, `keys`,
        `encoder_padding_mask`, ...), all batch-first.
        """
        if not isinstance(encoder_inputs, dict):
            encoder_inputs = {"encoder_token_ids": encoder_inputs}
        if self.pointer_generator and "encoder_extended_ids" not in encoder_inputs:
            raise ValueError("Expected encoder_inputs with 'encoder_extended_ids' for a pointer-generator. "
                             f"Received keys: {sorted(encoder_inputs)}")
        token_ids = encoder_inputs["encoder_token_ids"]
        encoder_padding_mask = ops.not_equal(token_ids, 0)
        values, states = self.encoder(token_ids, encoder_padding_mask=encoder_padding_mask)
        memory = {
            "values": values,
            "keys": self.decoder.attention.project_keys(values),
            "encoder_padding_mask": encoder_padding_mask,
        }
        if self.pointer_generator:
            memory["encoder_extended_ids"] = encoder_inputs["encoder_extended_ids"]
        return memory, self.decoder.initial_state(states, values)

    def step(self, token_ids, state, memory):
        """One decoding step: `(logits [batch, vocab], state, attention weights [batch, S])`."""
        return self.decoder.step(token_ids, state, **memory)

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            # The mixed-precision policy the layers were built with (Keras layers save theirs the same way).
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
            "source_vocabulary_size": self.source_vocabulary_size,
            "target_vocabulary_size": self.target_vocabulary_size,
            "embedding_dim": self.embedding_dim,
            "units": self.units,
            "cell_type": self.cell_type,
            "bidirectional": self.bidirectional,
            "num_encoder_layers": self.num_encoder_layers,
            "attention": self.attention,
            "dropout": self.dropout,
            "pointer_generator": self.pointer_generator,
            "coverage": self.coverage,
            "coverage_loss_weight": self.coverage_loss_weight,
            "input_feeding": self.input_feeding,
            "output_reads_context": self.output_reads_context,
        }


@keras.saving.register_keras_serializable(package="kseq2seq")
class CaptionBackbone(keras.Model):
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
        }
        values, state = self.image_encoder(inputs["images"])
        logits = self.decoder(inputs["decoder_token_ids"], values, self._states(state))
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
        memory = {"values": values, "keys": self.decoder.attention.project_keys(values)}
        return memory, self.decoder.initial_state(self._states(state), values)

    def step(self, token_ids, state, memory):
        return self.decoder.step(token_ids, state, **memory)

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            # The mixed-precision policy the layers were built with (Keras layers save theirs the same way).
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
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
