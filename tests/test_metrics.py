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
