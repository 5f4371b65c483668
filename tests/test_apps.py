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
