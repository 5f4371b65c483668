"""Level 1: audio front end: waveform -> normalized log-mel features, and the training augmentations.

    features, frame_mask = LogMelSpectrogram(sample_rate=8000)(waveform, waveform_mask)
    waveform: float [batch, samples] at `sample_rate`, 0-padded; mask True at real samples
    features: [batch, frames, num_mel_bins]; frame_mask: bool [batch, frames]

A frame is real when all its samples are (frames = 1 + (n - frame_length) //
frame_step for n real samples). Features are `log(mel power + 1e-6)`, then,
with `normalize=True`, standardized per utterance and mel bin over its real
frames; padded frames are 0. The short-time Fourier transform uses an FFT of
`fft_length` (the next power of two above the frame by default), which
TFLite converts to its builtin RFFT, so an exported model takes a waveform.

While training only, `frequency_warp` stretches each utterance's spectrum
along the frequency axis by a random factor (vocal tract length
perturbation, Jaitly and Hinton 2013: `warp_frequencies`), so that a few
training speakers stand for many voices.
"""

import keras
import tensorflow as tf

from kseq2seq.utils import check_bool, check_positive_int

LOG_OFFSET = 1e-6
VARIANCE_FLOOR = 1e-5


def next_power_of_two(n):
    return 1 << (int(n) - 1).bit_length()


def warp_frequencies(power, factors, boundary=0.8):
    """`power` `[batch, frames, bins]` (0 Hz to Nyquist) with row b's frequency axis warped by `factors[b]`.

    The output at bin k is the input at bin w(k), linearly interpolated,
    where w is Jaitly and Hinton's piecewise-linear warp: w(k) = a * k up to
    `boundary` * N * min(a, 1) / a (N the Nyquist bin), then the straight line
    to w(N) = N, so the band stays whole and nothing is read past it. A factor
    of 1 changes nothing.
    """
    bins = tf.shape(power)[-1]
    nyquist = tf.cast(bins - 1, power.dtype)
    k = tf.range(tf.cast(bins, power.dtype))[tf.newaxis, :]
    a = tf.cast(factors, power.dtype)[:, tf.newaxis]
    knee = boundary * nyquist * tf.minimum(a, 1.0)  # w(cut), where the two pieces meet
    cut = knee / a
    source = tf.where(k <= cut, a * k, nyquist - (nyquist - knee) / (nyquist - cut) * (nyquist - k))
    source = tf.clip_by_value(source, 0.0, nyquist)
    below = tf.minimum(tf.cast(tf.floor(source), tf.int32), bins - 1)
    above = tf.minimum(below + 1, bins - 1)
    fraction = (source - tf.cast(below, power.dtype))[:, tf.newaxis, :]
    low = tf.gather(power, below, axis=2, batch_dims=1)
    high = tf.gather(power, above, axis=2, batch_dims=1)
    return low + fraction * (high - low)


@keras.saving.register_keras_serializable(package="kseq2seq")
class LogMelSpectrogram(keras.layers.Layer):
    """Log-mel features of a padded waveform batch (see the module docstring).

    Args:
        sample_rate: the waveform's rate in Hz.
        frame_length_ms / frame_step_ms: analysis window and hop (Hann window).
        fft_length: a power of two >= the frame (default: the next one).
        num_mel_bins, lower_edge_hz, upper_edge_hz (default: sample_rate / 2).
        normalize: per-utterance mean/variance normalization over real frames.
        frequency_warp: None, or a range `[low, high]` of warp factors drawn
            per utterance while training (`warp_frequencies`), e.g. `[0.9, 1.1]`.
        seed: the warp factors' seed.
    """

    def __init__(self, sample_rate=8000, frame_length_ms=25.0, frame_step_ms=10.0, fft_length=None, num_mel_bins=40,
                 lower_edge_hz=20.0, upper_edge_hz=None, normalize=True, frequency_warp=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.sample_rate = check_positive_int("sample_rate", sample_rate, minimum=1000)
        self.frame_length_ms = float(frame_length_ms)
        self.frame_step_ms = float(frame_step_ms)
        self.frame_length = int(round(self.sample_rate * self.frame_length_ms / 1000))
        self.frame_step = int(round(self.sample_rate * self.frame_step_ms / 1000))
        if not (0 < self.frame_step <= self.frame_length):
            raise ValueError(f"Expected 0 < frame_step_ms <= frame_length_ms. Received: frame_length_ms="
                             f"{frame_length_ms}, frame_step_ms={frame_step_ms}")
        fft_length = next_power_of_two(self.frame_length) if fft_length is None else fft_length
        if not (isinstance(fft_length, int) and fft_length >= self.frame_length and fft_length & (fft_length - 1) == 0):
            raise ValueError(f"Expected fft_length to be a power of two >= the frame ({self.frame_length} samples). "
                             f"Received: fft_length={fft_length!r}")
        self.fft_length = fft_length
        self.num_mel_bins = check_positive_int("num_mel_bins", num_mel_bins)
        self.lower_edge_hz = float(lower_edge_hz)
        self.upper_edge_hz = float(upper_edge_hz or self.sample_rate / 2)
        if not 0 <= self.lower_edge_hz < self.upper_edge_hz <= self.sample_rate / 2:
            raise ValueError(f"Expected 0 <= lower_edge_hz < upper_edge_hz <= sample_rate / 2 "
                             f"({self.sample_rate / 2:g}). Received: {self.lower_edge_hz:g}, {self.upper_edge_hz:g}")
        self.normalize = check_bool("normalize", normalize)
        self.frequency_warp = _check_range("frequency_warp", frequency_warp, "of factors within [0.5, 2]", (0.5, 2.0))
        self.seed = seed
        if self.frequency_warp is not None:  # only then: models saved without it keep their variables
            self.seed_generator = keras.random.SeedGenerator(seed)

    def mel_matrix(self):
        """`[fft_length // 2 + 1, num_mel_bins]`: linear power -> mel power (HTK mel scale)."""
        return tf.signal.linear_to_mel_weight_matrix(self.num_mel_bins, self.fft_length // 2 + 1, self.sample_rate,
                                                     self.lower_edge_hz, self.upper_edge_hz)

    def num_frames(self, num_samples):
        """Frames of `num_samples` real samples (int tensor): 0 below one frame."""
        return tf.maximum(0, 1 + (num_samples - self.frame_length) // self.frame_step)

    def call(self, waveform, waveform_mask=None, training=False):
        waveform = tf.cast(waveform, tf.float32)
        length = tf.shape(waveform)[1]
        if waveform_mask is None:
            lengths = tf.fill(tf.shape(waveform)[:1], length)
        else:
            lengths = tf.reduce_sum(tf.cast(waveform_mask, tf.int32), axis=1)
        # At least one (padded) frame, so that a batch of short inputs still has a frame axis.
        waveform = tf.pad(waveform, [[0, 0], [0, tf.maximum(0, self.frame_length - length)]])
        stft = tf.signal.stft(waveform, self.frame_length, self.frame_step, self.fft_length,
                              window_fn=tf.signal.hann_window, pad_end=False)
        power = tf.math.real(stft) ** 2 + tf.math.imag(stft) ** 2
        if training and self.frequency_warp is not None:
            factors = keras.random.uniform(tf.shape(power)[:1], *self.frequency_warp, seed=self.seed_generator)
            power = warp_frequencies(power, factors)
        features = tf.math.log(tf.matmul(power, self.mel_matrix()) + LOG_OFFSET)
        frames = tf.shape(features)[1]
        # expand_dims, not new-axis slices, which TFLite's builtin StridedSlice does not take.
        frame_mask = tf.expand_dims(tf.range(frames), 0) < tf.expand_dims(self.num_frames(lengths), 1)
        weights = tf.expand_dims(tf.cast(frame_mask, tf.float32), -1)
        if self.normalize:
            count = tf.maximum(tf.reduce_sum(weights, axis=1, keepdims=True), 1.0)
            mean = tf.reduce_sum(features * weights, axis=1, keepdims=True) / count
            variance = tf.reduce_sum(tf.square(features - mean) * weights, axis=1, keepdims=True) / count
            features = (features - mean) * tf.math.rsqrt(variance + VARIANCE_FLOOR)
        return tf.cast(features * weights, self.compute_dtype), frame_mask

    def compute_output_spec(self, waveform, waveform_mask=None, training=False):
        batch = waveform.shape[0]
        return (keras.KerasTensor((batch, None, self.num_mel_bins), dtype=self.compute_dtype),
                keras.KerasTensor((batch, None), dtype="bool"))

    def get_config(self):
        return {**super().get_config(), "sample_rate": self.sample_rate, "frame_length_ms": self.frame_length_ms,
                "frame_step_ms": self.frame_step_ms, "fft_length": self.fft_length,
                "num_mel_bins": self.num_mel_bins, "lower_edge_hz": self.lower_edge_hz,
                "upper_edge_hz": self.upper_edge_hz, "normalize": self.normalize,
                "frequency_warp": self.frequency_warp, "seed": self.seed}


def _check_range(name, value, what="in dB", bounds=(float("-inf"), float("inf"))):
    """None, or `[low, high]` as floats with `bounds[0] <= low <= high <= bounds[1]`; else an error naming `name`."""
    if value is None:
        return None
    if not (isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value)
            and bounds[0] <= value[0] <= value[1] <= bounds[1]):
        raise ValueError(f"Expected {name} to be None or a range [low, high] {what}. Received: {name}={value!r}")
    return [float(v) for v in value]


@keras.saving.register_keras_serializable(package="kseq2seq")
class WaveformAugment(keras.layers.Layer):
    """Training-only waveform augmentation: a random gain and white noise at a random signal-to-noise ratio.

    Per utterance, a gain from `gain_db` and Gaussian noise whose power is the
    utterance's mean power (over its real samples) divided by an SNR drawn
    from `noise_snr_db`; padding stays 0. None turns either off. (Speed
    perturbation changes lengths, so it is the data loaders' option:
    `datasets.speech.connected_digits(speed=...)`.)
    """

    def __init__(self, gain_db=None, noise_snr_db=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.gain_db = _check_range("gain_db", gain_db)
        self.noise_snr_db = _check_range("noise_snr_db", noise_snr_db)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, waveform, waveform_mask, training=False):
        if not training or (self.gain_db is None and self.noise_snr_db is None):
            return waveform
        real = tf.cast(waveform_mask, waveform.dtype)
        batch = tf.shape(waveform)[:1]
        if self.gain_db is not None:
            gain_db = keras.random.uniform(batch, *self.gain_db, seed=self.seed_generator)
            waveform = waveform * tf.expand_dims(10.0 ** (gain_db / 20.0), 1)
        if self.noise_snr_db is not None:
            power = tf.reduce_sum(waveform**2 * real, 1) / tf.maximum(tf.reduce_sum(real, 1), 1.0)
            snr_db = keras.random.uniform(batch, *self.noise_snr_db, seed=self.seed_generator)
            scale = tf.sqrt(power / 10.0 ** (snr_db / 10.0))
            noise = keras.random.normal(tf.shape(waveform), seed=self.seed_generator) * tf.expand_dims(scale, 1)
            waveform = waveform + noise * real
        return waveform

    def get_config(self):
        return {**super().get_config(), "gain_db": self.gain_db, "noise_snr_db": self.noise_snr_db,
                "seed": self.seed}


@keras.saving.register_keras_serializable(package="kseq2seq")
class SpecAugment(keras.layers.Layer):
    """SpecAugment's time and frequency masking (Park et al. 2019), in training only.

    Each utterance gets `time_masks` spans of 0 to `time_mask_width` frames
    (within its real frames) and `frequency_masks` bands of 0 to
    `frequency_mask_width` mel bins set to 0 (the normalized mean).
    """

    def __init__(self, time_masks=2, time_mask_width=10, frequency_masks=2, frequency_mask_width=6, seed=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.time_masks = check_positive_int("time_masks", time_masks, minimum=0)
        self.time_mask_width = check_positive_int("time_mask_width", time_mask_width, minimum=0)
        self.frequency_masks = check_positive_int("frequency_masks", frequency_masks, minimum=0)
        self.frequency_mask_width = check_positive_int("frequency_mask_width", frequency_mask_width, minimum=0)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def _spans(self, batch, count, max_width, limit):
        """bool `[batch, size]`: True inside any of `count` random spans per row, each inside `[0, limit)`."""
        width = tf.cast(keras.random.uniform((batch, count), 0, max_width + 1, seed=self.seed_generator), tf.int32)
        room = tf.maximum(tf.cast(limit, tf.float32)[:, tf.newaxis] - tf.cast(width, tf.float32), 0.0)
        start = tf.cast(keras.random.uniform((batch, count), seed=self.seed_generator) * room, tf.int32)
        return start, start + width

    def call(self, features, frame_mask, training=False):
        if not training or (self.time_masks == 0 and self.frequency_masks == 0):
            return features
        batch, frames, bins = tf.shape(features)[0], tf.shape(features)[1], tf.shape(features)[2]
        keep = tf.ones_like(features, dtype=tf.bool)
        if self.time_masks:
            real = tf.reduce_sum(tf.cast(frame_mask, tf.int32), axis=1)
            start, end = self._spans(batch, self.time_masks, self.time_mask_width, real)
            keep &= ~_inside(tf.range(frames), start, end)[:, :, tf.newaxis]
        if self.frequency_masks:
            start, end = self._spans(batch, self.frequency_masks, self.frequency_mask_width, tf.fill([batch], bins))
            keep &= ~_inside(tf.range(bins), start, end)[:, tf.newaxis, :]
        return tf.where(keep, features, tf.zeros_like(features))

    def get_config(self):
        return {**super().get_config(), "time_masks": self.time_masks, "time_mask_width": self.time_mask_width,
                "frequency_masks": self.frequency_masks, "frequency_mask_width": self.frequency_mask_width,
                "seed": self.seed}


def _inside(positions, start, end):
    """bool `[batch, len(positions)]`: position inside any `[start, end)` span of its row (`[batch, spans]`)."""
    positions = positions[tf.newaxis, :, tf.newaxis]
    return tf.reduce_any((positions >= start[:, tf.newaxis, :]) & (positions < end[:, tf.newaxis, :]), axis=-1)
