import tensorflow as tf

from kseq2seq.copying import extend_source, extend_target
from kseq2seq.tokenizers import WordTokenizer

# Target vocabulary: ids 0-3 special, met=4, the=5, aide=6; V = 7.
TOKENIZER = WordTokenizer(["[PAD]", "[UNK]", "[START]", "[END]", "met", "the", "aide"])
SOURCES = ["zorbel met the aide of zorbel and quax", "the aide", "", "quax quax met"]


def split(texts):
    return TOKENIZER.split(tf.constant(texts))


def extend(texts):
    tokens = split(texts)
    return extend_source(tokens, TOKENIZER.lookup(tokens), TOKENIZER.vocabulary_size)


def test_source_unknown_words_get_per_example_ids_in_order_of_first_appearance():
    extended, words = extend(SOURCES)
    assert extended.to_list() == [[7, 4, 5, 6, 8, 7, 9, 10], [5, 6], [], [7, 7, 4]]
    assert words.to_list() == [[b"zorbel", b"of", b"and", b"quax"], [], [], [b"quax"]]


def test_target_unknown_words_copy_from_their_own_source_only():
    _, words = extend(SOURCES)
    targets = split(["quax met zorbel", "quax aide", "x", "quax foo"])
    extended = extend_target(targets, TOKENIZER.lookup(targets), words, TOKENIZER.vocabulary_size)
    # Row 1's source lacks "quax": it stays [UNK]; row 3's "quax" is its own id 7.
    assert extended.to_list() == [[10, 4, 7], [1, 6], [1], [7, 1]]


def test_detokenize_names_extended_ids_with_the_source_words():
    _, words = extend(SOURCES)
    ids = tf.constant([[7, 4, 8, 3], [5, 6, 3, 0], [1, 3, 0, 0], [7, 4, 3, 0]])
    texts = TOKENIZER.detokenize(ids, words.to_tensor("[UNK]")).numpy().tolist()
    assert texts == [b"zorbel met of", b"the aide", b"[UNK]", b"quax met"]
    # Without the source words, extended ids read as [UNK] (never an index error).
    assert TOKENIZER.detokenize(ids).numpy().tolist()[0] == b"[UNK] met [UNK]"
