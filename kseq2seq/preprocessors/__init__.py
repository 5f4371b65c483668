"""Level 2: preprocessors, one per input modality, behind one interface (`Preprocessor`)."""

from kseq2seq.preprocessors.audio import AudioPreprocessor
from kseq2seq.preprocessors.base import Preprocessor
from kseq2seq.preprocessors.image import ImageCaptionPreprocessor, decode_images, read_image
from kseq2seq.preprocessors.text import Seq2SeqPreprocessor, TextPreprocessor

__all__ = ["AudioPreprocessor", "ImageCaptionPreprocessor", "Preprocessor", "Seq2SeqPreprocessor", "TextPreprocessor", "decode_images",
           "read_image"]
