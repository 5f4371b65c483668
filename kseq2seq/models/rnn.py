"""Level 2: the text backbone: RNN encoder + attention decoder, from token ids to logits."""

import keras

from kseq2seq.layers.decoders import AttentionDecoder
from kseq2seq.layers.encoders import RNNEncoder
from kseq2seq.layers.luong_decoder import LuongDecoder
from kseq2seq.layers.padding import mask_input, padding_mask
from kseq2seq.layers.pointer_generator import PointerGeneratorDecoder
from kseq2seq.models.backbone import Backbone
from kseq2seq.utils import check_bool, constructor_args, set_dtype_policy


@keras.saving.register_keras_serializable(package="kseq2seq")
class Seq2SeqBackbone(Backbone):
    """RNN encoder + attention decoder, trained with teacher forcing.

    Inputs: `{"encoder_token_ids": [batch, S], "decoder_token_ids": [batch, T]}`
    (int32, 0 = padding), with the preprocessor's `encoder_padding_mask` and
    `decoder_padding_mask` (bool; a call may leave them out, and they are then
    read off the ids). Output: logits `[batch, T, target_vocabulary_size]`. The masks are
    handed to every layer that needs them.

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
    `attentional_layer=True` makes it feed and project Luong's attentional
    vector `tanh(W_c [c_t; s_t])` instead of `c_t` (OpenNMT's RNN decoder).

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
        attentional_layer=False,
        dtype=None,
        **kwargs,
    ):
        # The backbone branches on these flags, so it checks them before any layer sees them.
        for name, flag in [("pointer_generator", pointer_generator), ("coverage", coverage),
                           ("input_feeding", input_feeding), ("output_reads_context", output_reads_context),
                           ("attentional_layer", attentional_layer)]:
            check_bool(name, flag)
        if coverage and not pointer_generator:
            raise ValueError("Expected pointer_generator=True with coverage=True. Received: pointer_generator=False")
        if pointer_generator and not input_feeding:
            raise ValueError("Expected input_feeding=True with pointer_generator=True. Received: input_feeding=False")
        if not output_reads_context and not input_feeding:
            # The Luong decoder's output is its attentional vector, tanh(W_c [c_t; h_t]), by definition.
            raise ValueError("Expected input_feeding=True with output_reads_context=False. "
                             "Received: input_feeding=False")
        if attentional_layer and not input_feeding:
            # The whole-sequence Luong decoder always has the attentional layer; the flag is the input-feeding one's.
            raise ValueError("Expected input_feeding=True with attentional_layer=True. Received: input_feeding=False")
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
                coverage_loss_weight=coverage_loss_weight, output_reads_context=output_reads_context,
                attentional_layer=attentional_layer, **decoder_args
            )
        elif input_feeding:
            self.decoder = AttentionDecoder(target_vocabulary_size, embedding_dim, units,
                                            output_reads_context=output_reads_context,
                                            attentional_layer=attentional_layer, **decoder_args)
        else:
            self.decoder = LuongDecoder(target_vocabulary_size, embedding_dim, units, **decoder_args)

        # === Functional Model ===
        inputs = {
            "encoder_token_ids": keras.Input(shape=(None,), dtype="int32", name="encoder_token_ids"),
            "encoder_padding_mask": mask_input("encoder_padding_mask"),
            "decoder_token_ids": keras.Input(shape=(None,), dtype="int32", name="decoder_token_ids"),
            "decoder_padding_mask": mask_input("decoder_padding_mask"),
        }
        if pointer_generator:
            inputs["encoder_extended_ids"] = keras.Input(shape=(None,), dtype="int32", name="encoder_extended_ids")
        masks = {name: inputs[name] for name in ("encoder_padding_mask", "decoder_padding_mask")}
        values, states = self.encoder(inputs["encoder_token_ids"], encoder_padding_mask=masks["encoder_padding_mask"])
        copy_ids = [inputs["encoder_extended_ids"]] if pointer_generator else []
        outputs = self.decoder(inputs["decoder_token_ids"], values, states, *copy_ids, **masks)
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
        self.attentional_layer = attentional_layer

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
        encoder_padding_mask = padding_mask(token_ids, encoder_inputs.get("encoder_padding_mask"))
        values, states = self.encoder(token_ids, encoder_padding_mask=encoder_padding_mask)
        memory = self.decoder.memory(values, encoder_padding_mask)
        if self.pointer_generator:
            memory["encoder_extended_ids"] = encoder_inputs["encoder_extended_ids"]
        return memory, self.decoder.initial_state(states, values)

    @classmethod
    def from_preset_config(cls, config, preprocessor):
        return cls(preprocessor.source_tokenizer.vocabulary_size, preprocessor.target_tokenizer.vocabulary_size,
                   **constructor_args(cls, config))

    def get_config(self):
        return {
            **super().get_config(),
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
            "attentional_layer": self.attentional_layer,
        }


