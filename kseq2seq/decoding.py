"""Level 1: decoding strategies as pure functions of a step function.

    step_fn(token_ids [batch] int32, state) -> (logits [batch, vocab], state)
                                            or (logits, state, extra)

`state` is any nested structure of tensors whose first axis is the batch
(LSTM `[h, c]` lists, attention context, ...); the strategies never look
inside it, so one implementation decodes every model. An optional third
output `extra` (e.g. attention weights `[batch, source_length]`) is recorded
at every step and returned as `Decoded.attention`.

Loops are `tf.while_loop`s over fixed-size buffers, so the same code runs
eagerly, inside `tf.function`, under XLA (`jit_compile=True`) and in exported
SavedModels. Every strategy returns `Decoded(token_ids, scores, attention)`:
ids hold the generated tokens, the end token included, then 0 (padding).

Why not keras-hub's samplers (0.32)? They decode into a fixed prompt buffer
and would fit the greedy case, but `BeamSampler` has no length penalty, lets a
beam that emitted the end token keep extending and competing instead of
setting it aside, and returns n-best only as raw beam contents; `TopKSampler`
and `TopPSampler` draw from a stateful `SeedGenerator`, so a seed does not
reproduce a sample on the next call or inside an exported SavedModel. Here
sampling draws from a counter-based hash of `(seed, step)`, identical with
and without XLA; the top-k / nucleus filters compute the same distributions
as keras-hub's samplers.
"""

import collections

import tensorflow as tf

from kseq2seq.utils import check_positive_int

Decoded = collections.namedtuple("Decoded", ["token_ids", "scores", "attention"])
NEG_INF = -1e9


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


def filter_logits(logits, temperature=1.0, top_k=None, top_p=None):
    """Temperature scaling, then top-k and nucleus (top-p) filtering; removed tokens get -1e9."""
    logits = logits / temperature
    if top_k is not None:
        kth = tf.math.top_k(logits, k=tf.minimum(top_k, tf.shape(logits)[-1])).values[:, -1:]
        logits = tf.where(logits < kth, NEG_INF, logits)
    if top_p is not None and top_p < 1.0:
        sorted_logits = tf.sort(logits, axis=-1, direction="DESCENDING")
        cumulative = tf.cumsum(tf.nn.softmax(sorted_logits), axis=-1, exclusive=True)
        # keep the smallest prefix whose mass reaches top_p (the first token always)
        kept = tf.reduce_sum(tf.cast(cumulative < top_p, tf.int32), axis=-1, keepdims=True)
        threshold = tf.gather(sorted_logits, kept - 1, batch_dims=1)
        logits = tf.where(logits < threshold, NEG_INF, logits)
    return logits


def check_sampling_args(temperature=1.0, top_k=None, top_p=None):
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or temperature < 0:
        raise ValueError(f"Expected temperature >= 0. Received: temperature={temperature!r}")
    if top_k is not None:
        check_positive_int("top_k", top_k)
    if top_p is not None:
        if isinstance(top_p, bool) or not isinstance(top_p, (int, float)) or not 0 < top_p <= 1:
            raise ValueError(f"Expected top_p in (0, 1]. Received: top_p={top_p!r}")


def _mix32(x):
    """murmur3's 32-bit finalizer: a bijective avalanche of uint32 values."""
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 16)) * tf.constant(0x85EBCA6B, tf.uint32)
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 13)) * tf.constant(0xC2B2AE35, tf.uint32)
    return tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 16))


def hash_uniform(shape, seed, step):
    """Uniform floats in (0, 1) from a counter-based hash of (seed, step, position).

    TensorFlow's stateless random ops give other numbers under XLA when the
    seed is a runtime tensor; integer hashing gives the same bits everywhere.
    """
    key = _mix32(tf.cast(seed, tf.uint32) * tf.constant(0x9E3779B9, tf.uint32) + _mix32(tf.cast(step, tf.uint32)))
    counter = tf.cast(tf.range(tf.reduce_prod(shape)), tf.uint32)
    bits = tf.bitwise.right_shift(_mix32(counter + key), 8)  # 24 bits: exact in float32
    return tf.reshape((tf.cast(bits, tf.float32) + 0.5) / float(1 << 24), shape)


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


def length_penalty(length, alpha):
    """GNMT length penalty `((5 + length) / 6) ** alpha` (Wu et al., 2016)."""
    return tf.pow((5.0 + tf.cast(length, tf.float32)) / 6.0, alpha)


def _keep_static_shape(new, old):
    new.set_shape(new.shape.merge_with(old.shape))
    return new


def tile_batch(structure, multiplier):
    """Repeats every tensor of `structure` `multiplier` times along the batch axis (row-major)."""
    return tf.nest.map_structure(lambda t: tf.repeat(t, multiplier, axis=0), structure)


def _gather_beams(tensor, indices):
    """tensor `[batch, beams, ...]`, indices `[batch, n]` -> `[batch, n, ...]`."""
    return tf.gather(tensor, indices, batch_dims=1)


def _gather_state(state, parents, num_beams):
    """Reorders a flat `[batch * beams, ...]` state so row (b, k) comes from beam `parents[b, k]`."""
    batch = tf.shape(parents)[0]
    flat = tf.reshape(parents + tf.range(batch)[:, tf.newaxis] * num_beams, [-1])
    return tf.nest.map_structure(lambda t: tf.gather(t, flat), state)


def _write_step(buffer, t, values):
    """buffer `[batch, beams, max_length, ...]`: positions t <- values `[batch, beams, ...]`."""
    length = tf.shape(buffer)[2]
    hot = tf.one_hot(t, length, dtype=buffer.dtype)
    hot = tf.reshape(hot, [1, 1, -1] + [1] * (len(buffer.shape) - 3))
    return buffer * (1 - hot) + tf.expand_dims(values, 2) * hot


def check_beam_args(num_beams, alpha, num_return):
    check_positive_int("num_beams", num_beams)
    check_positive_int("nbest", num_return)
    if num_return > num_beams:
        raise ValueError(f"Expected nbest <= num_beams ({num_beams}). Received: nbest={num_return}")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)):
        raise ValueError(f"Expected length_penalty to be a number. Received: length_penalty={alpha!r}")


def beam_search(
    step_fn,
    initial_state,
    batch_size,
    start_id,
    end_id,
    max_length,
    num_beams=4,
    length_penalty_alpha=0.6,
    num_return=1,
    return_attention=False,
    min_length=0,
):
    """Batched beam search with the GNMT length penalty; returns the n best hypotheses.

    Hypotheses that emit `end_id` among the `num_beams` best candidates of a
    step are set aside in a pool of finished ones scored
    `log P / ((5 + length) / 6) ** alpha` (length counts the end token); the
    `num_beams` best unfinished candidates go on. With one beam and
    `alpha = 0` this is exactly greedy search. The search stops when
    no unfinished beam can still beat the worst kept finished hypothesis (in
    particular when all beams have finished) or at `max_length`. Sequences
    that never finished are returned only when there are fewer than
    `num_return` finished ones, after them.

    `initial_state` has `batch_size` rows and is tiled here; tensors that
    `step_fn` captures (encoder outputs, masks) must be tiled by the caller
    with `tile_batch(x, num_beams)`, as `step_fn` sees `batch * num_beams` rows.

    Returns `Decoded(token_ids [batch, num_return, max_length],
    scores [batch, num_return], attention [batch, num_return, max_length, ...] or None)`,
    best first.
    """
    _check_common(max_length)
    check_beam_args(num_beams, length_penalty_alpha, num_return)
    k = num_beams
    alpha = float(length_penalty_alpha)
    state = tile_batch(initial_state, k)
    tokens = tf.fill([batch_size * k], tf.constant(start_id, tf.int32))
    alive_log_probs = tf.tile(tf.constant([[0.0] + [NEG_INF] * (k - 1)]), [batch_size, 1])
    alive_seq = tf.zeros([batch_size, k, max_length], tf.int32)
    finished_seq = tf.zeros([batch_size, k, max_length], tf.int32)
    finished_scores = tf.fill([batch_size, k], NEG_INF)
    finished_flags = tf.zeros([batch_size, k], tf.bool)
    buffer = _extra_buffer(step_fn, tokens, state, max_length) if return_attention else None
    has_extras = buffer is not None
    extras = ()  # (alive, finished) per-step extras; while_loop takes no None
    if has_extras:
        buffer = _batch_major(buffer)  # [batch * beams, max_length, ...]
        buffer = tf.reshape(buffer, tf.concat([[batch_size, k], tf.shape(buffer)[1:]], 0))
        extras = (buffer, buffer)
    best_possible_penalty = tf.maximum(length_penalty(1, alpha), length_penalty(max_length, alpha))

    def cond(t, tokens, state, alive_seq, alive_log_probs, finished_seq, finished_scores, finished_flags, extras):
        best_alive = alive_log_probs[:, 0] / best_possible_penalty
        worst_finished = tf.reduce_min(tf.where(finished_flags, finished_scores, NEG_INF), axis=1)
        settled = tf.reduce_all(finished_flags, axis=1) & (worst_finished >= best_alive)
        return (t < max_length) & ~tf.reduce_all(settled)

    def body(t, tokens, state, alive_seq, alive_log_probs, finished_seq, finished_scores, finished_flags, extras):
        logits, state, extra = _call_step(step_fn, tokens, state)
        vocab = tf.shape(logits)[-1]
        log_probs = _forbid_end_before(tf.nn.log_softmax(logits), t, end_id, min_length)
        log_probs = tf.reshape(log_probs, [batch_size, k, vocab])
        log_probs = tf.reshape(log_probs + alive_log_probs[:, :, tf.newaxis], [batch_size, k * vocab])
        # 2k candidates: even if k of them end here, k can stay alive.
        cand_log_probs, cand_index = tf.math.top_k(log_probs, k=tf.minimum(2 * k, k * vocab))
        cand_parent, cand_token = cand_index // vocab, cand_index % vocab
        cand_seq = _write_step(_gather_beams(alive_seq, cand_parent), t, cand_token)
        # An ending counts only if it ranks among the k best candidates (so one
        # beam is exactly greedy search); weaker endings are dropped.
        in_top_k = tf.range(tf.shape(cand_token)[1])[tf.newaxis] < k
        cand_ended = (cand_token == end_id) & in_top_k & (cand_log_probs > NEG_INF / 2)
        if has_extras:
            extra = tf.reshape(extra, tf.concat([[batch_size, k], tf.shape(extra)[1:]], 0))
            cand_extra = _write_step(_gather_beams(extras[0], cand_parent), t, _gather_beams(extra, cand_parent))

        # --- alive: the best k candidates that did not end ---
        alive_log_probs, keep = tf.math.top_k(tf.where(cand_token == end_id, NEG_INF, cand_log_probs), k=k)
        alive_seq = _gather_beams(cand_seq, keep)
        state = _gather_state(state, _gather_beams(cand_parent, keep), k)
        tokens = tf.reshape(_gather_beams(cand_token, keep), [-1])

        # --- finished: the best k of the old pool and the candidates that ended ---
        cand_scores = tf.where(cand_ended, cand_log_probs / length_penalty(t + 1, alpha), NEG_INF)
        pool_scores = tf.concat([finished_scores, cand_scores], axis=1)
        finished_scores, best = tf.math.top_k(pool_scores, k=k)
        finished_seq = _gather_beams(tf.concat([finished_seq, cand_seq], axis=1), best)
        finished_flags = _gather_beams(tf.concat([finished_flags, cand_ended], axis=1), best)
        if has_extras:
            extras = (
                _gather_beams(cand_extra, keep),
                _gather_beams(tf.concat([extras[1], cand_extra], axis=1), best),
            )
        return t + 1, tokens, state, alive_seq, alive_log_probs, finished_seq, finished_scores, finished_flags, extras

    def static_body(*loop_vars):
        # With a dynamic vocabulary (pointer-generators) the candidate count is
        # dynamic, which would lose the static batch size the loop started with.
        return tf.nest.map_structure(_keep_static_shape, body(*loop_vars), loop_vars)

    loop_vars = (tf.constant(0), tokens, state, alive_seq, alive_log_probs, finished_seq, finished_scores, finished_flags, extras)
    t, _, _, alive_seq, alive_log_probs, finished_seq, finished_scores, finished_flags, extras = tf.while_loop(
        cond, static_body, loop_vars, maximum_iterations=max_length
    )
    # Finished hypotheses first (by score), then unfinished ones (by their normalised score).
    alive_scores = alive_log_probs / length_penalty(t, alpha)
    scores = tf.concat([finished_scores, alive_scores], axis=1)
    flags = tf.concat([finished_flags, tf.zeros_like(finished_flags)], axis=1)
    by_score = tf.argsort(scores, axis=1, direction="DESCENDING", stable=True)
    order = _gather_beams(by_score, tf.argsort(tf.cast(~_gather_beams(flags, by_score), tf.int32), axis=1, stable=True))
    order = order[:, :num_return]
    token_ids = _gather_beams(tf.concat([finished_seq, alive_seq], axis=1), order)
    attention = None
    if has_extras:
        attention = _gather_beams(tf.concat([extras[1], extras[0]], axis=1), order)
    return Decoded(token_ids, _gather_beams(scores, order), attention)


SAMPLERS = ("greedy", "beam", "sample")


def check_decoding_config(sampler="greedy", max_length=None, num_beams=4, length_penalty=0.6, nbest=1,
                          temperature=1.0, top_k=None, top_p=None, seed=0, min_length=0):
    """Validates a decoding configuration up front, naming the bad argument."""
    if sampler not in SAMPLERS:
        raise ValueError(f"Expected sampler to be one of {list(SAMPLERS)}. Received: sampler={sampler!r}")
    if max_length is not None:
        check_positive_int("max_length", max_length)
    check_positive_int("min_length", min_length, minimum=0)
    if max_length is not None and min_length >= max_length:
        raise ValueError(f"Expected min_length < max_length ({max_length}). Received: min_length={min_length}")
    if sampler == "beam":
        check_beam_args(num_beams, length_penalty, nbest)
    elif nbest != 1:
        raise ValueError(f"Expected nbest=1 unless sampler='beam'. Received: nbest={nbest!r}, sampler={sampler!r}")
    if sampler == "sample":
        check_sampling_args(temperature, top_k, top_p)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"Expected seed to be an integer. Received: seed={seed!r}")


def decode(step_fn, initial_state, batch_size, start_id, end_id, max_length, sampler="greedy", num_beams=4,
           length_penalty=0.6, nbest=1, temperature=1.0, top_k=None, top_p=None, seed=0, return_attention=False,
           min_length=0):
    """Runs one strategy; always returns n-best shaped results.

    `Decoded(token_ids [batch, nbest, max_length], scores [batch, nbest], attention or None)`.
    For `sampler="beam"`, tensors captured by `step_fn` must already be tiled
    with `tile_batch(x, num_beams)`.
    """
    common = (step_fn, initial_state, batch_size, start_id, end_id, max_length)
    if sampler == "beam":
        return beam_search(*common, num_beams=num_beams, length_penalty_alpha=length_penalty,
                           num_return=nbest, return_attention=return_attention, min_length=min_length)
    if sampler == "sample":
        out = sample(*common, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed,
                     return_attention=return_attention, min_length=min_length)
    elif sampler == "greedy":
        out = greedy_search(*common, return_attention=return_attention, min_length=min_length)
    else:
        raise ValueError(f"Expected sampler to be one of {list(SAMPLERS)}. Received: sampler={sampler!r}")
    attention = None if out.attention is None else out.attention[:, tf.newaxis]
    return Decoded(out.token_ids[:, tf.newaxis], out.scores[:, tf.newaxis], attention)
