import os

import pytest

from kseq2seq import utils


def test_argument_checks_name_the_argument():
    assert utils.check_positive_int("n", 3) == 3
    with pytest.raises(ValueError, match=r"Expected num_beams to be an integer >= 1. Received: num_beams=0"):
        utils.check_positive_int("num_beams", 0)
    with pytest.raises(ValueError, match="flag=True"):
        utils.check_positive_int("flag", True)
    with pytest.raises(ValueError, match=r"top_p in \[0.0, 1.0\]. Received: top_p=1.5"):
        utils.check_fraction("top_p", 1.5, include_high=True)
    with pytest.raises(ValueError, match="mode='x'"):
        utils.check_one_of("mode", "x", {"a", "b"})


def test_atomic_directory_writes_and_refuses_to_overwrite(tmp_path):
    target = str(tmp_path / "out" / "1")

    def write(folder):
        with open(os.path.join(folder, "f.txt"), "w") as f:
            f.write("new")

    utils.atomic_directory(target, write)
    assert os.listdir(target) == ["f.txt"]
    with pytest.raises(FileExistsError, match="overwrite=True"):
        utils.atomic_directory(target, write)
    utils.atomic_directory(target, write, overwrite=True)
    assert sorted(os.listdir(tmp_path / "out")) == ["1"]


def test_failure_midway_leaves_nothing_behind(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")

    def write_then_fail(folder):
        with open(os.path.join(folder, "partial.bin"), "w") as f:
            f.write("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        utils.atomic_directory(str(target), write_then_fail, overwrite=True)
    assert os.listdir(tmp_path) == ["out"] and os.listdir(target) == ["old.txt"]
    with pytest.raises(RuntimeError):
        utils.atomic_directory(str(tmp_path / "new"), write_then_fail)
    assert sorted(os.listdir(tmp_path)) == ["out"]
