"""Level 2: the Transformer text backbone, on keras-hub's layers, with cached incremental decoding."""

import keras
import keras_hub
import tensorflow as tf

from kseq2seq.decoding.shapes import dynamic_shapes
from kseq2seq.layers.padding import mask_input, padding_mask
from kseq2seq.layers.transformer import TransformerDecoderLayer
from kseq2seq.layers.transformer_step import decode_position
from kseq2seq.models.backbone import Backbone
from kseq2seq.utils import check_bool, check_positive_int, constructor_args, set_dtype_policy


@keras.saving.register_keras_serializable(package="kseq2seq")
class TransformerBackbone(Backbone):
    """Transformer encoder-decoder (Vaswani et al., 2017) from `keras_hub.layers`, trained with teacher forcing.

    Inputs and output as `Seq2SeqBackbone`'s: `encoder_token_ids`,
    `decoder_token_ids` and their padding masks -> logits
    `[batch, T, target_vocabulary_size]`. Learned position embeddings cover
    `max_source_length` source and `max_target_length` target positions;
    the decoder's self-attention is causal.

    Decoding (`encode`, `step`) is incremental: the source's cross-attention
    keys and values are projected once, in `encode`, and every step appends
    its own keys and values to a self-attention cache of `max_target_length`
    positions that the decoding strategies carry as state (beam search
    reorders it with the beams). A step costs one position, not the prefix.

    Args:
        num_layers: encoder and decoder layers (each).
        num_heads: attention heads.
        hidden_dim: model width (embeddings, attention, residual stream).
        intermediate_dim: feed-forward width.
        normalize_first: pre-layer-norm (a final layer norm closes each
            stack) instead of the original post-layer-norm.
        tie_embeddings: the output projection is the transpose of the
            target embedding.
        shared_embeddings: the encoder reads the target's token embedding
            too (one table for a joint vocabulary: a preprocessor with
            `joint_vocabulary=True`; the sizes must match); each side keeps
            its own position embedding.
        attention_layer: the decoder layer whose cross-attention weights
            (heads averaged) `step` returns; -1 is the last.

    Example:

    >>> backbone = TransformerBackbone(source_vocabulary_size=20, target_vocabulary_size=12, num_layers=1,
    ...                                num_heads=2, hidden_dim=8, intermediate_dim=16)
    >>> logits = backbone({"encoder_token_ids": np.ones((2, 5), "int32"),
    ...                    "decoder_token_ids": np.ones((2, 3), "int32")})
    >>> tuple(logits.shape)
    (2, 3, 12)
    """

    def __init__(self, source_vocabulary_size, target_vocabulary_size, num_layers=3, num_heads=4, hidden_dim=256,
                 intermediate_dim=1024, dropout=0.1, normalize_first=True, tie_embeddings=True,
                 shared_embeddings=False, max_source_length=128, max_target_length=128, attention_layer=-1,
                 dtype=None, **kwargs):
        for name, value in [("num_layers", num_layers), ("num_heads", num_heads), ("hidden_dim", hidden_dim),
                            ("intermediate_dim", intermediate_dim), ("max_source_length", max_source_length),
                            ("max_target_length", max_target_length)]:
            check_positive_int(name, value)
        check_bool("normalize_first", normalize_first)
        check_bool("tie_embeddings", tie_embeddings)
        check_bool("shared_embeddings", shared_embeddings)
        if shared_embeddings and source_vocabulary_size != target_vocabulary_size:
            raise ValueError("Expected one vocabulary size with shared_embeddings=True (a joint vocabulary). "
                             f"Received: source_vocabulary_size={source_vocabulary_size}, "
                             f"target_vocabulary_size={target_vocabulary_size}")
        if hidden_dim % num_heads:
            raise ValueError(f"Expected hidden_dim divisible by num_heads ({num_heads}). "
                             f"Received: hidden_dim={hidden_dim}")
        if isinstance(attention_layer, bool) or not isinstance(attention_layer, int) or \
                not -num_layers <= attention_layer < num_layers:
            raise ValueError(f"Expected attention_layer in [{-num_layers}, {num_layers}). "
                             f"Received: attention_layer={attention_layer!r}")
        # === Layers ===
        layer_args = dict(intermediate_dim=intermediate_dim, num_heads=num_heads, dropout=dropout,
                          normalize_first=normalize_first, dtype=dtype)
        self.decoder_embedding = keras_hub.layers.TokenAndPositionEmbedding(
            target_vocabulary_size, max_target_length, hidden_dim, tie_weights=tie_embeddings, dtype=dtype,
            name="decoder_embedding")
        if shared_embeddings:
            # Built first: the encoder calls its token table before the decoder calls the whole layer.
            self.decoder_embedding.build((None, None))
            self.encoder_embedding = None
            self.encoder_positions = keras_hub.layers.PositionEmbedding(max_source_length, dtype=dtype,
                                                                        name="encoder_positions")
        else:
            self.encoder_embedding = keras_hub.layers.TokenAndPositionEmbedding(
                source_vocabulary_size, max_source_length, hidden_dim, dtype=dtype, name="encoder_embedding")
        self.embedding_dropout = keras.layers.Dropout(dropout, dtype=dtype, name="embedding_dropout")
        self.encoder_layers = [keras_hub.layers.TransformerEncoder(**layer_args, name=f"encoder_layer_{i}")
                               for i in range(num_layers)]
        self.decoder_layers = [TransformerDecoderLayer(**layer_args, name=f"decoder_layer_{i}")
                               for i in range(num_layers)]
        self.encoder_norm = self.decoder_norm = None
        if normalize_first:
            self.encoder_norm = keras.layers.LayerNormalization(epsilon=1e-5, dtype=dtype, name="encoder_norm")
            self.decoder_norm = keras.layers.LayerNormalization(epsilon=1e-5, dtype=dtype, name="decoder_norm")
        self.output_projection = None
        if not tie_embeddings:
            self.output_projection = keras.layers.Dense(target_vocabulary_size, dtype=dtype, name="output_projection")

        # === Functional Model ===
        inputs = {
            "encoder_token_ids": keras.Input(shape=(None,), dtype="int32", name="encoder_token_ids"),
            "encoder_padding_mask": mask_input("encoder_padding_mask"),
            "decoder_token_ids": keras.Input(shape=(None,), dtype="int32", name="decoder_token_ids"),
            "decoder_padding_mask": mask_input("decoder_padding_mask"),
        }
        encoded = self._encode_sequence(inputs["encoder_token_ids"], inputs["encoder_padding_mask"])
        x = self.embedding_dropout(self.decoder_embedding(inputs["decoder_token_ids"]))
        for layer in self.decoder_layers:
            x = layer(x, encoded, decoder_padding_mask=inputs["decoder_padding_mask"],
                      encoder_padding_mask=inputs["encoder_padding_mask"])
        super().__init__(inputs=inputs, outputs=self._logits(x), dtype=dtype, **kwargs)
        set_dtype_policy(self, dtype)

        # === Config ===
        self.source_vocabulary_size = source_vocabulary_size
        self.target_vocabulary_size = target_vocabulary_size
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.dropout = dropout
        self.normalize_first = normalize_first
        self.tie_embeddings = tie_embeddings
        self.shared_embeddings = shared_embeddings
        self.max_source_length = max_source_length
        self.max_target_length = max_target_length
        self.attention_layer = attention_layer

    @property
    def max_decoding_length(self):
        """Tokens a decoding can generate: the target positions the model has embeddings for."""
        return self.max_target_length

    def _embed_source(self, token_ids):
        if self.encoder_embedding is not None:
            return self.encoder_embedding(token_ids)
        tokens = self.decoder_embedding.token_embedding(token_ids)
        return tokens + self.encoder_positions(tokens)

    def _encode_sequence(self, token_ids, mask):
        x = self.embedding_dropout(self._embed_source(token_ids))
        for layer in self.encoder_layers:
            x = layer(x, padding_mask=mask)
        return x if self.encoder_norm is None else self.encoder_norm(x)

    def _logits(self, x):
        if self.decoder_norm is not None:
            x = self.decoder_norm(x)
        if self.output_projection is None:
            return self.decoder_embedding.token_embedding(x, reverse=True)
        return self.output_projection(x)

    def encode(self, encoder_inputs):
        """Runs the encoder once and projects every decoder layer's cross-attention keys and values.

        Returns `(memory, state)`: `memory` holds `encoder_output`
        `[batch, S, hidden]`, `encoder_padding_mask` and, one per layer,
        `cross_keys` and `cross_values` `[batch, heads, S, head_dim]`; `state`
        holds the empty self-attention caches `keys` and `values`, one
        `[batch, heads, positions, head_dim]` per layer (heads before
        positions, so attention products need no transposes), and each row's
        next position `index` `[batch]`. The caches start with no positions
        and grow by one a step where decoding loops may change shapes
        (`decoding.dynamic_shapes()`), so a step's attention and a beam
        reorder cost the positions so far; under XLA and for TFLite they hold
        `max_target_length` positions from the start, written in place.
        """
        if isinstance(encoder_inputs, dict):
            token_ids, mask = encoder_inputs["encoder_token_ids"], encoder_inputs.get("encoder_padding_mask")
        else:
            token_ids, mask = encoder_inputs, None
        mask = padding_mask(token_ids, mask)
        encoded = self._encode_sequence(token_ids, mask)
        batch_size = tf.shape(token_ids)[0]
        head_dim = self.hidden_dim // self.num_heads
        positions = 0 if dynamic_shapes() else self.max_target_length
        empty = tf.zeros([batch_size, self.num_heads, positions, head_dim], encoded.dtype)
        heads_first = lambda dense: tf.transpose(dense(encoded), [0, 2, 1, 3])  # noqa: E731
        memory = {"encoder_output": encoded, "encoder_padding_mask": mask,
                  "cross_keys": tuple(heads_first(layer._cross_attention_layer._key_dense)
                                      for layer in self.decoder_layers),
                  "cross_values": tuple(heads_first(layer._cross_attention_layer._value_dense)
                                        for layer in self.decoder_layers)}
        state = {"keys": (empty,) * self.num_layers, "values": (empty,) * self.num_layers,
                 "index": tf.zeros([batch_size], tf.int32)}
        return memory, state

    def step(self, token_ids, state, memory):
        """One position: `(logits [batch, vocab], state, cross-attention weights [batch, S])`."""
        # Every row of a decoding is at the same position, so the first row's index serves all.
        index = state["index"][0]
        x = self.decoder_embedding(token_ids[:, tf.newaxis], start_index=index)[:, 0]
        chosen = self.attention_layer % self.num_layers
        keys, values = list(state["keys"]), list(state["values"])
        # A full-length cache has max_target_length positions; a growing one has fewer (or, in a loop, any).
        grow = keys[0].shape[2] != self.max_target_length
        for i, layer in enumerate(self.decoder_layers):
            x, keys[i], values[i], layer_weights = decode_position(
                layer, x, keys[i], values[i], memory["cross_keys"][i], memory["cross_values"][i],
                memory["encoder_padding_mask"], index, grow=grow)
            if i == chosen:
                weights = tf.reduce_mean(tf.cast(layer_weights, tf.float32), axis=1)
        state = {"keys": tuple(keys), "values": tuple(values), "index": state["index"] + 1}
        return self._logits(x), state, weights

    @classmethod
    def from_preset_config(cls, config, preprocessor):
        args = constructor_args(cls, config)
        args.setdefault("max_source_length", config["source_length"])
        args.setdefault("max_target_length", max(config["target_length"], config["max_length"]))
        return cls(preprocessor.source_tokenizer.vocabulary_size, preprocessor.target_tokenizer.vocabulary_size,
                   **args)

    def get_config(self):
        return {
            **super().get_config(),
            "source_vocabulary_size": self.source_vocabulary_size,
            "target_vocabulary_size": self.target_vocabulary_size,
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
            "hidden_dim": self.hidden_dim,
            "intermediate_dim": self.intermediate_dim,
            "dropout": self.dropout,
            "normalize_first": self.normalize_first,
            "tie_embeddings": self.tie_embeddings,
            "shared_embeddings": self.shared_embeddings,
            "max_source_length": self.max_source_length,
            "max_target_length": self.max_target_length,
            "attention_layer": self.attention_layer,
        }
