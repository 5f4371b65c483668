"""Transcribe spoken digit strings: a listen-attend-spell model on FSDD recordings plus generated voices.

    python apps/digit_transcriber.py [--data ../shared/data/spoken_digits] [--num-train 3000] [--epochs 10]

Joins FSDD recordings of four speakers into connected digit strings (speaker
theo is held out), adds digit strings spoken by eSpeak NG's voices, trains
the `las_digits` preset, and reports the digit error rate on the held-out
speaker. Then it transcribes a WAV file path and float samples, draws the
attention of one string over its spectrogram, and exports a SavedModel that
takes WAV bytes.
"""

import argparse
import os

import keras
import numpy as np
import tensorflow as tf

import kseq2seq
from kseq2seq.datasets import speech
from kseq2seq.datasets.spoken_numbers import load_spoken_numbers
from kseq2seq.preprocessors.audio import read_wav
from kseq2seq.tasks.speech_io import error_rates

DEFAULT_DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "spoken_digits")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DEFAULT_DATA, help="the FSDD recordings folder")
    parser.add_argument("--num-train", type=int, default=3000, help="FSDD strings (and as many generated ones)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--output", default=os.path.join("saved_models", "digits"))
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(0)

    # Strings of four FSDD speakers for training; the fifth speaker (theo) only in validation.
    train, validation = speech.fsdd_splits(args.data, num_train=args.num_train, num_validation=200,
                                           validation_speakers=("theo",))
    # Synthetic voices widen the speakers the model hears (16 eSpeak NG voices, offline).
    train += load_spoken_numbers(num_train=args.num_train, num_validation=0, num_test=0)[0]
    preset = kseq2seq.Transcriber.presets["las_digits"]
    transcriber = kseq2seq.Transcriber.from_preset("las_digits", train_texts=train)
    transcriber.fit(train, validation_data=validation, epochs=args.epochs,
                    bucket_boundaries=preset["bucket_boundaries"], verbose=2)

    predictions = transcriber.generate([audio for audio, _ in validation])
    rates = error_rates(predictions, [text for _, text in validation])
    print(f"held-out speaker: digit error rate {rates['wer']:.2%}, string error rate {rates['ser']:.2%} "
          f"on {len(validation)} strings")
    for prediction, (_, reference) in list(zip(predictions, validation))[:3]:
        print(f"  {prediction!r:40} reference: {reference!r}")

    # Any input form: a WAV file path, WAV bytes, or float samples at the preset's 8 kHz.
    os.makedirs(args.output, exist_ok=True)
    path = os.path.join(args.output, "example.wav")
    with open(path, "wb") as f:
        f.write(validation[0][0])
    samples = read_wav(validation[0][0])[0][:, 0]
    print(f"from a path and from samples: {transcriber.generate([path, samples])}")

    record = transcriber.generate([samples], return_attention=True)[0]
    kseq2seq.plot_audio_attention(transcriber.backbone.log_mel(samples), record.output_tokens, record.attention,
                                  os.path.join(args.output, "attention.png"))
    print(f"attention map: {os.path.join(args.output, 'attention.png')}")

    version = transcriber.export(os.path.join(args.output, "1"), overwrite=True)
    served = tf.saved_model.load(version).signatures["serving_default"]
    text = served(inputs=tf.constant([validation[0][0]]))["outputs"].numpy()[0].decode()
    print(f"export: {version} transcribes WAV bytes: {text!r}")
    return {"rates": rates, "exported": text, "samples": np.asarray(samples)}


if __name__ == "__main__":
    main()
