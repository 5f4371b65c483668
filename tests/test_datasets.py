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
