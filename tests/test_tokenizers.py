import keras
import numpy as np
import pytest
import tensorflow as tf

from kseq2seq.tokenizers import (
    END_ID,
    SPECIAL_TOKENS,
    START_ID,
    UNK_ID,
    CharacterTokenizer,
    WordPieceTokenizer,
    WordTokenizer,
    get_tokenizer_class,
)


def test_character_vocabulary_is_frequency_ordered_and_deterministic():
    tok = CharacterTokenizer.from_texts(["aab", "ba", "c"])
    assert tok.vocabulary == ["[PAD]", "[UNK]", "[START]", "[END]", "a", "b", "c"]
    assert tok.tokenize(["abcz"]).to_list() == [[4, 5, 6, UNK_ID]]
    assert CharacterTokenizer.from_texts(tf.data.Dataset.from_tensor_slices(["aab", "ba", "c"])).vocabulary == tok.vocabulary


def test_word_tokenizer_splits_punctuation_lowercases_and_limits_size():
    tok = WordTokenizer.from_texts(["A dog, a cat.", "a dog"], lowercase=True, max_vocabulary_size=7)
    assert tok.vocabulary == ["[PAD]", "[UNK]", "[START]", "[END]", "a", "dog", ","]
    ids = tok.tokenize(["A dog, a bird."]).to_list()
    assert ids == [[4, 5, 6, 4, UNK_ID, UNK_ID]]
    assert tok.detokenize(tf.ragged.constant(ids)).numpy().tolist() == [b"a dog , a [UNK] [UNK]"]
    assert WordTokenizer.from_texts(["a a b"], min_count=2).vocabulary[4:] == ["a"]
    # the vocabulary is built from standardized text, so cased words are not [UNK]
    lowered = WordTokenizer.from_texts(["Gruppe GRUPPE gruppe Männer"], lowercase=True)
    assert lowered.vocabulary[4:] == ["gruppe", "männer"]
    assert lowered.tokenize(["Eine Gruppe MÄNNER"]).to_list() == [[UNK_ID, 4, 5]]


def test_detokenize_stops_at_end_and_skips_padding_and_start():
    tok = CharacterTokenizer.from_texts(["abc"])
    ids = np.array([[START_ID, 4, 5, END_ID, 6, 6], [6, 5, 4, 0, 0, 0]], "int32")
    assert tok.detokenize(ids).numpy().tolist() == [b"ab", b"cba"]


def test_round_trip_unicode_in_tf_function():
    texts = ["14. Juli 1789", "4 août 2031"]
    tok = CharacterTokenizer.from_texts(texts)

    @tf.function
    def round_trip(t):
        return tok.detokenize(tok.tokenize(t).to_tensor())

    assert [s.decode() for s in round_trip(tf.constant(texts)).numpy()] == texts


def test_serialization_keeps_vocabulary():
    tok = WordTokenizer.from_texts(["x y z"], lowercase=True)
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(tok))
    assert type(clone) is WordTokenizer and clone.vocabulary == tok.vocabulary and clone.lowercase


def test_bad_arguments():
    with pytest.raises(ValueError, match="start with"):
        CharacterTokenizer(["a", "b"])
    with pytest.raises(ValueError, match="max_vocabulary_size=2"):
        CharacterTokenizer.from_texts(["ab"], max_vocabulary_size=2)
    with pytest.raises(ValueError, match="tokenizer='bpe'"):
        get_tokenizer_class("bpe")


WORDPIECE_CORPUS = ["the player plays", "players played", "a playful play", "the plays"] * 5


def test_wordpiece_spells_unseen_words_in_pieces_and_round_trips_in_graph():
    tok = WordPieceTokenizer.from_texts(WORDPIECE_CORPUS, max_vocabulary_size=40)
    assert tuple(tok.vocabulary[:4]) == SPECIAL_TOKENS and 30 <= tok.vocabulary_size <= 42
    pieces = [p.decode() for p in tok.split(tf.constant(["replayed"])).to_list()[0]]
    assert len(pieces) > 1 and all(p.startswith("##") for p in pieces[1:]), pieces  # never seen as a word
    ids = tok.tokenize(["the players replayed"])
    assert UNK_ID not in ids.to_list()[0]

    @tf.function
    def round_trip(texts):
        return tok.detokenize(tok.tokenize(texts).to_tensor())

    assert round_trip(tf.constant(["the players replayed", "a play"])).numpy().tolist() == [
        b"the players replayed", b"a play"]
    # A continuation piece at the very start has nothing to glue to: its marker is dropped.
    continuation = tok.vocabulary.index(pieces[1])
    assert tok.detokenize([[continuation, END_ID]]).numpy()[0].decode() == pieces[1][2:]


def test_wordpiece_serialization_gives_the_same_ids():
    tok = WordPieceTokenizer.from_texts(WORDPIECE_CORPUS, max_vocabulary_size=40, lowercase=True)
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(tok))
    assert type(clone) is WordPieceTokenizer and clone.vocabulary == tok.vocabulary and clone.lowercase
    assert clone.tokenize(["The PLAYERS"]).to_list() == tok.tokenize(["the players"]).to_list()
    assert get_tokenizer_class("wordpiece") is WordPieceTokenizer


def test_wordpiece_detokenizing_restores_hyphens_and_punctuation_spacing():
    texts = ["Ein Mann im T-Shirt (rot) läuft, schnell: a-b-c!", "Zwei Mädchen laufen."]
    tok = WordPieceTokenizer.from_texts(texts + ["zwei - drei"], max_vocabulary_size=60)
    assert [t.decode() for t in tok.detokenize(tok.tokenize(texts).to_tensor()).numpy()] == texts
    # The split loses whether a hyphen had spaces; between words it is restored as the in-word hyphen.
    assert tok.detokenize(tok.tokenize(["zwei - drei"]).to_tensor()).numpy()[0].decode() == "zwei-drei"


def test_wordpiece_words_split_at_unicode_whitespace_and_berts_punctuation():
    """As tensorflow-text's end-to-end WordPiece splits (the string TFLite model relies on it)."""
    texts = tf.constant(["5$+x=y~z a\u00a0b\u3000c\u2028d\u0085e", "a^b`c|d<e>f £9 ¿qué?"])
    tokenizer = WordPieceTokenizer.from_texts(texts.numpy().tolist() * 3, max_vocabulary_size=60)
    assert tokenizer.split(texts).to_list() == [
        [b"5", b"$", b"+", b"x", b"=", b"y", b"~", b"z", b"a", b"b", b"c", b"d", b"e"],
        [b"a", b"^", b"b", b"`", b"c", b"|", b"d", b"<", b"e", b">", b"f", "£9".encode(), "¿".encode(),
         "qué".encode(), b"?"],
    ]
    # Word tokenizers split at Unicode punctuation only: the record linearization's "<name>" stays one word.
    words = WordTokenizer(list(SPECIAL_TOKENS)).split(tf.constant(["<name> x$y, z"])).to_list()
    assert words == [[b"<name>", b"x$y", b",", b"z"]]
