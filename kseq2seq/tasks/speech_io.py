"""Level 3: the speech task's data loader, evaluator (WER/CER with jiwer), input reader and demo.

`--data` may be a folder of FSDD recordings (`{digit}_{speaker}_{index}.wav`:
turned into connected digit strings, speaker `theo` held out for
validation), a Speech Commands digits folder (`transcripts.tsv`) or a
NeMo-style `.jsonl` manifest; `--dataset spoken_numbers` is the generated set.
"""

import os

FSDD_VALIDATION_SPEAKERS = ("theo",)
# The held-out speaker's strings that `evaluate` scores: other strings than training's validation ones.
EVALUATION_SEED = 2


def speech_pairs(options):
    """`(train, validation)` pairs for `kseq2seq train --task speech` (`--dataset` and `--data` may be combined)."""
    from kseq2seq.datasets.spoken_numbers import load_spoken_numbers

    if options.dataset not in (None, "spoken_numbers"):
        raise ValueError(f"Expected --dataset spoken_numbers for --task speech. Received: --dataset {options.dataset}")
    generated = None
    if options.dataset:
        generated = load_spoken_numbers(num_train=options.limit or 3000, num_test=0, seed=options.seed or 0)
        if not options.data:
            return generated[:2]
    if not options.data:
        raise ValueError("Expected --data (an FSDD folder, a Speech Commands folder or a .jsonl manifest) "
                         "or --dataset spoken_numbers for --task speech. Received: none")
    train, validation = _data_pairs(options)
    # Both given: the generated voices join the training data; validation stays the --data set's.
    return (train + generated[0] if generated else train), validation


def _data_pairs(options):
    from kseq2seq.datasets import speech

    kind = data_kind(options.data)
    if kind == "fsdd":
        return speech.fsdd_splits(options.data, num_train=options.limit or 4000,
                                  validation_speakers=FSDD_VALIDATION_SPEAKERS, seed=options.seed or 0)
    if kind == "speech_commands":
        return speech.load_speech_commands_digits(options.data), None
    train = speech.load_manifest(options.data, limit=options.limit)[0]
    validation = speech.load_manifest(options.validation_data)[0] if options.validation_data else None
    return train, validation


def data_kind(path):
    """`"manifest"`, `"speech_commands"` or `"fsdd"` for a `--data` path, or a ValueError naming it."""
    if os.path.isfile(path) and path.endswith((".jsonl", ".json")):
        return "manifest"
    if os.path.isfile(os.path.join(path, "transcripts.tsv")):
        return "speech_commands"
    if os.path.isdir(path):
        return "fsdd"
    raise ValueError(f"Expected --data to be a .jsonl manifest, a Speech Commands folder (transcripts.tsv) or a "
                     f"folder of FSDD recordings. Received: {path!r}")


def evaluation_pairs(options, sample_rate):
    """The pairs `evaluate` scores: FSDD held-out-speaker strings, Speech Commands clips, or a manifest."""
    from kseq2seq.datasets import speech

    kind = data_kind(options.data)
    if kind == "fsdd":
        recordings = speech.load_fsdd(options.data, speakers=set(FSDD_VALIDATION_SPEAKERS))
        # Not seed 1, the validation strings `kseq2seq train` selects its model on (`fsdd_splits`).
        return speech.connected_digits(recordings, options.limit or 500, seed=EVALUATION_SEED, sample_rate=sample_rate)
    if kind == "speech_commands":
        pairs = speech.load_speech_commands_digits(options.data, sample_rate=sample_rate)
        return pairs[: options.limit] if options.limit else pairs
    return speech.load_manifest(options.data, limit=options.limit)[0]


def error_rates(predictions, references):
    """Word, character and string error rates (jiwer), as fractions."""
    import jiwer

    return {
        "wer": jiwer.wer(references, predictions),
        "cer": jiwer.cer(references, predictions),
        "ser": sum(p != r for p, r in zip(predictions, references)) / len(references),
    }


def evaluate_speech(options, out):
    """WER, CER and string error rate of `--model` on `--data`."""
    from kseq2seq import saving
    from kseq2seq.tasks.task_io import decoding_report

    if not (options.model and options.data):
        raise ValueError("Expected --model and --data for --task speech.")
    model = saving.load(options.model)
    pairs = evaluation_pairs(options, model.preprocessor.sample_rate)
    audio, references = [a for a, _ in pairs], [t.strip().lower() for _, t in pairs]
    predictions = [text.strip() for text in model.generate(audio, batch_size=options.batch_size, **options.decoding)]
    rates = error_rates(predictions, references)
    print(f"WER = {rates['wer']:.2%}, CER = {rates['cer']:.2%}, string error rate = {rates['ser']:.2%} on "
          f"{len(pairs)} utterances of {options.data}", file=out)
    return {
        "task": "speech",
        "data": options.data,
        "model": options.model,
        "decoding": decoding_report(model, options.decoding),
        "num_examples": len(pairs),
        **rates,
        "per_example": [{"prediction": p, "reference": r} for p, r in zip(predictions, references)],
    }


def run_demo(args, out):
    """Trains the small transcriber on generated spoken numbers, exports it (WAV bytes in) and transcribes."""
    import keras

    from kseq2seq.datasets.spoken_numbers import load_spoken_numbers
    from kseq2seq.demos import fit_save_reload, show_exported
    from kseq2seq.tasks.transcriber import Transcriber

    args.output = args.output or os.path.join("saved_models", "spoken_numbers")
    keras.utils.set_random_seed(args.seed)
    train, validation, test = load_spoken_numbers(num_train=args.num_train or 3000, num_validation=100,
                                                  num_test=200, seed=args.seed)
    print(f"Data: digit strings spoken by eSpeak NG (8 kHz), {len(train)} train / {len(validation)} validation / "
          f"{len(test)} test", file=out)
    config = Transcriber.presets["las_digits_small"]
    path, reloaded = fit_save_reload(Transcriber.from_preset("las_digits_small", train_texts=train), train,
                                     validation, args, "spoken_numbers", args.epochs or config["epochs"],
                                     bucket_boundaries=config["bucket_boundaries"])
    predictions = reloaded.generate([audio for audio, _ in test])
    rates = error_rates(predictions, [text for _, text in test])
    print(f"Test: digit (word) error rate {rates['wer']:.2%}, exact match {1 - rates['ser']:.2%} on {len(test)} "
          f"strings (model reloaded from {path})", file=out)
    references = dict(test[:3])
    show_exported(path, reloaded, list(references),
                  f"Transcripts by the exported SavedModel ({os.path.join(path, '1')}, WAV bytes in):",
                  lambda audio, text: f"  {text!r:40} (reference: {references[audio]!r})", out)
    return 0
