"""Level 0: meaning representations (MRs): records of attribute -> value written as E2E writes them.

`name[The Eagle], eatType[coffee shop], near[Burger King]` is the E2E NLG
Challenge's syntax; `parse_mr` reads it into `(attribute, value)` pairs in
order and `format_mr` writes a dict (or pairs) back, so a user may give a
`DataToText` task either. Pure Python: the preprocessor re-does the same
reading inside the graph for serving.
"""

import collections
import re

_SLOT = re.compile(r"\s*([^\[\],]+?)\s*\[([^\[\]]*)\]\s*(?:,|$)")


def parse_mr(mr):
    """`"a[x], b[y]"` -> `[("a", "x"), ("b", "y")]`; anything else is an error quoting the MR.

    An attribute may come twice (the cleaned E2E data has `eatType[pub], eatType[restaurant]`).
    """
    if not isinstance(mr, str):
        raise TypeError(f"Expected a meaning representation string. Received: {type(mr).__name__}")
    slots, position = [], 0
    while position < len(mr):
        match = _SLOT.match(mr, position)
        if not match or match.end() == position:
            raise ValueError(f"Expected a meaning representation like 'name[The Eagle], food[French]'. "
                             f"Received: {mr[:120]!r} (unreadable from character {position})")
        slots.append((match.group(1), match.group(2).strip()))
        position = match.end()
    if not slots:
        raise ValueError(f"Expected at least one attribute[value] in the meaning representation. Received: {mr!r}")
    return slots


def format_mr(record):
    """A dict (or `(attribute, value)` pairs) -> `"attribute[value], ..."`; values are turned into strings."""
    items = list(record.items()) if isinstance(record, dict) else list(record)
    if not items:
        raise ValueError("Expected a record with at least one attribute. Received: an empty record")
    parts = []
    for attribute, value in items:
        attribute, value = str(attribute).strip(), str(value).strip()
        for text, what in ((attribute, "attribute"), (value, "value")):
            if any(c in text for c in "[]") or (what == "attribute" and ("," in text or not text)):
                raise ValueError(f"Expected a record {what} without brackets{' or commas' * (what == 'attribute')}"
                                 f" (and not empty). Received: {what}={text!r}")
        parts.append(f"{attribute}[{value}]")
    return ", ".join(parts)


def record_fields(mrs, open_class=(), max_values=50):
    """The attributes of `mrs` in their usual order, each with its values, most frequent first.

    What a form for these records shows: one field per attribute, with the
    values seen in training to pick from. Open-class attributes (names) get
    no list: any value is right for them. MRs that do not parse are left out:
    the fields are a convenience, and training reads every MR itself.
    """
    positions, counts = collections.defaultdict(list), collections.defaultdict(collections.Counter)
    for mr in mrs:
        try:
            slots = parse_mr(mr.decode("utf-8") if isinstance(mr, bytes) else mr)
        except (TypeError, ValueError):
            continue
        for i, (attribute, value) in enumerate(slots):
            positions[attribute].append(i / len(slots))
            counts[attribute][value] += 1
    order = sorted(positions, key=lambda a: (sum(positions[a]) / len(positions[a]), a))
    return {a: [] if a in open_class else [v for v, _ in counts[a].most_common(max_values)] for a in order}
