import json
import logging
import os
import subprocess
import sys

import pytest

from kseq2seq import runtime

# Runs `kseq2seq train` through the CLI's main in a fresh process (TensorFlow's patch is once per process),
# then reports, from inside that process, how it allocates now and a digest of the trained weights.
TRAIN_AND_PROBE = """
import hashlib, json, sys
from kseq2seq import cli, load, runtime
code = cli.main(sys.argv[1:])
weights = load(sys.argv[sys.argv.index("--output") + 1]).get_weights()
print(json.dumps({"code": code, "churn": runtime.malloc_churn_by_size(),
                  "digest": hashlib.sha256(b"".join(w.tobytes() for w in weights)).hexdigest()}))
"""


def train_and_probe(tmp_path, mode):
    output = str(tmp_path / f"model_{mode}")
    command = [sys.executable, "-c", TRAIN_AND_PROBE, "train", "--preset", "bahdanau_gru_small", "--dataset", "dates",
               "--limit", "256", "--set", "units=32", "--set", "embedding_dim=16", "--epochs", "1",
               "--batch-size", "32", "--max-steps", "6", "--output", output]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TF_DETERMINISTIC_OPS="1", KSEQ2SEQ_MALLOC=mode)
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    print(mode, result.stdout.strip().splitlines()[-1])
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.large  # several trainings or processes end to end: kept out of the fast suite's 10 minutes
def test_train_runs_with_sound_malloc_thresholds_and_trains_bit_identically(tmp_path):
    fixed, kept = train_and_probe(tmp_path, "sound"), train_and_probe(tmp_path, "tensorflow")
    assert fixed["code"] == kept["code"] == 0
    # TensorFlow's patch (kept on request) maps some block size afresh on every use: its pages fault again.
    assert max(kept["churn"].values()) > 0.5, kept["churn"]
    # With the fix, blocks of every size up to the thresholds are reused: no page faults again.
    assert max(fixed["churn"].values()) < 0.05, fixed["churn"]
    assert fixed["digest"] == kept["digest"]


def test_settle_malloc_is_idempotent_and_reports_the_mode(monkeypatch):
    assert runtime.settle_malloc() in ("sound", "unsupported")
    assert runtime.settle_malloc() == runtime.settle_malloc()
    monkeypatch.setenv("KSEQ2SEQ_MALLOC", "jemalloc")
    with pytest.raises(ValueError, match=r"Expected KSEQ2SEQ_MALLOC among \['sound', 'tensorflow'\]. "
                                         r"Received: KSEQ2SEQ_MALLOC='jemalloc'"):
        runtime.malloc_mode()


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu sse2 avx2 avx512f\n\n")
    assert runtime.cpu_flags(str(cpuinfo)) == {"fpu", "sse2", "avx2", "avx512f"}
    assert runtime.cpu_flags(str(tmp_path / "absent")) == frozenset()


@pytest.mark.parametrize("flags, policy, warned", [
    ({"avx2", "fma"}, "mixed_bfloat16", True),
    ({"avx2", "avx512f", "avx512_bf16"}, "mixed_bfloat16", False),
    ({"avx2", "amx_bf16", "amx_tile"}, "mixed_bfloat16", False),
    ({"avx2", "fma"}, "float32", False),
    ({"avx2", "fma"}, "mixed_float16", False),
    (set(), "mixed_bfloat16", False),  # flags unknown (no /proc/cpuinfo): no guess
])
def test_bfloat16_on_a_cpu_without_bf16_instructions_warns(caplog, flags, policy, warned):
    with caplog.at_level(logging.WARNING, logger="kseq2seq.runtime"):
        assert runtime.warn_if_bfloat16_emulated(policy, flags=frozenset(flags)) is warned
    messages = [r.getMessage() for r in caplog.records if r.name == "kseq2seq.runtime"]
    if warned:
        assert messages == [
            "mixed_bfloat16 on a CPU without bfloat16 instructions (no avx512_bf16 or amx_bf16 in its flags): "
            "bfloat16 math is emulated, and training measured 0.82x the float32 speed on such a CPU. Use float32 "
            "here; CPUs with avx512_bf16 or AMX gain (docs/training.md)."]
    else:
        assert messages == []


def test_the_trainer_warns_for_a_mixed_bfloat16_task_on_a_cpu_without_bf16(monkeypatch, caplog):
    import keras

    import kseq2seq
    from kseq2seq.training import Trainer

    monkeypatch.setattr(runtime, "cpu_flags", lambda path="/proc/cpuinfo": frozenset({"avx2", "fma"}))
    runtime._warn_once.cache_clear()
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        task = kseq2seq.Translator.from_preset("bahdanau_gru_small", train_texts=[("a b", "b a")], units=8,
                                               embedding_dim=4)
        with caplog.at_level(logging.WARNING, logger="kseq2seq.runtime"):
            Trainer(task)
            Trainer(task)  # once per process, not per trainer
    finally:
        keras.mixed_precision.set_global_policy("float32")
    warnings = [r for r in caplog.records if r.name == "kseq2seq.runtime"]
    assert len(warnings) == 1 and warnings[0].getMessage().startswith("mixed_bfloat16 on a CPU without bfloat16")
    runtime._warn_once.cache_clear()
