"""Level 3: speech data from local files: FSDD connected digit strings, Speech Commands digits, NeMo manifests.

Every loader returns `(WAV bytes, transcript)` pairs, transcripts in
lowercase words ("three one four"), ready for `Transcriber.fit`:

- `load_fsdd(folder)`: the Free Spoken Digit Dataset's recordings
  (`{digit}_{speaker}_{index}.wav`, 8 kHz, trimmed), and `connected_digits`,
  which joins one speaker's recordings into strings of 1-6 digits with
  random gaps, gain, speed and background noise, all from a seed;
  `fsdd_splits` holds speakers out for validation;
- `load_speech_commands_digits(folder)`: Speech Commands' zero..nine clips
  (`transcripts.tsv`, 16 kHz, other speakers), one digit each, or joined
  per speaker into strings;
- `load_manifest(path)`: any transcribed audio as NeMo JSON lines
  (`audio_filepath` relative to the manifest or absolute, `text`,
  optional `duration`).
"""

import csv
import os
import random
import re

import numpy as np

from kseq2seq.datasets.jsonl import read_examples
from kseq2seq.preprocessors.audio import read_wav, wav_bytes
from kseq2seq.utils import check_positive_int


DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
FSDD_NAME = re.compile(r"^(\d)_([A-Za-z]+)_(\d+)\.wav$")


def spell_digits(digits):
    """`"314"` -> `"three one four"`."""
    return " ".join(DIGIT_WORDS[int(d)] for d in digits)


def resample_array(samples, rate_in, rate_out):
    """NumPy band-limited resampling by FFT (as `preprocessors.audio.resample` does in the graph)."""
    if rate_in == rate_out:
        return np.asarray(samples, np.float32)
    n = len(samples)
    m = int(round(n * rate_out / rate_in))
    spectrum = np.fft.rfft(samples)[: min(n, m) // 2 + 1]
    spectrum = np.pad(spectrum, (0, m // 2 + 1 - len(spectrum)))
    return (np.fft.irfft(spectrum, m) * (m / n)).astype(np.float32)


def read_audio(path, sample_rate=None):
    """Mono float32 samples of a 16-bit WAV file, resampled to `sample_rate` if given; `(samples, rate)`."""
    with open(path, "rb") as f:
        samples, rate = read_wav(f.read(), path)
    samples = samples.mean(axis=1)
    if sample_rate is not None and rate != sample_rate:
        return resample_array(samples, rate, sample_rate), sample_rate
    return samples, rate


def load_fsdd(folder, speakers=None):
    """FSDD recordings as dicts `{digit, speaker, index, samples, rate}`, sorted by file name."""
    folder = os.path.join(folder, "recordings") if os.path.isdir(os.path.join(folder, "recordings")) else folder
    if not os.path.isdir(folder):
        raise ValueError(f"Expected a folder of FSDD recordings ({{digit}}_{{speaker}}_{{index}}.wav). "
                         f"Received: {folder!r} (no such folder)")
    recordings = []
    for name in sorted(os.listdir(folder)):
        match = FSDD_NAME.match(name)
        if not match or (speakers is not None and match.group(2) not in speakers):
            continue
        samples, rate = read_audio(os.path.join(folder, name))
        recordings.append({"digit": match.group(1), "speaker": match.group(2), "index": int(match.group(3)),
                           "samples": samples, "rate": rate})
    if not recordings:
        raise ValueError(f"Expected FSDD recordings named {{digit}}_{{speaker}}_{{index}}.wav in {folder!r}"
                         f"{'' if speakers is None else f' for speakers {sorted(speakers)}'}. Received: none")
    return recordings


def connected_digits(recordings, num_strings, seed=0, min_digits=1, max_digits=6, gap_seconds=(0.05, 0.3),
                     edge_seconds=(0.0, 0.4), gain_db=(-6.0, 6.0), noise_snr_db=(15.0, 40.0), speed=(0.9, 1.1),
                     sample_rate=8000):
    """`num_strings` `(WAV bytes, "three one four")` pairs, each joined from one speaker's recordings.

    Per string, from `random.Random(seed)`: a speaker, 1-6 digits (each a
    random take of that digit by the speaker), silent gaps between them and
    silence before and after (`edge_seconds`), one speed factor (resampling;
    None = off), one gain and white noise at a signal-to-noise ratio from the
    ranges (None = off).
    """
    check_positive_int("num_strings", num_strings)
    rng = random.Random(seed)
    noise = np.random.default_rng(seed)
    takes = {}
    for recording in recordings:
        takes.setdefault(recording["speaker"], {}).setdefault(recording["digit"], []).append(recording)
    speakers = sorted(s for s, digits in takes.items() if len(digits) == 10)
    if not speakers:
        raise ValueError("Expected at least one speaker with recordings of all ten digits. Received: "
                         f"{ {s: sorted(d) for s, d in takes.items()} }")
    pairs = []
    for _ in range(num_strings):
        speaker = rng.choice(speakers)
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(min_digits, max_digits)))
        factor = rng.uniform(*speed) if speed else 1.0
        pieces = []
        for i, digit in enumerate(digits):
            seconds = rng.uniform(*(edge_seconds if i == 0 else gap_seconds))
            pieces.append(np.zeros(int(seconds * sample_rate), np.float32))
            take = rng.choice(takes[speaker][digit])
            # Speeding up by `factor` = reading the samples as if recorded at rate / factor.
            pieces.append(resample_array(take["samples"], take["rate"] * factor, sample_rate))
        pieces.append(np.zeros(int(rng.uniform(*edge_seconds) * sample_rate), np.float32))
        audio = np.concatenate(pieces)
        audio = audio / max(np.abs(audio).max(), 1e-6) * 0.5 * 10 ** (rng.uniform(*gain_db) / 20 if gain_db else 0)
        if noise_snr_db:
            power = np.mean(audio**2) / 10 ** (rng.uniform(*noise_snr_db) / 10)
            audio = audio + noise.normal(0.0, np.sqrt(power), audio.shape).astype(np.float32)
        pairs.append((wav_bytes(audio, sample_rate), spell_digits(digits)))
    return pairs


def fsdd_splits(folder, num_train=4000, num_validation=500, validation_speakers=("theo",), seed=0, **kwargs):
    """`(train, validation)` connected-digit pairs; `validation_speakers` never appear in train."""
    recordings = load_fsdd(folder)
    held = set(validation_speakers)
    train = [r for r in recordings if r["speaker"] not in held]
    validation = [r for r in recordings if r["speaker"] in held]
    if not validation:
        raise ValueError(f"Expected validation_speakers among {sorted({r['speaker'] for r in recordings})}. "
                         f"Received: {sorted(held)}")
    return (connected_digits(train, num_train, seed=seed, **kwargs),
            connected_digits(validation, num_validation, seed=seed + 1, **kwargs))


def load_speech_commands_digits(folder, sample_rate=8000, strings=0, seed=0):
    """Speech Commands digit clips as `(WAV bytes, word)` pairs, resampled to `sample_rate`.

    With `strings=N`, instead N connected strings joined from the clips of
    speakers with all ten digits (one take each, clips kept whole with their
    own silences), without noise or speed change.
    """
    table = os.path.join(folder, "transcripts.tsv")
    if not os.path.isfile(table):
        raise ValueError(f"Expected {table!r} (columns path, text, digit, speaker). Received: no such file")
    with open(table, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    recordings = []
    for row in rows:
        samples, rate = read_audio(os.path.join(folder, row["path"]), sample_rate)
        recordings.append({"digit": str(row["digit"]), "speaker": row["speaker"], "index": 0, "samples": samples,
                           "rate": rate})
    if strings:
        return connected_digits(recordings, strings, seed=seed, gap_seconds=(0.0, 0.05), edge_seconds=(0.0, 0.0),
                                gain_db=None,
                                noise_snr_db=None, speed=None, sample_rate=sample_rate)
    return [(wav_bytes(r["samples"], r["rate"]), DIGIT_WORDS[int(r["digit"])]) for r in recordings]


def load_manifest(path, limit=None):
    """`(pairs, report)` from a NeMo-style JSON-lines manifest; bad lines are counted and skipped."""
    root = os.path.dirname(os.path.abspath(path))

    def pair(record):
        audio = os.path.join(root, str(record.get("audio_filepath", "")))
        if not record.get("audio_filepath") or not os.path.isfile(audio):
            return "missing_audio"
        if not isinstance(record.get("text"), str) or not record["text"].strip():
            return "no_text"
        with open(audio, "rb") as f:
            return f.read(), record["text"].strip()

    return read_examples(path, pair, ("invalid_json", "missing_audio", "no_text"),
                         "at least one line with audio_filepath and text", limit)
