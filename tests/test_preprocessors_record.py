import pytest
import tensorflow as tf

from kseq2seq.preprocessors.record import (RecordPreprocessor, delexicalize, linearize, placeholder, relexicalize,
                                           slot_values)

MRS = ["name[The Eagle], eatType[coffee shop], customer rating[5 out of 5], near[Burger King]",
       "food[French], name[Zizzi (2) *new*]", "eatType[pub]"]
OPEN = ("name", "near")


def strings(tensor):
    return [s.decode("utf-8") for s in tensor.numpy().reshape(-1)]


def test_linearize_gives_attribute_tokens_and_placeholders():
    assert strings(linearize(tf.constant(MRS), OPEN)) == [
        "<name> xnamex <eatType> coffee shop <customerrating> 5 out of 5 <near> xnearx",
        "<food> French <name> xnamex", "<eatType> pub"]
    assert strings(linearize(tf.constant(MRS[:1]), ())) == [
        "<name> The Eagle <eatType> coffee shop <customerrating> 5 out of 5 <near> Burger King"]


def test_delexicalize_then_relexicalize_restores_names_exactly():
    values = slot_values(tf.constant(MRS), OPEN)
    assert strings(values) == ["The Eagle", "Burger King", "Zizzi (2) *new*", "", "", ""]
    texts = ["The Eagle is near burger king; the eagle is nice.", "Zizzi (2) *new* is French.", "A pub."]
    delexed = strings(delexicalize(tf.constant(MRS), texts, OPEN))
    # Regex characters in a value are literal; matching ignores case, as crowd workers' texts vary it.
    assert delexed == ["xnamex is near xnearx; xnamex is nice.", "xnamex is French.", "A pub."]
    restored = strings(relexicalize(tf.constant(delexed), values, OPEN))
    assert restored == ["The Eagle is near Burger King; The Eagle is nice.", "Zizzi (2) *new* is French.", "A pub."]
    assert placeholder("customer rating") == "xcustomerratingx"


def test_detokenize_puts_the_inputs_names_back_for_every_nbest_row():
    vocabulary = ["[PAD]", "[UNK]", "[START]", "[END]", "xnamex", "xnearx", "is", "near", "."]
    from kseq2seq.tokenizers import WordTokenizer

    tokenizer = WordTokenizer(vocabulary)
    preprocessor = RecordPreprocessor(WordTokenizer(vocabulary), tokenizer)
    inputs, values = preprocessor.encode_source(tf.constant(["name[Qüx-Ray], near[Ab C]", "name[Ö]"]))
    ids = tf.constant([[[4, 6, 7, 5, 8, 3], [4, 8, 3, 0, 0, 0]], [[4, 6, 8, 3, 0, 0], [4, 3, 0, 0, 0, 0]]])
    texts = preprocessor.detokenize(ids, values)
    assert texts.numpy().tolist() == [[b"Q\xc3\xbcx-Ray is near Ab C.", b"Q\xc3\xbcx-Ray."],
                                      [b"\xc3\x96 is.", b"\xc3\x96"]]
    # "<name> xnamex <near> xnearx": the attribute tokens are not in this vocabulary.
    assert inputs["encoder_token_ids"].numpy().tolist() == [[1, 4, 1, 5], [1, 4, 0, 0]]


def test_training_pairs_are_delexicalized_and_config_round_trips():
    from kseq2seq.tokenizers import WordTokenizer

    config = {"tokenizer": "word", "max_vocabulary_size": None, "min_count": 1, "lowercase": False,
              "source_length": 16, "target_length": 16, "delexicalized": ["name"]}
    preprocessor = RecordPreprocessor.from_data(["name[Aa Bb], food[French]"], ["Aa Bb serves French food."], config)
    assert "Aa" not in preprocessor.target_tokenizer.vocabulary and "xnamex" in preprocessor.target_tokenizer.vocabulary
    assert "<food>" in preprocessor.source_tokenizer.vocabulary
    x, labels = preprocessor(["name[Cc], food[French]"], ["Cc serves French food."])
    target = preprocessor.target_tokenizer
    assert [target.id_to_token(i) for i in labels.numpy()[0]] == ["xnamex", "serves", "French", "food", ".", "[END]"]
    restored = RecordPreprocessor.from_config(preprocessor.get_config())
    assert restored.delexicalized == ("name",) and isinstance(restored.target_tokenizer, WordTokenizer)
    with pytest.raises(ValueError, match="delexicalized to be a list"):
        RecordPreprocessor(target, target, delexicalized="name")
