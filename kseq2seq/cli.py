"""Level 5: the `kseq2seq` command line. Global state (seeds, logging) lives only here."""

import argparse
import json
import logging
import os
import sys

MODEL_FILE = "model.keras"
METADATA_FILE = "metadata.json"


def _parse_override(text):
    """`key=value` with JSON values where they parse (`units=256`, `bidirectional=false`)."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"Expected KEY=VALUE. Received: {text!r}")
    key, value = text.split("=", 1)
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def build_parser():
    parser = argparse.ArgumentParser(prog="kseq2seq", description="Attention sequence-to-sequence models.")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="train the dates translator, save it, reload it and translate")
    demo.add_argument("--output", default=os.path.join("saved_models", "dates"))
    demo.add_argument("--epochs", type=int, default=3)
    demo.add_argument("--num-train", type=int, default=20000)
    demo.add_argument("--seed", type=int, default=0)

    train = commands.add_parser("train", help="train a preset on your own parallel text")
    train.add_argument("--preset", required=True)
    train.add_argument("--source-file")
    train.add_argument("--target-file")
    train.add_argument("--tsv", help="tab-separated source/target file instead of two files")
    train.add_argument("--validation-source-file")
    train.add_argument("--validation-target-file")
    train.add_argument("--output", required=True)
    train.add_argument("--overwrite", action="store_true")
    train.add_argument("--epochs", type=int)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--limit", type=int, help="use only the first N training pairs")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--set", type=_parse_override, action="append", default=[], metavar="KEY=VALUE",
                       help="override a preset field, e.g. --set units=256")

    generate = commands.add_parser("generate", help="decode texts with a saved model")
    generate.add_argument("--model", required=True, help="a model folder (or .keras file)")
    generate.add_argument("--batch-size", type=int, default=64)
    generate.add_argument("texts", nargs="*", help="texts to decode; read from standard input if none")

    evaluate = commands.add_parser("evaluate", help="BLEU and exact match of a saved model on parallel files")
    evaluate.add_argument("--task", default="translation", choices=["translation"])
    evaluate.add_argument("--model", required=True)
    evaluate.add_argument("--source-file", required=True)
    evaluate.add_argument("--target-file", required=True)
    evaluate.add_argument("--limit", type=int)
    evaluate.add_argument("--batch-size", type=int, default=64)
    evaluate.add_argument("--report", help="write a JSON report here")
    return parser


def load_model(path):
    import keras

    import kseq2seq  # noqa: F401  (registers the serializable classes)

    model_file = os.path.join(path, MODEL_FILE) if os.path.isdir(path) else path
    if not os.path.isfile(model_file):
        raise FileNotFoundError(f"Expected --model to be a folder holding {MODEL_FILE} or a .keras file. Received: {path!r}")
    return keras.models.load_model(model_file)


def save_model(task, output, metadata, overwrite=False):
    """Writes `model.keras` and `metadata.json` into `output` atomically."""
    from kseq2seq.utils import atomic_directory

    def write(folder):
        task.save(os.path.join(folder, MODEL_FILE))
        with open(os.path.join(folder, METADATA_FILE), "w") as f:
            json.dump(metadata, f, indent=2, sort_keys=True)

    return atomic_directory(output, write, overwrite=overwrite)


def _metadata(task, **extra):
    import keras
    import tensorflow as tf

    import kseq2seq

    return {
        "kseq2seq_version": kseq2seq.__version__,
        "tensorflow_version": tf.__version__,
        "keras_version": keras.__version__,
        "task": type(task).__name__,
        "preset": task.preset,
        **extra,
    }


def run_demo(args, out):
    import keras

    import kseq2seq
    from kseq2seq.datasets.dates import load_dates
    from kseq2seq.metrics import exact_match

    keras.utils.set_random_seed(args.seed)
    train, validation, test = load_dates(num_train=args.num_train, seed=args.seed)
    print(f"Data: generated dates, {len(train)} train / {len(validation)} validation / {len(test)} test pairs", file=out)
    translator = kseq2seq.Translator.from_preset("bahdanau_gru_small", train_texts=train)
    translator.fit(train, validation_data=validation, epochs=args.epochs, seed=args.seed, verbose=2)
    val_loss, val_accuracy = translator.evaluate(validation, verbose=0)
    path = save_model(translator, args.output, _metadata(translator, data="dates"), overwrite=True)
    reloaded = load_model(path)
    outputs = reloaded.generate([s for s, _ in test])
    score = exact_match(outputs, [t for _, t in test])
    print(f"Validation token accuracy: {val_accuracy:.4f} (loss {val_loss:.4f})", file=out)
    print(f"Test exact match: {score:.2%} on {len(test)} examples (model reloaded from {path})", file=out)
    examples = ["3 June 2019", "the 1st of January 2000", "12/25/1999", "14. Juli 1789", "le 4 août 2031"]
    for source, output in zip(examples, reloaded.generate(examples)):
        print(f"  {source!r:32} -> {output}", file=out)
    return 0


def run_train(args, out):
    import keras

    import kseq2seq
    from kseq2seq.datasets import text_files

    keras.utils.set_random_seed(args.seed)
    if args.tsv:
        pairs = text_files.load_tsv(args.tsv, limit=args.limit)
    elif args.source_file and args.target_file:
        pairs = text_files.load_text_pairs(args.source_file, args.target_file, limit=args.limit)
    else:
        raise ValueError("Expected --source-file and --target-file, or --tsv. Received: neither")
    validation = None
    if args.validation_source_file or args.validation_target_file:
        validation = text_files.load_text_pairs(args.validation_source_file, args.validation_target_file)
    if os.path.exists(args.output) and not args.overwrite:
        raise FileExistsError(f"Expected --output to not exist (or --overwrite). Received: {args.output!r}")
    overrides = dict(args.set)
    config = kseq2seq.Translator.preset_config(args.preset, **overrides)
    translator = kseq2seq.Translator.from_preset(args.preset, train_texts=pairs, **overrides)
    translator.fit(
        pairs,
        validation_data=validation,
        batch_size=args.batch_size or config["batch_size"],
        epochs=args.epochs or config["epochs"],
        seed=args.seed,
        verbose=2,
    )
    path = save_model(translator, args.output, _metadata(translator, overrides=overrides), overwrite=args.overwrite)
    print(f"Saved to {path}", file=out)
    return 0


def run_generate(args, out):
    texts = args.texts or [line.rstrip("\n") for line in sys.stdin]
    for output in load_model(args.model).generate(texts, batch_size=args.batch_size):
        print(output, file=out)
    return 0


def run_evaluate(args, out):
    from kseq2seq.datasets import text_files
    from kseq2seq.metrics import evaluate_generation

    pairs = text_files.load_text_pairs(args.source_file, args.target_file, limit=args.limit)
    result = evaluate_generation(load_model(args.model), pairs, batch_size=args.batch_size)
    print(f"BLEU = {result['bleu']:.2f} ({result['bleu_signature']})", file=out)
    print(f"Exact match = {result['exact_match']:.2%} on {result['num_examples']} examples", file=out)
    if args.report:
        with open(args.report, "w") as f:
            json.dump(result, f, indent=2, ensure_ascii=False)
    return 0


COMMANDS = {"demo": run_demo, "train": run_train, "generate": run_generate, "evaluate": run_evaluate}


def main(argv=None, out=None):
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return COMMANDS[args.command](args, out or sys.stdout)
    except (ValueError, FileNotFoundError, FileExistsError) as error:
        print(f"kseq2seq {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
