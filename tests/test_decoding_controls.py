import itertools

import numpy as np
import pytest
import tensorflow as tf

from kseq2seq import decoding

from test_decoding import END, START, initial, log_softmax, table_step

V = 8
NEG = -1e9
CONTROLS = [{"no_repeat_ngram_size": 1}, {"no_repeat_ngram_size": 2}, {"repetition_penalty": 1.8},
            {"repetition_penalty": 0.6}, {"bad_words": [(5,), (4, 6)]}, {"prefix": [6, 6, 4]},
            {"no_repeat_ngram_size": 2, "repetition_penalty": 1.3, "bad_words": [(7, 4)], "prefix": [5]}]


def tables_for(rows, length, seed):
    rng = np.random.default_rng(seed)
    tables = rng.normal(scale=2.0, size=(rows, length, V, V)).astype("float32")
    tables[..., : START + 1] = -30.0
    tables[..., 4] += 1.5  # a favourite token, so that unconstrained outputs repeat it
    return tables


def controlled_logits(logits, generated, t, no_repeat_ngram_size=0, repetition_penalty=1.0, bad_words=(),
                      prefix=()):
    """The NumPy reference: the logits of step t after the controls, given the tokens generated so far."""
    logits = logits.astype("float64").copy()
    for token in set(generated):
        logits[token] = logits[token] / repetition_penalty if logits[token] > 0 else logits[token] * repetition_penalty
    n = no_repeat_ngram_size
    if n and len(generated) >= n - 1:
        suffix = tuple(generated[len(generated) - n + 1 :])
        for j in range(len(generated) - n + 1):
            if tuple(generated[j : j + n - 1]) == suffix:
                logits[generated[j + n - 1]] = NEG
    for word in bad_words:
        if len(generated) >= len(word) - 1 and tuple(generated[len(generated) - len(word) + 1 :]) == tuple(word[:-1]):
            logits[word[-1]] = NEG
    if t < len(prefix) and prefix[t] > 0:
        forced = logits[prefix[t]]
        logits[:] = NEG
        logits[prefix[t]] = forced
    return logits


def reference_greedy(table, max_length, **controls):
    generated, score, previous = [], 0.0, START
    for t in range(max_length):
        logits = controlled_logits(table[t, previous], generated, t, **controls)
        token = int(np.argmax(logits))
        score += log_softmax(logits)[token]
        generated.append(token)
        previous = token
        if token == END:
            break
    return generated + [0] * (max_length - len(generated)), score


def run(search, tables, rows, length, controls, **options):
    controls = dict(controls)
    if "prefix" in controls:
        controls["prefix"] = tf.constant([controls["prefix"]] * rows, tf.int32)
    return decoding.decode(table_step(tables), initial(rows), rows, START, END, length, sampler=search, **options,
                           **controls)


@pytest.mark.parametrize("controls", CONTROLS, ids=lambda c: ",".join(c))
def test_greedy_with_controls_equals_the_numpy_reference(controls):
    tables = tables_for(4, 9, seed=3)
    out = run("greedy", tables, 4, 9, controls)
    for row in range(4):
        ids, score = reference_greedy(tables[row], 9, **controls)
        np.testing.assert_array_equal(out.token_ids.numpy()[row, 0], ids)
        assert out.scores.numpy()[row, 0] == pytest.approx(score, rel=1e-4)
    plain = run("greedy", tables, 4, 9, {})
    assert not np.array_equal(plain.token_ids.numpy(), out.token_ids.numpy())  # each control changes something


def exhaustive(table, max_length, alpha, controls):
    results = []
    for length in range(1, max_length + 1):
        for seq in itertools.product(range(3, V), repeat=length):
            if END in seq[:-1] or (seq[-1] != END and length < max_length):
                continue
            previous, logp = START, 0.0
            for t, token in enumerate(seq):
                logp += log_softmax(controlled_logits(table[t, previous], list(seq[:t]), t, **controls))[token]
                previous = token
            if logp < NEG / 2:
                continue  # a sequence the controls forbid
            score = logp / ((5.0 + length) / 6.0) ** alpha
            results.append((seq[-1] != END, -score, seq + (0,) * (max_length - length), score))
    results.sort()
    return [(r[2], r[3]) for r in results]


@pytest.mark.parametrize("controls", CONTROLS, ids=lambda c: ",".join(c))
def test_beam_search_with_every_hypothesis_equals_exhaustive_search_under_the_controls(controls):
    length = 4
    tables = tables_for(1, length, seed=11)
    expected = exhaustive(tables[0], length, 0.6, controls)[:3]
    out = run("beam", tables, 1, length, controls, num_beams=(V - 3) ** length, length_penalty=0.6, nbest=3)
    np.testing.assert_array_equal(out.token_ids.numpy()[0], [seq for seq, _ in expected])
    np.testing.assert_allclose(out.scores.numpy()[0], [score for _, score in expected], rtol=1e-4)


def ngrams(ids, n):
    ids = [i for i in ids if i > 0]
    return [tuple(ids[j : j + n]) for j in range(len(ids) - n + 1)]


@pytest.mark.parametrize("search", ["beam", "sample"])
def test_beams_and_samples_keep_the_controls(search):
    tables = tables_for(6, 12, seed=7)
    tables[..., END] -= 3.0  # long outputs, which repeat themselves unless controlled
    controls = {"no_repeat_ngram_size": 2, "bad_words": [(5, 4)], "prefix": [6, 7]}
    options = {"num_beams": 4, "nbest": 4} if search == "beam" else {"seed": 5}
    ids = run(search, tables, 6, 12, controls, **options).token_ids.numpy().reshape(-1, 12)
    plain = run(search, tables, 6, 12, {}, **options).token_ids.numpy().reshape(-1, 12)
    assert any(len(set(ngrams(row, 2))) < len(ngrams(row, 2)) for row in plain)
    for row in ids:
        grams = ngrams(row, 2)
        assert len(set(grams)) == len(grams) and (5, 4) not in grams and list(row[:2]) == [6, 7], row


@pytest.mark.parametrize("jit", [False, True])
def test_controls_decode_identically_in_tf_function_and_xla(jit):
    tables = tables_for(3, 8, seed=13)
    controls = CONTROLS[-1]
    for search, options in (("greedy", {}), ("beam", {"num_beams": 3, "nbest": 2}), ("sample", {"seed": 4})):
        eager = run(search, tables, 3, 8, controls, **options)
        compiled = tf.function(lambda: run(search, tables, 3, 8, controls, **options), jit_compile=jit)()
        np.testing.assert_array_equal(compiled.token_ids.numpy(), eager.token_ids.numpy(), err_msg=search)
        np.testing.assert_allclose(compiled.scores.numpy(), eager.scores.numpy(), rtol=1e-5, err_msg=search)


def test_bad_control_arguments_name_the_argument():
    for bad, message in [({"no_repeat_ngram_size": -1}, "no_repeat_ngram_size=-1"),
                         ({"repetition_penalty": 0.0}, "repetition_penalty=0.0"),
                         ({"repetition_penalty": True}, "repetition_penalty=True"),
                         ({"bad_words": "no"}, "bad_words='no'"), ({"bad_words": [()]}, r"bad_words=\[\(\)\]")]:
        with pytest.raises(ValueError, match=message):
            decoding.check_decoding_config(**bad)
