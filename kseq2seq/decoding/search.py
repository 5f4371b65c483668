"""Level 1: the steps every strategy shares, and greedy search and sampling (one token per sequence and step)."""

import collections

import tensorflow as tf

from kseq2seq.decoding.sampling import NEG_INF, check_sampling_args, filter_logits, hash_uniform
from kseq2seq.decoding.shapes import loop_invariants
from kseq2seq.utils import check_positive_int

Decoded = collections.namedtuple("Decoded", ["token_ids", "scores", "attention"])


def _check_common(max_length):
    if isinstance(max_length, int):
        check_positive_int("max_length", max_length)


def _call_step(step_fn, tokens, state):
    outputs = step_fn(tokens, state)
    logits, state = outputs[0], outputs[1]
    extra = outputs[2] if len(outputs) > 2 else None
    return tf.cast(logits, tf.float32), state, extra


def _forbid_end_before(logits, t, end_id, min_length):
    """Rules out `end_id` (logits or log-probabilities) while fewer than `min_length` tokens were generated."""
    if not min_length:
        return logits
    end = tf.one_hot(end_id, tf.shape(logits)[-1], on_value=NEG_INF, dtype=logits.dtype)
    return tf.where(t < min_length, logits + end, logits)


def _extra_buffer(step_fn, tokens, state, max_length):
    """A zero buffer `[max_length, batch, ...]` shaped like the step's extra output, or None.

    The extra's shape can depend on the inputs (the source length), so one
    step is run to read it; this costs one step, and only when asked for.
    """
    extra = _call_step(step_fn, tokens, state)[2]
    if extra is None:
        return None
    return tf.zeros(tf.concat([[max_length], tf.shape(extra)], 0), extra.dtype)


def _sequential_search(step_fn, initial_state, batch_size, start_id, end_id, max_length, choose, return_attention,
                       min_length=0):
    """One token per sequence and step, chosen by `choose(logits, step) -> ids`; shared by greedy and sampling."""
    tokens = tf.fill([batch_size], tf.constant(start_id, tf.int32))
    finished = tf.zeros([batch_size], tf.bool)
    scores = tf.zeros([batch_size], tf.float32)
    output = tf.zeros([max_length, batch_size], tf.int32)
    extras = _extra_buffer(step_fn, tokens, initial_state, max_length) if return_attention else None
    has_extras = extras is not None
    extras = extras if has_extras else ()  # while_loop takes no None

    def body(t, tokens, state, finished, scores, output, extras):
        logits, state, extra = _call_step(step_fn, tokens, state)
        # scores stay the model's log-probabilities; only the choice is constrained
        next_tokens = choose(_forbid_end_before(logits, t, end_id, min_length), t)
        log_probs = tf.gather(tf.nn.log_softmax(logits), next_tokens, batch_dims=1)
        scores += tf.where(finished, 0.0, log_probs)
        next_tokens = tf.where(finished, tf.zeros_like(next_tokens), next_tokens)
        output = tf.tensor_scatter_nd_update(output, [[t]], next_tokens[tf.newaxis])
        if has_extras:
            extras = tf.tensor_scatter_nd_update(extras, [[t]], extra[tf.newaxis])
        return t + 1, next_tokens, state, finished | (next_tokens == end_id), scores, output, extras

    loop_vars = (tf.constant(0), tokens, initial_state, finished, scores, output, extras)
    results = tf.while_loop(
        lambda t, _tokens, _state, finished, *_: (t < max_length) & ~tf.reduce_all(finished),
        body,
        loop_vars,
        shape_invariants=loop_invariants(loop_vars),
        maximum_iterations=max_length,
    )
    output, extras = results[5], results[6]
    attention = _batch_major(extras) if has_extras else None
    return Decoded(tf.transpose(output), results[4], attention)


def _batch_major(buffer):
    rank = len(buffer.shape)
    return tf.transpose(buffer, [1, 0] + list(range(2, rank)))


def greedy_search(step_fn, initial_state, batch_size, start_id, end_id, max_length, return_attention=False,
                  min_length=0):
    """Most likely token at every step, until `end_id` or `max_length`; stops once all sequences ended.

    `min_length`: `end_id` is ruled out until that many tokens were generated (the end token is the next one).

    Returns `Decoded(token_ids [batch, max_length], scores [batch] (sum of log-probs), attention)`.
    """
    _check_common(max_length)
    choose = lambda logits, t: tf.argmax(logits, axis=-1, output_type=tf.int32)  # noqa: E731
    return _sequential_search(step_fn, initial_state, batch_size, start_id, end_id, max_length, choose,
                              return_attention, min_length)


def sample(
    step_fn,
    initial_state,
    batch_size,
    start_id,
    end_id,
    max_length,
    temperature=1.0,
    top_k=None,
    top_p=None,
    seed=0,
    return_attention=False,
    min_length=0,
):
    """Random sampling with temperature, top-k and top-p, reproducible for a given `seed`.

    `temperature=0` is greedy. The draw at step t is a pure function of
    `(seed, t)`, so the same seed and inputs give the same tokens eagerly, in
    `tf.function`, under XLA and in exported models. `scores` are the sampled tokens'
    log-probabilities under the unfiltered model distribution.
    """
    _check_common(max_length)
    check_sampling_args(temperature, top_k, top_p)
    if temperature == 0:
        return greedy_search(step_fn, initial_state, batch_size, start_id, end_id, max_length, return_attention,
                             min_length)

    def choose(logits, t):
        filtered = filter_logits(logits, temperature, top_k, top_p)
        gumbel = -tf.math.log(-tf.math.log(hash_uniform(tf.shape(filtered), seed, t)))
        return tf.argmax(filtered + gumbel, axis=-1, output_type=tf.int32)  # Gumbel-max draw

    return _sequential_search(step_fn, initial_state, batch_size, start_id, end_id, max_length, choose,
                              return_attention, min_length)


def tile_batch(structure, multiplier):
    """Repeats every tensor of `structure` `multiplier` times along the batch axis (row-major)."""
    return tf.nest.map_structure(lambda t: tf.repeat(t, multiplier, axis=0), structure)


