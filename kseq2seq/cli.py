"""Level 5: the `kseq2seq` command line. Global state (seeds, logging) lives only here."""

import argparse
import json
import logging
import os
import sys

MODEL_FILE = "model.keras"
TASKS = {"translation": "Translator", "summarization": "Summarizer"}
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


def add_decoding_arguments(parser):
    group = parser.add_argument_group("decoding")
    # Left out, each takes the model's preset default (see docs/decoding.md).
    group.add_argument("--sampler", choices=["greedy", "beam", "sample"])
    group.add_argument("--num-beams", type=int)
    group.add_argument("--length-penalty", type=float, help="GNMT alpha for beam search")
    group.add_argument("--nbest", type=int, help="hypotheses per input (beam search)")
    group.add_argument("--temperature", type=float)
    group.add_argument("--top-k", type=int)
    group.add_argument("--top-p", type=float)
    group.add_argument("--seed", type=int, default=0, help="sampling seed")
    group.add_argument("--max-length", type=int)
    group.add_argument("--min-length", type=int, help="tokens before the end token may be chosen")
    group.add_argument("--allow-unknown", action=argparse.BooleanOptionalAction,
                       help="whether [UNK] may be generated (--no-allow-unknown rules it out)")


def decoding_kwargs(args):
    return {
        "sampler": args.sampler,
        "num_beams": args.num_beams,
        "length_penalty": args.length_penalty,
        "nbest": args.nbest,
        "temperature": args.temperature,
        "top_k": args.top_k,
        "top_p": args.top_p,
        "seed": args.seed,
        "max_length": args.max_length,
        "min_length": args.min_length,
        "allow_unknown": args.allow_unknown,
    }


def build_parser(argument_default=None):
    parser = argparse.ArgumentParser(prog="kseq2seq", description="Attention sequence-to-sequence models.",
                                     argument_default=argument_default)
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="train a built-in task end to end (default: the dates translator)")
    demo.add_argument("--task", default="translation", choices=["translation", "dialogue", "captioning"])
    demo.add_argument("--output", help="default: saved_models/dates, saved_models/shop (dialogue), "
                                       "saved_models/shapes (captioning)")
    demo.add_argument("--epochs", type=int, help="default: 3 (translation), 12 (dialogue), 15 (captioning)")
    demo.add_argument("--num-train", type=int, help="default: 20000 (translation), 4000 (dialogue), "
                                                    "3000 (captioning)")
    demo.add_argument("--seed", type=int, default=0)

    train = commands.add_parser("train", help="train a preset on your own data or a built-in set",
                                argument_default=argument_default)
    train.add_argument("--config", help="YAML or JSON file of train arguments; command-line flags override it")
    # Under argument_default=SUPPRESS (to see which flags were given), no explicit defaults.
    default = (lambda value: {}) if argument_default else (lambda value: {"default": value})
    train.add_argument("--task", choices=sorted(TASKS), **default("translation"))
    train.add_argument("--preset", help="required (here or in --config)")
    train.add_argument("--dataset", choices=["dates", "news"], help="a built-in generated set (train/validation splits)")
    train.add_argument("--data", help="JSON lines with article/highlights fields (summarization)")
    train.add_argument("--validation-data", help="JSON lines for validation")
    train.add_argument("--source-file")
    train.add_argument("--target-file")
    train.add_argument("--tsv", help="tab-separated source/target file instead of two files")
    train.add_argument("--validation-source-file")
    train.add_argument("--validation-target-file")
    train.add_argument("--output", help="model folder to write; required (here or in --config)")
    train.add_argument("--overwrite", action="store_true")
    train.add_argument("--checkpoint-dir", help="checkpoints, resolved config and TensorBoard logs "
                                                "(default: OUTPUT.checkpoints); a rerun resumes from it")
    train.add_argument("--checkpoint-every", type=int, help="also checkpoint every N steps")
    train.add_argument("--keep-checkpoints", type=int, **default(3), help="checkpoints kept (the newest)")
    train.add_argument("--early-stopping", type=int, metavar="PATIENCE", help="epochs without a better validation loss")
    train.add_argument("--lr-decay-factor", type=float, metavar="FACTOR",
                       help="multiply the learning rate by FACTOR after epochs without a better validation loss "
                            "(default: the preset's lr_decay_factor, else none)")
    train.add_argument("--lr-decay-patience", type=int, metavar="EPOCHS",
                       help="epochs without a better validation loss before each decay (default: the preset's, else 1)")
    train.add_argument("--max-steps", type=int)
    train.add_argument("--drop-long", action="store_true",
                       help="leave out (and count) pairs longer than the preset's lengths instead of truncating")
    train.add_argument("--jit-compile", action="store_true",
                       help="compile each training step with XLA (one compilation per batch shape)")
    train.add_argument("--mixed-precision", choices=["mixed_float16", "mixed_bfloat16"])
    train.add_argument("--epochs", type=int)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--limit", type=int, help="use only the first N training pairs")
    train.add_argument("--time-budget", type=float, metavar="MINUTES", help="stop training after this many minutes")
    train.add_argument("--seed", type=int, **default(0))
    train.add_argument("--set", type=_parse_override, action="append", metavar="KEY=VALUE", **default([]),
                       help="override a preset field, e.g. --set units=256")

    generate = commands.add_parser("generate", help="decode texts with a saved model")
    generate.add_argument("--model", required=True, help="a model folder (or .keras file)")
    generate.add_argument("--batch-size", type=int, default=64)
    generate.add_argument("texts", nargs="*", help="texts to decode; read from standard input if none")
    add_decoding_arguments(generate)

    evaluate = commands.add_parser(
        "evaluate", help="translation: BLEU and exact match; summarization: ROUGE with confidence intervals"
    )
    evaluate.add_argument("--task", default="translation", choices=["translation", "summarization"])
    evaluate.add_argument("--model", help="a saved model folder (or .keras file)")
    evaluate.add_argument("--baseline", choices=["lead3"], help="summarization: score a baseline instead of a model")
    evaluate.add_argument("--source-file", help="translation: source sentences, one per line")
    evaluate.add_argument("--target-file", help="translation: references, line-aligned")
    evaluate.add_argument("--data", help="summarization: JSON lines with article/highlights, a .source file "
                                         "with a matching .target file, or tfds:cnn_dailymail")
    evaluate.add_argument("--split", default="test", help="split of a tensorflow-datasets source (a file is one split)")
    evaluate.add_argument("--tfds-data-dir", help="tfds:cnn_dailymail: folder with (or for) the prepared data set")
    evaluate.add_argument("--manual-dir", help="tfds:cnn_dailymail: folder with the original story archives")
    evaluate.add_argument("--limit", type=int)
    evaluate.add_argument("--batch-size", type=int, default=64)
    evaluate.add_argument("--report", help="write a JSON report here")
    evaluate.add_argument("--lowercase", action="store_true", help="translation: case-insensitive BLEU (sacreBLEU -lc)")
    add_decoding_arguments(evaluate)
    export = commands.add_parser("export", help="export a saved model as a SavedModel for TF Serving")
    export.add_argument("--model", required=True, help="a model folder (or .keras file)")
    export.add_argument("--output", required=True, help="the version folder, e.g. saved_models/dates/1")
    export.add_argument("--overwrite", action="store_true")
    export.add_argument("--num-beams", type=int, default=4, help="beam_search signature: beams")
    export.add_argument("--length-penalty", type=float, default=0.6, help="beam_search signature: GNMT alpha")
    export.add_argument("--nbest", type=int, default=4, help="beam_search signature: hypotheses returned")

    serve = commands.add_parser("serve", help="serve a SavedModel over TF Serving's REST API")
    serve.add_argument("--model", required=True, help="a SavedModel folder or a folder of numbered versions")
    serve.add_argument("--name", help="model name in URLs (default: the model folder's name)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8501)
    serve.add_argument("--max-request-bytes", type=int, default=1 << 20)
    return parser


def load_model(path):
    import keras

    import kseq2seq  # noqa: F401  (registers the serializable classes)

    model_file = os.path.join(path, MODEL_FILE) if os.path.isdir(path) else path
    if not os.path.isfile(model_file):
        raise FileNotFoundError(f"Expected --model to be a folder holding {MODEL_FILE} or a .keras file. Received: {path!r}")
    return keras.models.load_model(model_file)


def save_model(task, output, metadata, overwrite=False, serving_version=None):
    """Writes `model.keras`, `metadata.json` and optionally a SavedModel `<version>/` into `output` atomically."""
    from kseq2seq.utils import atomic_directory

    def write(folder):
        task.save(os.path.join(folder, MODEL_FILE))
        with open(os.path.join(folder, METADATA_FILE), "w") as f:
            json.dump(metadata, f, indent=2, sort_keys=True)
        if serving_version is not None:
            task.export(os.path.join(folder, str(serving_version)))

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
    from kseq2seq import demos  # imports this module: loaded on demand

    return demos.run_demo(args, out)


def _training_pairs(args):
    """`(train, validation)` lists of pairs from the train command's data arguments."""
    from kseq2seq.datasets import BUILTIN, summarization, text_files

    if args.dataset:
        train, validation, _ = BUILTIN[args.dataset](num_train=args.limit or 5000, num_test=0)
        return train, validation
    if args.data:
        train = summarization.load_jsonl(args.data, limit=args.limit)[0]
        validation = summarization.load_jsonl(args.validation_data)[0] if args.validation_data else None
        return train, validation
    if args.tsv:
        train = text_files.load_tsv(args.tsv, limit=args.limit)
    elif args.source_file and args.target_file:
        train = text_files.load_text_pairs(args.source_file, args.target_file, limit=args.limit)
    else:
        raise ValueError("Expected --dataset, --data, --tsv, or --source-file and --target-file. Received: none")
    validation = None
    if args.validation_source_file or args.validation_target_file:
        validation = text_files.load_text_pairs(args.validation_source_file, args.validation_target_file)
    return train, validation


TRAIN_FIELDS = ("task", "preset", "dataset", "data", "validation_data", "source_file", "target_file", "tsv",
                "validation_source_file", "validation_target_file", "output", "overwrite", "checkpoint_dir",
                "checkpoint_every", "keep_checkpoints", "early_stopping", "lr_decay_factor", "lr_decay_patience",
                "max_steps", "drop_long", "jit_compile", "mixed_precision", "epochs", "batch_size", "limit",
                "time_budget", "seed", "set")


def apply_train_config(args, argv):
    """Fills train arguments from `--config`; flags given on the command line win (`--set` merges per key)."""
    import yaml

    if not args.config:
        return args
    with open(args.config, encoding="utf-8") as f:
        config = yaml.safe_load(f) or {}
    if not isinstance(config, dict):
        raise ValueError(f"Expected --config to hold a mapping of train arguments. Received: {type(config).__name__}")
    given = vars(build_parser(argparse.SUPPRESS).parse_args(argv))
    unknown = sorted(set(k.replace("-", "_") for k in config) - set(TRAIN_FIELDS))
    if unknown:
        raise ValueError(f"Expected --config keys among {list(TRAIN_FIELDS)}. Received unknown: {unknown}")
    for key, value in config.items():
        key = key.replace("-", "_")
        if key == "set":
            args.set = list({**dict(value or {}), **dict(args.set)}.items())
        elif key not in given:
            setattr(args, key, value)
    return args


def run_train(args, out):
    import keras
    import yaml

    import kseq2seq
    from kseq2seq.training import Trainer, get_strategy, is_chief

    for name in ("preset", "output"):
        if not getattr(args, name):
            raise ValueError(f"Expected --{name} (on the command line or in --config). Received: none")
    _check_counts(args)
    keras.utils.set_random_seed(args.seed)
    if args.mixed_precision:
        keras.mixed_precision.set_global_policy(args.mixed_precision)
    pairs, validation = _training_pairs(args)
    if os.path.exists(args.output) and not args.overwrite:
        raise FileExistsError(f"Expected --output to not exist (or --overwrite). Received: {args.output!r}")
    task_class = getattr(kseq2seq, TASKS[args.task])
    config = task_class.preset_config(args.preset, **dict(args.set))
    config.pop("description", None)
    # The resolved config names every preset field, so it reproduces the run even if preset defaults change.
    resolved = {key: getattr(args, key) for key in TRAIN_FIELDS}
    resolved["set"] = config
    checkpoint_dir = args.checkpoint_dir or args.output.rstrip("/\\") + ".checkpoints"
    strategy = get_strategy()
    with strategy.scope():
        task = task_class.from_preset(args.preset, train_texts=pairs, **config)
    if is_chief(strategy):
        os.makedirs(checkpoint_dir, exist_ok=True)
        with open(os.path.join(checkpoint_dir, "config.yaml"), "w", encoding="utf-8") as f:
            yaml.safe_dump(resolved, f, sort_keys=False, allow_unicode=True)
    trainer = Trainer(task, strategy, checkpoint_dir=checkpoint_dir, checkpoint_every=args.checkpoint_every,
                      max_to_keep=args.keep_checkpoints, jit_compile=args.jit_compile,
                      early_stopping_patience=args.early_stopping, log_dir=os.path.join(checkpoint_dir, "logs"),
                      lr_decay_factor=_first_given(args.lr_decay_factor, config.get("lr_decay_factor")),
                      lr_decay_patience=_first_given(args.lr_decay_patience, config.get("lr_decay_patience"), 1))
    history = trainer.fit(
        pairs,
        validation,
        epochs=_first_given(args.epochs, config["epochs"]),
        batch_size=_first_given(args.batch_size, config["batch_size"]),
        seed=args.seed,
        bucket_boundaries=config["bucket_boundaries"],
        time_budget=args.time_budget,
        max_steps=args.max_steps,
        drop_long=args.drop_long,
    )
    print(f"Trained {history['steps']} steps on {strategy.num_replicas_in_sync} replica(s); "
          f"stopped by {history['stopped']}", file=out)
    if not is_chief(strategy):
        return 0
    metadata = _metadata(task, overrides=dict(args.set), config=resolved, history=history)
    path = save_model(task, args.output, metadata, overwrite=args.overwrite)
    print(f"Saved to {path} (resolved config: {os.path.join(checkpoint_dir, 'config.yaml')})", file=out)
    return 0


POSITIVE_TRAIN_COUNTS = ("epochs", "batch_size", "limit", "max_steps", "checkpoint_every", "keep_checkpoints",
                         "early_stopping", "lr_decay_patience")


def _check_counts(args):
    """Fails before any data is read or vocabulary learned (a --config file bypasses argparse's types)."""
    from kseq2seq.training import check_minutes
    from kseq2seq.utils import check_positive_int

    for name in POSITIVE_TRAIN_COUNTS:
        if getattr(args, name) is not None:
            check_positive_int(f"--{name.replace('_', '-')}", getattr(args, name))
    if args.time_budget is not None:
        check_minutes(args.time_budget, name="--time-budget")


def _first_given(*values):
    return next((value for value in values if value is not None), None)


def run_generate(args, out):
    """One output per line; with --nbest > 1, `input_index<TAB>score<TAB>text` lines, best first."""
    texts = args.texts or [line.rstrip("\n") for line in sys.stdin]
    outputs, scores = load_model(args.model).generate(
        texts, batch_size=args.batch_size, return_scores=True, **decoding_kwargs(args)
    )
    for i, (output, score) in enumerate(zip(outputs, scores)):
        if not args.nbest or args.nbest == 1:
            print(output, file=out)
            continue
        for hypothesis, hypothesis_score in zip(output, score):
            print(f"{i}\t{hypothesis_score:.4f}\t{hypothesis}", file=out)
    return 0


def run_evaluate(args, out):
    if args.task == "summarization":
        return run_evaluate_summarization(args, out)
    from kseq2seq.datasets import text_files
    from kseq2seq.metrics import evaluate_generation

    if not (args.model and args.source_file and args.target_file):
        raise ValueError("Expected --model, --source-file and --target-file for --task translation.")
    pairs = text_files.load_text_pairs(args.source_file, args.target_file, limit=args.limit)
    kwargs = decoding_kwargs(args)
    if args.nbest not in (None, 1):
        raise ValueError(f"Expected --nbest 1 for evaluation. Received: --nbest {args.nbest}")
    model = load_model(args.model)
    result = evaluate_generation(model, pairs, batch_size=args.batch_size, decoding=kwargs, lowercase=args.lowercase)
    options = {k: v for k, v in kwargs.items() if k not in ("seed", "max_length")}
    result["decoding"] = {**model.generation_options(**options), "seed": kwargs["seed"],
                          "max_length": kwargs["max_length"] or model.max_length}
    print(f"BLEU = {result['bleu']:.2f} ({result['bleu_signature']})", file=out)
    print(f"Exact match = {result['exact_match']:.2%} on {result['num_examples']} examples", file=out)
    _write_report(args.report, result)
    return 0


def _write_report(path, result):
    if path:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=1, ensure_ascii=False)


def _summarization_data(args):
    from kseq2seq.datasets import summarization, text_files

    if not args.data:
        raise ValueError("Expected --data for --task summarization. Received: none")
    if args.data == "tfds:cnn_dailymail":
        from kseq2seq.datasets.cnn_dailymail import load_cnn_dailymail

        pairs = load_cnn_dailymail(args.split, data_dir=args.tfds_data_dir, manual_dir=args.manual_dir, limit=args.limit)
        report = {"path": f"{args.data} ({args.split})", "lines": len(pairs), "kept": len(pairs), "bad": {}}
        return pairs, [str(i) for i in range(len(pairs))], report
    if args.data.startswith("tfds:"):
        raise ValueError(f"Expected --data tfds:cnn_dailymail for a tfds source. Received: --data {args.data}")
    if args.data.endswith(".source"):
        target = args.data[: -len(".source")] + ".target"
        pairs = text_files.load_text_pairs(args.data, target, limit=args.limit)
        report = {"path": args.data, "lines": len(pairs), "kept": len(pairs), "bad": {}}
        return pairs, [str(i) for i in range(len(pairs))], report
    return summarization.load_jsonl(args.data, limit=args.limit)


def run_evaluate_summarization(args, out):
    import keras

    from kseq2seq.metrics import lead, rouge, split_sentences

    if (args.model is None) == (args.baseline is None):
        raise ValueError("Expected exactly one of --model or --baseline for --task summarization.")
    pairs, ids, data_report = _summarization_data(args)
    articles, references = [a for a, _ in pairs], [h for _, h in pairs]
    progress = keras.utils.Progbar(len(pairs), unit_name="article")
    decoding = None
    if args.baseline == "lead3":
        predictions = []
        for article in articles:
            predictions.append(lead(article, 3))
            progress.add(1)
    else:
        model, predictions = load_model(args.model), []
        options = {k: v for k, v in decoding_kwargs(args).items() if k not in ("seed", "max_length")}
        decoding = model.generation_options(**options)
        for start in range(0, len(articles), args.batch_size):
            batch = articles[start : start + args.batch_size]
            outputs = model.generate(batch, batch_size=args.batch_size, **decoding_kwargs(args))
            # One sentence per line, as references are, so that ROUGE-Lsum compares sentences.
            predictions.extend("\n".join(split_sentences(output)) for output in outputs)
            progress.add(len(batch))
    scores = rouge(predictions, references)
    print(f"ROUGE F1 x 100 on {len(pairs)} examples of {args.data} (95% bootstrap interval):", file=out)
    for rouge_type, measures in scores["aggregate"].items():
        f1 = measures["fmeasure"]
        print(f"  {rouge_type:9s} {100 * f1['mean']:6.2f}  [{100 * f1['low']:.2f}, {100 * f1['high']:.2f}]", file=out)
    result = {
        "task": "summarization",
        "data": data_report,
        "system": args.baseline or args.model,
        "decoding": decoding,
        "num_examples": len(pairs),
        "aggregate": scores["aggregate"],
        "per_example": [
            {"id": i, "prediction": p, "reference": r, "scores": s}
            for i, p, r, s in zip(ids, predictions, references, scores["per_example"])
        ],
    }
    _write_report(args.report, result)
    return 0


def run_export(args, out):
    beam = {"num_beams": args.num_beams, "length_penalty": args.length_penalty, "nbest": args.nbest}
    path = load_model(args.model).export(args.output, overwrite=args.overwrite, beam_config=beam)
    print(f"Exported a SavedModel to {path}", file=out)
    return 0


def run_serve(args, out):
    from kseq2seq import serving

    model = serving.Model(args.model)
    name = args.name or serving.default_name(args.model)
    server = serving.make_server(model, name, args.host, args.port, args.max_request_bytes)
    host, port = server.server_address[:2]
    print(f"Serving {model.path} as '{name}' (version {model.version}) on http://{host}:{port}/v1/models/{name}", file=out)
    out.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


COMMANDS = {
    "demo": run_demo,
    "train": run_train,
    "generate": run_generate,
    "evaluate": run_evaluate,
    "export": run_export,
    "serve": run_serve,
}


def main(argv=None, out=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    # Our own progress messages at INFO; other libraries' (TensorFlow's asset notices) only from WARNING.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("kseq2seq").setLevel(logging.INFO)
    try:
        if args.command == "train":
            args = apply_train_config(args, argv)
        return COMMANDS[args.command](args, out or sys.stdout)
    except (ValueError, FileNotFoundError, FileExistsError) as error:
        print(f"kseq2seq {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
