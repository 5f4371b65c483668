"""Level 1: corpus metrics for generated text.

BLEU comes from sacrebleu (its default 13a tokenizer, so figures are
comparable with published ones when references are raw text).
"""

import collections


def _check_aligned(hypotheses, references):
    hypotheses, references = list(hypotheses), list(references)
    if len(hypotheses) != len(references):
        raise ValueError(
            "Expected as many hypotheses as references. "
            f"Received: {len(hypotheses)} hypotheses, {len(references)} references"
        )
    return hypotheses, references


BleuResult = collections.namedtuple("BleuResult", ["score", "signature", "details"])


def corpus_bleu(hypotheses, references, **kwargs):
    """sacrebleu corpus BLEU with one reference per hypothesis.

    `kwargs` go to `sacrebleu.metrics.BLEU` (e.g. `tokenize="none"`, `lowercase=True`).
    Returns `BleuResult(score, signature, details)`: the score (0-100), sacrebleu's
    signature string saying how it was computed, and sacrebleu's `BLEUScore`.
    """
    from sacrebleu.metrics import BLEU

    hypotheses, references = _check_aligned(hypotheses, references)
    bleu = BLEU(**kwargs)
    details = bleu.corpus_score(hypotheses, [references])
    return BleuResult(details.score, str(bleu.get_signature()), details)


def exact_match(hypotheses, references):
    """Fraction of hypotheses equal to their reference after stripping outer whitespace."""
    hypotheses, references = _check_aligned(hypotheses, references)
    if not hypotheses:
        raise ValueError("Expected at least one hypothesis. Received: none")
    return sum(h.strip() == r.strip() for h, r in zip(hypotheses, references)) / len(hypotheses)


def evaluate_generation(model, pairs, batch_size=64, decoding=None, **bleu_kwargs):
    """Decodes the sources of `pairs` with `model.generate(**decoding)`; returns BLEU, exact match and outputs."""
    sources = [s for s, _ in pairs]
    references = [t for _, t in pairs]
    hypotheses = model.generate(sources, batch_size=batch_size, **(decoding or {}))
    bleu = corpus_bleu(hypotheses, references, **bleu_kwargs)
    return {
        "bleu": bleu.score,
        "bleu_signature": bleu.signature,
        "exact_match": exact_match(hypotheses, references),
        "num_examples": len(pairs),
        "hypotheses": hypotheses,
    }
