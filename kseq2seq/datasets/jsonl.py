"""Level 3: reading JSON lines with bad lines reported, not fatal (shared by the local-file loaders)."""

import json
import os


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
