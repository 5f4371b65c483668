"""Level 1: decoding strategies as pure functions of a step function.

    step_fn(token_ids [batch] int32, state[, memory]) -> (logits [batch, vocab], state)
                                                      or (logits, state, extra)

`state` is any nested structure of tensors whose first axis is the batch
(LSTM `[h, c]` lists, attention context, ...); the strategies never look
inside it, so one implementation decodes every model. An optional third
output `extra` (e.g. attention weights `[batch, source_length]`) is recorded
at every step and returned as `Decoded.attention`. `decode` also takes the
model's `memory` (what the encoder computed once) and tiles it for beams
itself, so a model never knows how it is decoded.

Loops are `tf.while_loop`s over fixed-size buffers, so the same code runs
eagerly, inside `tf.function`, under XLA (`jit_compile=True`) and in exported
SavedModels; a state may grow where shapes can change (`shapes`). Every
strategy returns `Decoded(token_ids, scores, attention)`: ids hold the
generated tokens, the end token included, then 0 (padding).

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

import tensorflow as tf

from kseq2seq.decoding.beam import beam_search, check_beam_args, length_penalty
from kseq2seq.decoding.sampling import check_sampling_args, filter_logits, hash_uniform
from kseq2seq.decoding.controls import check_control_args, check_control_config, has_controls, with_controls
from kseq2seq.decoding.search import NEG_INF, Decoded, greedy_search, sample, tile_batch
from kseq2seq.decoding.shapes import dynamic_shapes, fixed_shapes
from kseq2seq.utils import check_positive_int

__all__ = ["Decoded", "NEG_INF", "SAMPLERS", "beam_search", "check_beam_args", "check_control_args",
           "check_control_config",
           "check_decoding_config",
           "check_sampling_args", "decode", "dynamic_shapes", "filter_logits", "fixed_shapes", "greedy_search",
           "hash_uniform", "length_penalty",
           "sample", "tile_batch", "with_controls"]

SAMPLERS = ("greedy", "beam", "sample")


def check_decoding_config(sampler="greedy", max_length=None, num_beams=4, length_penalty=0.6, nbest=1,
                          temperature=1.0, top_k=None, top_p=None, seed=0, min_length=0, no_repeat_ngram_size=0,
                          repetition_penalty=1.0, bad_words=()):
    """Validates a decoding configuration up front, naming the bad argument."""
    check_control_args(no_repeat_ngram_size, repetition_penalty, bad_words)
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
           min_length=0, memory=None, no_repeat_ngram_size=0, repetition_penalty=1.0, bad_words=(), prefix=None,
           early_stopping=False):
    """Runs one strategy; always returns n-best shaped results.

    `memory`: per-source tensors (batch-first: encoder outputs, projected
    keys, masks) that the step reads but never changes. When given, the step
    is called as `step_fn(token_ids, state, memory)`, and beam search tiles
    the memory to `batch * num_beams` rows itself (and drops the rows of
    sources whose search stopped): callers never tile for beams. Without it,
    `step_fn(token_ids, state)`, and tensors it captures must already have
    the rows the strategy decodes.

    `early_stopping`: beam search's OpenNMT-style stop (see `beam_search`).

    `no_repeat_ngram_size`, `repetition_penalty`, `bad_words` (token id
    sequences) and `prefix` (`[batch, P]` ids, 0-padded): the controls of
    `kseq2seq.decoding.controls`, for every strategy.

    Returns `Decoded(token_ids [batch, nbest, max_length], scores [batch, nbest], attention or None)`.
    """
    if memory is not None and sampler != "beam":  # beam search tiles the memory (and may shrink it) itself
        step_fn, memory = _bind_memory(step_fn, memory), None
    if has_controls(no_repeat_ngram_size, repetition_penalty, bad_words, prefix):
        step_fn, initial_state = with_controls(step_fn, initial_state, batch_size, max_length, no_repeat_ngram_size,
                                               repetition_penalty, bad_words, prefix)
    common = (step_fn, initial_state, batch_size, start_id, end_id, max_length)
    if sampler == "beam":
        return beam_search(*common, num_beams=num_beams, length_penalty_alpha=length_penalty,
                           num_return=nbest, return_attention=return_attention, min_length=min_length,
                           early_stopping=early_stopping, memory=memory)
    if sampler == "sample":
        out = sample(*common, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed,
                     return_attention=return_attention, min_length=min_length)
    elif sampler == "greedy":
        out = greedy_search(*common, return_attention=return_attention, min_length=min_length)
    else:
        raise ValueError(f"Expected sampler to be one of {list(SAMPLERS)}. Received: sampler={sampler!r}")
    attention = None if out.attention is None else out.attention[:, tf.newaxis]
    return Decoded(out.token_ids[:, tf.newaxis], out.scores[:, tf.newaxis], attention)


def _bind_memory(step_fn, memory):
    return lambda token_ids, state: step_fn(token_ids, state, memory)
