import json
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
    latin1 = tmp_path / "latin1.de"
    latin1.write_bytes("eins\nzwei\nGrüße\n".encode("latin-1"))
    for load in (lambda: text_files.load_text_pairs(str(src), str(latin1)), lambda: text_files.load_tsv(str(latin1))):
        with pytest.raises(ValueError, match=r"latin1.de, line 3: expected UTF-8 text. Received byte b'\\xfc'"):
            load()


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


def test_news_is_deterministic_disjoint_and_summaries_restate_the_lead():
    from kseq2seq.datasets import news

    train, val, test = news.load_news(num_train=300, num_validation=30, num_test=30, seed=4)
    assert (train, val, test) == news.load_news(num_train=300, num_validation=30, num_test=30, seed=4)
    assert len({a for split in (train, val, test) for a, _ in split}) == 360
    for article, summary in train:
        first, second = summary.split("\n")
        person = " ".join(first.split()[:2])
        town = first.split()[-2]
        assert f"{person} , a " in article and f"from {town} ," in article
        assert second.startswith("mayor ") and f"the mayor of {town}" in article
    with pytest.raises(ValueError, match="num_test"):
        news.load_news(num_test=-1)


def _story_archives(root):
    """A tiny copy of the original CNN/DailyMail downloads: story archives and URL lists."""
    import hashlib
    import io
    import tarfile

    stories = {
        "all_train.txt": [("http://cnn.com/a1", "cnn", b"Alpha is first\n\nIt rained\n\n@highlight\n\nAlpha first")],
        "all_val.txt": [("http://dm.co.uk/b1", "dm", b"Beta story.\n\n@highlight\n\nBeta\n\n@highlight\n\nTwo"),
                        ("http://dm.co.uk/b2", "dm", b"\n\n@highlight\n\nno article")],
        "all_test.txt": [("http://cnn.com/c1", "cnn", b"Gamma one. Gamma two.\n\n@highlight\n\nGamma"),
                         ("http://cnn.com/c2", "cnn", b"\xff\xfe not utf-8")],
    }
    members = {"cnn": [], "dm": []}
    for url_file, items in stories.items():
        (root / url_file).write_text("".join(url + "\n" for url, _, _ in items))
        for url, publisher, data in items:
            members[publisher].append((hashlib.sha1(url.encode()).hexdigest() + ".story", data))
    for publisher, archive, folder in (("cnn", "cnn_stories.tgz", "cnn/stories"),
                                       ("dm", "dailymail_stories.tgz", "dailymail/stories")):
        with tarfile.open(root / archive, "w:gz") as tar:
            for name, data in members[publisher]:
                info = tarfile.TarInfo(f"{folder}/{name}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))


def test_cnn_dailymail_from_story_archives_through_tfds_offline(tmp_path, caplog):
    from kseq2seq.datasets.cnn_dailymail import load_cnn_dailymail

    manual, data_dir = tmp_path / "manual", str(tmp_path / "tfds")
    manual.mkdir()
    _story_archives(manual)
    with pytest.raises(FileNotFoundError, match="manual_dir"):
        load_cnn_dailymail("test", data_dir=data_dir)
    assert load_cnn_dailymail("train", data_dir=data_dir, manual_dir=str(manual)) == [
        ("Alpha is first. It rained.", "Alpha first.")
    ]
    assert "skipped 1 stories" in caplog.text  # the empty article and the non-UTF-8 story, one per split
    # Prepared once: later reads need only data_dir, through tfds' own reader.
    validation = kseq2seq.datasets.load("cnn_dailymail", split="validation", data_dir=data_dir)
    assert [(a.decode(), h.decode()) for a, h in validation.as_numpy_iterator()] == [("Beta story.", "Beta.\nTwo.")]
    _, _, test = kseq2seq.datasets.load("cnn_dailymail", data_dir=data_dir)
    assert [a.decode() for a, _ in test.as_numpy_iterator()] == ["Gamma one. Gamma two."]
    with pytest.raises(ValueError, match="split='dev'"):
        load_cnn_dailymail("dev", data_dir=data_dir)


def test_caption_jsonl_reads_images_beside_it_and_counts_bad_lines(tmp_path):
    from kseq2seq.datasets.images import caption_pairs, load_caption_jsonl

    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.png").write_bytes(b"\x89PNG fake")
    lines = [
        json.dumps({"image": "images/a.png", "captions": ["a dog .", "", "a cat ."], "split": "train"}),
        json.dumps({"image": "images/missing.png", "captions": ["x"], "split": "train"}),
        json.dumps({"image": "images/a.png", "captions": [], "split": "train"}),
        json.dumps({"image": "images/a.png", "captions": ["held out ."], "split": "validation"}),
        "{not json",
    ]
    (tmp_path / "captions.jsonl").write_text("\n".join(lines))
    examples, report = load_caption_jsonl(str(tmp_path / "captions.jsonl"), split="train")
    assert examples == [(b"\x89PNG fake", ["a dog .", "a cat ."])]
    assert report["bad"] == {"invalid_json": 1, "missing_image": 1, "no_captions": 1}
    assert caption_pairs(examples) == [(b"\x89PNG fake", "a dog ."), (b"\x89PNG fake", "a cat .")]
    with pytest.raises(ValueError, match="split='test'"):
        load_caption_jsonl(str(tmp_path / "captions.jsonl"), split="test")


def test_flickr8k_subset_through_the_caption_loader():
    from conftest import shared_data
    from kseq2seq.datasets.images import load_caption_jsonl

    path = shared_data("captioning", "captions.jsonl")
    train, report = load_caption_jsonl(path, split="train")
    validation, _ = load_caption_jsonl(path, split="validation")
    assert (len(train), len(validation), sum(report["bad"].values())) == (662, 100, 0)
    assert all(image.startswith(b"\xff\xd8\xff") and len(captions) == 5 for image, captions in train)
