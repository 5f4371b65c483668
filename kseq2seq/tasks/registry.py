"""Level 3: the task registry: task name -> class, training-data loader, evaluator, demo, input reader.

The command line reads it for `--task` choices and for what each command
does with a task, so a new task is its own files plus one `register_task`
call. Functions may be given as `"module:function"` strings, imported only
when used (the command line's `--help` then imports no TensorFlow).

- `train_data(options) -> (train pairs, validation pairs or None)`: reads
  the `train` command's data options (`--data`, `--source-file`, ...).
- `evaluate(model, options, out) -> report dict`: scores a model on the
  `evaluate` command's data options and prints the figures.
- `read_inputs(texts) -> inputs`: turns `kseq2seq generate`'s argument or
  standard-input lines into what `task.generate` takes (default: as they are).
- `demo(options, out) -> exit code`: `kseq2seq demo --task NAME`.
- `datasets`: the built-in generated sets `train_data` takes as `--dataset NAME`.
- `train_options`: the `train` flags only this task's `train_data` reads
  (e.g. `drop_slot_errors`); the command refuses them for other tasks.
"""

import dataclasses
import importlib
from typing import Any


@dataclasses.dataclass
class TaskSpec:
    name: str
    task_class: Any
    train_data: Any = None
    evaluate: Any = None
    read_inputs: Any = None
    demo: Any = None
    description: str = ""
    datasets: tuple = ()
    train_options: tuple = ()

    def resolve(self, field):
        """The field's value, importing a `"module:attribute"` string."""
        value = getattr(self, field)
        if isinstance(value, str):
            module, _, attribute = value.partition(":")
            value = getattr(importlib.import_module(module), attribute)
        return value


_TASKS = {}


def register_task(name, task_class, train_data=None, evaluate=None, read_inputs=None, demo=None, description="",
                  datasets=(), train_options=()):
    """Adds (or replaces) a task under `name`; see the module docstring for the functions."""
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"Expected a task name made of letters, digits and '_'. Received: name={name!r}")
    _TASKS[name] = TaskSpec(name, task_class, train_data, evaluate, read_inputs, demo, description, tuple(datasets),
                            tuple(train_options))
    return _TASKS[name]


def unregister_task(name):
    _TASKS.pop(name, None)


def get_task(name):
    if name not in _TASKS:
        raise ValueError(f"Expected task to be one of {task_names()}. Received: task={name!r}")
    return _TASKS[name]


def task_names(with_field=None):
    return sorted(name for name, spec in _TASKS.items() if with_field is None or getattr(spec, with_field))


def import_tasks():
    """Imports every registered task class (and so its layers), as loading a saved model needs."""
    return [spec.resolve("task_class") for spec in _TASKS.values()]


def public_classes():
    """`{class name: "module:Class"}` of the registered tasks, for the packages' lazy public names."""
    return {spec.task_class.rpartition(":")[2]: spec.task_class for spec in _TASKS.values()
            if isinstance(spec.task_class, str)}


def dataset_names():
    """Every task's built-in `--dataset` names."""
    return sorted({dataset for spec in _TASKS.values() for dataset in spec.datasets})


def task_for(task):
    """The registered name of a task object's class (for metadata), or None."""
    for name, spec in _TASKS.items():
        if not isinstance(spec.task_class, str) and isinstance(task, spec.task_class):
            return name
        if isinstance(spec.task_class, str) and spec.task_class.rpartition(":")[2] == type(task).__name__:
            return name
    return None


register_task("translation", "kseq2seq.tasks.translation:Translator", train_data="kseq2seq.tasks.task_io:text_pairs",
              evaluate="kseq2seq.tasks.task_io:evaluate_translation", demo="kseq2seq.demos:run_demo_translation",
              description="text to text: BLEU and exact match", datasets=("dates",))
register_task("summarization", "kseq2seq.tasks.summarization:Summarizer",
              train_data="kseq2seq.tasks.task_io:summarization_pairs",
              evaluate="kseq2seq.tasks.task_io:evaluate_summarization",
              description="long text to summary: ROUGE with confidence intervals", datasets=("news",))
register_task("dialogue", "kseq2seq.tasks.dialogue:Responder", train_data="kseq2seq.tasks.task_io:dialogue_pairs",
              read_inputs="kseq2seq.tasks.task_io:read_conversations", demo="kseq2seq.demos:run_demo_dialogue",
              description="conversation to reply", datasets=("shop",))
register_task("captioning", "kseq2seq.tasks.captioning:Captioner", read_inputs="kseq2seq.tasks.task_io:read_paths",
              demo="kseq2seq.demos:run_demo_captioning", description="image to caption")
register_task("data_to_text", "kseq2seq.tasks.data_to_text:DataToText",
              train_data="kseq2seq.tasks.data_to_text_io:data_to_text_pairs",
              evaluate="kseq2seq.tasks.data_to_text_io:evaluate_data_to_text",
              read_inputs="kseq2seq.tasks.data_to_text_io:read_records", demo="kseq2seq.tasks.data_to_text_io:run_demo",
              description="record (E2E meaning representation) to text: BLEU, ROUGE-L, slot error rate",
              datasets=("restaurants",), train_options=("drop_slot_errors", "oversample_multi_valued"))
register_task("speech", "kseq2seq.tasks.transcriber:Transcriber", train_data="kseq2seq.tasks.speech_io:speech_pairs",
              evaluate="kseq2seq.tasks.speech_io:evaluate_speech", read_inputs="kseq2seq.tasks.task_io:read_paths",
              demo="kseq2seq.tasks.speech_io:run_demo", description="speech (WAV) to transcript: WER, CER",
              datasets=("spoken_numbers",))
