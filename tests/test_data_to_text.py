import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import kseq2seq
from kseq2seq.datasets.e2e import load_restaurants
from kseq2seq.slot_errors import ERROR_KINDS, slot_errors

HERE = os.path.dirname(__file__)
BEAM = {"num_beams": 3, "length_penalty": 0.6, "nbest": 2}
# The large tests' floors. 300 steps of e2e_lstm, greedy, all 547 dev MRs: measured BLEU 31.90, SER 60.29% on a
# 2-core AMD EPYC (53.67 and 43.66% after 500 steps).
BLEU_FLOOR_300_STEPS = 25.0
SER_CEILING_300_STEPS = 70.0
# The demo (records_small, 10 epochs on 1,500 generated records): measured BLEU 73.40, SER 4.17% on its test MRs.
DEMO_BLEU_FLOOR = 60.0
DEMO_SER_CEILING = 12.0
# Names and places never seen in training, with regex and non-ASCII characters.
UNSEEN = ["name[Ölmez & Sons (2)], area[riverside], near[Zeta*Tau]", "name[Mi], priceRange[cheap]",
          "name[Quorvash Lint], eatType[pub], food[Italian], familyFriendly[no], near[St. Ives+]"]


def names_of(mr):
    return [v for a, v in kseq2seq.records.parse_mr(mr) if a in ("name", "near")]


def test_unseen_names_come_out_exactly_with_every_strategy(tiny_data_to_text):
    vocabulary = set(tiny_data_to_text.preprocessor.target_tokenizer.vocabulary)
    assert not {"Ölmez", "Quorvash", "Zeta"} & vocabulary and "xnamex" in vocabulary
    for options in ({}, {"sampler": "beam", **BEAM}, {"sampler": "sample", "seed": 3}):
        records = tiny_data_to_text.generate(UNSEEN, return_details=True, **options)
        for mr, record in zip(UNSEEN, records):
            # Greedy and beam search always name the place; sampling from this small model may not.
            assert "xnamex" in record.output_tokens or options.get("sampler") == "sample", (mr, record)
            for text in record.texts:
                # Each name appears exactly as given where the model wrote its placeholder; no placeholder remains.
                assert "xnamex" not in text and "xnearx" not in text
            for value, token in zip(names_of(mr), ("xnamex", "xnearx")):
                assert (value in record.text) == (token in record.output_tokens), (mr, record)


def test_rerank_puts_the_beams_with_fewest_slot_errors_first(tiny_data_to_text):
    beam = {"sampler": "beam", "num_beams": 4, "length_penalty": 0.6}
    mrs = UNSEEN + [mr for mr, _ in load_restaurants(num_train=12, num_validation=0, num_test=0, seed=9)[0]]
    plain = tiny_data_to_text.generate(mrs, return_details=True, nbest=4, rerank=False, **beam)
    reranked = tiny_data_to_text.generate(mrs, return_details=True, nbest=4, rerank=True, **beam)
    best = tiny_data_to_text.generate(mrs, nbest=1, rerank=True, **beam)
    moved = 0
    for mr, before, after, first in zip(mrs, plain, reranked, best):
        errors = [sum(slot_errors(mr, text)[kind] for kind in ERROR_KINDS) for text in before.texts]
        order = sorted(range(4), key=lambda i: errors[i])  # stable: equal errors keep the beam's order
        assert after.texts == [before.texts[i] for i in order], (mr, errors)
        assert after.scores == [before.scores[i] for i in order]
        assert first == after.text
        moved += order[0] != 0
    assert moved >= 2  # the case this test is for: the beam's best is not the fewest-errors output


def test_dicts_and_mr_strings_give_the_same_text_and_bad_inputs_name_the_input(tiny_data_to_text):
    as_dicts = [dict(kseq2seq.records.parse_mr(mr)) for mr in UNSEEN]
    assert tiny_data_to_text.generate(as_dicts) == tiny_data_to_text.generate(UNSEEN)
    with pytest.raises(ValueError, match=r"inputs\[1\]: Expected a meaning representation.*'name The Eagle'"):
        tiny_data_to_text.generate([UNSEEN[0], "name The Eagle"])
    with pytest.raises(ValueError, match=r"inputs\[0\]: Expected a record with at least one attribute"):
        tiny_data_to_text.generate([{}])
    with pytest.raises(TypeError, match=r"inputs\[0\]: Expected an MR string or a dict.*Received: int"):
        tiny_data_to_text.generate([3])


@pytest.mark.large  # several trainings or processes end to end: kept out of the fast suite's 10 minutes
def test_saved_and_exported_models_write_the_same_texts(tiny_data_to_text, tmp_path):
    path = kseq2seq.saving.save(tiny_data_to_text, str(tmp_path / "model"), {}, overwrite=True)
    assert kseq2seq.load(path).generate(UNSEEN) == tiny_data_to_text.generate(UNSEEN)
    version = str(tmp_path / "export" / "1")
    tiny_data_to_text.export(version, formats=("saved_model", "tflite"), beam_config=BEAM)
    ids = [tiny_data_to_text.preprocessor.tokenize_source([mr]).numpy() for mr in UNSEEN]
    requests = [{"saved_model": version, "inputs": UNSEEN, "tflite": os.path.join(version, "tflite", "model.tflite"),
                 "tflite_dtype": "int32", "tflite_inputs": [{"encoder_token_ids": i.tolist()} for i in ids]}]
    file = tmp_path / "requests.json"
    file.write_text(json.dumps(requests))
    result = subprocess.run([sys.executable, os.path.join(HERE, "serving_client.py"), "--requests", str(file)],
                            capture_output=True, text=True, timeout=300, cwd="/",
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert result.returncode == 0, result.stderr[-3000:]
    served = json.loads(result.stdout.splitlines()[-1])
    assert served["modules"] == []
    saved = served["results"][0]["saved_model"]
    assert saved["serving_default"]["outputs"] == tiny_data_to_text.generate(UNSEEN)
    beam = tiny_data_to_text.generate(UNSEEN, sampler="beam", return_details=True, **BEAM)
    assert saved["beam_search"]["outputs"] == [r.texts for r in beam]
    # The ids-level TFLite model gives placeholder ids, as generate_ids does; the app puts names back.
    for source_ids, tflite in zip(ids, served["results"][0]["tflite"]):
        expected = tiny_data_to_text.generate_ids(tf.constant(source_ids)).token_ids.numpy()[:, 0]
        np.testing.assert_array_equal(tflite["serving_default"], expected)
    with open(os.path.join(version, "tflite", "kseq2seq.json"), encoding="utf-8") as f:
        meta = json.load(f)
    assert meta["placeholders"] == ["xnamex", "xnearx"] and meta["delexicalized"] == ["name", "near"]


def run(argv, stdin=None):
    from kseq2seq.cli import main

    out = io.StringIO()
    old = sys.stdin
    sys.stdin = io.StringIO(stdin or "")
    try:
        return main(argv, out=out), out.getvalue()
    finally:
        sys.stdin = old


@pytest.mark.large  # trains, exports or starts processes: kept out of the fast suite's 10 minutes
def test_cli_train_generate_and_evaluate(tiny_data_to_text, tmp_path):
    code, output = run(["train", "--task", "data_to_text", "--preset", "records_small", "--dataset", "restaurants",
                        "--limit", "40", "--max-steps", "2", "--set", "units=8", "--set", "embedding_dim=8",
                        "--output", str(tmp_path / "trained")])
    assert code == 0 and "Trained 2 steps" in output
    path = kseq2seq.saving.save(tiny_data_to_text, str(tmp_path / "model"), {}, overwrite=True)
    lines = UNSEEN[0] + "\n" + json.dumps(dict(kseq2seq.records.parse_mr(UNSEEN[1]))) + "\n"
    code, output = run(["generate", "--model", path], stdin=lines)
    assert code == 0 and output.splitlines() == tiny_data_to_text.generate(UNSEEN[:2])
    data = tmp_path / "dev.csv"
    data.write_text('mr,ref\n"name[Mi], priceRange[cheap]",Mi is a cheap place.\n'
                    '"name[Mi], priceRange[cheap]",Mi is cheap.\n"name[Ab], area[riverside]",Ab is by the river.\n',
                    encoding="utf-8")
    report = tmp_path / "report.json"
    code, output = run(["evaluate", "--task", "data_to_text", "--baseline", "template", "--data", str(data),
                        "--report", str(report)])
    assert code == 0
    result = json.loads(report.read_text())
    outputs = ["Mi is a cheap place.", "Ab is a place. It is in the riverside area."]
    assert [e["output"] for e in result["per_example"]] == outputs
    expected = kseq2seq.metrics.corpus_bleu(outputs, [["Mi is a cheap place.", "Mi is cheap."],
                                                      ["Ab is by the river."]], lowercase=True)
    assert result["bleu"] == pytest.approx(expected.score) and f"BLEU = {expected.score:.2f}" in output
    assert result["slot_error_rate"] == 0.0 and result["num_mrs"] == 2
    code, output = run(["evaluate", "--task", "data_to_text", "--model", path, "--data", str(data), "--limit", "1"])
    assert code == 0 and "1 MRs of" in output

def test_cli_errors_name_the_option(tmp_path, capsys):
    assert run(["evaluate", "--task", "data_to_text", "--baseline", "lead3", "--data", "x.csv"])[0] == 2
    assert "Expected --baseline template for --task data_to_text. Received: lead3" in capsys.readouterr().err
    code, _ = run(["train", "--task", "data_to_text", "--preset", "records_small", "--output", str(tmp_path / "m")])
    assert code == 2 and "Expected --dataset restaurants or --data (an E2E CSV)" in capsys.readouterr().err
    assert run(["evaluate", "--task", "data_to_text", "--baseline", "template", "--data", "x.csv"])[0] == 2
    assert "Expected an E2E CSV file (columns mr,ref). Received: 'x.csv' (no such file)" in capsys.readouterr().err


def test_drop_slot_errors_trains_on_the_faithful_pairs_only(tmp_path, caplog, capsys):
    import argparse
    import logging

    from kseq2seq.tasks.data_to_text_io import data_to_text_pairs

    data = tmp_path / "train.csv"
    data.write_text('mr,ref\n"name[Mi], priceRange[cheap]",Mi is a cheap place.\n'
                    '"name[Mi], priceRange[cheap]",Mi is a pub.\n"name[Ab], area[riverside]",Ab is by the river.\n'
                    '"name[Ab], area[riverside]",Ab is an expensive place.\n', encoding="utf-8")
    options = argparse.Namespace(dataset=None, data=str(data), validation_data=str(data), limit=None,
                                 drop_slot_errors=True)
    with caplog.at_level(logging.INFO, logger="kseq2seq.tasks.data_to_text_io"):
        train, validation = data_to_text_pairs(options)
    assert train == [("name[Mi], priceRange[cheap]", "Mi is a cheap place."),
                     ("name[Ab], area[riverside]", "Ab is by the river.")]
    assert len(validation) == 4  # validation is scored whole
    assert "left out 2 of 4 training pairs" in caplog.text and "2 MRs remain" in caplog.text
    options.limit = 2
    assert data_to_text_pairs(options)[0] == train[:1]
    data.write_text('mr,ref\n"name[Mi], priceRange[cheap]",Mi is a pub.\n', encoding="utf-8")
    with pytest.raises(ValueError, match="Received: all 1 have slot errors"):
        data_to_text_pairs(options)
    generated = argparse.Namespace(dataset="restaurants", limit=50, seed=0, drop_slot_errors=True)
    assert data_to_text_pairs(generated)[0] == load_restaurants(num_train=50, num_test=0, seed=0)[0]  # all faithful
    code, _ = run(["train", "--task", "translation", "--preset", "multi30k_gru_wordpiece", "--dataset", "dates",
                   "--drop-slot-errors", "--output", str(tmp_path / "m")])
    assert code == 2
    assert ("Expected --drop-slot-errors only with --task data_to_text. Received: --task translation"
            in capsys.readouterr().err)


def test_oversample_multi_valued_repeats_the_pairs_whose_mr_gives_an_attribute_twice(tmp_path, caplog, capsys):
    import argparse
    import logging

    from kseq2seq.datasets.e2e import oversample_multi_valued
    from kseq2seq.tasks.data_to_text_io import data_to_text_pairs

    two = "name[Mi], eatType[pub], eatType[restaurant]"
    data = tmp_path / "train.csv"
    data.write_text(f'mr,ref\n"name[Mi], eatType[pub]",Mi is a pub.\n"{two}",Mi is a pub and restaurant.\n'
                    f'"{two}",Mi is a cheap pub.\n', encoding="utf-8")
    options = argparse.Namespace(dataset=None, data=str(data), validation_data=None, limit=None,
                                 drop_slot_errors=False, oversample_multi_valued=3)
    with caplog.at_level(logging.INFO, logger="kseq2seq.tasks.data_to_text_io"):
        train, _ = data_to_text_pairs(options)
    both = [(two, "Mi is a pub and restaurant."), (two, "Mi is a cheap pub.")]
    assert train == [("name[Mi], eatType[pub]", "Mi is a pub."), *both * 3]
    assert "2 training pairs give an attribute more than one value; 7 pairs in all" in caplog.text
    options.drop_slot_errors = True  # dropped first: the unfaithful pair is not repeated
    assert data_to_text_pairs(options)[0] == [("name[Mi], eatType[pub]", "Mi is a pub."),
                                              *[(two, "Mi is a pub and restaurant.")] * 3]
    options.oversample_multi_valued = 1
    assert len(data_to_text_pairs(options)[0]) == 2
    options.oversample_multi_valued = 0
    with pytest.raises(ValueError, match="Expected --oversample-multi-valued to be at least 1. Received: 0"):
        data_to_text_pairs(options)
    with pytest.raises(ValueError, match=r"Expected `times` to be a positive integer. Received: times=2.0"):
        oversample_multi_valued(train, 2.0)
    code, _ = run(["train", "--task", "translation", "--preset", "multi30k_gru_wordpiece", "--dataset", "dates",
                   "--oversample-multi-valued", "2", "--output", str(tmp_path / "m")])
    assert code == 2
    assert ("Expected --oversample-multi-valued only with --task data_to_text. Received: --task translation"
            in capsys.readouterr().err)


@pytest.mark.large
def test_e2e_preset_on_the_shared_e2e_data_passes_a_dev_floor(tmp_path, report_figure):
    """The documented E2E command, cut to 300 steps, scored on all of dev."""
    from conftest import shared_data

    train, dev = shared_data("e2e", "train.csv"), shared_data("e2e", "dev.csv")
    model = str(tmp_path / "e2e")
    code, output = run(["train", "--task", "data_to_text", "--preset", "e2e_lstm", "--data", train, "--epochs", "1",
                        "--max-steps", "300", "--output", model])
    assert code == 0 and "Trained 300 steps" in output, output
    report = tmp_path / "dev.json"
    code, output = run(["evaluate", "--task", "data_to_text", "--model", model, "--data", dev, "--sampler", "greedy",
                        "--report", str(report)])
    print(output)
    result = json.loads(report.read_text())
    assert result["num_mrs"] == 547
    report_figure(f"E2E dev after 300 steps, greedy: BLEU {result['bleu']:.2f}, slot error rate "
                  f"{result['slot_error_rate']:.2f}%")
    # Floors below the measured figures (top of this file) leave room for other CPUs' rounding.
    assert result["bleu"] >= BLEU_FLOOR_300_STEPS and result["slot_error_rate"] <= SER_CEILING_300_STEPS


@pytest.mark.large
def test_demo_data_to_text_writes_unseen_names_from_the_export(tmp_path, capsys, report_figure):
    from kseq2seq import cli

    assert cli.main(["demo", "--task", "data_to_text", "--output", str(tmp_path / "restaurants")]) == 0
    output = capsys.readouterr().out
    line = next(l for l in output.splitlines() if l.startswith("Test ("))
    report_figure(line)
    bleu = float(line.split("BLEU ")[1].split(",")[0])
    ser = float(line.split("slot error rate ")[1].rstrip("%"))
    assert bleu >= DEMO_BLEU_FLOOR and ser <= DEMO_SER_CEILING, line
    texts = [l.split("-> ", 1)[1] for l in output.split("names never seen in training:")[1].splitlines() if "-> " in l]
    assert len(texts) == 2 and "Zanzibar Moon" in texts[0], texts
    assert "Quintessa" in texts[1] and "The Lighthouse" in texts[1], texts


def test_docstring_examples_run():
    import doctest

    from kseq2seq.tasks import data_to_text, data_to_text_io

    for module in (data_to_text, data_to_text_io):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.attempted > 0 and result.failed == 0, module.__name__
