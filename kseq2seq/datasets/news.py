"""Level 3: the built-in summarization set: generated news stories and their highlights.

Each story reports one event about a person with an invented name, from an
invented town, among filler sentences about other invented people; the
highlights restate the event (who, what, where) and who commented on it.
Text is lowercased and tokenized like See et al.'s CNN/DailyMail
(`" . "`, `" , "` as tokens; highlight sentences joined by newlines).

Invented names are drawn from ~500,000 syllable combinations, so almost every
story's names are words no training story had: a model can only get them
right by copying from the source, which is what a pointer-generator adds.
Every example is a pure function of the seed; splits never share a story.
"""

import random

from kseq2seq.utils import check_positive_int

ONSETS = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "gr", "st", "tr"]
VOWELS = ["a", "e", "i", "o", "u", "ai", "ou"]
CODAS = ["", "", "n", "r", "s", "l", "k"]
JOBS = ["teacher", "nurse", "farmer", "engineer", "chef", "pilot", "student", "firefighter", "lawyer", "painter"]
EVENTS = [
    ("won", "the regional chess title"),
    ("rescued", "a dog from a frozen lake"),
    ("found", "a rare gold coin"),
    ("broke", "the national record for swimming"),
    ("opened", "a new public library"),
    ("climbed", "the highest mountain in the region"),
    ("donated", "a large sum to the local hospital"),
    ("finished", "a marathon on crutches"),
    ("built", "a solar-powered car"),
    ("discovered", "a new species of beetle"),
]
DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
REACTIONS = ["remarkable", "unexpected", "inspiring", "well deserved", "a surprise", "long overdue"]
FILLERS = [
    "the weather in {town} was cold and wet for most of the week .",
    "local officials said more details would be released later .",
    "{person} , a neighbour , said the town had not seen anything like it in {n} years .",
    "the town council will meet on {day} to discuss the budget .",
    "about {n} people attended a meeting at the town hall on {day} .",
    "{person} , who runs a bakery in {town} , said business had been slow .",
    "police said traffic on the main road was delayed for {n} minutes .",
    "the local football team lost {n} - {m} on {day} .",
]


def _name(rng, syllables):
    return "".join(rng.choice(ONSETS) + rng.choice(VOWELS) + rng.choice(CODAS) for _ in range(syllables))


def _person(rng):
    return f"{_name(rng, 2)} {_name(rng, 3)}"


def make_story(rng):
    """One `(article, highlights)` pair."""
    person, town, speaker = _person(rng), _name(rng, 3), _person(rng)
    age, job = rng.randint(18, 80), rng.choice(JOBS)
    verb, thing = rng.choice(EVENTS)
    day, reaction = rng.choice(DAYS), rng.choice(REACTIONS)
    lead = f"{person} , a {age} - year - old {job} from {town} , {verb} {thing} on {day} ."
    quote = f"{speaker} , the mayor of {town} , said the achievement was {reaction} ."
    fillers = [
        f.format(town=town, person=_person(rng), day=rng.choice(DAYS), n=rng.randint(2, 90), m=rng.randint(0, 9))
        for f in rng.sample(FILLERS, rng.randint(3, 5))
    ]
    # The event may come first or after one filler sentence; the quote comes later.
    body = fillers[:1] + [lead] if rng.random() < 0.3 else [lead] + fillers[:1]
    body += fillers[1:2] + [quote] + fillers[2:]
    highlights = f"{person} {verb} {thing} in {town} .\nmayor {speaker} said it was {reaction} ."
    return " ".join(body), highlights


def load_news(num_train=5000, num_validation=500, num_test=500, seed=0):
    """Returns `(train, validation, test)` lists of `(article, highlights)` pairs, disjoint by article."""
    for name, value in (("num_train", num_train), ("num_validation", num_validation), ("num_test", num_test)):
        check_positive_int(name, value, minimum=0)
    rng = random.Random(seed)
    sizes = (num_train, num_validation, num_test)
    seen, pairs = set(), []
    while len(pairs) < sum(sizes):
        article, highlights = make_story(rng)
        if article not in seen:
            seen.add(article)
            pairs.append((article, highlights))
    return pairs[:num_train], pairs[num_train : num_train + num_validation], pairs[num_train + num_validation :]
