"""kseq2seq: attention sequence-to-sequence models for Keras 3 / TensorFlow.

The public names below load their modules (and TensorFlow) on first use, so
`import kseq2seq` and `kseq2seq --help` are quick.
"""

from kseq2seq.lazy import lazy_attributes
from kseq2seq.tasks.registry import public_classes

__version__ = "0.1.0"

_PUBLIC = {
    **{module: f"kseq2seq.{module}" for module in ("datasets", "decoding", "layers", "metrics", "tokenizers")},
    "GenerationConfig": "kseq2seq.generation:GenerationConfig",
    **{name: f"kseq2seq.models:{name}" for name in ("Backbone", "CaptionBackbone", "Seq2SeqBackbone",
                                                     "TransformerBackbone")},
    "plot_attention": "kseq2seq.plotting:plot_attention",
    "plot_image_attention": "kseq2seq.plotting:plot_image_attention",
    "plot_audio_attention": "kseq2seq.plotting:plot_audio_attention",
    **{name: f"kseq2seq.preprocessors:{name}" for name in ("ImageCaptionPreprocessor", "Preprocessor",
                                                            "Seq2SeqPreprocessor")},
    "load": "kseq2seq.saving:load",
    "Seq2SeqTask": "kseq2seq.tasks.task:Seq2SeqTask",
    # The registered tasks (`Translator`, `Transcriber`, ...), read from the registry.
    **public_classes(),
    "Ensemble": "kseq2seq.tasks.ensemble:Ensemble",
    "ensemble": "kseq2seq.tasks.ensemble:ensemble",
    "Generation": "kseq2seq.tasks.generating:Generation",
    "register_task": "kseq2seq.tasks.registry:register_task",
}
__all__ = sorted(_PUBLIC)
__getattr__, __dir__ = lazy_attributes(__name__, _PUBLIC)
