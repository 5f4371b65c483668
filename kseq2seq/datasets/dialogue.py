"""Level 3: dialogue data: a generated shop-assistant set, and JSON-lines conversations.

The built-in set is task-style: a customer asks about an item of a generated
catalogue, then asks a follow-up question ("what colour is it ?") whose
answer depends on the item named turns earlier, so a model has to use the
history. The catalogue (item -> colour, price, size) is a pure function of
the seed and is the same in every split; splits never share a conversation.

Each example is `(turns, reply)`: the conversation so far (a list of
strings, oldest first) and the next turn.
"""

import logging
import random

from kseq2seq.datasets.jsonl import read_json_lines
from kseq2seq.utils import check_positive_int

logger = logging.getLogger(__name__)

ADJECTIVES = ["wooden", "steel", "glass", "leather", "plastic", "silver"]
NOUNS = ["chair", "lamp", "table", "bag", "clock", "vase", "mirror", "basket"]
COLOURS = ["red", "blue", "green", "black", "white", "yellow", "grey", "brown"]
SIZES = ["small", "medium", "large"]
GREETINGS = ["hello .", "hi there .", "good morning .", "good afternoon ."]
OPENERS = ["do you sell the {item} ?", "i am looking for the {item} .", "have you got the {item} ?",
           "is the {item} in stock ?"]
CHATTER = [("is it popular ?", "yes , people like it a lot ."), ("can i see it ?", "of course , here it is ."),
           ("is it new ?", "it arrived last week .")]
QUESTIONS = {
    "colour": (["what colour is it ?", "which colour does it come in ?"], "it is {colour} ."),
    "price": (["how much is it ?", "what does it cost ?"], "it costs {price} dollars ."),
    "size": (["how big is it ?", "what size is it ?"], "it is {size} ."),
}


def catalogue(seed=0):
    """`{item: {"colour", "price", "size"}}` for every adjective-noun item."""
    rng = random.Random(seed)
    return {
        f"{adjective} {noun}": {"colour": rng.choice(COLOURS), "price": rng.randrange(10, 100, 10),
                                "size": rng.choice(SIZES)}
        for adjective in ADJECTIVES
        for noun in NOUNS
    }


def make_conversation(rng, facts):
    """One `(turns, reply)` example; the reply answers a question about an item named earlier."""
    item = rng.choice(sorted(facts))
    turns = [rng.choice(GREETINGS), "hello , how can i help ?", rng.choice(OPENERS).format(item=item),
             f"yes , we have the {item} ."]
    if rng.random() < 0.5:  # a detour, so the item is sometimes further back
        turns += list(rng.choice(CHATTER))
    kind = rng.choice(sorted(QUESTIONS))
    questions, answer = QUESTIONS[kind]
    turns.append(rng.choice(questions))
    return turns, answer.format(**facts[item])


def load_shop_dialogues(num_train=8000, num_validation=500, num_test=500, seed=0):
    """`(train, validation, test)` lists of `(turns, reply)`, disjoint by conversation."""
    for name, value in (("num_train", num_train), ("num_validation", num_validation), ("num_test", num_test)):
        check_positive_int(name, value, minimum=0)
    facts, rng = catalogue(seed), random.Random(seed + 1)
    seen, examples = set(), []
    total = num_train + num_validation + num_test
    attempts = 0
    while len(examples) < total:
        attempts += 1
        if attempts > 50 * total + 1000:
            raise ValueError(f"Expected at most a few thousand distinct conversations. Received: {total} requested")
        turns, reply = make_conversation(rng, facts)
        key = "\n".join(turns)
        if key not in seen:
            seen.add(key)
            examples.append((turns, reply))
    return examples[:num_train], examples[num_train : num_train + num_validation], examples[num_train + num_validation :]


def load_dialogue_jsonl(path, limit=None):
    """Reads `(turns, reply)` examples and a report of skipped lines.

    Accepts lines that are a JSON list of turns, or `{"turns": [...]}` (one
    dialogue: every turn after the first becomes a reply to the turns before
    it), or `{"history": [...], "response": "..."}`. Bad lines (not JSON, missing or non-string turns,
    fewer than two turns) are counted and skipped; a file with nothing usable is an error.
    """
    examples, bad, lines = [], 0, 0
    for _, record, problem in read_json_lines(path):
        if limit is not None and len(examples) >= limit:
            break
        lines += 1
        pairs = [] if problem else _pairs(record)
        if not pairs:
            bad += 1
            continue
        examples.extend(pairs)
    if bad:
        logger.warning("%s: skipped %d bad lines", path, bad)
    if not examples:
        raise ValueError(f"Expected at least one conversation with two turns in {path!r}. Received: {lines} lines, "
                         f"{bad} bad")
    return examples[:limit] if limit else examples, {"path": path, "lines": lines, "bad": bad}


def _pairs(record):
    if isinstance(record, list):  # a bare JSON list of turns
        record = {"turns": record}
    if not isinstance(record, dict):
        return []
    if "history" in record:
        history, response = record.get("history"), record.get("response")
        ok = isinstance(history, list) and history and isinstance(response, str) and _strings(history)
        return [(list(history), response)] if ok else []
    turns = record.get("turns")
    if not isinstance(turns, list) or len(turns) < 2 or not _strings(turns):
        return []
    return [(turns[:k], turns[k]) for k in range(1, len(turns))]


def _strings(items):
    return all(isinstance(t, str) and t.strip() for t in items)
