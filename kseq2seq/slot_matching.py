"""Level 1: slot errors counted inside the graph, to rerank a beam's n-best by how well it covers the MR.

The same wordings as `kseq2seq.slot_errors` (its `PATTERNS`), run with
TensorFlow's RE2 string ops so that a SavedModel reranks as `generate`
does. The counts equal the Python matcher's (tests compare them), except:

- an open-class value (`name`, `near`) that was delexicalized is counted by
  its placeholder token in the text before its value is put back, so an
  output that says a placeholder whose value the MR lacks counts as
  "added" (the Python matcher cannot tell an added name from other words);
- at most two values per attribute (the cleaned E2E data has some MRs
  with two: `eatType[coffee shop], eatType[restaurant]`);
- a value that is not delexicalized is found as a substring (no
  word-boundary check: RE2 has no look-around).

Texts are matched after `é` -> `e`: RE2's `\\b` is ASCII-only, and "café"
must still end a word as it does for Python's `re`.
"""

import re

import tensorflow as tf

from kseq2seq.slot_errors import OPEN_CLASS, PATTERNS

_MARK = "\x01"


def _count(texts, pattern):
    """Non-overlapping matches of `pattern` (case-insensitive) in each text; and the texts with them blanked."""
    return _count_marked(tf.strings.regex_replace(texts, "(?i)(?:" + pattern + ")", _MARK))


def _count_marked(marked):
    """The marks in each text (one per match) and the texts with each mark blanked to a space."""
    count = tf.strings.length(marked) - tf.strings.length(tf.strings.regex_replace(marked, _MARK, ""))
    return count, tf.strings.regex_replace(marked, _MARK, " ")


def mr_value(mrs, attribute):
    """The attribute's value in each MR string `[batch]` ("" where absent; the last where given twice)."""
    slot = r"(?:|.*,)\s*" + re.escape(attribute) + r"\s*\[([^\]]*)\]"
    present = tf.strings.regex_full_match(mrs, slot + ".*")
    value = tf.strings.regex_replace(mrs, "^" + slot + ".*$", r"\1")
    return tf.where(present, tf.strings.strip(value), "")


def _open_class_counts(texts, values):
    """Occurrences of each row's own value in its text, and the texts with them blanked."""

    def one(row):
        text, value = row
        escaped = tf.strings.regex_replace(value, r"([\\.^$|?*+()\[\]{}])", r"\\\1")
        count, blanked = _count_marked(tf.strings.regex_replace(text, tf.strings.join(["(?i)", escaped]), _MARK))
        absent = value == ""  # an empty pattern would match between every two characters
        return tf.where(absent, 0, count), tf.where(absent, text, blanked)

    return tf.map_fn(one, (texts, values), fn_output_signature=(tf.int32, tf.string))


def _open_class_errors(mrs, texts, placeholders):
    errors = tf.zeros(tf.shape(texts), tf.int32)
    for attribute in OPEN_CLASS:
        value = mr_value(mrs, attribute)
        present = value != ""
        if attribute in placeholders:
            count, _ = _count(texts, r"\b" + re.escape(placeholders[attribute]) + r"\b")
            added = tf.logical_and(tf.logical_not(present), count > 0)
        else:
            count, texts = _open_class_counts(texts, value)
            added = tf.zeros_like(present)
        wrong_count = tf.logical_and(present, tf.not_equal(count, 1))
        errors += tf.cast(tf.logical_or(wrong_count, added), tf.int32)
    return errors, texts


def first_and_second_values(mrs, attribute):
    """The attribute's first value and, where the MR gives it twice (the cleaned E2E data does), its second."""
    slot = re.escape(attribute) + r"\s*\[([^\]]*)\]"
    present = tf.strings.regex_full_match(mrs, r"(?:|.*,)\s*" + slot + ".*")
    first = tf.where(present, tf.strings.strip(tf.strings.regex_replace(
        mrs, r"^(?:|.*?,)\s*" + slot + ".*$", r"\1")), "")
    twice = tf.strings.regex_full_match(mrs, r"(?:|.*,)\s*" + slot + r".*,\s*" + slot + ".*")
    return first, tf.where(twice, mr_value(mrs, attribute), "")


def _attribute_errors(values_of_mr, texts, attribute):
    """Missing, wrong, added or repeated: at most one error per text and MR value of this attribute."""
    classes = {}
    for value, (klass, pattern) in PATTERNS[attribute].items():
        classes.setdefault(klass, (pattern, []))[1].append(value)
    counts, said = [], tf.zeros(tf.shape(texts), tf.int32)  # said: classes said at least once
    for pattern, values in classes.values():
        count, blanked = _count(texts, pattern)
        if attribute == "familyFriendly":
            texts = blanked  # "not family-friendly" contains "family-friendly"
        said += tf.cast(count > 0, tf.int32)
        counts.append((count, values))
    errors = tf.zeros(tf.shape(texts), tf.int32)
    for value_of_mr in values_of_mr:
        right = tf.add_n([tf.where(_is_one_of(value_of_mr, values), count, 0) for count, values in counts])
        checked = tf.logical_and(value_of_mr != "", _is_one_of(value_of_mr, PATTERNS[attribute]))
        errors += tf.cast(tf.logical_and(checked, tf.not_equal(right, 1)), tf.int32)
    present = values_of_mr[0] != ""
    return tf.where(present, errors, said)


def _is_one_of(value, values):
    return tf.reduce_any(tf.stack([value == v for v in values]), axis=0)


def count_slot_errors(mrs, texts, placeholders=None):
    """Slot errors (missing + wrong + added + repeated) of each text against its MR, as int32.

    Args:
        mrs: MR strings `[batch]`.
        texts: outputs `[batch]` or `[batch, nbest]` (several per MR).
        placeholders: attribute -> placeholder token for the delexicalized
            open-class attributes, whose texts still hold the placeholders.
    """
    mrs, texts = tf.convert_to_tensor(mrs, tf.string), tf.convert_to_tensor(texts, tf.string)
    shape = tf.shape(texts)
    if texts.shape.rank == 2:
        mrs = tf.repeat(mrs, shape[1])
    mrs = tf.strings.regex_replace(mrs, "é|É", "e")
    texts = tf.strings.regex_replace(tf.reshape(texts, [-1]), "é|É", "e")
    errors, texts = _open_class_errors(mrs, texts, dict(placeholders or {}))
    for attribute in PATTERNS:
        errors += _attribute_errors(first_and_second_values(mrs, attribute), texts, attribute)
    return tf.reshape(errors, shape)
