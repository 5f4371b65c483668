import pytest

from kseq2seq import metrics


def test_bleu_matches_a_hand_computed_case():
    # 4-gram precisions of "the cat sat on the mat" against itself minus one word:
    # hypothesis "the cat sat on mat" vs reference "the cat sat on the mat":
    # p1 = 5/5, p2 = 3/4, p3 = 2/3, p4 = 1/2, brevity penalty exp(1 - 6/5).
    import math

    expected = 100 * math.exp(1 - 6 / 5) * (1 * 3 / 4 * 2 / 3 * 1 / 2) ** 0.25
    score = metrics.corpus_bleu(["the cat sat on mat"], ["the cat sat on the mat"])
    assert score.score == pytest.approx(expected, abs=1e-9)
    assert metrics.corpus_bleu(["a b c d"], ["a b c d"]).score == pytest.approx(100.0)
    assert "tok:13a" in score.signature and "nrefs:1" in score.signature


def test_bleu_with_several_references_per_hypothesis():
    # The second reference matches exactly, so every n-gram is found: BLEU 100 with 2 references.
    score = metrics.corpus_bleu(["the cat sat on the mat"], [["a cat is on a mat", "the cat sat on the mat"]])
    assert score.score == pytest.approx(100.0) and "nrefs:2" in score.signature
    single = metrics.corpus_bleu(["the cat sat on the mat"], ["a cat is on a mat"]).score
    assert single < 50.0
    with pytest.raises(ValueError, match="at least one reference for every hypothesis.*index 1"):
        metrics.corpus_bleu(["a", "b"], [["a"], []])


def test_bleu_with_varying_reference_counts_equals_sacrebleu_with_padded_streams():
    # E2E scoring: references grouped by MR, 1 to many each; lowercased, as the challenge's BLEU.
    from sacrebleu.metrics import BLEU

    hypotheses = ["The Eagle is a cheap pub .", "Zizzi serves French food in the city centre."]
    references = [["The Eagle is a cheap pub.", "A cheap pub: the eagle.", "the Eagle pub is cheap"],
                  ["Zizzi is a French place in the city centre."]]
    streams = [[references[0][0], references[1][0]], [references[0][1], None], [references[0][2], None]]
    expected = BLEU(lowercase=True).corpus_score(hypotheses, streams).score
    score = metrics.corpus_bleu(hypotheses, references, lowercase=True)
    assert score.score == pytest.approx(expected, abs=1e-12) and "case:lc" in score.signature
    # Padding is not dropping: the second hypothesis keeps its single reference.
    only_first = BLEU(lowercase=True).corpus_score(hypotheses[:1], [[r] for r in references[0]]).score
    assert score.score != pytest.approx(only_first)


def test_rouge_l_multi_takes_the_best_reference():
    # LCS "the cat sat" (3 of 3 prediction words, 3 of 4 reference words): F1 = 2 * 1 * 0.75 / 1.75.
    score = metrics.rouge_l_multi(["the cat sat"], [["a dog ran", "the cat sat down"]])
    assert score == pytest.approx(2 * 0.75 / 1.75)
    assert metrics.rouge_l_multi(["x y", "a b"], [["x y"], ["c d"]]) == pytest.approx(0.5)


def test_exact_match_and_alignment_errors():
    assert metrics.exact_match(["a", "b ", "c"], ["a", "b", "d"]) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="2 hypotheses, 1 references"):
        metrics.exact_match(["a", "b"], ["a"])


def test_evaluate_generation_uses_model_generate():
    class Echo:
        def generate(self, texts, batch_size=64, **decoding):
            return [t.upper() for t in texts]

    result = metrics.evaluate_generation(Echo(), [("a b", "A B"), ("c", "d")])
    assert result["exact_match"] == 0.5 and result["hypotheses"] == ["A B", "C"]


def test_rouge_matches_hand_computed_values():
    prediction, reference = "the cat sat\non the mat", "the cat was\non the mat"
    result = metrics.rouge([prediction], [reference], use_stemmer=False)
    scores = result["per_example"][0]
    # unigrams: the x2, cat, on, mat shared of 6 each; bigrams: "the cat", "on the", "the mat" of 5;
    # LCS "the cat on the mat" = 5 of 6; summary-level LCS: 2 ("the cat") + 3 ("on the mat") of 6.
    for rouge_type, expected in [("rouge1", 5 / 6), ("rouge2", 3 / 5), ("rougeL", 5 / 6), ("rougeLsum", 5 / 6)]:
        for measure in ("precision", "recall", "fmeasure"):
            assert scores[rouge_type][measure] == pytest.approx(expected, abs=1e-12), (rouge_type, measure)
    assert metrics.rouge(["running dogs"], ["run dog"])["per_example"][0]["rouge1"]["fmeasure"] == 1.0
    assert metrics.rouge(["running dogs"], ["run dog"], use_stemmer=False)["per_example"][0]["rouge1"]["fmeasure"] == 0


def test_rouge_lsum_splits_on_newlines_only():
    # the same words; as one sentence the summary-level LCS is the whole sequence, split it is not
    one = metrics.rouge(["a b c d"], ["c d a b"], use_stemmer=False)["per_example"][0]["rougeLsum"]["recall"]
    two = metrics.rouge(["a b\nc d"], ["c d\na b"], use_stemmer=False)["per_example"][0]["rougeLsum"]["recall"]
    assert one == pytest.approx(0.5) and two == pytest.approx(1.0)


def test_rouge_bootstrap_interval_brackets_the_mean_and_reproduces():
    predictions = ["a b c", "a b", "x y", "a", "b c d e"]
    references = ["a b c", "b c", "a b", "a b", "b c"]
    first = metrics.rouge(predictions, references, bootstrap_samples=200, seed=3)["aggregate"]
    again = metrics.rouge(predictions, references, bootstrap_samples=200, seed=3)["aggregate"]
    assert first == again
    for rouge_type in metrics.ROUGE_TYPES:
        f1 = first[rouge_type]["fmeasure"]
        assert f1["low"] <= f1["mean"] <= f1["high"] and f1["low"] < f1["high"]


@pytest.mark.parametrize("text,expected", [
    # tokenized, lowercased (See et al.): abbreviations keep their periods inside tokens
    ('police said friday . said l.l. doungal , an official of the u.s. army . " there were thousands . '
     'many were students , " doungal said . he said " no comment . " then it ended !',
     ["police said friday .", "said l.l. doungal , an official of the u.s. army .", '" there were thousands .',
      'many were students , " doungal said .', 'he said " no comment . "', "then it ended !"]),
    # raw text: abbreviations, initials, times, quotes after the period
    ('Mr. Smith met Dr. J. Jones at 5 p.m. on Jan. 3. "It was great," he said. "Really." Did he? Yes.',
     ["Mr. Smith met Dr. J. Jones at 5 p.m. on Jan. 3.", '"It was great," he said.', '"Really."', "Did he?", "Yes."]),
    ("prices rose 3.5 percent in 2019. they fell later", ["prices rose 3.5 percent in 2019.", "they fell later"]),
])
def test_sentence_splitting_on_tricky_text(text, expected):
    assert metrics.split_sentences(text) == expected


def test_lead3_takes_the_first_three_sentences_one_per_line():
    article = "one . two ( a ) . three ! four . five ."
    assert metrics.lead(article) == "one .\ntwo ( a ) .\nthree !"
    assert metrics.lead("only one sentence") == "only one sentence"
