"""Spoken digits: a trained Transcriber against an isolated-digit classifier, on unseen speakers; real-time factor.

    python benchmarks/speech_digits.py --model saved_models/fsdd_digits [--write]

`--model` is a folder written by `kseq2seq train --task speech --preset
las_digits --data ../shared/data/spoken_digits ...` (speaker theo held out).
Scored, with digit (word) error rate, character error rate and string
error rate (jiwer):

- FSDD connected strings of the held-out speaker (500, as `kseq2seq evaluate` builds them);
- FSDD isolated recordings of the held-out speaker (500, one digit each);
- Speech Commands digits: 100 isolated clips of 22 other speakers (16 kHz,
  resampled to 8 kHz, untrimmed 1-second windows), and 100 connected strings
  joined from the clips of its 5 speakers with all ten digits.

The baseline is a classifier of cut (isolated) recordings: the same log-mel
features, resized to 16 frames, a 256-unit ReLU layer and a softmax over the
ten digits, trained on the isolated FSDD recordings of the four training
speakers; it can only score isolated digits. Real-time factor: seconds of
audio transcribed per second of compute (higher is faster), greedy and beam
search, batch 1 and 32, on the connected strings.
"""

import os
import sys
import time

import keras
import numpy as np
import tensorflow as tf

sys.path.insert(0, os.path.dirname(__file__))
from common import argument_parser, report  # noqa: E402

import kseq2seq  # noqa: E402
from kseq2seq.datasets import speech  # noqa: E402
from kseq2seq.layers.audio import LogMelSpectrogram  # noqa: E402
from kseq2seq.preprocessors.audio import read_wav  # noqa: E402
from kseq2seq.tasks.speech_io import EVALUATION_SEED, FSDD_VALIDATION_SPEAKERS, error_rates  # noqa: E402

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")


def pooled_features(audio, frames=16):
    """Log-mel features of each clip, resized to `frames` frames and flattened (the baseline's input)."""
    front_end = LogMelSpectrogram(8000)
    rows = []
    for clip in audio:
        features, _ = front_end(read_wav(clip)[0][:, 0][np.newaxis])
        rows.append(tf.image.resize(features[0][..., tf.newaxis], (frames, features.shape[-1]))[..., 0].numpy())
    return np.stack(rows).reshape(len(rows), -1)


def baseline_errors(train, test_sets):
    """Trains the isolated-digit classifier on `train`; its error rate on each of `test_sets`."""
    keras.utils.set_random_seed(0)
    labels = lambda pairs: np.array([speech.DIGIT_WORDS.index(text) for _, text in pairs])  # noqa: E731
    classifier = keras.Sequential([keras.layers.Input((16 * 40,)), keras.layers.Dense(256, activation="relu"),
                                   keras.layers.Dropout(0.3), keras.layers.Dense(10, activation="softmax")])
    classifier.compile("adam", "sparse_categorical_crossentropy")
    classifier.fit(pooled_features([a for a, _ in train]), labels(train), epochs=40, batch_size=64, verbose=0)
    return {name: float(np.mean(classifier.predict(pooled_features([a for a, _ in pairs]), verbose=0).argmax(1)
                                 != labels(pairs))) for name, pairs in test_sets.items()}


def real_time_factors(task, pairs):
    audio = [a for a, _ in pairs]
    seconds = sum(len(read_wav(a)[0]) for a in audio) / 8000
    factors = {}
    for sampler in ("greedy", "beam"):
        for batch in (1, 32):
            times = []
            for _ in range(3):  # the first pass traces; the best of the next two
                start = time.perf_counter()
                task.generate(audio, batch_size=batch, sampler=sampler)
                times.append(time.perf_counter() - start)
            factors[(sampler, batch)] = seconds / min(times[1:])
    return factors, seconds


def main():
    parser = argument_parser(__doc__)
    parser.add_argument("--model", required=True)
    parser.add_argument("--trained", help="how the model was trained (the command, steps), for the page")
    args = parser.parse_args()
    task = kseq2seq.load(args.model)
    fsdd = os.path.join(DATA, "spoken_digits")
    commands = os.path.join(DATA, "speech_commands_digits")
    held_out = speech.load_fsdd(fsdd, speakers=set(FSDD_VALIDATION_SPEAKERS))
    training = speech.load_fsdd(fsdd, speakers={r["speaker"] for r in speech.load_fsdd(fsdd)} - set(FSDD_VALIDATION_SPEAKERS))
    isolated = lambda recordings: [(speech.wav_bytes(r["samples"], r["rate"]), speech.DIGIT_WORDS[int(r["digit"])])  # noqa: E731
                                   for r in recordings]
    sets = {
        "FSDD held-out speaker, connected strings (500)": speech.connected_digits(held_out, 500, seed=EVALUATION_SEED),
        "FSDD held-out speaker, isolated digits (500)": isolated(held_out),
        "Speech Commands, isolated clips (100)": speech.load_speech_commands_digits(commands),
        "Speech Commands, connected strings (100)": speech.load_speech_commands_digits(commands, strings=100),
    }
    rates = {}
    for name, pairs in sets.items():
        predictions = [text.strip() for text in task.generate([a for a, _ in pairs])]
        rates[name] = error_rates(predictions, [text for _, text in pairs])
    baseline = baseline_errors(isolated(training), {name: pairs for name, pairs in sets.items() if "isolated" in name})
    factors, seconds = real_time_factors(task, sets["FSDD held-out speaker, connected strings (500)"][:128])
    body = ["| test set | seq2seq digit error rate | CER | string error rate | isolated-digit classifier |",
            "|---|---:|---:|---:|---:|"]
    for name, rate in rates.items():
        base = f"{baseline[name]:.2%}" if name in baseline else "- (isolated only)"
        body.append(f"| {name} | {rate['wer']:.2%} | {rate['cer']:.2%} | {rate['ser']:.2%} | {base} |")
    body += ["", f"Real-time factor (audio seconds per compute second; {seconds:.0f} s of connected strings):", "",
             "| decoding | batch 1 | batch 32 |", "|---|---:|---:|"]
    for sampler in ("greedy", "beam"):
        label = "greedy" if sampler == "greedy" else f"beam {task.generation_options(sampler='beam').num_beams}"
        body.append(f"| {label} | {factors[(sampler, 1)]:.1f}x | {factors[(sampler, 32)]:.1f}x |")
    parser_note = f" ({args.trained})" if args.trained else ""
    description = (f"`python benchmarks/speech_digits.py --model {args.model}`{parser_note}. Digit (word), character "
                   "and string error rates (jiwer) on FSDD's held-out speaker (connected strings as `kseq2seq "
                   "evaluate` builds them, and the isolated recordings) and on Speech Commands' digits (100 "
                   "isolated clips of 22 other speakers, untrimmed 1-second windows resampled from 16 kHz, and 100 "
                   "strings joined from its 5 speakers with all ten digits). The baseline classifies cut "
                   "recordings: the same log-mel features resized to 16 frames, a 256-unit ReLU layer and a "
                   "softmax over the ten digits, trained on the four training speakers' isolated recordings.")
    report("speech-digits", "Spoken digits: unseen speakers, and the real-time factor", description, body, args.write)


if __name__ == "__main__":
    main()
