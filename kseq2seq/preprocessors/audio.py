"""Level 2: WAV bytes (+ transcripts) -> waveforms at the model's rate, inside the tf.data / serving graph.

Inputs are WAV files as bytes (16-bit PCM, what `tf.audio.decode_wav`
reads), so an exported SavedModel takes what a client has on disk. In the
graph each is decoded, its channels averaged (stereo is downmixed), resampled
to `sample_rate` when its rate differs (band-limited, by FFT: `resample`),
and cut to `max_seconds`. `prepare` (Python, before the graph: `generate`,
`fit` on lists) reads file paths, turns float waveforms at `sample_rate` into
16-bit WAV bytes, and refuses, naming the input: what is not a 16-bit PCM
WAV, empty audio, digital silence (every sample 0), audio shorter than one
analysis frame and audio longer than `max_seconds`.
"""

import io
import os
import wave

import keras
import numpy as np
import tensorflow as tf

from kseq2seq.preprocessors.base import Preprocessor, as_batch
from kseq2seq.tokenizers import get_tokenizer_class
from kseq2seq.utils import check_positive_int

MIN_SECONDS = 0.025


def resample(waveform, rate_in, rate_out):
    """A 1-D float waveform at `rate_in` -> at `rate_out` (int tensors or ints), by FFT (band-limited).

    The spectrum is cut (or zero-padded) at the lower Nyquist frequency, as
    `scipy.signal.resample` does; the input is taken as periodic, so the ends
    may ring slightly.
    """
    n = tf.shape(waveform)[0]
    m = tf.cast(tf.round(tf.cast(n, tf.float64) * tf.cast(rate_out, tf.float64) / tf.cast(rate_in, tf.float64)),
                tf.int32)
    spectrum = tf.signal.rfft(waveform)
    keep = tf.minimum(n, m) // 2 + 1
    spectrum = tf.pad(spectrum[:keep], [[0, m // 2 + 1 - keep]])
    return tf.signal.irfft(spectrum, fft_length=[m]) * (tf.cast(m, tf.float32) / tf.cast(n, tf.float32))


def wav_bytes(samples, sample_rate):
    """Float samples in [-1, 1] (`[n]` or `[n, channels]`) -> 16-bit PCM WAV bytes."""
    samples = np.asarray(samples, dtype=np.float32)
    samples = samples[:, None] if samples.ndim == 1 else samples
    # The inverse of `read_wav`'s / 32768, so that samples read from a 16-bit WAV are written back unchanged.
    pcm = np.clip(np.round(samples * 32768.0), -32768, 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as f:
        f.setnchannels(samples.shape[1])
        f.setsampwidth(2)
        f.setframerate(int(sample_rate))
        f.writeframes(pcm.tobytes())
    return buffer.getvalue()


def read_wav(data, name="inputs[0]"):
    """`(float32 samples [n, channels], sample_rate)` of 16-bit PCM WAV bytes; errors name `name`."""
    try:
        with wave.open(io.BytesIO(data), "rb") as f:
            width, channels, rate, frames = f.getsampwidth(), f.getnchannels(), f.getframerate(), f.readframes(-1)
    except (wave.Error, EOFError) as error:
        reason = f" ({error})" if str(error) else ""
        raise ValueError(f"Expected {name} to be a WAV file (RIFF/WAVE, 16-bit PCM). "
                         f"Received: {len(data)} bytes starting {data[:12]!r}{reason}") from None
    if width != 2:
        raise ValueError(f"Expected {name} to be 16-bit PCM WAV. Received: {8 * width}-bit samples")
    samples = np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0
    return samples.reshape(-1, channels), rate


@keras.saving.register_keras_serializable(package="kseq2seq")
class AudioPreprocessor(Preprocessor):
    """`(WAV bytes, transcript)` -> `({"waveform", "waveform_padding_mask", "decoder_token_ids"}, labels)`.

    Args:
        target_tokenizer: the transcript tokenizer (characters, words, WordPiece).
        sample_rate: the model's rate; other rates are resampled in the graph.
        max_seconds: longer audio is refused by `prepare` and cut in the graph.
    """

    encoder_input_names = ("waveform",)
    input_kind = "audio"

    def __init__(self, target_tokenizer, sample_rate=8000, max_seconds=10.0, target_length=32, **kwargs):
        super().__init__(target_tokenizer, target_length, **kwargs)
        self.sample_rate = check_positive_int("sample_rate", sample_rate, minimum=1000)
        if not (isinstance(max_seconds, (int, float)) and max_seconds > MIN_SECONDS):
            raise ValueError(f"Expected max_seconds > {MIN_SECONDS}. Received: max_seconds={max_seconds!r}")
        self.max_seconds = float(max_seconds)

    @property
    def max_samples(self):
        return int(self.max_seconds * self.sample_rate)

    @classmethod
    def from_data(cls, sources, targets, config):
        """A vocabulary (characters by default) learned from the training transcripts."""
        tokenizer = get_tokenizer_class(config.get("tokenizer", "char")).from_texts(
            targets, max_vocabulary_size=config.get("max_vocabulary_size"), min_count=config.get("min_count", 1),
            lowercase=config.get("lowercase", True), name="target_tokenizer")
        return cls(tokenizer, sample_rate=config["sample_rate"], max_seconds=config["max_seconds"],
                   target_length=config["target_length"])

    # --- Python side ----------------------------------------------------
    def prepare(self, inputs):
        return [self.check_audio(audio, f"inputs[{i}]") for i, audio in enumerate(inputs)]

    def check_audio(self, audio, name):
        """WAV bytes of one input (bytes, a WAV file path, or float samples at `sample_rate`), checked."""
        if isinstance(audio, str):
            if not os.path.isfile(audio):
                raise ValueError(f"Expected {name} to be WAV bytes, a WAV file path or float samples. "
                                 f"Received: {audio[:80]!r} (no such file)")
            name = f"{name} ({audio})"
            with open(audio, "rb") as f:
                audio = f.read()
        elif not isinstance(audio, bytes):
            samples = np.asarray(audio)
            if samples.ndim not in (1, 2) or not np.issubdtype(samples.dtype, np.floating):
                raise ValueError(f"Expected {name} to be WAV bytes, a path, or float samples [n] or [n, channels]. "
                                 f"Received: {type(audio).__name__} of shape {samples.shape}, dtype {samples.dtype}")
            audio = wav_bytes(samples, self.sample_rate)
        samples, rate = read_wav(audio, name)
        seconds = len(samples) / rate
        if len(samples) == 0:
            raise ValueError(f"Expected {name} to hold audio. Received: an empty WAV file (0 samples)")
        if not np.any(samples):
            raise ValueError(f"Expected {name} to hold sound. Received: {seconds:.2f} s of digital silence "
                             "(every sample is 0)")
        if seconds < MIN_SECONDS:
            raise ValueError(f"Expected {name} to last at least {MIN_SECONDS} s (one analysis frame). "
                             f"Received: {seconds:.4f} s")
        if seconds > self.max_seconds:
            raise ValueError(f"Expected {name} to last at most max_seconds={self.max_seconds:g} s. "
                             f"Received: {seconds:.2f} s; split it into shorter segments")
        return audio

    # --- graph side -----------------------------------------------------
    def decode(self, data):
        """One WAV (bytes tensor) -> float32 `[samples]` at `sample_rate`, mono, at most `max_samples`."""
        audio, rate = tf.audio.decode_wav(data)
        waveform = tf.reduce_mean(audio, axis=1)
        waveform = tf.cond(tf.equal(rate, self.sample_rate), lambda: waveform,
                           lambda: resample(waveform, rate, self.sample_rate))
        return waveform[: self.max_samples]

    def encode_sources_for_training(self, sources):
        waveforms = tf.map_fn(self.decode, as_batch(sources, "sources"),
                              fn_output_signature=tf.RaggedTensorSpec([None], tf.float32, ragged_rank=0))
        return {"waveform": waveforms, "waveform_padding_mask": tf.ones_like(waveforms, dtype=tf.bool)}, None

    def encode_source(self, sources):
        inputs, _ = self.encode_sources_for_training(sources)
        return {"waveform": inputs["waveform"].to_tensor(),
                "waveform_padding_mask": inputs["waveform_padding_mask"].to_tensor(False)}, None

    def encoder_input_specs(self, batch=None):
        return [tf.TensorSpec([batch, None], tf.float32, name="waveform")]

    def describe(self):
        return {**super().describe(), "sample_rate": self.sample_rate, "max_seconds": self.max_seconds}

    def get_config(self):
        return {**super().get_config(), "sample_rate": self.sample_rate, "max_seconds": self.max_seconds}
