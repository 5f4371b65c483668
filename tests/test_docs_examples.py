"""Every code example in README.md and docs/*.md is run here, or named below with the test that covers it.

The fast tests check every example without training: Python compiles, each
`kseq2seq` command line parses with the real parser, and named presets and
shared data paths exist. The large tests run each file's examples in order,
as a user would paste them, in a fresh folder beside a link to ../shared.
Only their length is capped, the same for every file: training stops after
2 steps (the documented budgets are minutes to an hour), `kseq2seq train`
reads at most 1,000 pairs and `kseq2seq evaluate` scores at most 16 inputs.
So the tests show that the examples run and write what they say, not the
quality the docs quote: docs/benchmarks.md has those figures.
"""

import io
import os
import re
import shutil
import socket
import subprocess
import sys
import time

import pytest
from conftest import SHARED_DATA
from doc_examples import Command, all_blocks, blocks, doc_files, shell_commands, written_paths

# Blocks no test here runs, each with the reason and what covers it instead.
NOT_RUN = {
    "README.md#1": "`make demo` and `make test`: .ci/run runs `make test` on a clean clone, and "
                   "tests/test_cli.py::test_demo_end_to_end runs `kseq2seq demo`, which is what `make demo` runs",
    "docs/quickstart.md#1": "`make install` and `source .venv/bin/activate`: the first step of `make test`",
    "docs/decoding.md#3": "a function signature, not code to run",
    "docs/serving.md#3": "TF Serving in Docker: no Docker on the test machines; the SavedModel it would load "
                         "is run by saved_model_cli in docs/serving.md#2 and tests/test_export.py",
    "docs/training.md#3": "TF_CONFIG with two hosts: tests/test_training.py::"
                          "test_two_workers_on_localhost_train_on_their_shards_to_identical_weights runs two workers",
}
# Commands no test here runs inside a block that is run otherwise.
COMMANDS_NOT_RUN = {
    ("kseq2seq", "demo"): "every `kseq2seq demo --task T` is a large test of its own: tests/test_cli.py::"
                          "test_demo_end_to_end (translation) and one per task module",
}
CAPS = {"train": ["--max-steps", "2", "--limit", "1000"], "evaluate": ["--limit", "16"]}
TRAINING_STEPS = 2


def test_every_code_example_is_run_or_named_with_what_covers_it():
    names = {block.name for block in all_blocks()}
    assert set(NOT_RUN) <= names, f"NOT_RUN names blocks that are gone: {sorted(set(NOT_RUN) - names)}"
    languages = {block.name: block.language for block in all_blocks()}
    assert set(languages.values()) <= {"python", "bash", "sh", "yaml"}, languages
    # The tests a reason names exist, so that a renamed test does not leave a reason pointing nowhere.
    for reason in [*NOT_RUN.values(), *COMMANDS_NOT_RUN.values()]:
        for path, name in re.findall(r"(tests/\w+\.py)::(\w+)", reason):
            with open(os.path.join(os.path.dirname(__file__), "..", path), encoding="utf-8") as f:
                assert f"def {name}(" in f.read(), f"{path}::{name}, named in a reason, is not there"


def test_python_examples_compile_and_name_real_presets():
    import kseq2seq

    for block in all_blocks():
        if block.language != "python" or block.name in NOT_RUN:
            continue
        compile(block.code, block.name, "exec")
        for task, preset in re.findall(r"(\w+)\.from_preset\(\s*\"(\w+)\"", block.code):
            assert preset in getattr(kseq2seq, task).presets, f"{block.name}: no preset {task}/{preset}"


def test_shell_examples_parse_and_their_shared_data_exists():
    from kseq2seq import cli

    parser = cli.build_parser()
    for block in all_blocks():
        if block.language not in ("bash", "sh") or block.name in NOT_RUN:
            continue
        for command in shell_commands(block.code, {"PWD": "."}):
            if command.argv[0] == "kseq2seq":
                try:
                    parser.parse_args(command.argv[1:])
                except SystemExit:
                    pytest.fail(f"{block.name}: `{' '.join(command.argv)}` does not parse")
            for word in command.argv:
                if word.startswith("../shared/data/"):
                    path = os.path.join(SHARED_DATA, word[len("../shared/data/"):])
                    assert os.path.exists(path) or not os.path.isdir(SHARED_DATA), f"{block.name}: {word}"


# -- running them ---------------------------------------------------------------------------------------------


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Servers:
    """`kseq2seq serve` processes the examples start, by model name; curl lines are sent to theirs.

    A server loads while the examples go on; the first line routed to it waits until it says it is serving.
    """

    def __init__(self):
        self.ports, self.processes, self.starting = {}, [], {}

    def start(self, argv):
        name = os.path.basename(os.path.normpath(argv[argv.index("--model") + 1]))
        port = _free_port()
        argv = list(argv[1:])
        if "--port" in argv:
            argv[argv.index("--port") + 1] = str(port)
        else:
            argv += ["--port", str(port)]
        process = subprocess.Popen([sys.executable, "-m", "kseq2seq.cli", *argv], stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL, text=True)
        self.processes.append(process)
        self.ports[name], self.starting[name] = port, (process, argv)

    def _ready(self, name):
        if name in self.starting:
            process, argv = self.starting.pop(name)
            first = process.stdout.readline()
            assert first.startswith("Serving "), f"`kseq2seq {' '.join(argv)}` printed {first!r}"

    def route(self, line):
        """A curl line with the documented 127.0.0.1:8501 replaced by the port serving the URL's model."""
        def one(match):
            name = match.group(2) or next(iter(self.ports), None)
            assert name in self.ports, f"no example serves the model {name!r} that {line!r} asks for"
            self._ready(name)
            return f"127.0.0.1:{self.ports[name]}{match.group(1)}"
        return re.sub(r"127\.0\.0\.1:8501(/(?:kseq2seq/)?v1/models(?:/([\w-]+))?)", one, line)

    def stop(self):
        for process in self.processes:
            process.terminate()
            process.wait(timeout=60)


def _run_kseq2seq(command, monkeypatch):
    from kseq2seq import cli

    argv = list(command.argv[1:])
    argv += CAPS.get(argv[0], [])
    if command.stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(command.stdin))
    out = io.StringIO()
    code = cli.main(argv, out=out)
    assert code == 0, f"`{' '.join(command.argv)}` exited {code}; it printed:\n{out.getvalue()}"
    return out.getvalue()


def _run_shell(block, servers, variables, monkeypatch):
    for command in shell_commands(block.code, variables):
        assert not command.env, f"{block.name}: environment prefixes are not run here ({command.env})"
        program = command.argv[0]
        if tuple(command.argv[:2]) in COMMANDS_NOT_RUN:
            continue
        if program == "kseq2seq" and command.argv[1] == "serve":
            servers.start(command.argv)
        elif program == "kseq2seq":
            output = _run_kseq2seq(command, monkeypatch)
            if command.argv[1] == "generate":
                assert output.strip(), f"{block.name}: `{' '.join(command.argv)}` printed nothing"
        elif program in ("curl", "saved_model_cli"):
            # Run by bash as written (the docs' curl lines use $(base64 ...) for a file), sent to the test's ports.
            line = servers.route(command.text)
            result = subprocess.run(["bash", "-c", line], capture_output=True, text=True, timeout=300,
                                    env={**os.environ, **variables,
                                         "PATH": os.path.dirname(sys.executable) + ":" + os.environ["PATH"]})
            assert result.returncode == 0, f"{block.name}: `{line}` failed:\n{result.stderr[-2000:]}"
            if program == "curl":
                assert result.stdout.startswith("{") and '"error"' not in result.stdout, (line, result.stdout)
        else:
            raise AssertionError(f"{block.name}: no way to run {program!r} here; add it to NOT_RUN with a reason")


# What a reader has before a file's examples: the objects its fragments name ("translator", "texts") and the
# input files they read ("train.en", "a.wav"). Each runs with the session's tiny models and `servers`.
PRELUDES = {
    "docs/decoding.md": "import kseq2seq\ntranslator = tiny_translator\ntexts = ['3 June 2019', '12/25/1999']\n"
                        "tiny_translator.save_to_preset('saved_models/a')\n"
                        "tiny_translator.save_to_preset('saved_models/b')\n",
    "docs/dialogue.md": "from kseq2seq.datasets.dialogue import load_shop_dialogues\n"
                        "conversations = [turns for turns, _ in load_shop_dialogues(1, 1, 2)[2]]\n",
    "docs/serving.md": "translator = tiny_translator\n"
                       "tiny_translator.save_to_preset('saved_models/dates')\n"
                       # The strings TFLite model needs WordPiece: an untrained en-de model of the README's preset.
                       "import kseq2seq\n"
                       "pairs = list(zip(*(open(f, encoding='utf-8').read().splitlines() for f in ('train.en', "
                       "'train.de'))))\n"
                       "en_de = kseq2seq.Translator.from_preset('multi30k_gru_wordpiece', train_texts=pairs, units=16, "
                       "embedding_dim=8, max_vocabulary_size=300)\n"
                       "en_de.export('saved_models/en-de/1', formats=('tflite',))\n"
                       "tiny_transcriber.save_to_preset('saved_models/digits')\n"
                       "tiny_transcriber.export('saved_models/digits/1')\n"
                       "servers.start(['kseq2seq', 'serve', '--model', 'saved_models/digits'])\n"
                       "tiny_data_to_text.save_to_preset('saved_models/restaurants')\n"
                       "tiny_data_to_text.export('saved_models/restaurants/1')\n"
                       "servers.start(['kseq2seq', 'serve', '--model', 'saved_models/restaurants'])\n",
    "docs/training.md": "import kseq2seq\n"
                        "from kseq2seq.datasets.text_files import load_text_pairs\n"
                        "train = load_text_pairs('train.en', 'train.de')\n"
                        "validation = load_text_pairs('val.en', 'val.de')\n",
}


def _input_files(folder):
    """The files the examples name as the reader's own: a few real Multi30k pairs, news, WAVs and a photo."""
    import json

    from kseq2seq.datasets.news import load_news
    from kseq2seq.datasets.spoken_numbers import load_spoken_numbers

    multi30k = os.path.join(SHARED_DATA, "multi30k")
    os.makedirs(os.path.join(folder, "data"))
    for split, count in (("train", 200), ("val", 20)):
        for language in ("en", "de"):
            with open(os.path.join(multi30k, f"{split}.{language}"), encoding="utf-8") as f:
                lines = [next(f) for _ in range(count)]
            for name in (f"{split}.{language}", f"data/{split}.{language}"):
                with open(os.path.join(folder, name), "w", encoding="utf-8") as f:
                    f.writelines(lines)
    with open(os.path.join(folder, "test.jsonl"), "w", encoding="utf-8") as f:
        for article, highlights in load_news(num_train=0, num_validation=0, num_test=8, seed=4)[2]:
            f.write(json.dumps({"article": article, "highlights": highlights}) + "\n")
    for name, (wav, _) in zip(("a.wav", "b.wav", "recording.wav"),
                              load_spoken_numbers(num_train=0, num_validation=0, num_test=3, seed=8)[2]):
        with open(os.path.join(folder, name), "wb") as f:
            f.write(wav)
    photos = os.path.join(SHARED_DATA, "captioning", "images")
    shutil.copy(os.path.join(photos, min(os.listdir(photos))), os.path.join(folder, "photo.jpg"))


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A fresh folder beside a link to ../shared, as the docs' relative paths expect; the reader's files in it."""
    if not os.path.isdir(SHARED_DATA):
        pytest.skip(f"shared data not found: {SHARED_DATA} (see ../shared/data/SOURCES.md)")
    folder = tmp_path / "project"
    folder.mkdir()
    os.symlink(os.path.dirname(SHARED_DATA), tmp_path / "shared")
    _input_files(str(folder))
    monkeypatch.chdir(folder)
    return folder


@pytest.fixture
def capped_training(monkeypatch):
    """Every fit in the examples stops after TRAINING_STEPS steps: Keras' (Task.fit) and the trainer's."""
    from kseq2seq import training
    from kseq2seq.tasks.task import Seq2SeqTask as Task

    task_fit, trainer_fit = Task.fit, training.Trainer.fit

    def capped_task_fit(self, *args, **kwargs):
        kwargs.update(epochs=1, steps_per_epoch=TRAINING_STEPS)
        if kwargs.get("validation_data") is not None:
            kwargs["validation_steps"] = 1
        return task_fit(self, *args, **kwargs)

    def capped_trainer_fit(self, *args, **kwargs):
        return trainer_fit(self, *args, **{**kwargs, "max_steps": TRAINING_STEPS})

    monkeypatch.setattr(Task, "fit", capped_task_fit)
    monkeypatch.setattr(training.Trainer, "fit", capped_trainer_fit)


SMALL_SPLITS = {"num_train": 200, "num_validation": 20, "num_test": 20, "limit": 1000}


@pytest.fixture
def small_data(monkeypatch):
    """The generated sets and the E2E CSVs cut to SMALL_SPLITS: two training steps need no 20,000 examples."""
    import inspect

    from kseq2seq import datasets
    from kseq2seq.datasets import dates, dialogue, e2e, news, shapes, spoken_numbers

    def small(load):
        signature = inspect.signature(load)

        def capped(*args, **kwargs):
            arguments = signature.bind(*args, **kwargs)
            arguments.apply_defaults()
            for name, cap in SMALL_SPLITS.items():
                if name in arguments.arguments:
                    value = arguments.arguments[name]
                    arguments.arguments[name] = cap if value is None else min(value, cap)
            return load(*arguments.args, **arguments.kwargs)

        return capped

    for module, name in ((dates, "load_dates"), (dialogue, "load_shop_dialogues"), (e2e, "load_restaurants"),
                         (e2e, "load_e2e_csv"), (news, "load_news"), (shapes, "load_shapes"),
                         (spoken_numbers, "load_spoken_numbers")):
        monkeypatch.setattr(module, name, small(getattr(module, name)))
    for name in datasets.BUILTIN:
        monkeypatch.setitem(datasets.BUILTIN, name, small(datasets.BUILTIN[name]))


RUN = [path for path in doc_files() if any(b.name not in NOT_RUN for b in blocks(path))]


@pytest.mark.large
@pytest.mark.parametrize("path", RUN)
def test_the_examples_of(path, project, capped_training, small_data, tiny_translator, tiny_transcriber,
                         tiny_data_to_text, monkeypatch):
    from kseq2seq.tasks.registry import unregister_task

    servers, variables = Servers(), {"PWD": str(project)}
    namespace = {"tiny_translator": tiny_translator, "tiny_transcriber": tiny_transcriber,
                 "tiny_data_to_text": tiny_data_to_text, "servers": servers}
    had_reversal = _registered("reversal")
    try:
        exec(compile(PRELUDES.get(path, ""), f"{path} (prelude)", "exec"), namespace)
        for block in blocks(path):
            if block.name in NOT_RUN:
                continue
            start = time.perf_counter()
            if block.language == "python":
                exec(compile(block.code, block.name, "exec"), namespace)
            elif block.language == "yaml":  # a config file: `kseq2seq train --config` reads it
                (project / "run.yaml").write_text(block.code)
                _run_kseq2seq(Command(["kseq2seq", "train", "--config", "run.yaml", "--output", "run"], {}),
                              monkeypatch)
            else:
                _run_shell(block, servers, variables, monkeypatch)
            missing = [p for p in written_paths(block.code) if not os.path.exists(p)]
            assert not missing, f"{block.name} says it writes {missing}, which are not there"
            print(f"{block.name}: ran in {time.perf_counter() - start:.1f} s")
    finally:
        servers.stop()
        if _registered("reversal") and not had_reversal:  # docs/new_task.md registers it for the process
            unregister_task("reversal")


def _registered(name):
    from kseq2seq.tasks.registry import get_task

    try:
        get_task(name)
        return True
    except ValueError:
        return False
