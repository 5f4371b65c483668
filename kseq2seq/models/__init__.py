"""Level 2: backbones, functional encoder-decoder graphs from model inputs to logits."""

from kseq2seq.models.backbone import Backbone
from kseq2seq.models.image import CaptionBackbone
from kseq2seq.models.rnn import Seq2SeqBackbone
from kseq2seq.models.speech import SpeechBackbone
from kseq2seq.models.transformer import TransformerBackbone

__all__ = ["Backbone", "CaptionBackbone", "Seq2SeqBackbone", "SpeechBackbone", "TransformerBackbone"]
