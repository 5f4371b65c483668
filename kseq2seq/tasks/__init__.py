"""The tasks, loaded on first use: `kseq2seq.tasks.registry` (read by `--help`) imports no TensorFlow."""

from kseq2seq.lazy import lazy_attributes

_PUBLIC = {
    "Seq2SeqTask": "kseq2seq.tasks.task:Seq2SeqTask",
    "Translator": "kseq2seq.tasks.translation:Translator",
    "Summarizer": "kseq2seq.tasks.summarization:Summarizer",
    "Responder": "kseq2seq.tasks.dialogue:Responder",
    "Captioner": "kseq2seq.tasks.captioning:Captioner",
    "DataToText": "kseq2seq.tasks.data_to_text:DataToText",
}
__all__ = sorted(_PUBLIC)
__getattr__, __dir__ = lazy_attributes(__name__, _PUBLIC)
