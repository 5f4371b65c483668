"""Level 1: keras-hub's Transformer decoder layer, able to hand back its cross-attention weights.

`keras_hub.layers.TransformerDecoder` returns its caches but never the
cross-attention weights of a full (teacher-forced) pass; decoding steps get
theirs from `transformer_step.decode_position`. Keras documents
`MultiHeadAttention._compute_attention` as the method to override for a
custom attention; this layer wraps it for one call to keep the weights it
computes, so the math is keras-hub's own (the tests check the decoding
steps' weights against it).
"""

import keras
import keras_hub


@keras.saving.register_keras_serializable(package="kseq2seq")
class TransformerDecoderLayer(keras_hub.layers.TransformerDecoder):
    """`keras_hub.layers.TransformerDecoder`; `return_cross_attention=True` adds the cross-attention weights.

    With it, the call returns the layer's usual outputs (a tuple when
    caches are given) followed by the weights `[batch, heads, T, S]`.

    Example:

    >>> layer = TransformerDecoderLayer(intermediate_dim=16, num_heads=2)
    >>> x, memory = np.ones((1, 3, 8), "float32"), np.ones((1, 5, 8), "float32")
    >>> outputs, weights = layer(x, memory, return_cross_attention=True)
    >>> tuple(weights.shape)
    (1, 2, 3, 5)
    """

    def call(self, decoder_sequence, encoder_sequence=None, return_cross_attention=False, **kwargs):
        if not return_cross_attention:
            return super().call(decoder_sequence, encoder_sequence, **kwargs)
        attention = self._cross_attention_layer
        compute = attention._compute_attention
        recorded = []

        def recording(*args, **options):
            output, scores = compute(*args, **{**options, "return_attention_scores": True})
            recorded.append(scores)
            return output, scores

        object.__setattr__(attention, "_compute_attention", recording)
        try:
            outputs = super().call(decoder_sequence, encoder_sequence, **kwargs)
        finally:
            object.__delattr__(attention, "_compute_attention")
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        return (*outputs, recorded[0])
