"""The command line's start-up: `--help` without TensorFlow, and TensorFlow's native notices hidden."""

import os
import subprocess
import sys

import pytest

from kseq2seq.cli import build_parser
from kseq2seq.cli.startup import NOISE

COMMANDS = sorted(build_parser()._subparsers._group_actions[0].choices)


def _python(code, *args):
    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=120)


def test_help_of_every_command_imports_no_tensorflow():
    code = """
import sys
from kseq2seq.cli import main
for argv in [["--help"]] + [[command, "--help"] for command in sys.argv[1:]]:
    try:
        main(argv)
    except SystemExit as exit:
        assert exit.code == 0, (argv, exit.code)
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "keras_hub", "numpy"))
print("IMPORTED", heavy)
"""
    result = _python(code, *COMMANDS)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "IMPORTED []"
    for command in COMMANDS:
        assert f"usage: kseq2seq {command}" in result.stdout


def test_public_names_load_on_first_use():
    result = _python("import sys, kseq2seq\n"
                     "print('tensorflow' in sys.modules, 'Translator' in dir(kseq2seq))\n"
                     "from kseq2seq import Translator, decoding\n"
                     "print('tensorflow' in sys.modules, Translator.__module__, decoding.__name__)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True", "True", "kseq2seq.tasks.translation", "kseq2seq.decoding"]
    result = _python("import kseq2seq; kseq2seq.Translater")
    assert "module 'kseq2seq' has no attribute 'Translater'" in result.stderr
    result = _python("import kseq2seq; print(kseq2seq.records.parse_mr('name[X]'))")  # any submodule, on first use
    assert result.stdout.strip() == "[('name', 'X')]", result.stderr[-1000:]


def test_quiet_native_stderr_drops_only_the_known_notices():
    code = """
import os, sys
from kseq2seq.cli.startup import quiet_native_stderr
with quiet_native_stderr():
    os.write(2, b"I0000 00:00:1.0 1 cudart_stub.cc:31] Could not find cuda drivers on your machine.\\n")
    os.write(2, b"E0000 00:00:1.0 1 cuda_platform.cc:52] failed call to cuInit: INTERNAL\\n")
    os.write(2, b"F0000 a real native error\\n")
    print("a Python warning", file=sys.stderr)
print("after", file=sys.stderr)
"""
    result = _python(code)
    assert result.returncode == 0
    assert result.stderr == "F0000 a real native error\na Python warning\nafter\n"


@pytest.mark.parametrize("verbose", [False, True])
def test_a_command_prints_no_tensorflow_notices_unless_verbose(tmp_path, verbose):
    missing = str(tmp_path / "missing")
    flags = ["--verbose"] if verbose else []
    result = _python("import sys; from kseq2seq.cli import main; sys.exit(main())",
                     "generate", *flags, "--model", missing, "hello")
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert lines[-1] == (f"kseq2seq generate: error: Expected --model to be a folder holding model.keras or a "
                         f".keras file. Received: {missing!r}")
    if verbose:
        assert any(NOISE.search(line) for line in lines)  # this wheel announces oneDNN on every x86 CPU
    else:
        assert lines == lines[-1:]
