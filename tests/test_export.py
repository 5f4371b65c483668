import json
import os
import subprocess
import sys

import numpy as np
import pytest

from kseq2seq import export as export_lib

HERE = os.path.dirname(__file__)
BEAM = {"num_beams": 3, "length_penalty": 0.6, "nbest": 2, "early_stopping": True}  # not the default: both ways are tested


@pytest.fixture(scope="module")
def exported(tiny_translator, tiny_dates, tmp_path_factory):
    path = str(tmp_path_factory.mktemp("export") / "dates" / "1")
    tiny_translator.export(path, formats=("saved_model", "tflite"), beam_config=BEAM)
    inputs = [s for s, _ in tiny_dates[:17]] + ["31 décembre 1999", "", "unknown ✓ text, longer than usual"]
    return path, inputs


def run_client(path, inputs, ids):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    request = json.dumps({"inputs": inputs, "ids": ids})
    result = subprocess.run([sys.executable, os.path.join(HERE, "serving_client.py"), path, request],
                            capture_output=True, text=True, env=env, timeout=300, cwd="/")
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.splitlines()[-1])


def test_round_trip_fresh_process_tf1_session_and_python_agree(tiny_translator, exported):
    path, inputs = exported
    assert len(inputs) == 20
    records = tiny_translator.generate(inputs, return_details=True)
    greedy, greedy_scores = [r.text for r in records], [r.score for r in records]
    records = tiny_translator.generate(inputs, sampler="beam", return_details=True, **BEAM)
    beam, beam_scores = [r.texts for r in records], [r.scores for r in records]
    source_ids = tiny_translator.preprocessor.tokenize_source(inputs[:4]).numpy()
    expected_ids = tiny_translator.generate_ids(source_ids).token_ids.numpy()[:, 0]

    served = run_client(path, inputs, source_ids.tolist())
    assert served["modules"] == []  # neither kseq2seq nor keras was imported
    for loader in ("tf2", "tf1"):
        assert served[loader]["serving_default"]["outputs"] == greedy, loader
        np.testing.assert_allclose(served[loader]["serving_default"]["scores"], greedy_scores, rtol=1e-4, atol=1e-5)
        assert served[loader]["beam_search"]["outputs"] == beam, loader
        np.testing.assert_allclose(served[loader]["beam_search"]["scores"], beam_scores, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(served["tf2"]["generate_ids"]["token_ids"], expected_ids)


@pytest.mark.large  # trains, exports or starts processes: kept out of the fast suite's 10 minutes
def test_saved_model_cli_run_gives_the_same_outputs(tiny_translator, exported, tmp_path):
    path, inputs = exported
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    for signature, expected in [("serving_default", tiny_translator.generate(inputs)),
                                ("beam_search", [r.texts for r in tiny_translator.generate(
                                    inputs, sampler="beam", return_details=True, **BEAM)])]:
        out_dir = tmp_path / signature
        result = subprocess.run(
            [cli, "run", "--dir", path, "--tag_set", "serve", "--signature_def", signature,
             "--input_exprs", f"inputs={inputs!r}", "--outdir", str(out_dir)],
            capture_output=True, text=True, timeout=300, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
        )
        assert result.returncode == 0, result.stderr[-3000:]
        outputs = np.load(out_dir / "outputs.npy", allow_pickle=True)
        decoded = np.vectorize(lambda b: b.decode("utf-8"), otypes=[object])(outputs).tolist()
        assert decoded == expected, signature


def test_metadata_describes_the_model(tiny_translator, exported):
    path, _ = exported
    with open(os.path.join(path, export_lib.METADATA_PATH), encoding="utf-8") as f:
        meta = json.load(f)
    assert meta["task"] == "Translator" and meta["preset"] == "bahdanau_gru_small"
    assert meta["special_token_ids"] == {"[PAD]": 0, "[UNK]": 1, "[START]": 2, "[END]": 3}
    assert meta["target_vocabulary"] == tiny_translator.preprocessor.target_tokenizer.vocabulary
    common = {"min_length": 0, "max_length": None, "allow_unknown": True}
    assert meta["signatures"]["beam_search"] == {"sampler": "beam", **BEAM, "rerank": False, **common}
    assert meta["signatures"]["serving_default"] == {"sampler": "greedy", **common}
    assert sorted(os.listdir(path)) == ["assets", "assets.extra", "fingerprint.pb", "saved_model.pb", "tflite", "variables"]
    assert sorted(os.listdir(os.path.join(path, "tflite"))) == [
        "kseq2seq.json", "model.tflite", "source_vocabulary.txt", "target_vocabulary.txt"]
    with open(os.path.join(path, "tflite", "target_vocabulary.txt"), encoding="utf-8") as f:
        assert f.read().split("\n")[:-1] == tiny_translator.preprocessor.target_tokenizer.vocabulary


def tflite_runners(model_path):
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(model_path=model_path)
    return interpreter.get_signature_runner("serving_default"), interpreter.get_signature_runner("beam_search")


def test_tflite_batch_one_matches_python_for_every_input(tiny_translator, exported):
    path, inputs = exported
    greedy, beam = tflite_runners(os.path.join(path, "tflite", "model.tflite"))
    for text in inputs:
        ids = tiny_translator.preprocessor.tokenize_source([text]).numpy()
        expected = tiny_translator.generate_ids(ids)
        out = greedy(encoder_token_ids=ids)
        np.testing.assert_array_equal(out["token_ids"], expected.token_ids.numpy()[:, 0], err_msg=text)
        np.testing.assert_allclose(out["scores"], expected.scores.numpy()[:, 0], rtol=1e-4, atol=1e-5)
        expected = tiny_translator.generate_ids(ids, sampler="beam", **BEAM)
        out = beam(encoder_token_ids=ids)
        np.testing.assert_array_equal(out["token_ids"], expected.token_ids.numpy(), err_msg=text)
        np.testing.assert_allclose(out["scores"], expected.scores.numpy(), rtol=1e-4, atol=1e-5)
    # the app-side detokenization with the shipped vocabulary gives generate's strings
    with open(os.path.join(path, "tflite", "target_vocabulary.txt"), encoding="utf-8") as f:
        vocabulary = f.read().split("\n")[:-1]
    ids = greedy(encoder_token_ids=tiny_translator.preprocessor.tokenize_source([inputs[0]]).numpy())["token_ids"][0]
    text = "".join(vocabulary[i] for i in ids[: list(ids).index(3)] if i > 3) if 3 in ids else None
    assert text == tiny_translator.generate([inputs[0]])[0]


def test_tflite_with_prefix_decodes_as_generate_ids_with_the_prefix(tiny_translator, exported):
    import tensorflow as tf

    path, inputs = exported
    with_prefix = tf.lite.Interpreter(model_path=os.path.join(path, "tflite", "model.tflite")).get_signature_runner(
        "with_prefix")
    target = tiny_translator.preprocessor.target_tokenizer
    for text, prefix in [(inputs[0], "20"), (inputs[5], "1999-1"), (inputs[-1], "0"), (inputs[2], "")]:
        ids = tiny_translator.preprocessor.tokenize_source([text]).numpy()
        prefix_ids = target.tokenize(tf.constant([prefix])).to_tensor(shape=[1, len(prefix)]).numpy().astype("int32")
        expected = tiny_translator.generate_ids(ids, prefix=prefix_ids)
        out = with_prefix(encoder_token_ids=ids, prefix=prefix_ids)
        np.testing.assert_array_equal(out["token_ids"], expected.token_ids.numpy()[:, 0], err_msg=text)
        np.testing.assert_allclose(out["scores"], expected.scores.numpy()[:, 0], rtol=1e-4, atol=1e-5)
        assert out["token_ids"][0][: len(prefix)].tolist() == prefix_ids[0].tolist()  # the forced ids first


@pytest.mark.large  # trains, exports or starts processes: kept out of the fast suite's 10 minutes
def test_tflite_quantization_shrinks_the_model(tiny_translator, exported, tmp_path):
    path, _ = exported
    full = os.path.getsize(os.path.join(path, "tflite", "model.tflite"))
    for mode in ("dynamic_range", "float16"):
        out = tiny_translator.export(str(tmp_path / mode), formats=("tflite",), tflite_quantization=mode)
        assert os.listdir(out) == ["tflite"]
        size = os.path.getsize(os.path.join(out, "tflite", "model.tflite"))
        assert size < full, mode
    with pytest.raises(ValueError, match="tflite_quantization='int4'"):
        tiny_translator.export(str(tmp_path / "q"), formats=("tflite",), tflite_quantization="int4")


def test_existing_versions_are_kept_and_failures_leave_nothing(tiny_translator, exported, tmp_path, monkeypatch):
    path, _ = exported
    before = sorted(os.listdir(path))
    with pytest.raises(FileExistsError, match="overwrite=True"):
        tiny_translator.export(path)
    assert sorted(os.listdir(path)) == before

    def fail_midway(task, default, beam):
        raise RuntimeError("interrupted while tracing")

    monkeypatch.setattr(export_lib, "build_archive", fail_midway)
    with pytest.raises(RuntimeError, match="interrupted"):
        tiny_translator.export(str(tmp_path / "m" / "1"))
    assert os.listdir(tmp_path / "m") == []
    monkeypatch.undo()

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(OSError):
        tiny_translator.export(str(blocker / "1"))  # unwritable target: its parent is a file
    assert blocker.read_text() == "not a folder"
    with pytest.raises(ValueError, match="formats='onnx'"):
        tiny_translator.export(str(tmp_path / "x"), formats=("onnx",))
    with pytest.raises(ValueError, match="nbest=5"):
        tiny_translator.export(str(tmp_path / "x"), beam_config={"num_beams": 2, "nbest": 5})
    assert not os.path.exists(tmp_path / "x")
