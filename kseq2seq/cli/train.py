"""Level 5: `kseq2seq train`: a preset on the task's data, under a strategy, with checkpoints."""

import argparse
import os

from kseq2seq.cli.common import parse_override
from kseq2seq.tasks.registry import dataset_names, get_task, task_names


def add_parser(commands, argument_default=None):
    train = commands.add_parser("train", help="train a preset on your own data or a built-in set",
                                argument_default=argument_default)
    train.add_argument("--config", help="YAML or JSON file of train arguments; command-line flags override it")
    # Under argument_default=SUPPRESS (to see which flags were given), no explicit defaults.
    default = (lambda value: {}) if argument_default else (lambda value: {"default": value})
    train.add_argument("--task", choices=task_names("train_data"), **default("translation"))
    train.add_argument("--preset", help="required (here or in --config)")
    train.add_argument("--dataset", choices=dataset_names(),
                       help="a built-in generated set (train/validation splits)")
    train.add_argument("--data", help="the task's data file (summarization: JSON lines with article/highlights; "
                                       "dialogue: dialogue JSON lines; data_to_text: an E2E CSV)")
    train.add_argument("--validation-data", help="the task's validation file (same format as --data)")
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
    train.add_argument("--average-last", type=int, metavar="N",
                       help="after training, average the last N checkpoints and save the average instead of the "
                            "best single model when its validation loss is lower (needs --keep-checkpoints >= N)")
    train.add_argument("--progress-every", type=float, metavar="SECONDS",
                       help="log a progress line (step, loss, target tokens/s, time left) this often (default 30)")
    train.add_argument("--max-steps", type=int)
    train.add_argument("--drop-long", action="store_true",
                       help="leave out (and count) pairs longer than the preset's lengths instead of truncating")
    train.add_argument("--drop-slot-errors", action="store_true",
                       help="data_to_text: train only on pairs whose reference misses, adds and gets wrong no slot "
                            "of its MR (kseq2seq.slot_errors); the number left out is logged")
    train.add_argument("--oversample-multi-valued", type=int, metavar="TIMES",
                       help="data_to_text: repeat each training pair whose MR gives an attribute more than one value "
                            "(eatType[pub], eatType[restaurant]) to TIMES copies (after --drop-slot-errors)")
    train.add_argument("--jit-compile", action="store_true",
                       help="compile each training step with XLA (one compilation per batch shape)")
    train.add_argument("--mixed-precision", choices=["mixed_float16", "mixed_bfloat16"])
    train.add_argument("--epochs", type=int)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--limit", type=int, help="use only the first N training pairs")
    train.add_argument("--time-budget", type=float, metavar="MINUTES", help="stop training after this many minutes")
    train.add_argument("--seed", type=int, **default(0))
    train.add_argument("--set", type=parse_override, action="append", metavar="KEY=VALUE", **default([]),
                       help="override a preset field, e.g. --set units=256")

    return train


TRAIN_FIELDS = ("task", "preset", "dataset", "data", "validation_data", "source_file", "target_file", "tsv",
                "validation_source_file", "validation_target_file", "output", "overwrite", "checkpoint_dir",
                "checkpoint_every", "keep_checkpoints", "early_stopping", "lr_decay_factor", "lr_decay_patience",
                "average_last", "progress_every", "max_steps", "drop_long", "drop_slot_errors",
                "oversample_multi_valued", "jit_compile",
                "mixed_precision", "epochs", "batch_size", "limit", "time_budget", "seed", "set")


def apply_train_config(args, argv):
    """Fills train arguments from `--config`; flags given on the command line win (`--set` merges per key)."""
    import yaml

    if not args.config:
        return args
    with open(args.config, encoding="utf-8") as f:
        config = yaml.safe_load(f) or {}
    if not isinstance(config, dict):
        raise ValueError(f"Expected --config to hold a mapping of train arguments. Received: {type(config).__name__}")
    given = vars(_suppressing_parser().parse_args(argv))
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

    from kseq2seq import saving
    from kseq2seq.training import Trainer, get_strategy, is_chief

    for name in ("preset", "output"):
        if not getattr(args, name):
            raise ValueError(f"Expected --{name} (on the command line or in --config). Received: none")
    _check_counts(args)
    keras.utils.set_random_seed(args.seed)
    if args.mixed_precision:
        keras.mixed_precision.set_global_policy(args.mixed_precision)
    spec = get_task(args.task)
    if spec.train_data is None:
        raise ValueError(f"Expected --task among {task_names('train_data')} (tasks with a training-data loader). "
                         f"Received: --task {args.task}")
    _check_task_options(args, spec)
    pairs, validation = spec.resolve("train_data")(args)
    if os.path.exists(args.output) and not args.overwrite:
        raise FileExistsError(f"Expected --output to not exist (or --overwrite). Received: {args.output!r}")
    task_class = spec.resolve("task_class")
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
                      lr_decay_patience=_first_given(args.lr_decay_patience, config.get("lr_decay_patience"), 1),
                      average_last=args.average_last, progress_seconds=_first_given(args.progress_every, 30.0))
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
    fields = {"overrides": dict(args.set), "config": resolved, "history": history}
    path = saving.save(task, args.output, fields, overwrite=args.overwrite)
    print(f"Saved to {path} (resolved config: {os.path.join(checkpoint_dir, 'config.yaml')})", file=out)
    return 0


POSITIVE_TRAIN_COUNTS = ("epochs", "batch_size", "limit", "max_steps", "checkpoint_every", "keep_checkpoints",
                         "early_stopping", "lr_decay_patience", "average_last")


def _check_counts(args):
    """Fails before any data is read or vocabulary learned (a --config file bypasses argparse's types)."""
    from kseq2seq.training import check_minutes
    from kseq2seq.utils import check_positive_int

    for name in POSITIVE_TRAIN_COUNTS:
        if getattr(args, name) is not None:
            check_positive_int(f"--{name.replace('_', '-')}", getattr(args, name))
    if args.time_budget is not None:
        check_minutes(args.time_budget, name="--time-budget")


def _check_task_options(args, spec):
    """A flag that only some tasks' loaders read (`TaskSpec.train_options`) is refused for the others."""
    tasks = task_names("train_data")
    for name in sorted({name for task in tasks for name in get_task(task).train_options}):
        if getattr(args, name, None) and name not in spec.train_options:
            readers = [task for task in tasks if name in get_task(task).train_options]
            raise ValueError(f"Expected --{name.replace('_', '-')} only with --task {' or '.join(readers)}. "
                             f"Received: --task {args.task}")


def _first_given(*values):
    return next((value for value in values if value is not None), None)




def _suppressing_parser():
    from kseq2seq.cli import build_parser  # the whole parser, to see which flags were given

    return build_parser(argparse.SUPPRESS)
