import keras
import numpy as np
import pytest

from kseq2seq.preprocessors import Seq2SeqPreprocessor
from kseq2seq.tokenizers import END_ID, START_ID, CharacterTokenizer


@pytest.fixture
def preprocessor():
    tok = CharacterTokenizer.from_texts(["abcdef"])  # a=4 ... f=9
    return Seq2SeqPreprocessor(tok, tok, source_length=4, target_length=4)


def test_teacher_forcing_shift_padding_and_truncation(preprocessor):
    x, labels = preprocessor(["abcdef", "a"], ["ab", "abcdef"])
    np.testing.assert_array_equal(x["encoder_token_ids"], [[4, 5, 6, 7], [4, 0, 0, 0]])
    np.testing.assert_array_equal(x["decoder_token_ids"], [[START_ID, 4, 5, 0], [START_ID, 4, 5, 6]])
    np.testing.assert_array_equal(labels, [[4, 5, END_ID, 0], [4, 5, 6, END_ID]])
    assert x["encoder_token_ids"].dtype == "int32" and labels.dtype == "int32"


def test_source_only_and_scalar_input(preprocessor):
    x = preprocessor("ba")
    assert list(x) == ["encoder_token_ids", "encoder_padding_mask"]
    np.testing.assert_array_equal(x["encoder_token_ids"], [[5, 4]])
    np.testing.assert_array_equal(preprocessor(["ba", "a"])["encoder_padding_mask"], [[True, True], [True, False]])
    np.testing.assert_array_equal(preprocessor(["", ""])["encoder_token_ids"], [[0], [0]])  # never 0-wide
    with pytest.raises(ValueError, match="1-D batch"):
        preprocessor([["a"]])


def test_config_round_trip(preprocessor):
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(preprocessor))
    assert clone.source_length == 4 and clone.target_tokenizer.vocabulary == preprocessor.target_tokenizer.vocabulary
    with pytest.raises(ValueError, match="target_length=1"):
        Seq2SeqPreprocessor(preprocessor.source_tokenizer, preprocessor.target_tokenizer, target_length=1)
    with pytest.raises(ValueError, match="copy_source_words='yes'"):
        Seq2SeqPreprocessor(preprocessor.source_tokenizer, preprocessor.target_tokenizer, copy_source_words="yes")
