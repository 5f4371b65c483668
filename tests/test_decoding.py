import itertools

import numpy as np
import pytest
import tensorflow as tf

from kseq2seq import decoding

START, END, V = 2, 3, 6


def table_step(tables):
    """A fake model: logits = tables[row, t, previous token]; state = (row, t).

    tables: `[rows, max_length, V, V]`; row r of the batch decodes with table r.
    """
    tables = tf.constant(tables, tf.float32)

    def step_fn(tokens, state):
        row, t = state
        logits = tf.gather_nd(tables, tf.stack([row, t, tokens], axis=1))
        return logits, (row, t + 1)

    return step_fn


def random_tables(rows, length, seed=0):
    rng = np.random.default_rng(seed)
    tables = rng.normal(scale=2.0, size=(rows, length, V, V)).astype("float32")
    tables[..., :START + 1] = -30.0  # [PAD], [UNK], [START] are (nearly) never emitted
    return tables


def initial(rows):
    return (tf.range(rows, dtype=tf.int32), tf.zeros([rows], tf.int32))


def log_softmax(x):
    x = x - x.max()
    return x - np.log(np.exp(x).sum())


def exhaustive(table, max_length, alpha):
    """Every hypothesis of the table model, ranked as beam search ranks them."""
    results = []
    for length in range(1, max_length + 1):
        for seq in itertools.product(range(V), repeat=length):
            if END in seq[:-1]:
                continue
            finished = seq[-1] == END
            if not finished and length < max_length:
                continue
            prev, logp = START, 0.0
            for t, tok in enumerate(seq):
                logp += log_softmax(table[t, prev])[tok]
                prev = tok
            score = logp / ((5.0 + length) / 6.0) ** alpha
            results.append((not finished, -score, seq + (0,) * (max_length - length), score))
    results.sort()
    return [(r[2], r[3]) for r in results]


@pytest.mark.parametrize("num_return", [1, 5])  # the search stops once the num_return best are final
@pytest.mark.parametrize("alpha", [0.0, 0.6, 2.0])
def test_beam_search_with_all_hypotheses_equals_exhaustive_search(alpha, num_return):
    length = 3
    tables = random_tables(1, length, seed=int(alpha * 10))
    out = decoding.beam_search(table_step(tables), initial(1), 1, START, END, length,
                               num_beams=V ** length, length_penalty_alpha=alpha, num_return=num_return)
    expected = exhaustive(tables[0], length, alpha)[:num_return]
    np.testing.assert_array_equal(out.token_ids.numpy()[0], [seq for seq, _ in expected])
    np.testing.assert_allclose(out.scores.numpy()[0], [score for _, score in expected], rtol=1e-5)


@pytest.mark.parametrize("alpha", [0.0, 0.6])
def test_the_best_hypothesis_does_not_depend_on_how_many_are_returned(alpha):
    # num_return=1 may stop earlier than num_return=4; the best hypothesis must be the same.
    tables = random_tables(16, 10, seed=5)
    args = (table_step(tables), initial(16), 16, START, END, 10)
    one = decoding.beam_search(*args, num_beams=4, length_penalty_alpha=alpha, num_return=1)
    four = decoding.beam_search(*args, num_beams=4, length_penalty_alpha=alpha, num_return=4)
    np.testing.assert_array_equal(one.token_ids.numpy()[:, 0], four.token_ids.numpy()[:, 0])
    np.testing.assert_allclose(one.scores.numpy()[:, 0], four.scores.numpy()[:, 0], rtol=1e-6)


def test_one_beam_equals_greedy():
    tables = random_tables(4, 6, seed=3)
    greedy = decoding.greedy_search(table_step(tables), initial(4), 4, START, END, 6)
    beam = decoding.beam_search(table_step(tables), initial(4), 4, START, END, 6, num_beams=1, length_penalty_alpha=0.0)
    np.testing.assert_array_equal(beam.token_ids.numpy()[:, 0], greedy.token_ids.numpy())
    np.testing.assert_allclose(beam.scores.numpy()[:, 0], greedy.scores.numpy(), rtol=1e-5)


def test_length_penalty_changes_the_winner_as_the_formula_says():
    # P(END) = 0.4 at once; P(4) = 0.6 then P(END | 4) = 0.5: short 0.4 vs long 0.3.
    tables = np.full((1, 2, V, V), -1e4, "float32")
    tables[0, 0, START, END], tables[0, 0, START, 4] = np.log(0.4), np.log(0.6)
    tables[0, 1, 4, END], tables[0, 1, 4, 5] = np.log(0.5), np.log(0.5)
    step = table_step(tables)
    short, long = np.log(0.4), np.log(0.3)
    for alpha, winner, score in [(0.0, [END, 0], short), (2.0, [4, END], long / (7 / 6) ** 2)]:
        out = decoding.beam_search(step, initial(1), 1, START, END, 2, num_beams=2, length_penalty_alpha=alpha)
        np.testing.assert_array_equal(out.token_ids.numpy()[0, 0], winner)
        assert out.scores.numpy()[0, 0] == pytest.approx(score, rel=1e-5)
    # the crossover: long wins exactly when (7/6)^alpha > log(0.3)/log(0.4)
    crossover = np.log(np.log(0.3) / np.log(0.4)) / np.log(7 / 6)
    for alpha, winner in [(crossover - 0.05, END), (crossover + 0.05, 4)]:
        out = decoding.beam_search(step, initial(1), 1, START, END, 2, num_beams=2, length_penalty_alpha=alpha)
        assert out.token_ids.numpy()[0, 0, 0] == winner


@pytest.mark.parametrize("nbest", [1, 2])
def test_early_stopping_stops_when_the_best_candidate_ends(nbest):
    # P(END) = 0.45 at once, P(4) = 0.35 then P(END | 4) = 1: under alpha = 2 the long one scores better
    # (log 0.35 / (7/6)^2 > log 0.45), but the step's best candidate ends at step 0.
    tables = np.full((1, 3, V, V), -1e4, "float32")
    tables[0, 0, START, END], tables[0, 0, START, 4], tables[0, 0, START, 5] = np.log([0.45, 0.35, 0.2])
    tables[0, 1, 4, END] = tables[0, 1, 5, END] = 0.0
    steps = []
    base = table_step(tables)

    def step(tokens, state):
        steps.append(1)  # eager: the loop body runs in Python, once per step
        return base(tokens, state)

    short, long = [END, 0, 0], [4, END, 0]
    expected = {  # early stopping: (best, steps taken); exact: (best, steps taken)
        (1, True): (short, 1), (1, False): (long, 2), (2, True): (long, 2), (2, False): (long, 2)}
    for early in (True, False):
        steps.clear()
        out = decoding.beam_search(step, initial(1), 1, START, END, 3, num_beams=2, length_penalty_alpha=2.0,
                                   num_return=nbest, early_stopping=early)
        best, taken = expected[nbest, early]
        np.testing.assert_array_equal(out.token_ids.numpy()[0, 0], best)
        assert len(steps) == taken, (early, len(steps))


@pytest.mark.parametrize("search", ["greedy", "beam"])
def test_sequences_stop_at_end_and_are_padded(search):
    tables = random_tables(8, 10, seed=5)
    tables[:, 4:, :, END] = 20.0  # every sequence ends by step 5
    if search == "greedy":
        ids = decoding.greedy_search(table_step(tables), initial(8), 8, START, END, 10).token_ids.numpy()
    else:
        out = decoding.beam_search(table_step(tables), initial(8), 8, START, END, 10, num_beams=3, num_return=3)
        ids = out.token_ids.numpy().reshape(-1, 10)
    for row in ids:
        end = list(row).index(END)
        assert end <= 4 and np.all(row[end + 1:] == 0) and np.all(row[:end] > END)


@pytest.mark.parametrize("search", ["greedy", "beam", "beam_early_stopping"])
def test_a_batch_decodes_like_each_example_alone(search):
    # With early stopping, a source whose search stopped must keep its results while the others go on.
    tables = random_tables(5, 7, seed=9)

    def run(rows):
        state = (tf.constant(rows, tf.int32), tf.zeros([len(rows)], tf.int32))
        args = (table_step(tables), state, len(rows), START, END, 7)
        if search == "greedy":
            return decoding.greedy_search(*args).token_ids.numpy()
        return decoding.beam_search(*args, num_beams=4, num_return=2,
                                    early_stopping=search == "beam_early_stopping").token_ids.numpy()

    batch = run([0, 1, 2, 3, 4])
    for r in range(5):
        np.testing.assert_array_equal(batch[r], run([r])[0])


def test_sampling_is_reproducible_and_respects_top_k_and_top_p():
    tables = random_tables(64, 8, seed=11)
    step = table_step(tables)
    run = lambda **kw: decoding.sample(step, initial(64), 64, START, END, 8, **kw).token_ids.numpy()  # noqa: E731
    np.testing.assert_array_equal(run(seed=7), run(seed=7))
    assert not np.array_equal(run(seed=7), run(seed=8))

    ids = run(top_k=2, seed=3)
    prev = np.full(64, START)
    for t in range(8):
        top2 = np.argsort(-tables[np.arange(64), t, prev], axis=-1)[:, :2]
        live = prev != END
        live &= ids[:, t - 1] != 0 if t else True
        tok = ids[:, t]
        assert all(tok[i] in top2[i] for i in np.where(live & (tok != 0))[0])
        prev = np.where(tok == 0, prev, tok)

    greedy = decoding.greedy_search(step, initial(64), 64, START, END, 8).token_ids.numpy()
    np.testing.assert_array_equal(run(top_p=1e-6, seed=5), greedy)  # nucleus of one token
    np.testing.assert_array_equal(run(temperature=0, seed=5), greedy)


def test_filter_logits_top_p_keeps_the_smallest_nucleus():
    logits = tf.math.log([[0.5, 0.3, 0.15, 0.05]])
    kept = decoding.filter_logits(logits, top_p=0.75).numpy()[0] > -1e8
    assert kept.tolist() == [True, True, False, False]
    kept = decoding.filter_logits(logits, top_p=0.8).numpy()[0] > -1e8
    assert kept.tolist() == [True, True, False, False]
    kept = decoding.filter_logits(logits, top_p=0.81).numpy()[0] > -1e8
    assert kept.tolist() == [True, True, True, False]


@pytest.mark.parametrize("jit", [False, True])
def test_identical_results_in_tf_function_and_xla(jit):
    tables = random_tables(3, 6, seed=13)
    step = table_step(tables)
    strategies = {
        "greedy": lambda: decoding.greedy_search(step, initial(3), 3, START, END, 6),
        "beam": lambda: decoding.beam_search(step, initial(3), 3, START, END, 6, num_beams=3, num_return=2),
        "beam_early_stopping": lambda: decoding.beam_search(step, initial(3), 3, START, END, 6, num_beams=3,
                                                            early_stopping=True),
        "sample": lambda: decoding.sample(step, initial(3), 3, START, END, 6, top_k=3, top_p=0.9, seed=4),
    }
    for name, fn in strategies.items():
        eager = fn()
        compiled = tf.function(fn, jit_compile=jit)()
        np.testing.assert_array_equal(compiled.token_ids.numpy(), eager.token_ids.numpy(), err_msg=name)
        np.testing.assert_allclose(compiled.scores.numpy(), eager.scores.numpy(), rtol=1e-5, err_msg=name)


def test_extra_step_outputs_are_returned_per_step():
    tables = random_tables(2, 5, seed=2)
    base = table_step(tables)

    def step_with_attention(tokens, state):
        logits, new_state = base(tokens, state)
        return logits, new_state, tf.one_hot(state[1], 5)  # "attends" to position t

    greedy = decoding.greedy_search(step_with_attention, initial(2), 2, START, END, 5, return_attention=True)
    assert greedy.attention.shape == (2, 5, 5)
    steps = int((greedy.token_ids.numpy() != 0).sum(axis=1).max())
    np.testing.assert_array_equal(greedy.attention.numpy()[0, :steps], np.eye(5)[:steps])
    beam = decoding.beam_search(step_with_attention, initial(2), 2, START, END, 5, num_beams=2, num_return=2,
                                return_attention=True)
    assert beam.attention.shape == (2, 2, 5, 5)
    np.testing.assert_array_equal(beam.attention.numpy()[:, :, 0], np.broadcast_to(np.eye(5)[0], (2, 2, 5)))


def test_bad_arguments_name_the_argument_and_value():
    step, state = table_step(random_tables(1, 2)), initial(1)
    cases = [
        (lambda: decoding.beam_search(step, state, 1, START, END, 2, num_beams=0), "num_beams=0"),
        (lambda: decoding.beam_search(step, state, 1, START, END, 2, num_beams=2, num_return=3), "nbest=3"),
        (lambda: decoding.beam_search(step, state, 1, START, END, 2, early_stopping=1), "early_stopping=1"),
        (lambda: decoding.sample(step, state, 1, START, END, 2, top_p=0.0), "top_p=0.0"),
        (lambda: decoding.sample(step, state, 1, START, END, 2, top_p=1.5), "top_p=1.5"),
        (lambda: decoding.sample(step, state, 1, START, END, 2, temperature=-1.0), "temperature=-1.0"),
        (lambda: decoding.sample(step, state, 1, START, END, 2, top_k=0), "top_k=0"),
        (lambda: decoding.greedy_search(step, state, 1, START, END, 0), "max_length=0"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()


@pytest.mark.parametrize("search", ["greedy", "beam", "sample"])
def test_min_length_delays_the_end_token(search):
    tables = random_tables(6, 8, seed=21)
    tables[:, :, :, END] = 10.0  # the model always wants to stop at once
    args = (table_step(tables), initial(6), 6, START, END, 8)
    if search == "greedy":
        ids = decoding.greedy_search(*args, min_length=3).token_ids.numpy()
        unconstrained = decoding.greedy_search(*args).token_ids.numpy()
    elif search == "beam":
        ids = decoding.beam_search(*args, num_beams=3, min_length=3).token_ids.numpy()[:, 0]
        unconstrained = decoding.beam_search(*args, num_beams=3).token_ids.numpy()[:, 0]
    else:
        ids = decoding.sample(*args, min_length=3, seed=2).token_ids.numpy()
        unconstrained = decoding.sample(*args, seed=2).token_ids.numpy()
    assert np.all(unconstrained[:, 0] == END)
    assert np.all(ids[:, 3] == END) and np.all(ids[:, :3] > END) and np.all(ids[:, 4:] == 0)
    with pytest.raises(ValueError, match="min_length=8"):
        decoding.check_decoding_config(max_length=8, min_length=8)


def memory_table_step(tables):
    """`table_step` reading its table row from the memory, as models read their encoder outputs."""
    tables = tf.constant(tables, tf.float32)

    def step_fn(tokens, t, memory):
        logits = tf.gather_nd(tables, tf.stack([memory["row"], t, tokens], axis=1))
        return logits, t + 1, tf.one_hot(t, tables.shape[1]) * tf.cast(memory["row"][:, None] + 1, tf.float32)

    return step_fn


@pytest.mark.parametrize("early_stopping", [False, True])
@pytest.mark.parametrize("mode", ["eager", "tf.function", "xla"])
def test_dropping_finished_sources_changes_no_result(early_stopping, mode):
    # Sources of very different lengths: most stop early and leave the batch; the results must not move.
    rows, length = 9, 8
    tables = random_tables(rows, length, seed=17)
    tables[::2, 1:, :, END] = 25.0  # even rows end at step 1
    step = memory_table_step(tables)
    memory = {"row": tf.range(rows)}

    def run(compact):
        return decoding.beam_search(step, tf.zeros([rows], tf.int32), rows, START, END, length, num_beams=3,
                                    num_return=2, return_attention=True, early_stopping=early_stopping,
                                    memory=memory, compact=compact)

    if mode != "eager":
        run = tf.function(run, jit_compile=mode == "xla")
    compacted = run(None if mode == "xla" else True)  # XLA: the default does not compact
    kept = run(False)
    for name, got, expected in zip(decoding.Decoded._fields, compacted, kept):
        np.testing.assert_array_equal(got.numpy(), expected.numpy(), err_msg=name)
    assert np.all((kept.token_ids.numpy()[::2, 0, :2] == END).any(axis=1))  # the even rows stopped early
    # the attention "extra" names its source, so a row written to the wrong source would show
    np.testing.assert_array_equal(kept.attention.numpy().max(axis=(1, 2, 3)), np.arange(rows) + 1)


def test_compact_needs_the_memory():
    step, state = table_step(random_tables(2, 3)), initial(2)
    with pytest.raises(ValueError, match="memory=None"):
        decoding.beam_search(step, state, 2, START, END, 3, compact=True)
