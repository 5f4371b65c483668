"""Level 3: reading JSON lines with bad lines reported, not fatal (shared by the local-file loaders)."""

import json
import logging
import os

logger = logging.getLogger(__name__)


def read_json_lines(path):
    """Yields `(line_number, record, problem)` for every non-blank line of `path`.

    `problem` is None, `"not_utf8"` or `"invalid_json"` (then `record` is None).
    A missing file is a `FileNotFoundError` naming it.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Expected path to be an existing JSON lines file. Received: path={path!r}")
    with open(path, "rb") as f:
        for line_number, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                yield line_number, None, "not_utf8"
                continue
            try:
                yield line_number, json.loads(text), None
            except json.JSONDecodeError:
                yield line_number, None, "invalid_json"


def read_examples(path, convert, reasons, expected, limit=None):
    """`(examples, report)` from the JSON lines of `path`, bad lines counted by reason and skipped.

    `convert(record)` gets each JSON object and returns an example, None for a
    line to pass over (not bad), or one of `reasons` for a bad line; lines that
    are not UTF-8 JSON objects count as `reasons[0]`. A file without any example
    is a `ValueError` saying `expected` was expected in it.
    """
    examples, bad, lines = [], dict.fromkeys(reasons, 0), 0
    for _, record, problem in read_json_lines(path):
        if limit is not None and len(examples) >= limit:
            break
        lines += 1
        result = reasons[0] if problem or not isinstance(record, dict) else convert(record)
        if isinstance(result, str):
            bad[result] += 1
        elif result is not None:
            examples.append(result)
    if sum(bad.values()):
        logger.warning("%s: skipped %s", path, {k: v for k, v in bad.items() if v})
    if not examples:
        raise ValueError(f"Expected {expected} in {path!r}. Received: {lines} lines, bad {bad}")
    return examples, {"path": path, "lines": lines, "kept": len(examples), "bad": bad}
