"""kseq2seq: attention sequence-to-sequence models for Keras 3 / TensorFlow."""

__version__ = "0.1.0"

from kseq2seq import datasets, decoding, layers, metrics, tokenizers
from kseq2seq.plotting import plot_attention, plot_image_attention
from kseq2seq.models import Seq2SeqBackbone
from kseq2seq.preprocessors import Seq2SeqPreprocessor
from kseq2seq.tasks import Captioner, Responder, Seq2SeqTask, Summarizer, Translator
