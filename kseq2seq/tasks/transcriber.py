"""Level 3: the speech recognition task: WAV audio in, transcript out (listen, attend and spell)."""

import keras

from kseq2seq.models.speech import SpeechBackbone
from kseq2seq.preprocessors.audio import AudioPreprocessor
from kseq2seq.tasks.task import Seq2SeqTask

_COMMON = {
    "preprocessor": "audio",
    "backbone": "speech_rnn",
    "lowercase": True,
    "max_vocabulary_size": None,
    "min_count": 1,
    "cell_type": "gru",
    "attention": "bahdanau",
    "frame_length_ms": 25.0,
    "frame_step_ms": 10.0,
    "num_conv_layers": 2,
    "pyramid": False,
    "learning_rate": 2e-3,
    "clipnorm": 1.0,
    "sampler": "greedy",
    # Vocal tract length perturbation while training: a range of warp factors, e.g. [0.9, 1.1].
    "frequency_warp": None,
    # The weight of a CTC loss on the listener beside the attention loss (0: none).
    "ctc_weight": 0.0,
}
PRESETS = {
    "las_digits": {
        **_COMMON,
        "description": "Connected spoken digits at 8 kHz (FSDD): 40 log-mel bins, 2 strided convolutions (time / 4), "
        "2 bidirectional GRU 128, GRU 128 decoder with Bahdanau attention over digit words; SpecAugment.",
        "tokenizer": "word", "sample_rate": 8000, "max_seconds": 10.0, "num_mel_bins": 40, "filters": 128,
        "units": 128, "num_encoder_layers": 2, "embedding_dim": 32, "dropout": 0.2,
        "time_masks": 2, "time_mask_width": 8, "frequency_masks": 2, "frequency_mask_width": 6,
        # Gain, noise and speed are drawn by the data loaders when they join recordings into strings.
        "gain_db": None, "noise_snr_db": None,
        "target_length": 10, "max_length": 10, "batch_size": 32, "epochs": 100,
        # Halve the rate after 2 epochs without a better validation loss (`kseq2seq train`).
        "lr_decay_factor": 0.5, "lr_decay_patience": 2,
        # Waveform lengths (samples) at which batches split into buckets of similar duration.
        "bucket_boundaries": [8000, 14000, 20000, 28000],
    },
    "las_digits_small": {
        **_COMMON,
        "description": "The quick demo model for the generated spoken numbers: 32 mel bins, one bidirectional "
        "GRU 96, GRU 96 decoder over digit words.",
        "tokenizer": "word", "sample_rate": 8000, "max_seconds": 10.0, "num_mel_bins": 32, "filters": 96,
        "units": 96, "num_encoder_layers": 1, "embedding_dim": 32, "dropout": 0.1,
        "time_masks": 1, "time_mask_width": 6, "frequency_masks": 1, "frequency_mask_width": 4,
        "gain_db": None, "noise_snr_db": None, "target_length": 10, "max_length": 10, "batch_size": 32, "epochs": 12,
        "bucket_boundaries": [8000, 14000, 20000, 28000],
    },
    "las_characters": {
        **_COMMON,
        "description": "General transcription at 16 kHz (a NeMo manifest): 80 log-mel bins, 2 strided convolutions "
        "and a pyramidal 3-layer bidirectional LSTM 256 (time / 16), LSTM 256 decoder over characters; beam 4.",
        "tokenizer": "char", "sample_rate": 16000, "max_seconds": 20.0, "num_mel_bins": 80, "filters": 256,
        "cell_type": "lstm", "units": 256, "num_encoder_layers": 3, "pyramid": True, "embedding_dim": 64,
        "dropout": 0.2, "time_masks": 2, "time_mask_width": 20, "frequency_masks": 2, "frequency_mask_width": 10,
        "gain_db": [-6.0, 6.0], "noise_snr_db": [10.0, 40.0], "target_length": 200, "max_length": 200,
        "batch_size": 16, "epochs": 30, "bucket_boundaries": None,
        "sampler": "beam", "num_beams": 4, "length_penalty": 0.6,
    },
}


@keras.saving.register_keras_serializable(package="kseq2seq")
class Transcriber(Seq2SeqTask):
    """Transcribes speech: a log-mel listener + an attention speller (Chan et al. 2016, "Listen, Attend and Spell").

    `fit` takes `(audio, transcript)` pairs; `generate` takes a list of WAV
    bytes, WAV file paths or float waveforms at the preset's `sample_rate`.
    WAVs at another rate are resampled in the graph, stereo is averaged; see
    `kseq2seq.preprocessors.audio` for what is refused.

    Example:

    >>> train, val, test = kseq2seq.datasets.spoken_numbers.load_spoken_numbers(num_train=64, num_test=2)
    >>> transcriber = kseq2seq.Transcriber.from_preset("las_digits_small", train_texts=train, units=16)
    >>> history = transcriber.fit(train, epochs=1, verbose=0)
    >>> texts = transcriber.generate([audio for audio, _ in test])
    """

    presets = PRESETS
    preprocessors = {"audio": AudioPreprocessor}
    backbones = {"speech_rnn": SpeechBackbone}
