"""Level 3: the built-in speech set: digit strings spoken by eSpeak NG, synthesized offline and deterministically.

Each example is a string of 1-6 digits spelled as words ("three one four"),
spoken by eSpeak NG (`kseq2seq.espeak`, in a fresh process) with one of
`VOICES` (accents and male/female variants), a speaking rate, pitch and
pitch range, a random pause style, then resampled to 8 kHz with gain and
white noise. It is formant-synthesized speech, not recorded speech: enough
to run every speech path offline, not a substitute for FSDD. Every example
is a pure function of the seed and the library version; splits never share
a digit string.
"""

import random

import numpy as np

from kseq2seq.datasets.speech import resample_array, spell_digits
from kseq2seq.espeak import VOICES, synthesize_batch
from kseq2seq.preprocessors.audio import wav_bytes
from kseq2seq.utils import check_positive_int


def _request(rng, digits):
    words = spell_digits(digits)
    spoken = words.replace(" ", ", ") if rng.random() < 0.3 else words  # commas: longer pauses
    return {"text": spoken, "voice": rng.choice(VOICES), "words_per_minute": rng.randint(130, 210),
            "pitch": rng.randint(25, 75), "pitch_range": rng.randint(20, 80)}


def _finish(rng, noise, samples, rate, sample_rate):
    """Resampled, with a leading pause, a random gain and white noise at 15-40 dB SNR."""
    audio = resample_array(samples, rate, sample_rate)
    audio = np.concatenate([np.zeros(int(rng.uniform(0.0, 0.2) * sample_rate), np.float32), audio])
    audio = audio / max(np.abs(audio).max(), 1e-6) * 0.5 * 10 ** (rng.uniform(-6, 6) / 20)
    power = np.mean(audio**2) / 10 ** (rng.uniform(15, 40) / 10)
    return wav_bytes(audio + noise.normal(0.0, np.sqrt(power), audio.shape).astype(np.float32), sample_rate)


def load_spoken_numbers(num_train=3000, num_validation=200, num_test=200, seed=0, sample_rate=8000,
                        max_digits=6):
    """`(train, validation, test)` lists of `(WAV bytes, "three one four")` pairs (8 kHz by default)."""
    for name, value in (("num_train", num_train), ("num_validation", num_validation), ("num_test", num_test)):
        check_positive_int(name, value, minimum=0)
    rng = random.Random(seed)
    seen, strings, requests = set(), [], []
    for split, size in enumerate((num_train, num_validation, num_test)):
        strings.append([])
        while len(strings[-1]) < size:
            digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, max_digits)))
            # Short strings repeat by chance; only the training split may repeat one.
            if digits in seen and (split or len(digits) > 3):
                continue
            seen.add(digits)
            strings[-1].append(spell_digits(digits))
            requests.append(_request(rng, digits))
    audio, rate = synthesize_batch(requests) if requests else ([], 0)
    noise = np.random.default_rng(seed)
    pairs = [(_finish(rng, noise, samples, rate, sample_rate), text)
             for samples, text in zip(audio, [text for split in strings for text in split])]
    return tuple(pairs[sum(map(len, strings[:i])) : sum(map(len, strings[: i + 1]))] for i in range(3))
