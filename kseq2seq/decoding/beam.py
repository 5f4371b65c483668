"""Level 1: batched beam search with the GNMT length penalty and n-best lists."""

import collections

import tensorflow as tf

from kseq2seq.decoding.search import NEG_INF, Decoded, _batch_major, _call_step, _check_common, _extra_buffer
from kseq2seq.decoding.search import _forbid_end_before, tile_batch
from kseq2seq.decoding.shapes import dynamic_shapes, loop_invariants
from kseq2seq.utils import check_bool, check_positive_int


def length_penalty(length, alpha):
    """GNMT length penalty `((5 + length) / 6) ** alpha` (Wu et al., 2016)."""
    return tf.pow((5.0 + tf.cast(length, tf.float32)) / 6.0, alpha)


def _keep_static_shape(new, shape):
    new.set_shape(new.shape.merge_with(shape))
    return new


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


# One source's search, `[sources, beams, ...]`: the alive beams, the pool of finished hypotheses, and
# `extras` = (alive, finished) per-step extra outputs, or () without them.
Hypotheses = collections.namedtuple(
    "Hypotheses", ["alive_seq", "alive_log_probs", "finished_seq", "finished_scores", "finished_flags", "extras"])
# A step's candidates, `[sources, 2 * beams, ...]`: `parent` is the alive beam each extends by `token`.
Candidates = collections.namedtuple("Candidates", ["log_probs", "parent", "token", "seq", "ended", "extra"])


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
    early_stopping=False,
    memory=None,
    compact=None,
):
    """Batched beam search with the GNMT length penalty; returns the n best hypotheses.

    Hypotheses that emit `end_id` among the `num_beams` best candidates of a
    step are set aside in a pool of finished ones scored
    `log P / ((5 + length) / 6) ** alpha` (length counts the end token); the
    `num_beams` best unfinished candidates go on. With one beam and
    `alpha = 0` this is exactly greedy search. The search stops when, for
    every source, no unfinished beam can still beat the `num_return`-th best
    finished hypothesis (so the returned ones are final), or at `max_length`. Sequences
    that never finished are returned only when there are fewer than
    `num_return` finished ones, after them.

    `early_stopping=True` stops the search for a source sooner, as OpenNMT
    does: at the first step whose best candidate is an ending, once
    `num_return` hypotheses have finished. A longer hypothesis that would
    have scored better under the length penalty may then be missed; the
    search takes fewer steps. A source whose search stopped keeps its
    finished hypotheses unchanged while the others go on.

    `initial_state` has `batch_size` rows and is tiled here. `memory` (a
    nest of per-source tensors, `batch_size` rows) is tiled here too, and the
    step is then called as `step_fn(tokens, state, memory)`; without it,
    tensors that `step_fn` captures must be tiled by the caller with
    `tile_batch(x, num_beams)`, as `step_fn` sees `batch * num_beams` rows.

    `compact`: drop the sources whose search stopped from the batch (their
    rows of the state and memory), so later steps compute only the others,
    as OpenNMT and fairseq do; the results are the same. The batch then
    shrinks inside the loop, which XLA cannot compile, and captured tensors
    cannot shrink with it. None (default): compact where that works and can
    help: with `memory`, outside XLA and `fixed_shapes()`, and for more than one source.

    Returns `Decoded(token_ids [batch, num_return, max_length],
    scores [batch, num_return], attention [batch, num_return, max_length, ...] or None)`,
    best first.
    """
    _check_common(max_length)
    check_beam_args(num_beams, length_penalty_alpha, num_return)
    check_bool("early_stopping", early_stopping)
    k = num_beams
    alpha = float(length_penalty_alpha)
    compact = _compacts(compact, batch_size, memory)
    has_memory = memory is not None
    bound = lambda memory: (lambda x, s: step_fn(x, s, memory)) if has_memory else step_fn  # noqa: E731
    memory = tile_batch(memory, k) if has_memory else ()  # while_loop takes no None
    state = tile_batch(initial_state, k)
    tokens = tf.fill([batch_size * k], tf.constant(start_id, tf.int32))
    hyps = Hypotheses(
        alive_seq=tf.zeros([batch_size, k, max_length], tf.int32),
        alive_log_probs=tf.tile(tf.constant([[0.0] + [NEG_INF] * (k - 1)]), [batch_size, 1]),
        finished_seq=tf.zeros([batch_size, k, max_length], tf.int32),
        finished_scores=tf.fill([batch_size, k], NEG_INF),
        finished_flags=tf.zeros([batch_size, k], tf.bool),
        extras=())
    if return_attention:
        buffer = _extra_buffer(bound(memory), tokens, state, max_length)
        if buffer is not None:
            buffer = _batch_major(buffer)  # [batch * beams, max_length, ...]
            buffer = tf.reshape(buffer, tf.concat([[batch_size, k], tf.shape(buffer)[1:]], 0))
            hyps = hyps._replace(extras=(buffer, buffer))
    best_possible_penalty = tf.maximum(length_penalty(1, alpha), length_penalty(max_length, alpha))

    def settled(hyps, top_ended):
        """Sources whose `num_return` best finished hypotheses are the ones to return."""
        enough = hyps.finished_flags[:, num_return - 1]
        if early_stopping:
            return enough & top_ended
        # Exact: the last returned hypothesis (the pool is sorted) beats anything an alive beam could still
        # score, so later steps cannot change the result.
        return enough & (hyps.finished_scores[:, num_return - 1] >= hyps.alive_log_probs[:, 0] / best_possible_penalty)

    def cond(t, active, tokens, state, memory, hyps, done, out):
        return (t < max_length) & ~tf.reduce_all(done)  # compacted: `done` is empty once every source is

    def body(t, active, tokens, state, memory, hyps, done, out):
        logits, state, extra = _call_step(bound(memory), tokens, state)
        log_probs = _forbid_end_before(tf.nn.log_softmax(logits), t, end_id, min_length)
        cand = _candidates(hyps, log_probs, extra, t, k, end_id)
        # Compacted, no stopped source is left in the batch, so no pool needs keeping.
        hyps, keep = _next_hypotheses(hyps, cand, None if compact else done, k, end_id, length_penalty(t + 1, alpha))
        state = _gather_state(state, _gather_beams(cand.parent, keep), k)
        tokens = tf.reshape(_gather_beams(cand.token, keep), [-1])
        done |= settled(hyps, cand.ended[:, 0])
        if compact:
            active, (tokens, state, memory), hyps, out = _drop_settled(active, done, (tokens, state, memory), hyps,
                                                                       out, k)
            done = tf.zeros_like(active, tf.bool)
        return t + 1, active, tokens, state, memory, hyps, done, out

    active = tf.range(batch_size)
    searching = (active, tokens, state, memory, hyps, tf.zeros([batch_size], tf.bool))  # rows of the sources left
    loop_vars = (tf.constant(0), *searching, hyps if compact else ())  # the last: every source's, when compacting
    shapes = loop_invariants(loop_vars)
    if compact:  # the searching sources' axis shrinks
        shapes = (shapes[0], *tf.nest.map_structure(_any_rows, shapes[1:-1]), shapes[-1])

    def static_body(*loop_vars):
        # With a dynamic vocabulary (pointer-generators) the candidate count is
        # dynamic, which would lose the static batch size the loop started with.
        return tf.nest.map_structure(_keep_static_shape, body(*loop_vars), shapes)

    t, active, _, _, _, hyps, _, out = tf.while_loop(cond, static_body, loop_vars, shape_invariants=shapes,
                                                     maximum_iterations=max_length)
    if compact:  # the sources still searching at max_length
        hyps = tf.nest.map_structure(lambda o, x: tf.tensor_scatter_nd_update(o, active[:, tf.newaxis], x), out, hyps)
    return _best(hyps, t, alpha, num_return)


def _candidates(hyps, log_probs, extra, t, k, end_id):
    """Each source's 2k best one-token extensions of its alive beams: even if k of them end, k go on."""
    rows, vocab = tf.shape(hyps.alive_log_probs)[0], tf.shape(log_probs)[-1]
    log_probs = tf.reshape(log_probs, [rows, k, vocab]) + hyps.alive_log_probs[:, :, tf.newaxis]
    cand_log_probs, index = tf.math.top_k(tf.reshape(log_probs, [rows, k * vocab]), k=tf.minimum(2 * k, k * vocab))
    parent, token = index // vocab, index % vocab
    # An ending counts only if it ranks among the k best candidates (so one
    # beam is exactly greedy search); weaker endings are dropped.
    in_top_k = tf.range(tf.shape(token)[1])[tf.newaxis] < k
    ended = (token == end_id) & in_top_k & (cand_log_probs > NEG_INF / 2)
    cand_extra = None
    if hyps.extras:
        extra = tf.reshape(extra, tf.concat([[rows, k], tf.shape(extra)[1:]], 0))
        cand_extra = _write_step(_gather_beams(hyps.extras[0], parent), t, _gather_beams(extra, parent))
    seq = _write_step(_gather_beams(hyps.alive_seq, parent), t, token)
    return Candidates(cand_log_probs, parent, token, seq, ended, cand_extra)


def _next_hypotheses(hyps, cand, done, k, end_id, penalty):
    """`(hyps, keep)`: the k best candidates that did not end stay alive (`keep` indexes them); the k best of
    the finished pool and the candidates that ended (scored with `penalty`) are the new pool, except where
    a source's search is `done`: its pool stays as it was (`done=None`: no source is)."""
    alive_log_probs, keep = tf.math.top_k(tf.where(cand.token == end_id, NEG_INF, cand.log_probs), k=k)
    scores = tf.where(cand.ended, cand.log_probs / penalty, NEG_INF)
    new_scores, best = tf.math.top_k(tf.concat([hyps.finished_scores, scores], axis=1), k=k)
    keep_old = lambda old, new: new if done is None else tf.where(  # noqa: E731
        tf.reshape(done, [-1] + [1] * (len(old.shape) - 1)), old, new)
    pool = lambda old, new: keep_old(old, _gather_beams(tf.concat([old, new], axis=1), best))  # noqa: E731
    return Hypotheses(
        alive_seq=_gather_beams(cand.seq, keep),
        alive_log_probs=alive_log_probs,
        finished_seq=pool(hyps.finished_seq, cand.seq),
        finished_scores=keep_old(hyps.finished_scores, new_scores),
        finished_flags=pool(hyps.finished_flags, cand.ended),
        extras=(_gather_beams(cand.extra, keep), pool(hyps.extras[1], cand.extra)) if hyps.extras else (),
    ), keep


def _best(hyps, t, alpha, num_return):
    """Finished hypotheses first (by score), then unfinished ones (by their normalised score)."""
    alive_scores = hyps.alive_log_probs / length_penalty(t, alpha)
    scores = tf.concat([hyps.finished_scores, alive_scores], axis=1)
    flags = tf.concat([hyps.finished_flags, tf.zeros_like(hyps.finished_flags)], axis=1)
    by_score = tf.argsort(scores, axis=1, direction="DESCENDING", stable=True)
    order = _gather_beams(by_score, tf.argsort(tf.cast(~_gather_beams(flags, by_score), tf.int32), axis=1, stable=True))
    order = order[:, :num_return]
    token_ids = _gather_beams(tf.concat([hyps.finished_seq, hyps.alive_seq], axis=1), order)
    attention = None
    if hyps.extras:
        attention = _gather_beams(tf.concat([hyps.extras[1], hyps.extras[0]], axis=1), order)
    return Decoded(token_ids, _gather_beams(scores, order), attention)


def _compacts(compact, batch_size, memory):
    if compact is not None:
        check_bool("compact", compact)
        if compact and memory is None:
            raise ValueError("Expected memory with compact=True (tensors the step captures cannot shrink with the "
                             "batch). Received: memory=None")
        return compact
    if memory is None or not dynamic_shapes():
        return False
    return tf.get_static_value(batch_size) != 1  # one source: the loop ends when it does


def _any_rows(shape):
    return tf.TensorShape([None]).concatenate(shape[1:]) if shape.rank else shape


def _drop_settled(active, done, per_row, hyps, out, k):
    """Writes the settled sources' hypotheses to `out` (every source's) and drops them from the search."""

    def drop():
        index = tf.boolean_mask(active, done)[:, tf.newaxis]
        written = tf.nest.map_structure(lambda o, x: tf.tensor_scatter_nd_update(o, index, tf.boolean_mask(x, done)),
                                        out, hyps)
        keep = tf.cast(tf.where(~done)[:, 0], tf.int32)
        rows = tf.reshape(keep[:, tf.newaxis] * k + tf.range(k)[tf.newaxis], [-1])
        return (tf.gather(active, keep), tf.nest.map_structure(lambda x: tf.gather(x, rows), per_row),
                tf.nest.map_structure(lambda x: tf.gather(x, keep), hyps), written)

    return tf.cond(tf.reduce_any(done), drop, lambda: (active, per_row, hyps, out))
