"""Level 3: data-to-text pairs: the E2E NLG CSV format, and a generated restaurant set that runs offline.

`load_e2e_csv` reads the E2E release (`mr,ref`, CRLF line ends, quoted
commas and newlines) and the cleaned release (`mr,ref,fixed,orig_mr`) as
`(mr, ref)` pairs, one row each. `group_references` gathers the references
of each distinct MR, as the challenge scores a system: one output per MR.
`faithful_pairs` keeps the pairs whose reference says exactly the slots of
its MR (by `kseq2seq.slot_errors`), to train on; `oversample_multi_valued`
repeats the pairs whose MR gives an attribute two values. `load_restaurants`
generates E2E-style MRs of invented restaurants with varied templated
references (seeded), so `kseq2seq demo --task data_to_text` needs no
download.
"""

import collections
import csv
import io
import os
import random

from kseq2seq.records import format_mr, parse_mr
from kseq2seq.utils import read_utf8


def load_e2e_csv(path, limit=None, mr_column="mr"):
    """An E2E CSV -> `(mr, ref)` pairs; errors name the file and the row.

    `mr_column="orig_mr"` reads the cleaned release's original crowdsourcing MRs.
    """
    pairs = []
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Expected an E2E CSV file (columns mr,ref). Received: {path!r} (no such file)")
    text = read_utf8(path)
    with io.StringIO(text, newline="") as f:
        reader = csv.DictReader(f)
        missing = {mr_column, "ref"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"Expected {path!r} to be an E2E CSV with columns {mr_column!r} and 'ref'. "
                             f"Received columns {reader.fieldnames}")
        for row in reader:
            mr, ref = row[mr_column], row["ref"]
            try:
                parse_mr(mr)
            except ValueError as error:
                raise ValueError(f"{path}, row {reader.line_num}: {error}") from None
            if not ref or not ref.strip():
                raise ValueError(f"{path}, row {reader.line_num}: expected a reference text. Received: {ref!r}")
            pairs.append((mr, " ".join(ref.split())))
            if limit is not None and len(pairs) >= limit:
                break
    if not pairs:
        raise ValueError(f"Expected at least one row in {path!r}. Received: none")
    return pairs


def faithful_pairs(pairs):
    """The `(mr, ref)` pairs whose reference misses, adds and gets wrong no slot of its MR.

    Crowd-written references leave slots out and add facts the MR does not
    give (the cleaned E2E release still has some, by `kseq2seq.slot_errors`),
    and a model trained on them learns to do the same. A slot said twice is
    kept: references often name the place again ("this coffee shop").

    >>> faithful_pairs([("name[Aromi], food[French]", "Aromi serves French food."),
    ...                 ("name[Aromi], food[French]", "Aromi is a cheap French place.")])
    [('name[Aromi], food[French]', 'Aromi serves French food.')]
    """
    from kseq2seq.slot_errors import slot_errors

    def faithful(mr, ref):
        errors = slot_errors(mr, ref)
        return not (errors["missing"] or errors["added"] or errors["wrong"])

    return [(mr, ref) for mr, ref in pairs if faithful(mr, ref)]


def oversample_multi_valued(pairs, times):
    """`pairs` with each pair whose MR gives an attribute more than one value repeated to `times` copies in all.

    The cleaned release's automatic re-annotation gives some MRs two values
    of one attribute (`eatType[coffee shop], eatType[restaurant]`, or two
    price ranges its matcher read in one reference). They are rarer among the
    training pairs than among the dev MRs, and a model that seldom saw them
    says one value and drops the other. The copies are appended after
    `pairs`, whose order is kept (training shuffles).

    >>> pairs = [("name[A], area[riverside]", "a"), ("name[B], area[riverside], area[city centre]", "b")]
    >>> [ref for _, ref in oversample_multi_valued(pairs, 3)]
    ['a', 'b', 'b', 'b']
    """
    if not isinstance(times, int) or isinstance(times, bool) or times < 1:
        raise ValueError(f"Expected `times` to be a positive integer. Received: times={times!r}")
    pairs = list(pairs)
    multi_valued = [pair for pair in pairs if _gives_an_attribute_twice(pair[0])]
    return pairs + multi_valued * (times - 1)


def _gives_an_attribute_twice(mr):
    attributes = [attribute for attribute, _ in parse_mr(mr)]
    return len(attributes) != len(set(attributes))


def group_references(pairs):
    """`(mr, ref)` pairs -> `(mrs, references)`: distinct MRs in first-seen order and each one's references."""
    grouped = collections.OrderedDict()
    for mr, ref in pairs:
        grouped.setdefault(mr, []).append(ref)
    return list(grouped), list(grouped.values())


# --- the generated set -----------------------------------------------------
_FIRST = ["The", "Little", "Old", "Golden", "Blue", "Red", "Silver", "Green", "Crooked", "Happy"]
_SECOND = ["Kettle", "Lantern", "Otter", "Anchor", "Fox", "Heron", "Oak", "Compass", "Bell", "Lark", "Willow",
           "Badger", "Quill", "Harbour", "Thistle", "Juniper"]
_SYLLABLES = ["ka", "lo", "mi", "ren", "zu", "ta", "vo", "sel", "dra", "ni", "po", "ash", "bel", "cor", "fen"]
_VALUES = {
    "eatType": ["coffee shop", "pub", "restaurant"],
    "food": ["Chinese", "English", "Fast food", "French", "Indian", "Italian", "Japanese"],
    "priceRange": ["cheap", "moderate", "high", "less than £20", "£20-25", "more than £30"],
    "customer rating": ["low", "average", "high", "1 out of 5", "3 out of 5", "5 out of 5"],
    "area": ["city centre", "riverside"],
    "familyFriendly": ["yes", "no"],
}
_PHRASES = {
    "food": ["serves {v} food", "offers {v} food", "has {v} dishes"],
    "priceRange": {"cheap": ["is cheap"], "moderate": ["has moderate prices"], "high": ["is expensive"],
                   "less than £20": ["costs less than £20"], "£20-25": ["costs £20-25"],
                   "more than £30": ["costs more than £30"]},
    "customer rating": {"low": ["has a low customer rating"], "average": ["has an average customer rating"],
                        "high": ["has a high customer rating"], "1 out of 5": ["is rated 1 out of 5"],
                        "3 out of 5": ["is rated 3 out of 5"], "5 out of 5": ["is rated 5 out of 5"]},
    "area": ["is in the {v}", "is located in the {v} area"],
    "familyFriendly": {"yes": ["is family-friendly", "welcomes children"], "no": ["is not family-friendly",
                                                                                  "does not welcome children"]},
}


def _invented_name(rng):
    if rng.random() < 0.5:
        return f"{rng.choice(_FIRST)} {rng.choice(_SECOND)}"
    return "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()


def _phrase(rng, attribute, value):
    options = _PHRASES[attribute]
    options = options[value] if isinstance(options, dict) else options
    return rng.choice(options).format(v=value)


def _reference(rng, slots):
    name, eat_type, near = slots["name"], slots.get("eatType", "place"), slots.get("near")
    facts = [_phrase(rng, a, v) for a, v in slots.items() if a in _PHRASES]
    rng.shuffle(facts)
    opening = rng.choice([f"{name} is a {eat_type}", f"There is a {eat_type} called {name}"])
    if near:
        opening += f" near {near}"
    if not facts:
        return opening + "."
    sentences = [opening + (" that " + facts[0] if rng.random() < 0.5 else "") + "."]
    rest = facts[1:] if sentences[0].count(" that ") else facts
    if rest:
        subject = rng.choice(["It", "This place"])
        joined = rest[0] if len(rest) == 1 else ", ".join(rest[:-1]) + " and " + rest[-1]
        sentences.append(f"{subject} {joined}.")
    return " ".join(sentences)


def generate_restaurants(count, seed=0, references=3):
    """`count` invented MRs with `references` templated descriptions each -> `(mr, ref)` pairs."""
    rng = random.Random(seed)
    pairs = []
    for _ in range(count):
        slots = {"name": _invented_name(rng)}
        for attribute in _VALUES:
            if rng.random() < 0.6:
                slots[attribute] = rng.choice(_VALUES[attribute])
        if rng.random() < 0.4:
            near = _invented_name(rng)
            if near != slots["name"]:
                slots["near"] = near
        mr = format_mr(slots)
        pairs.extend((mr, _reference(rng, slots)) for _ in range(references))
    return pairs


def load_restaurants(num_train=2000, num_validation=200, num_test=200, seed=0, references=3):
    """Generated `(train, validation, test)` pair lists; the splits share no MR (and, in practice, no name)."""
    return tuple(generate_restaurants(count, seed=seed * 1000 + i, references=references) if count else []
                 for i, count in enumerate((num_train, num_validation, num_test)))
