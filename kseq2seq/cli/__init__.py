"""Level 5: the `kseq2seq` command line. Global state (seeds, logging) lives only here.

One module per group of commands; the task registry (`kseq2seq.tasks.registry`)
says which tasks each command offers and what it does with them.
"""

import argparse
import logging
import sys

from kseq2seq.cli import commands, train
from kseq2seq.cli.common import load_model  # noqa: F401  (part of this module's API)
from kseq2seq.cli.startup import start_tensorflow


def build_parser(argument_default=None):
    parser = argparse.ArgumentParser(prog="kseq2seq", description="Attention sequence-to-sequence models.",
                                     argument_default=argument_default)
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow's start-up notices")
    subcommands = parser.add_subparsers(dest="command", required=True)
    train.add_parser(subcommands, argument_default)
    commands.add_parsers(subcommands)
    for command in subcommands.choices.values():
        # Also after the command name; SUPPRESS keeps a `--verbose` given before it.
        command.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS,
                             help="show TensorFlow's start-up notices")
    return parser


COMMANDS = {
    "demo": commands.run_demo,
    "train": train.run_train,
    "generate": commands.run_generate,
    "evaluate": commands.run_evaluate,
    "export": commands.run_export,
    "serve": commands.run_serve,
    "average-checkpoints": commands.run_average_checkpoints,
}


def main(argv=None, out=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    # Our own progress messages at INFO; other libraries' (TensorFlow's asset notices) only from WARNING.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("kseq2seq").setLevel(logging.INFO)
    try:
        if args.command == "train":
            args = train.apply_train_config(args, argv)
        start_tensorflow(args.verbose)
        return COMMANDS[args.command](args, out or sys.stdout)
    except (ValueError, TypeError, FileNotFoundError, FileExistsError) as error:
        print(f"kseq2seq {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
