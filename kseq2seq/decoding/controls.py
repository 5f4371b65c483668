"""Level 1: decoding controls (no repeated n-grams, repetition penalty, banned words, forced prefixes).

They wrap the step function: the wrapper keeps each sequence's generated
tokens in the decoding state and edits the logits the model returns. Beam
search reorders the state with its beams, so every strategy (greedy, beam,
sampling) and every backbone gets the controls from this one place, in the
same ops eagerly, in `tf.function`, under XLA and in exports (gather,
scatter_nd, one_hot and where are TFLite builtins). Scores are then
log-probabilities under the controlled distribution, as with the tokens a
task rules out.

- `no_repeat_ngram_size=n`: no n-gram of generated tokens occurs twice
  (fairseq's and Hugging Face's rule: a token that would complete an n-gram
  already generated is banned);
- `repetition_penalty=p` (Keskar et al. 2019, Hugging Face's definition): the
  logit of every token already generated is divided by `p` where positive,
  multiplied by `p` where negative;
- `bad_words`: token id sequences never generated (the last token of a
  sequence is banned where the tokens before it were just generated);
- `prefix` (`[batch, P]` ids, 0-padded): sequence b starts with its prefix,
  its tokens forced one per step; decoding goes on after it.
"""

import numpy as np
import tensorflow as tf

from kseq2seq.decoding.sampling import NEG_INF
from kseq2seq.utils import check_positive_int


def check_control_args(no_repeat_ngram_size=0, repetition_penalty=1.0, bad_words=()):
    """Checks the controls as decoding takes them: `bad_words` are token id sequences."""
    _check_counts(no_repeat_ngram_size, repetition_penalty)
    if isinstance(bad_words, (str, bytes)) or not all(
            isinstance(word, (tuple, list)) and len(word) and all(_is_id(i) for i in word) for word in bad_words):
        raise ValueError(f"Expected bad_words to be a list of non-empty token id sequences. "
                         f"Received: bad_words={bad_words!r}")


def check_control_config(no_repeat_ngram_size=0, repetition_penalty=1.0, bad_words=()):
    """Checks the controls as a `GenerationConfig` holds them: `bad_words` are strings the task tokenizes."""
    _check_counts(no_repeat_ngram_size, repetition_penalty)
    if isinstance(bad_words, (str, bytes)) or not all(isinstance(word, str) and word.strip() for word in bad_words):
        raise ValueError(f"Expected bad_words to be a list of non-blank strings (words or phrases). "
                         f"Received: bad_words={bad_words!r}")


def _is_id(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 0


def _check_counts(no_repeat_ngram_size, repetition_penalty):
    check_positive_int("no_repeat_ngram_size", no_repeat_ngram_size, minimum=0)
    if isinstance(repetition_penalty, bool) or not isinstance(repetition_penalty, (int, float)) \
            or not repetition_penalty > 0:
        raise ValueError(f"Expected repetition_penalty to be a number > 0. Received: "
                         f"repetition_penalty={repetition_penalty!r}")


def has_controls(no_repeat_ngram_size=0, repetition_penalty=1.0, bad_words=(), prefix=None):
    return bool(no_repeat_ngram_size or repetition_penalty != 1.0 or bad_words or prefix is not None)


def with_controls(step_fn, initial_state, batch_size, max_length, no_repeat_ngram_size=0, repetition_penalty=1.0,
                  bad_words=(), prefix=None):
    """`(step_fn, initial_state)` that decode with the controls; the state gains the generated tokens."""
    check_control_args(no_repeat_ngram_size, repetition_penalty, bad_words)
    bad_words = [tuple(int(i) for i in word) for word in bad_words]
    history = tf.zeros([batch_size, max_length], tf.int32)
    steps = tf.zeros([batch_size], tf.int32)  # per row, so that beam search tiles and reorders it like the rest
    if prefix is None:
        prefix = tf.zeros([batch_size, 0], tf.int32)
    state = (initial_state, history, steps, tf.cast(prefix, tf.int32))

    def controlled(token_ids, state, *memory):
        inner, history, steps, prefix = state
        outputs = step_fn(token_ids, inner, *memory)
        logits = tf.cast(outputs[0], tf.float32)
        # The token fed at step t > 0 is the one generated at step t - 1.
        write = tf.one_hot(steps - 1, max_length, dtype=tf.int32) * tf.cast(steps > 0, tf.int32)[:, None]
        history = history * (1 - write) + token_ids[:, None] * write
        t = steps[0]
        vocab = tf.shape(logits)[-1]
        if repetition_penalty != 1.0:
            seen = _token_mask(history, tf.range(max_length)[None] < t, vocab)
            penalised = tf.where(logits > 0, logits / repetition_penalty, logits * repetition_penalty)
            logits = tf.where(seen, penalised, logits)
        banned = tf.zeros(tf.shape(logits), tf.bool)
        if no_repeat_ngram_size:
            banned |= _repeated_ngram_mask(history, t, no_repeat_ngram_size, vocab, max_length)
        for word in bad_words:
            banned |= _bad_word_mask(history, t, word, vocab)
        logits = tf.where(banned, NEG_INF, logits)
        logits = _force_prefix(logits, prefix, t)
        return (logits, (outputs[1], history, steps + 1, prefix)) + tuple(outputs[2:])

    return controlled, state


def _token_mask(tokens, valid, vocab):
    """`[rows, vocab]` True where a valid entry of `tokens [rows, n]` names the token."""
    rows, n = tf.shape(tokens)[0], tf.shape(tokens)[1]
    row_ids = tf.tile(tf.range(rows)[:, None], [1, n])
    indices = tf.reshape(tf.stack([row_ids, tf.minimum(tokens, vocab - 1)], axis=-1), [-1, 2])
    valid = tf.broadcast_to(tf.cast(valid, tf.float32), tf.shape(tokens))
    counts = tf.scatter_nd(indices, tf.reshape(valid, [-1]), [rows, vocab])
    return counts > 0


def _last_tokens(history, t, count):
    """The `count` tokens generated last (`[rows, count]`; clamped to position 0 before there are so many)."""
    positions = tf.maximum(t - count + tf.range(count), 0)
    return tf.gather(history, positions, axis=1)


def _repeated_ngram_mask(history, t, n, vocab, max_length):
    """Tokens that would complete an n-gram already generated."""
    windows = max_length - n + 1
    if windows <= 0:
        return tf.zeros([tf.shape(history)[0], vocab], tf.bool)
    suffix = _last_tokens(history, t, n - 1)  # the n-1 tokens the next one would follow
    match = tf.ones([tf.shape(history)[0], windows], tf.bool)
    for i in range(n - 1):
        match &= history[:, i : i + windows] == suffix[:, i : i + 1]
    # Window j is the n-gram history[j : j + n]; its last token must already be generated (j + n - 1 < t).
    match &= (tf.range(windows)[None] + n - 1 < t) & (t >= n - 1)
    return _token_mask(history[:, n - 1 : n - 1 + windows], match, vocab)


def _bad_word_mask(history, t, word, vocab):
    *before, last = word
    hit = tf.one_hot(last, vocab, on_value=True, off_value=False)[None]
    if not before:
        return tf.tile(hit, [tf.shape(history)[0], 1])
    just_said = tf.reduce_all(_last_tokens(history, t, len(before)) == tf.constant(before, tf.int32), axis=1)
    return hit & (just_said & (t >= len(before)))[:, None]


def _force_prefix(logits, prefix, t):
    """Rows whose prefix has a token at step t get only that token."""
    length = tf.shape(prefix)[1]
    forced = tf.gather(tf.pad(prefix, [[0, 0], [0, 1]]), tf.minimum(t, length), axis=1)  # 0 past the prefix
    only = tf.one_hot(forced, tf.shape(logits)[-1], on_value=True, off_value=False)
    return tf.where((forced > 0)[:, None] & ~only, NEG_INF, logits)
