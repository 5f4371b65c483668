"""Level 1: the slot error rate of texts generated from E2E meaning representations.

A regular-expression matcher of our own, in the manner of Dušek et al.'s
(2019) `slot_error.py`: for each slot of the MR it looks for the value's
usual wordings in the text, and counts

- **missing**: no wording of the attribute at all;
- **wrong**: a wording of another value of the attribute, none of the right one;
- **added**: a wording of an attribute the MR does not have;
- **repeated**: the right value said more than once.

SER = (missing + wrong + added + repeated) / number of MR slots.

`name` and `near` are open-class: they are found by their exact value
(case-insensitive) and removed from the text before the other attributes
are matched, so that "Café Rouge" is not a coffee shop and "Raja Indian
Cuisine" not Indian food. Added names cannot be told from other words and
are not counted. Values that crowd workers wrote the same way are matched as
one class: `cheap`/`less than £20`, `moderate`/`£20-25`, `high`/`more than
£30` for prices, and `low`/`1 out of 5`, `average`/`3 out of 5`,
`high`/`5 out of 5` for ratings: "a cheap place" is correct for either.
"""

import collections
import re

from kseq2seq.records import parse_mr

OPEN_CLASS = ("name", "near")
ERROR_KINDS = ("missing", "wrong", "added", "repeated")

_NUMBER = {"1": "(?:1|one)", "3": "(?:3|three)", "5": "(?:5|five)"}


def _rating(n):
    return rf"\b{_NUMBER[n]}\s*(?:out\s*)?of\s*(?:5|five)\b|\b{_NUMBER[n]}[\s-]*stars?"


_PRICE_LOW = (r"\bcheap|inexpensive|low[\s-]*(?:cost|price|priced)|affordabl|budget|"
              r"(?:less|lower|cheaper) than\s*£?\s*20|under\s*£\s*20|£\s*20\s*(?:or|and)\s*(?:less|under|below)")
_PRICE_MID = (r"moderate|mid[\s-]*(?:range|price|priced)|average[\s-]*(?:price|priced|cost)|reasonabl|"
              r"£?\s*20\s*(?:-|–|to|and)\s*£?\s*25")
_PRICE_HIGH = (r"high[\s-]*(?:price|cost|end)|expensive|pricey|costly|price[sd]?(?:\s+range)?\s+(?:is|are)?\s*high|"
               r"(?:more|higher) than\s*£?\s*30|over\s*£\s*30|above\s*£\s*30|£\s*30\s*(?:or|and)\s*(?:more|over|above)|"
               r"£\s*30\s*\+")
_RATED = r"(?:customer\s*)?(?:rat|rank|review|score)"
# "rated", "rating is", "customers rate it at", followed by the level.
_RATES = r"rat(?:ed|es|e|ings?)\s*(?:it\s*)?(?:is|are|of|at|as)?\s*(?:an?\s*)?(?:very\s*)?"
_RATING_LOW = rf"{_rating('1')}|\blow(?:ly)?[\s-]*{_RATED}|{_RATES}(?:low|poor|bad)|poor(?:ly)?[\s-]*{_RATED}|badly rated"
_RATING_MID = (rf"{_rating('3')}|average[\s-]*{_RATED}|{_RATES}average|"
               r"average(?:ly)?[\s-]*rated|mid[\s-]*rated")
_RATING_HIGH = (rf"{_rating('5')}|\bhigh(?:ly)?[\s-]*{_RATED}|{_RATES}"
                r"(?:high|excellent|great)|excellent[\s-]*(?:customer\s*)?(?:rat|review)|well[\s-]*rated|top[\s-]*rated")
_FAMILY = r"(?:kids?|child(?:ren)?|famil(?:y|ies))"
_NOT_FAMILY = (rf"\bnot\b[^.]{{0,25}}{_FAMILY}|n't\b[^.]{{0,25}}{_FAMILY}|{_FAMILY}[\s-]*unfriendly|\bno\s+{_FAMILY}|"
               rf"adults?[\s-]*only|\bnon[\s-]*{_FAMILY}")
_YES_FAMILY = (rf"{_FAMILY}[\s-]*friendly|{_FAMILY}\s*(?:are\s*)?(?:welcome|allowed)|(?:welcom|allow|cater|suitabl|"
               rf"good for|great for|ideal for|perfect for|bring)[^.]{{0,25}}{_FAMILY}|for (?:the whole )?famil")

# attribute -> value -> (class, pattern). Values of one class match the same wordings.
PATTERNS = {
    "eatType": {
        "coffee shop": ("coffee shop", r"coffee[\s-]*(?:shop|house)s?|\bcaf[eé]s?\b"),
        "pub": ("pub", r"\bpubs?\b"),
        "restaurant": ("restaurant", r"\brestaurants?\b"),
    },
    "food": {
        "Chinese": ("Chinese", r"\bchinese\b"),
        "English": ("English", r"\benglish\b|\bbritish\b"),
        "Fast food": ("Fast food", r"fast[\s-]*food"),
        "French": ("French", r"\bfrench\b"),
        "Indian": ("Indian", r"\bindian\b"),
        "Italian": ("Italian", r"\bitalian\b"),
        "Japanese": ("Japanese", r"\bjapanese\b|\bsushi\b"),
    },
    "priceRange": {
        "cheap": ("low", _PRICE_LOW),
        "less than £20": ("low", _PRICE_LOW),
        "moderate": ("mid", _PRICE_MID),
        "£20-25": ("mid", _PRICE_MID),
        "high": ("high", _PRICE_HIGH),
        "more than £30": ("high", _PRICE_HIGH),
    },
    "customer rating": {
        "low": ("low", _RATING_LOW),
        "1 out of 5": ("low", _RATING_LOW),
        "average": ("mid", _RATING_MID),
        "3 out of 5": ("mid", _RATING_MID),
        "high": ("high", _RATING_HIGH),
        "5 out of 5": ("high", _RATING_HIGH),
    },
    "area": {
        "city centre": ("city centre", r"cent(?:re|er)|downtown"),
        "riverside": ("riverside", r"river"),
    },
    # "no" is matched first and its wordings removed: "not family-friendly" contains "family-friendly".
    "familyFriendly": {
        "no": ("no", _NOT_FAMILY),
        "yes": ("yes", _YES_FAMILY),
    },
}


def _spans(pattern, text):
    return [m.span() for m in re.finditer(pattern, text, flags=re.IGNORECASE)]


def _blank(text, spans):
    """`text` with the spans replaced by spaces (so later patterns cannot match inside them)."""
    chars = list(text)
    for start, end in spans:
        chars[start:end] = " " * (end - start)
    return "".join(chars)


def _class_spans(attribute, text):
    """class -> spans of its wordings in `text`, each span counted once; and `text` with them removed."""
    found = collections.OrderedDict()
    for klass, pattern in dict(PATTERNS[attribute].values()).items():
        found[klass] = _spans(pattern, text)
        if attribute == "familyFriendly":
            text = _blank(text, found[klass])
    return found, text


def slot_errors(mr, text):
    """Counts of each error kind (`ERROR_KINDS`) of one `text` against its MR (a string or pairs), plus `slots`
    (the MR's slot count) and `details`: `[(kind, attribute, value)]`."""
    slots = parse_mr(mr) if isinstance(mr, str) else list(mr)
    values = collections.defaultdict(list)
    for attribute, value in slots:
        values[attribute].append(value)
    details = []
    for attribute in OPEN_CLASS:
        for value in values.get(attribute, ()):
            found = _spans(rf"(?<!\w){re.escape(value)}(?!\w)", text) if value else []
            if not found:
                details.append(("missing", attribute, value))
            elif len(found) > 1:
                details.append(("repeated", attribute, value))
            text = _blank(text, found)
    for attribute in PATTERNS:
        found, _ = _class_spans(attribute, text)
        said = [klass for klass, spans in found.items() if spans]
        if attribute not in values:
            details.extend(("added", attribute, klass) for klass in said)
            continue
        for value in values[attribute]:
            if value not in PATTERNS[attribute]:
                continue  # an unknown value: nothing to match it with (counted neither way)
            klass = PATTERNS[attribute][value][0]
            if len(found[klass]) > 1:
                details.append(("repeated", attribute, value))
            elif not found[klass]:
                details.append(("wrong" if said else "missing", attribute, value))
    counts = collections.Counter(kind for kind, _, _ in details)
    return {**{kind: counts[kind] for kind in ERROR_KINDS}, "slots": len(slots), "details": details}


def slot_error_rate(mrs, texts):
    """Corpus SER: the errors of every text against its MR over all MR slots; with per-kind totals."""
    mrs, texts = list(mrs), list(texts)
    if len(mrs) != len(texts):
        raise ValueError(f"Expected as many texts as MRs. Received: {len(texts)} texts, {len(mrs)} MRs")
    if not mrs:
        raise ValueError("Expected at least one MR. Received: none")
    per_example = [slot_errors(mr, text) for mr, text in zip(mrs, texts)]
    totals = {kind: sum(e[kind] for e in per_example) for kind in (*ERROR_KINDS, "slots")}
    errors = sum(totals[kind] for kind in ERROR_KINDS)
    return {"ser": errors / totals["slots"], **totals,
            "texts_with_errors": sum(any(e[k] for k in ERROR_KINDS) for e in per_example),
            "per_example": per_example}
