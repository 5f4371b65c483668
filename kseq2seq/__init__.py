"""kseq2seq: attention sequence-to-sequence models for Keras 3 / TensorFlow."""

__version__ = "0.1.0"

from kseq2seq import datasets, decoding, layers, metrics, tokenizers
from kseq2seq.generation import GenerationConfig
from kseq2seq.models import Backbone, CaptionBackbone, Seq2SeqBackbone, TransformerBackbone
from kseq2seq.plotting import plot_attention, plot_image_attention
from kseq2seq.preprocessors import ImageCaptionPreprocessor, Preprocessor, Seq2SeqPreprocessor
from kseq2seq.saving import load
from kseq2seq.tasks import Captioner, DataToText, Responder, Seq2SeqTask, Summarizer, Translator
from kseq2seq.tasks.ensemble import Ensemble, ensemble
from kseq2seq.tasks.generating import Generation
from kseq2seq.tasks.registry import register_task
