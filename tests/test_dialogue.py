import json

import keras
import pytest

import kseq2seq
from kseq2seq.datasets.dialogue import catalogue, load_dialogue_jsonl, load_shop_dialogues
from kseq2seq.tasks.dialogue import format_history

from conftest import shared_data


def test_history_keeps_the_latest_turns_with_speaker_tags():
    turns = ["one .", "two .", "three .", "four .", "five ."]
    assert format_history(turns, window=3) == "<s1> three . <s2> four . <s1> five ."
    assert format_history(turns[:1], window=3) == "<s1> one ."
    for bad in ([], "just a string", ["ok", 3]):
        with pytest.raises(ValueError, match="Expected"):
            format_history(bad, window=3)


def test_shop_dialogues_are_deterministic_and_answers_need_the_earlier_turn():
    train, val, test = load_shop_dialogues(num_train=300, num_validation=30, num_test=30, seed=2)
    assert (train, val, test) == load_shop_dialogues(num_train=300, num_validation=30, num_test=30, seed=2)
    assert len({"\n".join(t) for split in (train, val, test) for t, _ in split}) == 360
    facts = catalogue(seed=2)
    for turns, reply in train:
        item = next(i for i in facts if f"the {i} " in turns[2] + " ")
        assert item not in turns[-1]  # the question does not name the item
        assert reply in {f"it is {facts[item]['colour']} .", f"it costs {facts[item]['price']} dollars .",
                         f"it is {facts[item]['size']} ."}


def test_jsonl_loader_reads_both_layouts_and_counts_bad_lines(tmp_path):
    path = tmp_path / "dialogues.jsonl"
    path.write_text("\n".join([
        json.dumps({"turns": ["a", "b", "c"]}),
        json.dumps({"history": ["x", "y"], "response": "z"}),
        json.dumps({"turns": ["only one"]}),
        "not json",
        json.dumps({"history": [], "response": "r"}),
        json.dumps(["p", "q"]),
    ]))
    examples, report = load_dialogue_jsonl(str(path))
    assert examples == [(["a"], "b"), (["a", "b"], "c"), (["x", "y"], "z"), (["p"], "q")]
    assert report["bad"] == 3 and report["lines"] == 6
    (tmp_path / "empty.jsonl").write_text("nope\n")
    with pytest.raises(ValueError, match="at least one conversation"):
        load_dialogue_jsonl(str(tmp_path / "empty.jsonl"))


def test_dailydialog_through_the_same_loader():
    examples, report = load_dialogue_jsonl(shared_data("dialogue", "validation.jsonl"))
    assert len(examples) == 7069 and report["bad"] == 0  # every turn after the first, as SOURCES.md counts
    pairs, _ = load_dialogue_jsonl(shared_data("dialogue", "validation_pairs.jsonl"))
    assert pairs[:5] == examples[:5]


@pytest.fixture(scope="module")
def responder():
    keras.utils.set_random_seed(0)
    train, _, _ = load_shop_dialogues(num_train=256, num_validation=0, num_test=0, seed=0)
    task = kseq2seq.Responder.from_preset("gru_dialogue_small", train_texts=train, units=16, embedding_dim=8,
                                          history_window=3, source_length=20)
    task.fit(train, epochs=1, verbose=0)
    return task


def test_a_long_conversation_is_truncated_from_its_oldest_turn(responder):
    recent = ["hello .", "hello , how can i help ?", "is the glass lamp in stock ?", "yes , we have the glass lamp .",
              "what colour is it ?"]
    older = ["good morning .", "is the steel bag in stock ?", "yes , we have the steel bag ."]
    # Window 3: turns before the last three never reach the model.
    assert responder.generate([older + recent], sampler="greedy") == responder.generate([recent], sampler="greedy")
    # source_length 20 keeps the latest tokens of what remains.
    ids = responder.preprocessor.tokenize_source([format_history(recent, 3)]).numpy()[0]
    tokenizer = responder.preprocessor.source_tokenizer
    assert [tokenizer.id_to_token(i) for i in ids][-5:] == ["what", "colour", "is", "it", "?"]
    assert len(ids) == 20


def test_generate_takes_a_batch_of_conversations_and_rejects_empty_ones(responder):
    conversation = ["hi there .", "hello , how can i help ?", "do you sell the wooden chair ?"]
    [one] = responder.generate([conversation], sampler="greedy")
    assert isinstance(one, str) and responder.generate([conversation, conversation], sampler="greedy") == [one, one]
    sampled = responder.generate([conversation] * 4, seed=3)  # the preset samples (temperature 0.7, top-p 0.9)
    assert sampled == responder.generate([conversation] * 4, seed=3)
    with pytest.raises(ValueError, match="non-empty list of turns"):
        responder.generate([[]])
    with pytest.raises(ValueError, match="Expected a conversation"):
        responder.generate(["one turn, not a list of turns"])
    assert responder.generate([]) == []


def test_save_and_load_keep_the_window(responder, tmp_path):
    path = str(tmp_path / "responder.keras")
    responder.save(path)
    restored = keras.models.load_model(path)
    assert type(restored) is kseq2seq.Responder and restored.history_window == 3
    assert restored.preprocessor.truncate_source == "start"
    conversations = [t for t, _ in load_shop_dialogues(num_train=0, num_validation=0, num_test=5, seed=5)[2]]
    assert restored.generate(conversations, sampler="greedy") == responder.generate(conversations, sampler="greedy")


@pytest.mark.large
def test_demo_dialogue_answers_from_earlier_turns(tmp_path, capsys, report_figure):
    from kseq2seq import cli

    assert cli.main(["demo", "--task", "dialogue", "--output", str(tmp_path / "shop")]) == 0
    output = capsys.readouterr().out
    line = next(l for l in output.splitlines() if l.startswith("Test replies exactly right"))
    report_figure(line)
    accuracy, blind = (float(x.split("%")[0]) for x in line.split(": ", 1)[1].split(" with the history, "))
    assert accuracy >= 95.0 and blind <= 50.0, line
