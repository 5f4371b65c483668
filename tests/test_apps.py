import os
import subprocess
import sys

import pytest

ROOT = os.path.join(os.path.dirname(__file__), "..")


@pytest.mark.large  # a whole example in its own process (about 25 s): end to end, kept out of the fast suite
def test_dates_translator_example_runs(tmp_path):
    """apps/dates_translator.py end to end at a tiny size: prints outputs, writes the plot and the export."""
    output = str(tmp_path / "example")
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "apps", "dates_translator.py"), "--output", output,
         "--num-train", "300", "--epochs", "1"],
        capture_output=True, text=True, timeout=600, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines[-4:]] == ["greedy", "beam n-best", "sampled", "attention map"]
    with open(os.path.join(output, "attention.png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert os.path.isfile(os.path.join(output, "1", "saved_model.pb"))
    assert os.path.isfile(os.path.join(output, "1", "tflite", "model.tflite"))


@pytest.mark.large  # each example in its own process, at a tiny size
@pytest.mark.parametrize("app, lines", [
    ("news_summarizer.py", ["beam", "beam + trigram blocking", "article", "summary", "export"]),
    ("shop_assistant.py", ["exactly right", "conversation", "sampled replies", "saved"]),
    ("restaurant_writer.py", ["test", "from a dict", "from an MR", "export"]),
    ("digit_transcriber.py", ["held-out speaker", "from a path and from samples", "attention map", "export"]),
])
def test_task_examples_run(app, lines, tmp_path):
    """Each task's example end to end (a few hundred examples, one epoch): its report lines and its files."""
    output = str(tmp_path / "example")
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "apps", app), "--output", output, "--num-train", "200", "--epochs", "1"],
        capture_output=True, text=True, timeout=600, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    reported = [line.split(":")[0] for line in result.stdout.splitlines() if ":" in line and not line.startswith(" ")]
    assert [name for name in reported if name in lines] == lines
    saved = os.path.join(output, "1", "saved_model.pb") if lines[-1] == "export" else os.path.join(output, "model.keras")
    assert os.path.isfile(saved)
