"""docs/benchmarks.md is generated: the committed page equals what `benchmarks/render.py` builds from the results."""

import os
import sys

ROOT = os.path.join(os.path.dirname(__file__), "..")
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import render  # noqa: E402


def test_the_page_is_rendered_from_the_results_and_stays_short(tmp_path, monkeypatch):
    with open(render.DOC, encoding="utf-8") as f:
        committed = f.read()
    monkeypatch.setattr(render, "DOC", str(tmp_path / "benchmarks.md"))
    monkeypatch.setattr(render, "IMAGES", str(tmp_path / "img"))
    with open(render.render(), encoding="utf-8") as f:
        rendered = f.read()
    assert rendered == committed, "docs/benchmarks.md is stale: run python benchmarks/render.py"
    assert len(rendered.splitlines()) <= 300
    for name in ("bleu-minutes", "speed-ratios"):
        assert f"![{name}](img/{name}.png)" in rendered
        with open(tmp_path / "img" / f"{name}.png", "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
        assert os.path.isfile(os.path.join(ROOT, "docs", "img", f"{name}.png"))


def test_a_results_table_is_parsed_into_cells():
    rows = render.table({"body": ["text", "| a | b |", "|---|--:|", "| 1 | 2,5 |", "", "| c |", "|---|"]})
    assert rows == [["a", "b"], ["1", "2,5"]]
    assert render.table({"body": ["| a | b |", "|---|--:|", "| 1 | 2,5 |", "", "| c |", "|---|"]}, 1) == [["c"]]
    assert render.number("**2.13x**") == 2.13 and render.number("1,371") == 1371.0
