import io
import json
import os
import re
import sys

import pytest

from kseq2seq import cli, saving
from kseq2seq.generation import GenerationConfig


def write_pairs(folder, pairs, name="train"):
    src, tgt = os.path.join(folder, f"{name}.src"), os.path.join(folder, f"{name}.tgt")
    with open(src, "w", encoding="utf-8") as f:
        f.write("".join(s + "\n" for s, _ in pairs))
    with open(tgt, "w", encoding="utf-8") as f:
        f.write("".join(t + "\n" for _, t in pairs))
    return src, tgt


def run(argv):
    out = io.StringIO()
    code = cli.main(argv, out=out)
    return code, out.getvalue()


def test_train_generate_evaluate(tmp_path, tiny_dates, capsys):
    src, tgt = write_pairs(str(tmp_path), tiny_dates)
    model_dir = str(tmp_path / "model")
    code, _ = run(["train", "--preset", "bahdanau_gru_small", "--source-file", src, "--target-file", tgt,
                   "--output", model_dir, "--epochs", "1", "--set", "units=8", "--set", "embedding_dim=4"])
    assert code == 0 and sorted(os.listdir(model_dir)) == ["metadata.json", "model.keras"]
    with open(os.path.join(model_dir, "metadata.json")) as f:
        metadata = json.load(f)
    assert metadata["preset"] == "bahdanau_gru_small" and metadata["overrides"] == {"units": 8, "embedding_dim": 4}

    model = cli.load_model(model_dir)
    expected = model.generate(["3 June 2019", "2019/06/03"])
    code, output = run(["generate", "--model", model_dir, "3 June 2019", "2019/06/03"])
    assert code == 0 and output.splitlines() == expected

    code, output = run(["generate", "--model", model_dir, "--sampler", "beam", "--num-beams", "3", "--nbest", "2",
                        "3 June 2019"])
    lines = [line.split("\t") for line in output.splitlines()]
    assert code == 0 and [line[0] for line in lines] == ["0", "0"] and float(lines[0][1]) >= float(lines[1][1])
    code, _ = run(["generate", "--model", model_dir, "--sampler", "sample", "--top-p", "0", "x"])
    assert code == 2
    controlled = model.generate(["3 June 2019"], prefix="20", no_repeat_ngram_size=1, repetition_penalty=1.2,
                                bad_words=["9", "1"])
    code, output = run(["generate", "--model", model_dir, "--prefix", "20", "--no-repeat-ngram-size", "1",
                        "--repetition-penalty", "1.2", "--bad-word", "9", "--bad-word", "1", "3 June 2019"])
    assert code == 0 and output.splitlines() == controlled and controlled[0].startswith("20")
    assert "9" not in controlled[0] and "1" not in controlled[0]
    # Standard input that is not UTF-8: an error naming the line, not TensorFlow's conversion error.
    stdin, sys.stdin = sys.stdin, io.TextIOWrapper(io.BytesIO("3 June 2019\n4 März 2019\n".encode("latin-1")))
    try:
        assert run(["generate", "--model", model_dir]) == (2, "")
    finally:
        sys.stdin = stdin
    assert "standard input, line 2: expected UTF-8 text. Received byte b'\\xe4'" in capsys.readouterr().err

    report = str(tmp_path / "report.json")
    code, output = run(["evaluate", "--model", model_dir, "--source-file", src, "--target-file", tgt,
                        "--limit", "8", "--report", report])
    assert code == 0 and "BLEU = " in output and "nrefs:1" in output
    with open(report) as f:
        saved = json.load(f)
    assert saved["num_examples"] == 8 and saved["decoding"]["sampler"] == "greedy" and len(saved["hypotheses"]) == 8

    code, _ = run(["train", "--preset", "bahdanau_gru_small", "--source-file", src, "--target-file", tgt,
                   "--output", model_dir])
    assert code == 2  # never overwrites without --overwrite

    version = str(tmp_path / "serving" / "dates" / "3")
    code, output = run(["export", "--model", model_dir, "--output", version, "--num-beams", "2", "--nbest", "2"])
    assert code == 0 and os.path.isfile(os.path.join(version, "saved_model.pb"))
    assert run(["export", "--model", model_dir, "--output", version])[0] == 2  # exists: no overwrite
    beam = saving.load(model_dir).generate(["3 June 2019"], sampler="beam", num_beams=2, nbest=2,
                                           return_details=True)[0].texts
    check_serve_command(str(tmp_path / "serving" / "dates"), expected, beam)


def check_serve_command(base, expected, beam):
    """`kseq2seq serve` in its own process: prints its address, answers predict; SIGTERM lets a running request end."""
    import concurrent.futures
    import signal
    import subprocess
    import sys
    import time
    import urllib.request

    process = subprocess.Popen(
        [sys.executable, "-m", "kseq2seq.cli", "serve", "--model", base, "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
    )

    def predict(signature):
        body = {"instances": ["3 June 2019"], "signature_name": signature}
        request = urllib.request.Request(url + ":predict", data=json.dumps(body).encode())
        with urllib.request.urlopen(request, timeout=120) as response:
            return json.loads(response.read())

    try:
        line = process.stdout.readline()
        assert "as 'dates' (version 3)" in line, line
        url = line.strip().rsplit(" ", 1)[-1]
        assert predict("serving_default")["predictions"][0]["outputs"] == expected[0]
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            running = pool.submit(predict, "beam_search")  # its first call traces beam search: seconds
            time.sleep(0.5)
            process.send_signal(signal.SIGTERM)
            assert running.result(timeout=120)["predictions"][0]["outputs"] == beam
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()


def test_evaluate_bleu_equals_sacrebleu_on_a_hand_made_case(tmp_path, monkeypatch):
    import sacrebleu

    references = ["Ein Mann spielt Fußball.", "Zwei Mädchen laufen am Strand.", "Ein Hund springt über einen Zaun."]
    hypotheses = ["Ein Mann spielt Fußball .", "zwei Mädchen gehen am Strand.", "Hund springt über den Zaun."]

    class HandMade:  # "translates" each source to the hypothesis at its index
        max_length = 8

        def generate(self, texts, batch_size=64, **decoding):
            return [hypotheses[int(t)] for t in texts]

        def generation_options(self, **given):
            return GenerationConfig().replace(**given)

    monkeypatch.setattr(saving, "load", lambda path: HandMade())
    src, tgt = write_pairs(str(tmp_path), [(str(i), r) for i, r in enumerate(references)])
    for flags, lowercase in (([], False), (["--lowercase"], True)):
        report = str(tmp_path / "report.json")
        code, output = run(["evaluate", "--model", "any", "--source-file", src, "--target-file", tgt,
                            "--report", report, *flags])
        expected = sacrebleu.corpus_bleu(hypotheses, [references], lowercase=lowercase)
        with open(report) as f:
            saved = json.load(f)
        assert code == 0 and saved["bleu"] == pytest.approx(expected.score, abs=1e-9)
        assert f"BLEU = {expected.score:.2f}" in output and saved["hypotheses"] == hypotheses
        assert ("case:lc" in saved["bleu_signature"]) is lowercase
    assert 0 < saved["bleu"] < 100


def test_time_budget_stops_training_and_saves_the_best_model_by_validation_loss(tmp_path, tiny_dates):
    from kseq2seq.training import Trainer

    src, tgt = write_pairs(str(tmp_path), tiny_dates)
    # Targets the model never learns ('z' is outside the target vocabulary): validation loss rises
    # as training goes on, so the best model is an early one, not the last.
    validation = [(s, "zzzz") for s, _ in tiny_dates[:16]]
    val_src, val_tgt = write_pairs(str(tmp_path), validation, name="validation")
    model_dir = str(tmp_path / "model")
    code, output = run(["train", "--preset", "bahdanau_gru_small", "--source-file", src, "--target-file", tgt,
                        "--validation-source-file", val_src, "--validation-target-file", val_tgt,
                        "--output", model_dir, "--epochs", "1000", "--batch-size", "16", "--time-budget", "0.25",
                        "--set", "units=8", "--set", "embedding_dim=4", "--set", "learning_rate=0.01",
                        "--lr-decay-factor", "0.5"])
    assert code == 0 and "stopped by time budget" in output
    with open(os.path.join(model_dir, "metadata.json")) as f:
        history = json.load(f)["history"]
    val_losses = history["val_loss"]
    assert 2 <= len(val_losses) < 1000 and history["stopped"] == "time budget"
    assert min(val_losses) < val_losses[-1]  # the last epoch is not the best one
    model = cli.load_model(model_dir)
    saved_loss, _ = Trainer(model).evaluate_ids(model.tokenize_dataset(validation), batch_size=16)
    assert saved_loss == pytest.approx(min(val_losses), rel=1e-5)
    # --lr-decay-factor: the rate was halved once per epoch that did not beat the best validation loss.
    not_better = sum(loss >= min(val_losses[:i]) for i, loss in enumerate(val_losses) if i)
    assert not_better >= 1
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(0.01 * 0.5**not_better, rel=1e-6)


def test_misaligned_files_are_a_clear_error(tmp_path, capsys):
    src, _ = write_pairs(str(tmp_path), [("a", "b"), ("c", "d")])
    _, tgt = write_pairs(str(tmp_path), [("a", "b")], name="short")
    code, _ = run(["train", "--preset", "bahdanau_gru_small", "--source-file", src, "--target-file", tgt,
                   "--output", str(tmp_path / "m")])
    assert code == 2
    err = capsys.readouterr().err
    assert "2 lines" in err and "1 lines" in err and src in err and tgt in err
    assert not os.path.exists(tmp_path / "m")


@pytest.mark.parametrize("flags, message", [
    (["--epochs", "0"], r"--epochs to be an integer >= 1\. Received: --epochs=0"),
    (["--batch-size", "-4"], r"--batch-size to be an integer >= 1"),
    (["--time-budget", "0"], r"--time-budget > 0"),
])
def test_bad_counts_fail_before_anything_is_written(tmp_path, capsys, flags, message):
    command = ["train", "--preset", "bahdanau_gru_small", "--dataset", "dates", "--output", str(tmp_path / "m")] + flags
    assert cli.main(command) == 2
    assert re.search(message, capsys.readouterr().err) and os.listdir(tmp_path) == []


def test_a_config_file_count_is_checked_like_a_flag(tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text("preset: bahdanau_gru_small\ndataset: dates\nepochs: '3'\n")
    assert cli.main(["train", "--config", str(config), "--output", str(tmp_path / "m")]) == 2
    assert "Received: --epochs='3'" in capsys.readouterr().err and not os.path.exists(tmp_path / "m.checkpoints")


def test_bad_override_syntax():
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["train", "--preset", "p", "--output", "o", "--set", "units"])


@pytest.mark.large
def test_demo_end_to_end(tmp_path):
    """`kseq2seq demo` as a user runs it: trains, saves, reloads, translates; exact match >= 95%."""
    import re
    import subprocess
    import sys

    output = str(tmp_path / "dates")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run([sys.executable, "-m", "kseq2seq.cli", "demo", "--output", output],
                            capture_output=True, text=True, env=env, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    print(result.stdout)
    match = re.search(r"Test exact match: ([\d.]+)% on 1000 examples", result.stdout)
    assert match and float(match.group(1)) >= 95.0, result.stdout
    assert sorted(os.listdir(output)) == ["1", "metadata.json", "model.keras"]  # 1/: the SavedModel
    assert "Translations by the exported SavedModel" in result.stdout
    assert "'3 June 2019'                    -> 2019-06-03" in result.stdout


def test_evaluate_summarization_lead3_report(tmp_path):
    records = [
        {"id": "x", "article": "a b c . d e . f g . h i .", "highlights": "a b c\nd e"},
        {"id": "y", "article": "one . two . three . four .", "highlights": "one\nfour"},
    ]
    data = tmp_path / "val.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in records) + "{broken\n", encoding="utf-8")
    report = tmp_path / "out.json"
    code, output = run(["evaluate", "--task", "summarization", "--data", str(data), "--baseline", "lead3",
                        "--report", str(report)])
    assert code == 0 and "rougeLsum" in output
    with open(report) as f:
        result = json.load(f)
    assert result["num_examples"] == 2 and result["data"]["bad"]["invalid_json"] == 1
    assert set(result["aggregate"]) == {"rouge1", "rouge2", "rougeL", "rougeLsum"}
    first = result["per_example"][0]
    assert first["id"] == "x" and first["prediction"] == "a b c .\nd e .\nf g ."
    assert first["scores"]["rouge1"]["recall"] == 1.0
    assert run(["evaluate", "--task", "summarization", "--data", str(data)])[0] == 2  # no --model/--baseline


def test_lead3_on_cnn_dailymail_validation(tmp_path):
    """The README's command on ../shared/data: Lead-3 ROUGE on 1000 CNN/DailyMail validation articles."""
    from conftest import shared_data

    data = shared_data("cnn_dailymail", "validation.jsonl")
    report = tmp_path / "lead3.json"
    code, output = run(["evaluate", "--task", "summarization", "--data", data, "--baseline", "lead3",
                        "--report", str(report)])
    print(output)
    with open(report) as f:
        aggregate = json.load(f)["aggregate"]
    assert code == 0
    # Published Lead-3 on the CNN/DM test split (See et al. 2017): R-1 40.34, R-2 17.70, R-L 36.57.
    assert 0.36 < aggregate["rouge1"]["fmeasure"]["mean"] < 0.44
    assert 0.14 < aggregate["rouge2"]["fmeasure"]["mean"] < 0.21
    assert aggregate["rougeLsum"]["fmeasure"]["mean"] > aggregate["rougeL"]["fmeasure"]["mean"]


@pytest.mark.large  # trains, exports or starts processes: kept out of the fast suite's 10 minutes
def test_train_and_evaluate_a_summarizer_on_the_built_in_news_set(tmp_path):
    from kseq2seq.datasets.news import load_news

    model_dir = str(tmp_path / "news")
    code, _ = run(["train", "--task", "summarization", "--preset", "pointer_generator_coverage", "--dataset", "news",
                   "--limit", "64", "--epochs", "1", "--output", model_dir, "--set", "units=8",
                   "--set", "embedding_dim=4", "--set", "source_length=60", "--set", "max_length=12",
                   "--set", "min_length=2"])  # below max_length, as a task requires when it is built
    assert code == 0
    model = cli.load_model(model_dir)
    assert type(model).__name__ == "Summarizer" and model.backbone.coverage
    data = tmp_path / "test.jsonl"
    test = load_news(num_train=0, num_validation=0, num_test=5, seed=9)[2]
    data.write_text("".join(json.dumps({"article": a, "highlights": h}) + "\n" for a, h in test))
    report = str(tmp_path / "report.json")
    code, output = run(["evaluate", "--task", "summarization", "--model", model_dir, "--data", str(data),
                        "--sampler", "greedy", "--min-length", "3", "--no-allow-unknown", "--report", report])
    assert code == 0 and "rougeLsum" in output
    with open(report) as f:
        result = json.load(f)
    assert result["decoding"]["sampler"] == "greedy" and result["decoding"]["min_length"] == 3
    assert result["decoding"]["num_beams"] == 4  # the preset's, as no flag set it
    assert result["decoding"]["allow_unknown"] is False
    articles = [a for a, _ in test]
    expected = model.generate(articles, sampler="greedy", min_length=3, allow_unknown=False)
    assert [e["prediction"].replace("\n", " ") for e in result["per_example"]] == expected


def test_evaluate_lead3_on_cnn_dailymail_through_tfds(tmp_path):
    from test_datasets import _story_archives

    manual = tmp_path / "manual"
    manual.mkdir()
    _story_archives(manual)
    report = str(tmp_path / "report.json")
    code, output = run(["evaluate", "--task", "summarization", "--data", "tfds:cnn_dailymail", "--split", "test",
                        "--tfds-data-dir", str(tmp_path / "tfds"), "--manual-dir", str(manual), "--baseline", "lead3",
                        "--report", report])
    assert code == 0
    with open(report) as f:
        result = json.load(f)
    # One usable test story; Lead-3 of "Gamma one. Gamma two." against "Gamma." has recall 1.
    assert result["num_examples"] == 1 and result["per_example"][0]["prediction"] == "Gamma one.\nGamma two."
    assert result["aggregate"]["rouge1"]["recall"]["mean"] == 1.0
    code, _ = run(["evaluate", "--task", "summarization", "--data", "tfds:xsum", "--baseline", "lead3"])
    assert code == 2
