"""Level 4: the string-in/string-out TFLite model, with TFLite builtins and tensorflow-text's TFLite ops.

An app that runs it needs no tokenizer of its own: `tflite/strings.tflite`
takes one text and gives the decoded text(s), as `generate` does. It is
written for models whose source and target tokenizers are cased WordPiece
(`WordPieceTokenizer`, `lowercase=False`) and that do not copy source words:

- tokenizing is tensorflow-text's end-to-end `FastWordpieceTokenizer`, which
  splits words at Unicode whitespace and BERT's punctuation exactly as our
  tokenizer does before it cuts pieces (`kseq2seq.tokenizers._split_words`);
- detokenizing is `FastWordpieceTokenizer.detokenize` over a table that holds
  each target token twice, as a word (a space before it) and as a `##` piece
  (glued to the one before). Which form each output token takes is computed
  with integer ops from the neighbouring tokens, following our detokenizer's
  rules (`##` pieces glued, no space before `. , ! ? ; : )` or after `(`,
  letter-digit hyphens joined); tokens after `[END]` and padding are dropped.

Lower-casing (`tf.strings.lower`) has no TFLite op, and a pointer-generator's
copied words are per-input strings; for those models `unsupported_reason`
says why and only the ids model is written.
"""

import unicodedata

import tensorflow as tf

from kseq2seq.tokenizers import END_ID, PAD_ID, START_ID, UNK, WordPieceTokenizer

SUFFIX = WordPieceTokenizer.suffix_indicator
CLOSING = set(".,!?;:)")


def unsupported_reason(task):
    """None when `task` can have a string TFLite model, else why not (a sentence)."""
    preprocessor = task.preprocessor
    tokenizers = getattr(preprocessor, "tokenizers", lambda: {})()
    if "source" not in tokenizers:
        return f"its input is {', '.join(preprocessor.encoder_input_names)}, not text"
    if set(tokenizers) != {"source", "target"} or not all(
            isinstance(t, WordPieceTokenizer) for t in tokenizers.values()):
        return ("its tokenizers are not WordPiece: only tensorflow-text's WordPiece kernels tokenize strings in "
                "TFLite")
    if any(t.lowercase for t in tokenizers.values()):
        return "it lower-cases its text (lowercase=True), which no TFLite op does"
    if getattr(preprocessor, "copy_source_words", False):
        return "it copies source words (pointer-generator), whose strings a TFLite model cannot carry"
    return None


def _is_alnum(char):
    return unicodedata.category(char)[0] in "LN"


class StringCodec:
    """Source text -> ids and target ids -> text with TFLite-convertible ops (batch 1)."""

    def __init__(self, preprocessor):
        import tensorflow_text

        source, target = preprocessor.source_tokenizer, preprocessor.target_tokenizer
        self.source_length = preprocessor.source_length
        self.keep_start = preprocessor.truncate_source == "end"
        self.tokenizer, self.target_tokenizer = (tensorflow_text.FastWordpieceTokenizer(
            vocab=tokenizer.vocabulary, suffix_indicator=SUFFIX, token_out_type=tf.int32, unknown_token=UNK,
            no_pretokenization=False) for tokenizer in (source, target))
        texts = [token[len(SUFFIX):] if token.startswith(SUFFIX) else token for token in target.vocabulary]
        forms = texts + [SUFFIX + text for text in texts]  # id v: as a word; id size + v: glued
        strings = sorted(set(forms))
        index = {string: i for i, string in enumerate(strings)}
        self.size = len(texts)
        self.forms = tf.constant([index[form] for form in forms], tf.int32)

        def flags(test):
            return tf.constant([int(test(token, text)) for token, text in zip(target.vocabulary, texts)], tf.int32)

        self.is_piece = flags(lambda token, text: token.startswith(SUFFIX))
        self.closing = flags(lambda token, text: text[:1] in CLOSING)
        self.opening = flags(lambda token, text: text[-1:] == "(")
        self.hyphen = flags(lambda token, text: token == "-")
        self.starts_alnum = flags(lambda token, text: _is_alnum(text[:1]) if text else False)
        self.ends_alnum = flags(lambda token, text: _is_alnum(text[-1:]) if text else False)
        self.detokenizer = tensorflow_text.FastWordpieceTokenizer(
            vocab=strings, suffix_indicator=SUFFIX, token_out_type=tf.int32, unknown_token=UNK,
            no_pretokenization=True, support_detokenization=True)

    def encode(self, text):
        """`text` string `[1]` -> `(encoder_token_ids [1, n >= 1], token count [])` as the preprocessor encodes."""
        ids = self.tokenizer.tokenize(text).flat_values
        count = tf.minimum(tf.size(ids), self.source_length)
        ids = ids[:count] if self.keep_start else ids[tf.size(ids) - count:]
        ids = tf.concat([ids, tf.zeros([tf.maximum(1 - count, 0)], tf.int32)], axis=0)  # at least one column
        return ids[tf.newaxis], count

    def encode_prefix(self, text):
        """A prefix string `[1]` -> target ids `[1, P]`, as the target tokenizer tokenizes it (`P` may be 0)."""
        return self.target_tokenizer.tokenize(text).flat_values[tf.newaxis]

    def decode(self, token_ids):
        """Target ids `[rows, length]` (`rows` static) -> texts `[rows]`, as `WordPieceTokenizer.detokenize` writes.

        One detokenizer call on the rows' forms joined as a ragged tensor: TFLite has no op that stacks strings.
        """
        rows = [self._forms(token_ids[row]) for row in range(token_ids.shape[0])]
        lengths = tf.stack([tf.size(r, tf.int64) for r in rows])
        forms = tf.RaggedTensor.from_row_lengths(tf.concat(rows, axis=0), lengths, validate=False)
        return self.detokenizer.detokenize(forms)

    def _forms(self, token_ids):
        """One row's ids `[length]` -> the detokenizer's ids of its kept tokens, each as a word or glued."""
        token_ids = tf.cast(token_ids, tf.int32)
        before_end = tf.math.cumsum(tf.cast(token_ids == END_ID, tf.int32)) == 0
        ids = tf.boolean_mask(token_ids, before_end & (token_ids != PAD_ID) & (token_ids != START_ID))
        previous = lambda flags: tf.concat([[0], flags[:-1]], axis=0)  # noqa: E731
        following = lambda flags: tf.concat([flags[1:], [0]], axis=0)  # noqa: E731
        flag = lambda table: tf.gather(table, ids)  # noqa: E731
        # " - " between a letter or digit on each side (a `##` piece after it has no space to join at).
        joins = flag(self.hyphen) * previous(flag(self.ends_alnum)) * following(
            flag(self.starts_alnum) * (1 - flag(self.is_piece)))
        glued = tf.minimum(flag(self.is_piece) + flag(self.closing) + previous(flag(self.opening)) + joins
                           + previous(joins), 1)
        glued = glued * tf.cast(tf.range(tf.size(ids)) > 0, tf.int32)  # the first token starts the text
        return tf.gather(self.forms, ids + self.size * glued)


def string_endpoints(task, default, beam):
    """`(serving_default, beam_search, with_prefix)` functions of a text `[1]` for a batch-1 string TFLite model."""
    codec = StringCodec(task.preprocessor)

    def run(text, config, prefix=None):
        encoder_token_ids, count = codec.encode(text)
        out = task.generate_ids({"encoder_token_ids": encoder_token_ids}, config, prefix=prefix)
        blank = count == 0  # nothing to translate: "" with score 0, as generate answers
        token_ids = tf.where(blank, tf.zeros_like(out.token_ids), out.token_ids)
        return codec.decode(token_ids[0]), tf.where(blank, tf.zeros_like(out.scores), out.scores)

    def best(inputs):
        texts, scores = run(inputs, default)
        return {"outputs": texts[:1], "scores": scores[:, 0]}

    def beam_search(inputs):
        texts, scores = run(inputs, beam)
        return {"outputs": tf.reshape(texts, [1, -1]), "scores": scores}

    def with_prefix(inputs, prefix):
        texts, scores = run(inputs, default, codec.encode_prefix(prefix))
        return {"outputs": texts[:1], "scores": scores[:, 0]}

    return best, beam_search, with_prefix


def interpreter(model_content):
    """A TFLite interpreter with tensorflow-text's ops registered (what an app registers too)."""
    import tensorflow_text
    from tensorflow.lite.python.interpreter import InterpreterWithCustomOps

    return InterpreterWithCustomOps(model_content=model_content,
                                    custom_op_registerers=tensorflow_text.tflite_registrar.SELECT_TFTEXT_OPS)

