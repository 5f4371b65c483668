import datetime

import pytest

import kseq2seq
from kseq2seq.datasets import dates, text_files


def test_dates_are_deterministic_disjoint_and_correct():
    train, val, test = dates.load_dates(num_train=500, num_validation=50, num_test=50, seed=7)
    assert (train, val, test) == dates.load_dates(num_train=500, num_validation=50, num_test=50, seed=7)
    assert train != dates.load_dates(num_train=500, num_validation=50, num_test=50, seed=8)[0]
    sources = [s for split in (train, val, test) for s, _ in split]
    assert len(set(sources)) == 600
    for source, target in train:
        day = datetime.date.fromisoformat(target)
        assert source in dates._formats(day)


def test_load_returns_string_pair_datasets():
    train, val, test = kseq2seq.datasets.load("dates", num_train=10, num_validation=2, num_test=3)
    assert [len(list(d)) for d in (train, val, test)] == [10, 2, 3]
    source, target = next(iter(train))
    assert source.dtype.name == "string" and len(target.numpy()) == 10
    with pytest.raises(ValueError, match="name='wmt'"):
        kseq2seq.datasets.load("wmt")


def test_text_pairs_and_misaligned_files(tmp_path):
    src, tgt, short = tmp_path / "a.en", tmp_path / "a.de", tmp_path / "b.de"
    src.write_text("one\ntwo\nthree\n", encoding="utf-8")
    tgt.write_text("eins\nzwei\ndrei\n", encoding="utf-8")
    short.write_text("eins\nzwei\n", encoding="utf-8")
    assert text_files.load_text_pairs(str(src), str(tgt)) == [("one", "eins"), ("two", "zwei"), ("three", "drei")]
    assert len(list(kseq2seq.datasets.load_text_pairs(str(src), str(tgt), limit=2))) == 2
    with pytest.raises(ValueError) as error:
        text_files.load_text_pairs(str(src), str(short))
    assert str(src) in str(error.value) and str(short) in str(error.value)
    assert "3 lines" in str(error.value) and "2 lines" in str(error.value)
    with pytest.raises(FileNotFoundError, match="target_file"):
        text_files.load_text_pairs(str(src), str(tmp_path / "missing"))


def test_tsv(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text('Go.\tGeh.\n"Hi"\tHallo\n\nbad row\n', encoding="utf-8")
    with pytest.raises(ValueError, match="line 4"):
        text_files.load_tsv(str(path))
    assert text_files.load_tsv(str(path), limit=2) == [("Go.", "Geh."), ('"Hi"', "Hallo")]


def test_summarization_jsonl_counts_bad_records_and_keeps_going(tmp_path):
    import json

    from kseq2seq.datasets import summarization

    good = {"id": "a1", "article": "one . two .", "highlights": "one"}
    lines = [
        json.dumps(good).encode(),
        b"{not json",
        b'{"article": "caf\xe9 .", "highlights": "x"}',  # Latin-1 byte: not UTF-8
        json.dumps({"article": "no summary"}).encode(),
        json.dumps({"article": "  ", "highlights": "x"}).encode(),
        json.dumps({"article": "text", "highlights": ""}).encode(),
        b"",
        json.dumps({"article": "three .", "highlights": "three"}).encode(),
    ]
    path = tmp_path / "data.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    pairs, ids, report = summarization.load_jsonl(str(path))
    assert pairs == [("one . two .", "one"), ("three .", "three")] and ids == ["a1", "8"]
    assert report["lines"] == 7 and report["kept"] == 2
    assert report["bad"] == {"not_utf8": 1, "invalid_json": 1, "missing_field": 1, "empty_article": 1,
                             "empty_summary": 1}
    bad_only = tmp_path / "bad.jsonl"
    bad_only.write_bytes(b"{not json\n")
    with pytest.raises(ValueError, match="invalid_json': 1"):
        summarization.load_jsonl(str(bad_only))
