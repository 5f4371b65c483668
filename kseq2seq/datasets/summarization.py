"""Level 3: summarization data from local files, with bad records counted, not fatal.

JSON lines with `article` / `highlights` fields (the CNN/DailyMail layout of
tensorflow-datasets and Hugging Face; highlights' sentences joined by
newlines), or line-aligned `.source` / `.target` files.
"""

import logging

from kseq2seq.datasets.jsonl import read_json_lines

logger = logging.getLogger(__name__)

BAD_REASONS = ("not_utf8", "invalid_json", "missing_field", "empty_article", "empty_summary")


def load_jsonl(path, article_field="article", summary_field="highlights", limit=None):
    """Reads `(article, summary)` pairs and a report of what was skipped.

    A bad line (not UTF-8, not JSON, a missing or non-string field, an empty
    article or summary) is counted by reason and skipped; it never stops the
    run. A file with no usable record at all is an error, never an empty data set.

    Returns `(pairs, ids, report)`; `ids` are the records' `id` fields (or
    line numbers) and `report` is `{"path", "lines", "kept", "bad": {reason: count}}`.
    """
    bad = dict.fromkeys(BAD_REASONS, 0)
    pairs, ids, lines = [], [], 0
    for line_number, record, problem in read_json_lines(path):
        if limit is not None and len(pairs) >= limit:
            break
        lines += 1
        reason = problem or _check(record, article_field, summary_field)
        if reason:
            bad[reason] += 1
            continue
        pairs.append((record[article_field], record[summary_field]))
        ids.append(str(record.get("id", line_number)))
    report = {"path": path, "lines": lines, "kept": len(pairs), "bad": bad}
    if sum(bad.values()):
        logger.warning("%s: skipped %d bad records %s", path, sum(bad.values()), {k: v for k, v in bad.items() if v})
    if not pairs:
        raise ValueError(
            f"Expected at least one usable record with {article_field!r} and {summary_field!r} in {path!r}. "
            f"Received: {lines} lines, bad records {bad}"
        )
    return pairs, ids, report


def _check(record, article_field, summary_field):
    if not isinstance(record, dict) or not all(isinstance(record.get(k), str) for k in (article_field, summary_field)):
        return "missing_field"
    if not record[article_field].strip():
        return "empty_article"
    if not record[summary_field].strip():
        return "empty_summary"
    return None
