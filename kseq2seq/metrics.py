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
    """sacrebleu corpus BLEU with one reference per hypothesis, or several (a list per hypothesis, of any length).

    `kwargs` go to `sacrebleu.metrics.BLEU` (e.g. `tokenize="none"`, `lowercase=True`).
    Returns `BleuResult(score, signature, details)`: the score (0-100), sacrebleu's
    signature string saying how it was computed, and sacrebleu's `BLEUScore`.
    """
    from sacrebleu.metrics import BLEU

    hypotheses, references = _check_aligned(hypotheses, references)
    if references and not isinstance(references[0], str):
        # Several references per hypothesis: sacrebleu wants one stream per reference position,
        # padded with None where a hypothesis has fewer (E2E MRs have 1 to 40 or so).
        if any(not r for r in references):
            raise ValueError("Expected at least one reference for every hypothesis. Received an empty list at "
                             f"index {next(i for i, r in enumerate(references) if not r)}")
        count = max(len(r) for r in references)
        streams = [[r[i] if i < len(r) else None for r in references] for i in range(count)]
    else:
        streams = [references]
    bleu = BLEU(**kwargs)
    details = bleu.corpus_score(hypotheses, streams)
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


ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")


def rouge(predictions, references, rouge_types=ROUGE_TYPES, use_stemmer=True, confidence=0.95,
          bootstrap_samples=1000, seed=0):
    """ROUGE precision/recall/F1 per example and aggregated, with bootstrap confidence intervals.

    Scores come from Google's `rouge-score` (its tokenizer lowercases and keeps
    letters and digits; Porter stemming on by default). For `rougeLsum`, the
    summary-level ROUGE-L that papers report, sentences are separated by
    newlines in both predictions and references.

    Returns `{"per_example": [{type: {"precision", "recall", "fmeasure"}}],
    "aggregate": {type: {measure: {"mean", "low", "high"}}}}`: the mean over
    examples and the `confidence` interval of `bootstrap_samples` resampled
    means (rouge-score's `BootstrapAggregator`, seeded so reports reproduce).
    """
    import numpy as np
    from rouge_score import rouge_scorer, scoring

    predictions, references = _check_aligned(predictions, references)
    if not predictions:
        raise ValueError("Expected at least one prediction. Received: none")
    scorer = rouge_scorer.RougeScorer(list(rouge_types), use_stemmer=use_stemmer)
    aggregator = scoring.BootstrapAggregator(confidence_interval=confidence, n_samples=bootstrap_samples)
    per_example = []
    for prediction, reference in zip(predictions, references):
        scores = scorer.score(reference, prediction)  # rouge-score takes (target, prediction)
        aggregator.add_scores(scores)
        per_example.append({t: dict(s._asdict()) for t, s in scores.items()})
    state = np.random.get_state()  # BootstrapAggregator draws from numpy's global generator
    np.random.seed(seed)
    try:
        intervals = aggregator.aggregate()
    finally:
        np.random.set_state(state)
    aggregate = {}
    for rouge_type, interval in intervals.items():
        aggregate[rouge_type] = {
            measure: {
                "mean": float(np.mean([e[rouge_type][measure] for e in per_example])),
                "low": float(getattr(interval.low, measure)),
                "high": float(getattr(interval.high, measure)),
            }
            for measure in ("precision", "recall", "fmeasure")
        }
    return {"per_example": per_example, "aggregate": aggregate}


def rouge_l_multi(predictions, references, use_stemmer=False):
    """Mean ROUGE-L F1 over predictions, each scored against its best reference of several (a list each).

    rouge-score's `score_multi` (its tokenizer lowercases and keeps letters
    and digits); the E2E challenge's ROUGE-L (the MS-COCO scripts, recall
    weighted by beta 1.2) differs slightly.
    """
    from rouge_score import rouge_scorer

    predictions, references = _check_aligned(predictions, references)
    if not predictions:
        raise ValueError("Expected at least one prediction. Received: none")
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=use_stemmer)
    scores = [scorer.score_multi(refs, p)["rougeL"].fmeasure for p, refs in zip(predictions, references)]
    return sum(scores) / len(scores)


# Words that end with a period without ending a sentence (raw text).
ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof sr jr st mt ft vs etc inc ltd co corp jan feb mar apr jun jul aug sep sept oct nov dec "
    "gen sen rep gov lt col sgt capt adm no vol fig e.g i.e a.m p.m u.s u.k u.n".split()
)
_CLOSERS = frozenset(['"', "'", "''", "”", "’", ")", "]", "}", "»", "-rrb-"])
_END_MARKS = frozenset([".", "!", "?", "..."])


def split_sentences(text):
    """Splits a text into sentences; handles tokenized and raw text.

    Tokenized text (PTB-style, as CNN/DailyMail in See et al. 2017) has
    end marks as separate tokens: a sentence ends at a `.`, `!` or `?` token,
    and closing quotes or brackets right after it belong to that sentence.
    Raw text: a sentence ends at `.`, `!` or `?` (plus closing quotes or
    brackets) followed by whitespace, except after a known abbreviation, a
    single-letter initial or a number; for lowercase raw text the next word
    need not be capitalised.
    """
    tokens = text.split()
    # Tokenized text keeps abbreviations' periods inside tokens ("u.s.", "mr."),
    # so there only separate end-mark tokens end a sentence.
    tokenized = any(token in _END_MARKS for token in tokens)
    sentences, current = [], []
    for i, token in enumerate(tokens):
        current.append(token)
        following = tokens[i + 1] if i + 1 < len(tokens) else None
        if _closes(following, current):
            continue
        if _ends_sentence(current, tokenized):
            sentences.append(" ".join(current))
            current = []
    if current:
        sentences.append(" ".join(current))
    return sentences


def _closes(token, sentence):
    """Whether `token` closes the current sentence's quote or bracket (so it stays with it).

    A straight quote both opens and closes: after an end mark it closes only
    if the sentence has an unmatched one ('he said . " we ...' opens the next).
    """
    if token in ('"', "'"):
        return sentence.count(token) % 2 == 1
    return token in _CLOSERS


def _ends_sentence(words, tokenized):
    """Whether the words so far end a sentence (the last ones may be closing quotes/brackets)."""
    k = len(words) - 1
    while k > 0 and words[k] in _CLOSERS:
        k -= 1
    word = words[k]
    if tokenized or word in _END_MARKS:
        return word in _END_MARKS
    stripped = word.rstrip("\"'”’)]}»")
    if stripped.endswith(("!", "?")):
        return True
    if not stripped.endswith("."):
        return False
    core = stripped[:-1].lstrip("\"'“‘([{«").lower()
    # "Dr.", "U.S.", "J. Smith" do not end sentences; "...in 2019." does.
    return bool(core) and core not in ABBREVIATIONS and not (len(core) == 1 and core.isalpha())


def lead(article, n=3):
    """The Lead-n baseline: the article's first `n` sentences, one per line (for ROUGE-Lsum)."""
    return "\n".join(split_sentences(article)[:n])
