"""Level 2: the speech backbone (listen, attend and spell): waveform -> log-mel -> listener -> attention decoder."""

import keras
import tensorflow as tf

from kseq2seq.layers.audio import LogMelSpectrogram, SpecAugment, WaveformAugment
from kseq2seq.layers.audio_encoders import SpeechEncoder
from kseq2seq.layers.ctc import CTCHead
from kseq2seq.layers.decoders import AttentionDecoder
from kseq2seq.layers.padding import mask_input
from kseq2seq.models.backbone import Backbone
from kseq2seq.utils import constructor_args, set_dtype_policy


@keras.saving.register_keras_serializable(package="kseq2seq")
class SpeechBackbone(Backbone):
    """Log-mel front end + `SpeechEncoder` + `AttentionDecoder`, trained with teacher forcing.

    Inputs: `{"waveform": float [batch, samples] at sample_rate, "waveform_padding_mask":
    bool [batch, samples], "decoder_token_ids": [batch, T], "decoder_padding_mask"}`;
    a caller may leave the waveform mask out (every sample is then real, as
    for the batch-1 TFLite model). Output: logits `[batch, T, vocabulary]`.
    The features are computed inside the model, so every export takes a
    waveform; while training only, `gain_db`/`noise_snr_db` augment the
    waveform (`WaveformAugment`), `frequency_warp` warps each spectrum
    (`LogMelSpectrogram`) and SpecAugment masks the features. `ctc_weight`
    > 0 adds a CTC loss on the listener's outputs to the decoder's
    (`kseq2seq.layers.ctc.CTCHead`, training only; its projection is kept
    in the saved model but used by no export).

    Example:

    >>> backbone = SpeechBackbone(target_vocabulary_size=14, units=16, filters=16, num_mel_bins=20)
    >>> logits = backbone({"waveform": np.zeros((2, 4000), "float32"),
    ...                    "decoder_token_ids": np.ones((2, 3), "int32")})
    >>> tuple(logits.shape)
    (2, 3, 14)
    """

    def __init__(self, target_vocabulary_size, sample_rate=8000, num_mel_bins=40, frame_length_ms=25.0,
                 frame_step_ms=10.0, filters=128, num_conv_layers=2, units=128, num_encoder_layers=2, pyramid=False,
                 cell_type="gru", embedding_dim=64, attention="bahdanau", dropout=0.0, time_masks=0,
                 time_mask_width=10, frequency_masks=0, frequency_mask_width=6, gain_db=None, noise_snr_db=None,
                 frequency_warp=None, ctc_weight=0.0, dtype=None, **kwargs):
        # === Layers ===
        self.waveform_augment = WaveformAugment(gain_db, noise_snr_db, dtype=dtype, name="waveform_augment")
        self.features = LogMelSpectrogram(sample_rate, frame_length_ms, frame_step_ms, num_mel_bins=num_mel_bins,
                                          frequency_warp=frequency_warp, dtype=dtype, name="log_mel")
        self.spec_augment = SpecAugment(time_masks, time_mask_width, frequency_masks, frequency_mask_width,
                                        dtype=dtype, name="spec_augment")
        self.encoder = SpeechEncoder(filters, num_conv_layers, units, cell_type, num_encoder_layers, pyramid, dropout,
                                     dtype=dtype, name="encoder")
        self.decoder = AttentionDecoder(target_vocabulary_size, embedding_dim, units, cell_type=cell_type,
                                        attention=attention, dropout=dropout, dtype=dtype, name="decoder")
        # Created only when on, so that models saved without it load unchanged.
        self.ctc = CTCHead(target_vocabulary_size, ctc_weight, dtype=dtype, name="ctc") if ctc_weight else None
        # === Functional Model ===
        inputs = {
            "waveform": keras.Input(shape=(None,), dtype="float32", name="waveform"),
            "waveform_padding_mask": mask_input("waveform_padding_mask"),
            "decoder_token_ids": keras.Input(shape=(None,), dtype="int32", name="decoder_token_ids"),
            "decoder_padding_mask": mask_input("decoder_padding_mask"),
        }
        values, states, mask = self._listen(inputs["waveform"], inputs["waveform_padding_mask"], augment=True)
        logits = self.decoder(inputs["decoder_token_ids"], values, states, encoder_padding_mask=mask,
                              decoder_padding_mask=inputs["decoder_padding_mask"])
        if self.ctc is not None:
            logits = self.ctc(logits, values, mask, inputs["decoder_token_ids"], inputs["decoder_padding_mask"])
        super().__init__(inputs=inputs, outputs=logits, dtype=dtype, **kwargs)
        set_dtype_policy(self, dtype)
        # === Config ===
        self.target_vocabulary_size = target_vocabulary_size
        self.sample_rate = sample_rate
        self.num_mel_bins = num_mel_bins
        self.frame_length_ms = frame_length_ms
        self.frame_step_ms = frame_step_ms
        self.filters = filters
        self.num_conv_layers = num_conv_layers
        self.units = units
        self.num_encoder_layers = num_encoder_layers
        self.pyramid = pyramid
        self.cell_type = cell_type
        self.embedding_dim = embedding_dim
        self.attention = attention
        self.dropout = dropout
        self.time_masks = time_masks
        self.time_mask_width = time_mask_width
        self.frequency_masks = frequency_masks
        self.frequency_mask_width = frequency_mask_width
        self.gain_db = gain_db
        self.noise_snr_db = noise_snr_db
        self.frequency_warp = frequency_warp
        self.ctc_weight = ctc_weight

    def _listen(self, waveform, waveform_mask, augment=False):
        if augment:
            waveform = self.waveform_augment(waveform, waveform_mask)
        features, frame_mask = self.features(waveform, waveform_mask)
        if augment:
            features = self.spec_augment(features, frame_mask)
        return self.encoder(features, frame_mask)

    def __call__(self, inputs, *args, **kwargs):
        if isinstance(inputs, dict) and inputs.get("waveform_padding_mask") is None and "waveform" in inputs:
            inputs = {name: tf.convert_to_tensor(value) for name, value in inputs.items() if value is not None}
            inputs["waveform_padding_mask"] = tf.ones_like(inputs["waveform"], dtype=tf.bool)
        return super().__call__(inputs, *args, **kwargs)

    def encode(self, encoder_inputs):
        """Listens once, for decoding: `(memory, decoder_state)` (see `Seq2SeqBackbone.encode`)."""
        if not isinstance(encoder_inputs, dict):
            encoder_inputs = {"waveform": encoder_inputs}
        values, states, mask = self._listen(encoder_inputs["waveform"], encoder_inputs.get("waveform_padding_mask"))
        return self.decoder.memory(values, mask), self.decoder.initial_state(states, values)

    def log_mel(self, waveform):
        """The model's features of one waveform (floats at `sample_rate`): `[frames, mel bins]` (for plots)."""
        features, _ = self.features(tf.constant(waveform, tf.float32)[tf.newaxis])
        return features[0].numpy()

    @property
    def reductions(self):
        return self.encoder.reductions

    @classmethod
    def from_preset_config(cls, config, preprocessor):
        return cls(preprocessor.target_tokenizer.vocabulary_size, **constructor_args(cls, config))

    def get_config(self):
        names = ("target_vocabulary_size", "sample_rate", "num_mel_bins", "frame_length_ms", "frame_step_ms",
                 "filters", "num_conv_layers", "units", "num_encoder_layers", "pyramid", "cell_type",
                 "embedding_dim", "attention", "dropout", "time_masks", "time_mask_width", "frequency_masks",
                 "frequency_mask_width", "gain_db", "noise_snr_db", "frequency_warp", "ctc_weight")
        return {**super().get_config(), **{name: getattr(self, name) for name in names}}
