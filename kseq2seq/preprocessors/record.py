"""Level 2: meaning representations in, text out: linearization and delexicalization inside the graph.

An MR string `name[The Eagle], customer rating[high], near[Burger King]`
becomes the token source `<name> xnamex <customerrating> high <near> xnearx`:
one token per attribute (`<...>`, spaces removed) followed by its value's
words. The open-class values (by default `name` and `near`) are replaced by
placeholders (`xnamex`, `xnearx`) in the source and, for training, in the
reference text; after decoding, the placeholders in the output are replaced
by the input's values. So names come out exactly as given, including names
never seen in training, and the vocabulary holds no names.

All of it runs in TensorFlow string ops, so an exported SavedModel takes MR
strings and returns finished text. The ids-level exports (TFLite) take and
give placeholder ids: an app puts the values back itself (see docs/data_to_text.md).
"""

import re

import keras
import tensorflow as tf

from kseq2seq.preprocessors.base import as_batch
from kseq2seq.preprocessors.text import Seq2SeqPreprocessor
from kseq2seq.records import record_fields
from kseq2seq.slot_matching import mr_value
from kseq2seq.tokenizers import WordTokenizer, join_punctuation


def placeholder(attribute):
    """The placeholder token of an attribute's value: letters only, so that no tokenizer splits or cases it."""
    return "x" + re.sub(r"[^a-z]", "", attribute.lower()) + "x"


def _slot_pattern(attribute):
    return r"((?:^|,)\s*)" + re.escape(attribute) + r"\s*\[[^\]]*\]"


def slot_values(mrs, attributes):
    """MR strings `[batch]` -> the values of `attributes` `[batch, len(attributes)]` ("" where absent)."""
    mrs = as_batch(mrs, "sources")
    columns = [mr_value(mrs, attribute) for attribute in attributes]
    return tf.stack(columns, axis=1) if columns else tf.zeros([tf.shape(mrs)[0], 0], tf.string)


def linearize(mrs, attributes):
    """MR strings -> token sources: `<attribute>` tokens and value words, `attributes`' values as placeholders."""
    text = as_batch(mrs, "sources")
    for attribute in attributes:
        rewrite = r"\1" + attribute + "[" + placeholder(attribute) + "]"
        text = tf.strings.regex_replace(text, _slot_pattern(attribute), rewrite)
    # Multi-word attribute names become one token ("customer rating" -> "<customerrating>"); twice for three words.
    for _ in range(2):
        text = tf.strings.regex_replace(text, r"(\w) +(\w+)\s*\[", r"\1\2[")
    text = tf.strings.regex_replace(text, r"\s*([^,\[\]]+?)\s*\[([^\]]*)\]\s*,?", r" <\1> \2 ")
    return tf.strings.strip(tf.strings.regex_replace(text, r"\s+", " "))


def _escape(values):
    return tf.strings.regex_replace(values, r"([\\.^$|?*+()\[\]{}])", r"\\\1")


def delexicalize(mrs, texts, attributes):
    """Reference texts with each row's `attributes` values (as its MR gives them) replaced by placeholders."""
    values = slot_values(mrs, attributes)
    texts = as_batch(texts, "targets")
    if not attributes:
        return texts

    def one(row):
        text, row_values = row
        for i, attribute in enumerate(attributes):
            replaced = tf.strings.regex_replace(text, "(?i)" + _escape(row_values[i]), placeholder(attribute))
            text = tf.where(row_values[i] == "", text, replaced)
        return text

    return tf.map_fn(one, (texts, values), fn_output_signature=tf.string)


# Its per-row map_fn is a graph loop here; run eagerly it costs milliseconds a row (minutes for E2E's 42k).
_delexicalize_in_graph = tf.function(delexicalize, reduce_retracing=True)


def relexicalize(texts, values, attributes):
    """Texts `[N]` with each attribute's placeholder replaced by the row's value (`values [N, len(attributes)]`)."""
    for i, attribute in enumerate(attributes):
        parts = tf.strings.split(texts, sep=placeholder(attribute))
        rows = parts.value_rowids()
        position = tf.range(tf.size(parts.flat_values, out_type=tf.int64)) - tf.gather(parts.row_starts(), rows)
        last = position == tf.gather(parts.row_lengths(), rows) - 1
        fill = tf.where(last, "", tf.gather(values[:, i], rows))
        texts = tf.strings.reduce_join(parts.with_flat_values(tf.strings.join([parts.flat_values, fill])), axis=1)
    return texts


@keras.saving.register_keras_serializable(package="kseq2seq")
class RecordPreprocessor(Seq2SeqPreprocessor):
    """Tokenizes MR strings (see the module docstring) and reference texts for a `DataToText` model.

    `delexicalized`: the attributes whose values become placeholders
    (`("name", "near")` for E2E; `()` keeps every value as words).
    `encode_source` returns those values as its second result, and
    `detokenize` puts them back.
    `fields`: the training MRs' attributes in order, each with its values
    (`records.record_fields`), for forms such as the web demo's; None when unknown.
    """

    def __init__(self, source_tokenizer, target_tokenizer, delexicalized=("name", "near"), fields=None, **kwargs):
        super().__init__(source_tokenizer, target_tokenizer, **kwargs)
        if isinstance(delexicalized, str) or not all(isinstance(a, str) and a.strip() for a in delexicalized):
            raise ValueError(f"Expected delexicalized to be a list of attribute names. Received: {delexicalized!r}")
        if fields is not None and not (isinstance(fields, dict) and all(isinstance(v, list) for v in fields.values())):
            raise ValueError(f"Expected fields to be a dict of attribute -> list of values. Received: {fields!r}")
        self.delexicalized = tuple(delexicalized)
        self.fields = fields

    @classmethod
    def from_data(cls, sources, targets, config):
        attributes = tuple(config.get("delexicalized", ("name", "near")))
        linear, delexed = [], []
        for start in range(0, len(sources), 1024):
            mrs, refs = tf.constant(sources[start : start + 1024]), tf.constant(targets[start : start + 1024])
            linear.extend(s.decode("utf-8") for s in linearize(mrs, attributes).numpy())
            delexed.extend(t.decode("utf-8") for t in _delexicalize_in_graph(mrs, refs, attributes).numpy())
        return cls(*cls.learn_tokenizers(linear, delexed, config), delexicalized=attributes,
                   fields=record_fields(sources, open_class=attributes),
                   source_length=config["source_length"], target_length=config["target_length"])

    def linearize(self, sources):
        return linearize(sources, self.delexicalized)

    def _source_tokens(self, source):
        return super()._source_tokens(self.linearize(source))

    def encode_source(self, source):
        inputs, _ = super().encode_source(source)
        return inputs, slot_values(source, self.delexicalized)

    def tokenize_pairs(self, sources, targets):
        return super().tokenize_pairs(sources, delexicalize(sources, targets, self.delexicalized))

    def pair_lengths(self, source, target):
        return super().pair_lengths(self.linearize(source), delexicalize(source, target, self.delexicalized))

    def detokenize(self, token_ids, source_words=None):
        texts = super().detokenize(token_ids)
        if isinstance(self.target_tokenizer, WordTokenizer):
            # Output text for readers ("a pub." not "a pub ."), as WordPiece detokenizing gives.
            texts = join_punctuation(texts)
        if source_words is None or not self.delexicalized:
            return texts
        if texts.shape.rank == 1:
            return relexicalize(texts, source_words, self.delexicalized)
        shape = tf.shape(texts)
        flat = relexicalize(tf.reshape(texts, [-1]), tf.repeat(source_words, shape[1], axis=0), self.delexicalized)
        return tf.reshape(flat, shape)

    def describe(self):
        return {**super().describe(), "delexicalized": list(self.delexicalized),
                "placeholders": [placeholder(a) for a in self.delexicalized]}

    def get_config(self):
        config = super().get_config()
        config.pop("copy_source_words", None)
        return {**config, "delexicalized": list(self.delexicalized), "fields": self.fields}
