"""Level 1: tokenizers that run inside the TensorFlow graph.

Every tokenizer maps strings to int32 ids with the same fixed special tokens,
so models, decoders and exports never need to know which one is in use:

    id 0 [PAD]   id 1 [UNK]   id 2 [START]   id 3 [END]

The vocabulary is part of the layer's config, so it is saved with the model.
"""

import collections
import types

import keras
import tensorflow as tf

from kseq2seq.utils import (  # noqa: F401  (the special tokens are part of this module's API)
    END,
    END_ID,
    PAD,
    PAD_ID,
    SPECIAL_TOKENS,
    START,
    START_ID,
    UNK,
    UNK_ID,
    check_positive_int,
)


class Tokenizer(keras.layers.Layer):
    """Base class: subclasses define `split` (strings -> ragged tokens) and `separator`."""

    separator = ""

    def __init__(self, vocabulary, lowercase=False, **kwargs):
        kwargs.setdefault("dtype", "string")
        super().__init__(**kwargs)
        vocabulary = list(vocabulary)
        if tuple(vocabulary[:4]) != SPECIAL_TOKENS:
            raise ValueError(
                f"Expected vocabulary to start with {list(SPECIAL_TOKENS)}. "
                f"Received: vocabulary[:4]={vocabulary[:4]}"
            )
        if len(set(vocabulary)) != len(vocabulary):
            raise ValueError("Expected vocabulary without duplicate tokens.")
        self.vocabulary = vocabulary
        self.lowercase = lowercase
        self._lookup = keras.layers.StringLookup(
            vocabulary=vocabulary[2:], mask_token=PAD, oov_token=UNK, name="lookup"
        )
        self._id_to_token = tf.constant(vocabulary)

    @classmethod
    def from_texts(cls, texts, max_vocabulary_size=None, min_count=1, lowercase=False, **kwargs):
        """Builds the vocabulary from an iterable or `tf.data.Dataset` of strings.

        Tokens are ordered by frequency (ties alphabetically) so the result is
        deterministic for a given corpus.
        """
        if max_vocabulary_size is not None:
            check_positive_int("max_vocabulary_size", max_vocabulary_size, minimum=5)
        check_positive_int("min_count", min_count)
        counts = _count_tokens(cls(list(SPECIAL_TOKENS), lowercase=lowercase), texts)
        ranked = sorted((t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t))
        if max_vocabulary_size is not None:
            ranked = ranked[: max_vocabulary_size - len(SPECIAL_TOKENS)]
        return cls(list(SPECIAL_TOKENS) + ranked, lowercase=lowercase, **kwargs)

    @property
    def vocabulary_size(self):
        return len(self.vocabulary)

    def standardize(self, texts):
        texts = tf.convert_to_tensor(texts, dtype=tf.string)
        return tf.strings.lower(texts, encoding="utf-8") if self.lowercase else texts

    def split(self, texts):
        raise NotImplementedError

    def tokenize(self, texts):
        """Strings `[batch]` -> ragged int32 ids `[batch, None]` (no start/end tokens)."""
        return self.lookup(self.split(self.standardize(texts)))

    def lookup(self, tokens):
        """Token strings (dense or ragged) -> int32 ids; unknown tokens -> [UNK]."""
        return tf.cast(self._lookup(tokens), tf.int32)

    def detokenize(self, token_ids, extra_tokens=None):
        """Ids `[batch, length]` -> strings `[batch]`; stops at the first [END], drops [PAD]/[START].

        `extra_tokens` (strings `[batch, n]`) name the ids from `vocabulary_size`
        on, per row: the source words a pointer-generator copied (see `kseq2seq.copying`).
        """
        if isinstance(token_ids, tf.RaggedTensor):
            token_ids = token_ids.to_tensor()
        token_ids = tf.cast(token_ids, tf.int32)
        before_end = tf.math.cumsum(tf.cast(token_ids == END_ID, tf.int32), axis=-1) == 0
        keep = before_end & (token_ids != PAD_ID) & (token_ids != START_ID)
        size = self.vocabulary_size
        tokens = tf.gather(self._id_to_token, tf.minimum(token_ids, size - 1))
        if extra_tokens is None:
            extra = tf.fill(tf.shape(token_ids), UNK)
        else:
            # One padding column so that rows (or batches) without extra tokens still gather.
            extra_tokens = tf.pad(extra_tokens, [[0, 0], [0, 1]], constant_values=UNK)
            extra = tf.gather(extra_tokens, tf.minimum(tf.maximum(token_ids - size, 0), tf.shape(extra_tokens)[1] - 1),
                              batch_dims=1)
        tokens = tf.where(token_ids >= size, extra, tokens)
        tokens = tf.ragged.boolean_mask(tokens, keep)
        return tf.strings.reduce_join(tokens, axis=-1, separator=self.separator)

    def id_to_token(self, token_id):
        return self.vocabulary[token_id]

    def call(self, texts):
        return self.tokenize(texts)

    def compute_output_spec(self, texts):
        return keras.KerasTensor(texts.shape + (None,), dtype="int32", ragged=True)

    def get_config(self):
        config = super().get_config()
        config.update({"vocabulary": self.vocabulary, "lowercase": self.lowercase})
        return config


@keras.saving.register_keras_serializable(package="kseq2seq")
class CharacterTokenizer(Tokenizer):
    """One token per Unicode character; detokenizing joins with no separator."""

    separator = ""

    def split(self, texts):
        return tf.strings.unicode_split(texts, "UTF-8")


@keras.saving.register_keras_serializable(package="kseq2seq")
class WordTokenizer(Tokenizer):
    """Whitespace words with punctuation split off; detokenizing joins with spaces."""

    separator = " "

    def split(self, texts):
        return _split_words(texts)


@keras.saving.register_keras_serializable(package="kseq2seq")
class WordPieceTokenizer(Tokenizer):
    """Subword tokens: words (split as `WordTokenizer` does) cut into WordPiece pieces.

    Pieces that continue a word start with `##`; detokenizing joins pieces
    with spaces and glues `##` pieces to the piece before. The vocabulary is
    learned from a corpus by `from_texts` (tensorflow-text's WordPiece
    learner), so any word made of characters seen in training is spelled out
    of pieces instead of becoming [UNK]. Tokenizing runs tensorflow-text's
    `FastWordpieceTokenizer` in the graph.
    """

    separator = " "
    suffix_indicator = "##"

    def __init__(self, vocabulary, lowercase=False, **kwargs):
        super().__init__(vocabulary, lowercase=lowercase, **kwargs)
        import tensorflow_text  # noqa: F401  (a dependency; imported here so other tokenizers do not need it)

        # Held outside Keras' attribute tracking: it is a tf.Module, not a layer or variable.
        self._pieces = types.SimpleNamespace(tokenizer=tensorflow_text.FastWordpieceTokenizer(
            vocab=self.vocabulary, suffix_indicator=self.suffix_indicator, token_out_type=tf.string,
            unknown_token=UNK, no_pretokenization=True))

    @classmethod
    def from_texts(cls, texts, max_vocabulary_size=8000, min_count=1, lowercase=False, **kwargs):
        """Learns about `max_vocabulary_size` pieces (within 5%) from a corpus.

        Words seen fewer than `min_count` times still contribute their
        characters; every character of the corpus gets a piece.
        """
        from tensorflow_text.tools.wordpiece_vocab import wordpiece_tokenizer_learner_lib as learner

        check_positive_int("max_vocabulary_size", max_vocabulary_size, minimum=5)
        check_positive_int("min_count", min_count)
        counts = _count_tokens(_BertWords(list(SPECIAL_TOKENS), lowercase=lowercase), texts)
        vocabulary = learner.learn(sorted(counts.items()), max_vocabulary_size, list(SPECIAL_TOKENS),
                                   lower_thresh=min_count, joiner=cls.suffix_indicator)
        return cls(vocabulary, lowercase=lowercase, **kwargs)

    def split(self, texts):
        return self._pieces.tokenizer.tokenize(_split_words_as_bert(texts)).merge_dims(1, 2)

    def detokenize(self, token_ids, extra_tokens=None):
        """Ids -> text: `##` pieces glued to their word, then the spaces that splitting
        punctuation added are removed where text rarely has them: inside hyphenated
        words (`T - Shirt` -> `T-Shirt`), before `. , ! ? ; : )` and after `(`."""
        text = super().detokenize(token_ids, extra_tokens)
        for pattern, rewrite in (" ##", ""), ("^##", ""):
            text = tf.strings.regex_replace(text, pattern, rewrite)
        return join_punctuation(text)


_PUNCTUATION_RULES = (
    # Twice: "a - b - c" overlaps itself, and RE2 has no lookahead.
    (r"([\pL\pN]) - ([\pL\pN])", r"\1-\2"),
    (r"([\pL\pN]) - ([\pL\pN])", r"\1-\2"),
    (r" ([.,!?;:)])", r"\1"),
    (r"\( ", "("),
)


def join_punctuation(texts):
    """Removes the spaces that splitting punctuation added where text rarely has them: inside hyphenated
    words (`T - Shirt` -> `T-Shirt`), before `. , ! ? ; : )` and after `(`."""
    for pattern, rewrite in _PUNCTUATION_RULES:
        texts = tf.strings.regex_replace(texts, pattern, rewrite)
    return texts

TOKENIZERS = {"char": CharacterTokenizer, "word": WordTokenizer, "wordpiece": WordPieceTokenizer}


def get_tokenizer_class(kind):
    if kind not in TOKENIZERS:
        raise ValueError(f"Expected tokenizer to be one of {sorted(TOKENIZERS)}. Received: tokenizer={kind!r}")
    return TOKENIZERS[kind]


def _split_words(texts):
    """Whitespace words with each punctuation character (Unicode `P*`) a word of its own."""
    return tf.strings.split(tf.strings.regex_replace(texts, r"(\pP)", r" \1 "))


def _split_words_as_bert(texts):
    """WordPiece's words: whitespace is Unicode's (`White_Space`), punctuation BERT's (Unicode `P*` and the
    ASCII symbols ``$+<=>^`|~``), each punctuation character a word. tensorflow-text's end-to-end
    `FastWordpieceTokenizer`, which the string TFLite model tokenizes with, splits words exactly so. (Word
    tokenizers keep `_split_words`: the record linearization's `<attribute>` tokens are one word there.)"""
    texts = tf.strings.regex_replace(texts, r"[\pZ\x{85}]", " ")
    return tf.strings.split(tf.strings.regex_replace(texts, r"([\pP$+<=>^`|~])", r" \1 "))


class _BertWords(Tokenizer):
    """Counts WordPiece's words when learning its vocabulary (never saved)."""

    separator = " "

    def split(self, texts):
        return _split_words_as_bert(texts)


def _count_tokens(tokenizer, texts):
    """Token -> count over a corpus, as `tokenizer` splits it (special tokens left out)."""
    counts = collections.Counter()
    for batch in _string_batches(texts):
        for tokens in tokenizer.split(tokenizer.standardize(batch)).to_list():
            counts.update(t.decode("utf-8") for t in tokens)
    for token in SPECIAL_TOKENS:
        counts.pop(token, None)
    return counts


def _string_batches(texts, batch_size=1024):
    if isinstance(texts, tf.data.Dataset):
        if texts.element_spec.shape.rank == 0:
            texts = texts.batch(batch_size)
        for batch in texts:
            yield batch
        return
    texts = list(texts)
    for start in range(0, len(texts), batch_size):
        yield tf.constant(texts[start : start + batch_size], dtype=tf.string)
