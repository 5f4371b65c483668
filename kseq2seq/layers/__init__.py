from kseq2seq.layers.attention import BahdanauAttention, LuongAttention
from kseq2seq.layers.decoders import AttentionDecoder
from kseq2seq.layers.encoders import RNNEncoder
from kseq2seq.layers.luong_decoder import LuongDecoder
