"""Level 3: the built-in date-normalization translation set, generated offline.

Human-written dates in many formats and four languages -> ISO `YYYY-MM-DD`.
Every example is a pure function of the seed, and the splits never share a
source string. Numeric formats follow one convention each, so every source
has exactly one correct target: slashes are month/day/year (US), dots are
day.month.year (European), dashes and compact digits are year first.
"""

import datetime
import random

MONTHS = {
    "en": ["January", "February", "March", "April", "May", "June", "July",
           "August", "September", "October", "November", "December"],
    "fr": ["janvier", "février", "mars", "avril", "mai", "juin", "juillet",
           "août", "septembre", "octobre", "novembre", "décembre"],
    "de": ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli",
           "August", "September", "Oktober", "November", "Dezember"],
    "es": ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio",
           "agosto", "septiembre", "octubre", "noviembre", "diciembre"],
}
WEEKDAYS_EN = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
FIRST_DAY = datetime.date(1950, 1, 1)
NUM_DAYS = (datetime.date(2049, 12, 31) - FIRST_DAY).days + 1


def _ordinal(day):
    suffix = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def _formats(d):
    """Every rendering of date `d`; one is picked at random per example."""
    en = MONTHS["en"][d.month - 1]
    y, m, day = d.year, d.month, d.day
    return [
        f"{day} {en} {y}",
        f"{en} {day}, {y}",
        f"{en[:3]} {day} {y}",
        f"{day}-{en[:3]}-{y}",
        f"{WEEKDAYS_EN[d.weekday()]}, {en} {day}, {y}",
        f"the {_ordinal(day)} of {en} {y}",
        f"{en} {_ordinal(day)}, {y}",
        f"{day:02d} {en.upper()} {y}",
        f"{m}/{day}/{y}",
        f"{m:02d}/{day:02d}/{y}",
        f"{day:02d}.{m:02d}.{y}",
        f"{day}.{m}.{y}",
        f"{y}/{m:02d}/{day:02d}",
        f"{y}{m:02d}{day:02d}",
        f"{y}-{m}-{day}",
        f"{day} {MONTHS['fr'][m - 1]} {y}",
        f"le {day} {MONTHS['fr'][m - 1]} {y}",
        f"{day}. {MONTHS['de'][m - 1]} {y}",
        f"{day} de {MONTHS['es'][m - 1]} de {y}",
        f"{MONTHS['es'][m - 1][:3]} {day} {y}",
    ]


def generate_dates(num_examples, seed=0):
    """Returns a list of `num_examples` distinct `(source, target)` pairs."""
    rng = random.Random(seed)
    pairs, seen = [], set()
    max_unique = NUM_DAYS * len(_formats(FIRST_DAY))
    if num_examples > max_unique:
        raise ValueError(f"Expected num_examples <= {max_unique}. Received: num_examples={num_examples}")
    while len(pairs) < num_examples:
        d = FIRST_DAY + datetime.timedelta(days=rng.randrange(NUM_DAYS))
        source = rng.choice(_formats(d))
        if source not in seen:
            seen.add(source)
            pairs.append((source, d.isoformat()))
    return pairs


def load_dates(num_train=20000, num_validation=1000, num_test=1000, seed=0):
    """The three splits as lists of `(source, target)` string pairs, disjoint by source."""
    pairs = generate_dates(num_train + num_validation + num_test, seed=seed)
    return (
        pairs[:num_train],
        pairs[num_train : num_train + num_validation],
        pairs[num_train + num_validation :],
    )
