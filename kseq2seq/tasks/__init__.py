"""The tasks, loaded on first use: `kseq2seq.tasks.registry` (read by `--help`) imports no TensorFlow."""

from kseq2seq.lazy import lazy_attributes
from kseq2seq.tasks.registry import public_classes

# Every registered task class (`Translator`, ...): a new task is its files and its registry entry.
_PUBLIC = {"Seq2SeqTask": "kseq2seq.tasks.task:Seq2SeqTask", **public_classes()}
__all__ = sorted(_PUBLIC)
__getattr__, __dir__ = lazy_attributes(__name__, _PUBLIC)
