"""The audio front end, listener and preprocessor, against NumPy references."""

import io
import re
import wave

import numpy as np
import pytest
import tensorflow as tf

from kseq2seq.datasets.speech import resample_array
from kseq2seq.layers.audio import LogMelSpectrogram, SpecAugment, WaveformAugment, warp_frequencies
from kseq2seq.layers.audio_encoders import SpeechEncoder, reduced_length
from kseq2seq.preprocessors.audio import AudioPreprocessor, resample, wav_bytes
from kseq2seq.tokenizers import WordTokenizer


def numpy_mel_matrix(num_mel_bins, num_bins, sample_rate, lower_hz, upper_hz):
    """The HTK-mel triangular filters as tf.signal defines them (the DC bin gets no weight)."""
    def mel(hz):
        return 1127.0 * np.log1p(np.asarray(hz) / 700.0)

    bins_mel = mel(np.linspace(0.0, sample_rate / 2, num_bins)[1:])[:, None]
    edges = np.linspace(mel(lower_hz), mel(upper_hz), num_mel_bins + 2)
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    weights = np.maximum(0.0, np.minimum((bins_mel - lower) / (center - lower), (upper - bins_mel) / (upper - center)))
    return np.concatenate([np.zeros((1, num_mel_bins)), weights])


def numpy_log_mel(samples, sample_rate=8000, frame=200, step=80, fft=256, mels=40):
    """float64 log-mel features of one utterance, normalized per mel bin."""
    count = 1 + (len(samples) - frame) // step
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(frame) / frame)  # periodic Hann
    frames = np.stack([samples[i * step : i * step + frame] * window for i in range(count)])
    power = np.abs(np.fft.rfft(frames, fft)) ** 2
    features = np.log(power @ numpy_mel_matrix(mels, fft // 2 + 1, sample_rate, 20.0, sample_rate / 2) + 1e-6)
    return (features - features.mean(0)) / np.sqrt(features.var(0) + 1e-5)


def test_log_mel_equals_numpy_reference_for_each_padded_row():
    rng = np.random.default_rng(0)
    lengths = [4000, 2650]
    waveform = np.zeros((2, 4000), np.float32)
    for row, n in enumerate(lengths):
        waveform[row, :n] = rng.normal(0, 0.1, n) + 0.3 * np.sin(np.arange(n) * 2 * np.pi * 440 / 8000)
    mask = np.arange(4000)[None, :] < np.array(lengths)[:, None]
    features, frame_mask = LogMelSpectrogram(8000)(waveform, mask)
    features, frame_mask = features.numpy(), frame_mask.numpy()
    for row, n in enumerate(lengths):
        reference = numpy_log_mel(waveform[row, :n].astype(np.float64))
        assert frame_mask[row].sum() == len(reference) == 1 + (n - 200) // 80
        np.testing.assert_allclose(features[row, : len(reference)], reference, atol=1e-4)
        assert not features[row, len(reference) :].any()


def test_log_mel_checks_its_arguments():
    with pytest.raises(ValueError, match="fft_length to be a power of two"):
        LogMelSpectrogram(8000, fft_length=300)
    with pytest.raises(ValueError, match="upper_edge_hz"):
        LogMelSpectrogram(8000, upper_edge_hz=6000)
    assert LogMelSpectrogram(16000).fft_length == 512  # a 400-sample frame


def numpy_warp(power, factor, boundary=0.8):
    """One utterance's `[frames, bins]` power read at Jaitly and Hinton's warped bins (float64)."""
    n = power.shape[1] - 1
    k = np.arange(n + 1, dtype=np.float64)
    knee = boundary * n * min(factor, 1.0)
    line = n - (n - knee) / (n - knee / factor) * (n - k)
    source = np.where(k <= knee / factor, factor * k, line)
    return np.stack([np.interp(source, k, row) for row in power])


def test_frequency_warp_equals_numpy_reference_and_moves_a_tone():
    power = np.random.default_rng(0).uniform(0, 2, (3, 4, 129)).astype(np.float32)
    factors = [0.9, 1.0, 1.13]
    warped = warp_frequencies(tf.constant(power), tf.constant(factors)).numpy()
    for row, factor in enumerate(factors):
        np.testing.assert_allclose(warped[row], numpy_warp(power[row].astype(np.float64), factor), atol=2e-5)
    np.testing.assert_array_equal(warped[1], power[1])
    np.testing.assert_array_equal(warped[..., [0, -1]], power[..., [0, -1]])  # the band stays whole
    # A 1 kHz tone (bin 32 of a 256-point FFT at 8 kHz) read through a factor of 0.9 lies at bin 32 / 0.9.
    tone = np.sin(np.arange(4000) * 2 * np.pi * 1000 / 8000).astype(np.float32)[None]
    layer = LogMelSpectrogram(8000, frequency_warp=[0.9, 0.9], normalize=False)
    stft = tf.signal.stft(tone, 200, 80, 256, window_fn=tf.signal.hann_window)
    spectrum = warp_frequencies(tf.abs(stft) ** 2, tf.constant([0.9]))[0].numpy().mean(0)
    assert spectrum.argmax() in (35, 36)
    assert layer(tone, training=True)[0][0].numpy().mean(0).argmax() > layer(tone)[0][0].numpy().mean(0).argmax()


def test_frequency_warp_draws_a_factor_while_training_only():
    waveform = np.random.default_rng(1).normal(0, 0.1, (2, 4000)).astype(np.float32)
    plain, _ = LogMelSpectrogram(8000)(waveform)
    layer = LogMelSpectrogram(8000, frequency_warp=[0.9, 1.1], seed=3)
    np.testing.assert_array_equal(layer(waveform)[0], plain)
    assert np.abs(layer(waveform, training=True)[0].numpy() - plain.numpy()).max() > 0.05
    unwarped = LogMelSpectrogram(8000, frequency_warp=[1.0, 1.0])(waveform, training=True)[0]
    np.testing.assert_array_equal(unwarped, plain)
    assert LogMelSpectrogram.from_config(layer.get_config()).frequency_warp == [0.9, 1.1]
    assert len(LogMelSpectrogram(8000).weights) == 0  # models saved before the option load as they were
    for bad in ([1.1, 0.9], [0.2, 1.0], 0.9):
        with pytest.raises(ValueError, match=rf"Expected frequency_warp to be None or a range \[low, high\] of factors "
                           rf"within \[0.5, 2\]. Received: frequency_warp={re.escape(repr(bad))}"):
            LogMelSpectrogram(8000, frequency_warp=bad)


@pytest.mark.parametrize("pyramid,reductions", [(False, 2), (True, 3)])
def test_encoder_steps_and_mask_follow_the_subsampling(pyramid, reductions):
    encoder = SpeechEncoder(filters=8, num_conv_layers=2, units=4, num_layers=2, pyramid=pyramid)
    assert encoder.reductions == reductions
    frames = [37, 20]
    mask = np.arange(37)[None, :] < np.array(frames)[:, None]
    values, states, step_mask = encoder(np.ones((2, 37, 5), np.float32), mask)
    assert values.shape[1] == step_mask.shape[1] == reduced_length(37, reductions)
    assert step_mask.numpy().sum(1).tolist() == [reduced_length(n, reductions) for n in frames]
    assert states[0].shape == (2, 8)
    # Padded steps never reach a real one: the backward state of row 1 ignores its padding.
    padded = np.ones((2, 37, 5), np.float32)
    padded[1, 20:] = 7.0
    _, states_padded, _ = encoder(padded, mask)
    np.testing.assert_allclose(states_padded[0][1], states[0][1], atol=1e-6)


def test_spec_augment_masks_only_while_training():
    features = np.ones((3, 50, 20), np.float32)
    frame_mask = np.arange(50)[None, :] < np.array([[50], [30], [10]])
    layer = SpecAugment(time_masks=2, time_mask_width=5, frequency_masks=2, frequency_mask_width=4, seed=1)
    np.testing.assert_array_equal(layer(features, frame_mask), features)
    masked = layer(features, frame_mask, training=True).numpy()
    zero_frames = (masked == 0).all(axis=2)
    zero_bins = (masked == 0).all(axis=1)
    assert 0 < (masked == 0).mean() < 0.5
    assert zero_frames.sum(1).max() <= 10 and zero_bins.sum(1).max() <= 8
    assert not zero_frames[2, 10:].any()  # time masks stay inside the real frames


def test_waveform_augment_adds_noise_at_the_drawn_snr_and_keeps_padding():
    waveform = np.zeros((2, 8000), np.float32)
    waveform[:, :6000] = np.sin(np.arange(6000) * 0.3)
    mask = waveform != 0
    mask[:, :6000] = True
    layer = WaveformAugment(gain_db=[0.0, 0.0], noise_snr_db=[20.0, 20.0], seed=2)
    np.testing.assert_array_equal(layer(waveform, mask), waveform)
    noisy = layer(waveform, mask, training=True).numpy()
    noise = noisy - waveform
    assert not noise[:, 6000:].any()
    snr = 10 * np.log10((waveform[:, :6000] ** 2).mean(1) / (noise[:, :6000] ** 2).mean(1))
    np.testing.assert_allclose(snr, 20.0, atol=0.3)
    louder = WaveformAugment(gain_db=[6.0, 6.0], seed=2)(waveform, mask, training=True).numpy()
    np.testing.assert_allclose(louder, waveform * 10 ** (6 / 20), rtol=1e-5)
    with pytest.raises(ValueError, match="noise_snr_db to be None or a range"):
        WaveformAugment(noise_snr_db=[40, 10])


def test_resampling_in_graph_matches_a_sine_and_numpy():
    t16 = np.arange(16000) / 16000
    t8 = np.arange(8000) / 8000
    sine = np.sin(2 * np.pi * 440 * t16).astype(np.float32)
    resampled = resample(tf.constant(sine), 16000, 8000).numpy()
    np.testing.assert_allclose(resampled, np.sin(2 * np.pi * 440 * t8), atol=1e-3)
    np.testing.assert_allclose(resampled, resample_array(sine, 16000, 8000), atol=1e-5)


def _preprocessor(max_seconds=2.0):
    tokenizer = WordTokenizer.from_texts(["one two"], name="target_tokenizer")
    return AudioPreprocessor(tokenizer, sample_rate=8000, max_seconds=max_seconds, target_length=5)


def _tone(seconds, rate, channels=1):
    t = np.arange(int(seconds * rate)) / rate
    mono = 0.5 * np.sin(2 * np.pi * 300 * t)
    return np.stack([mono] * channels, axis=1) if channels > 1 else mono


def test_preprocessor_resamples_downmixes_and_pads():
    preprocessor = _preprocessor()
    wavs = [wav_bytes(_tone(1.0, 16000), 16000), wav_bytes(_tone(0.5, 8000, channels=2), 8000)]
    inputs = preprocessor(tf.constant(preprocessor.prepare(wavs)))
    assert inputs["waveform"].shape == (2, 8000)
    assert inputs["waveform_padding_mask"].numpy().sum(1).tolist() == [8000, 4000]
    np.testing.assert_allclose(inputs["waveform"][1, :4000], _tone(0.5, 8000), atol=1e-4)
    np.testing.assert_allclose(inputs["waveform"][0, 100:-100], _tone(1.0, 8000)[100:-100], atol=2e-3)


def _eight_bit_wav():
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(1)
        f.setframerate(8000)
        f.writeframes(bytes(range(256)) * 10)
    return buffer.getvalue()


@pytest.mark.parametrize("audio,message", [
    (b"not a wav at all", r"inputs\[1\] to be a WAV file"),
    (wav_bytes(np.zeros(0), 8000), r"inputs\[1\] to hold audio. Received: an empty WAV"),
    (wav_bytes(np.zeros(4000), 8000), r"inputs\[1\] to hold sound.*digital silence"),
    (wav_bytes(_tone(0.01, 8000), 8000), r"inputs\[1\] to last at least"),
    (wav_bytes(_tone(2.5, 8000), 8000), r"inputs\[1\] to last at most max_seconds=2 s. Received: 2.50 s"),
    ("missing.wav", r"inputs\[1\].*'missing.wav' \(no such file\)"),
    (np.arange(5), r"inputs\[1\] to be WAV bytes.*dtype int"),
    (_eight_bit_wav(), r"inputs\[1\] to be 16-bit PCM WAV. Received: 8-bit"),
])
def test_bad_audio_is_refused_naming_the_input(audio, message):
    with pytest.raises(ValueError, match=message):
        _preprocessor().prepare([wav_bytes(_tone(0.5, 8000), 8000), audio])


def test_float_samples_become_the_same_wav_as_their_16_bit_file():
    preprocessor = _preprocessor()
    data = wav_bytes(_tone(0.5, 8000) * 1.9, 8000)  # beyond half scale, where / 32767 and / 32768 differ
    decoded = preprocessor(tf.constant(preprocessor.prepare([data])))["waveform"].numpy()[0]
    assert preprocessor.prepare([decoded]) == [data]
