"""Level 3: users' own parallel text: line-aligned file pairs and TSV files."""

import csv
import io
import os

from kseq2seq.utils import read_utf8


def _read_lines(path, argument):
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Expected {argument} to be an existing file. Received: {argument}={path!r}")
    lines = read_utf8(path).split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r") for line in lines]


def load_text_pairs(source_file, target_file, limit=None):
    """Line i of `source_file` pairs with line i of `target_file`; returns a list of pairs.

    Raises a ValueError naming both files and their line counts when they differ.
    """
    sources = _read_lines(source_file, "source_file")
    targets = _read_lines(target_file, "target_file")
    if len(sources) != len(targets):
        raise ValueError(
            "Expected source_file and target_file to have the same number of lines. "
            f"Received: {source_file!r} has {len(sources)} lines, {target_file!r} has {len(targets)} lines"
        )
    pairs = list(zip(sources, targets))
    return pairs[:limit] if limit is not None else pairs


def load_tsv(path, source_column=0, target_column=1, limit=None):
    """Pairs from a tab-separated file (no header); raises on a row without the needed columns."""
    pairs = []
    with io.StringIO(read_utf8(_checked(path)), newline="") as f:
        for line_number, row in enumerate(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE), start=1):
            if not row:
                continue
            if len(row) <= max(source_column, target_column):
                raise ValueError(
                    f"Expected at least {max(source_column, target_column) + 1} tab-separated columns "
                    f"in {path!r}. Received: {len(row)} on line {line_number}"
                )
            pairs.append((row[source_column], row[target_column]))
            if limit is not None and len(pairs) >= limit:
                break
    return pairs


def _checked(path):
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Expected path to be an existing file. Received: path={path!r}")
    return path
