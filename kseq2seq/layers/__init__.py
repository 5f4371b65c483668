from kseq2seq.layers.attention import BahdanauAttention, LuongAttention
from kseq2seq.layers.audio import LogMelSpectrogram, SpecAugment, WaveformAugment
from kseq2seq.layers.audio_encoders import SpeechEncoder
from kseq2seq.layers.decoders import AttentionDecoder
from kseq2seq.layers.encoders import RNNEncoder
from kseq2seq.layers.luong_decoder import LuongDecoder
