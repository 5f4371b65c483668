"""The task core: every task's exports decode as its `generate` does; a new task needs no package change;
saved tasks restore through `kseq2seq.load` and `from_preset(folder)`."""

import base64
import io
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import kseq2seq
from kseq2seq import cli
from kseq2seq.tasks.registry import register_task, unregister_task

HERE = os.path.dirname(__file__)


def run_client(requests, tmp_path):
    """Answers every request in one fresh process where kseq2seq and keras cannot be imported."""
    file = tmp_path / "requests.json"
    file.write_text(json.dumps(requests))
    result = subprocess.run([sys.executable, os.path.join(HERE, "serving_client.py"), "--requests", str(file)], capture_output=True,
                            text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"), timeout=300, cwd="/")
    assert result.returncode == 0, result.stderr[-3000:]
    served = json.loads(result.stdout.splitlines()[-1])
    assert served["modules"] == []  # neither kseq2seq nor keras was imported
    return served["results"]


def _dates():
    from kseq2seq.datasets.dates import load_dates

    return load_dates(num_train=64, num_validation=1, num_test=12, seed=4)


def translator_beam_controls():
    train, _, test = _dates()
    task = kseq2seq.Translator.from_preset("bahdanau_lstm_base", train_texts=train, units=8, embedding_dim=4,
                                           num_encoder_layers=1, tokenizer="char", max_length=12)
    # The decoding controls live in the generation config, so every export decodes with them too.
    task.generation_config = task.generation_config.replace(no_repeat_ngram_size=2, repetition_penalty=1.5,
                                                            bad_words=("9", "0 1"))
    return task, [s for s, _ in test] + [""]


def summarizer_min_length():
    from kseq2seq.datasets.news import load_news

    train, _, test = load_news(num_train=32, num_validation=1, num_test=4, seed=2)
    task = kseq2seq.Summarizer.from_preset("pointer_generator", train_texts=train, units=8, embedding_dim=4,
                                           source_length=40, max_length=40)
    assert task.generation_config.min_length == 35  # the preset's
    return task, [a for a, _ in test]


def photo_captioner():
    from kseq2seq.datasets.shapes import load_shapes

    train, _, test = load_shapes(num_train=32, num_validation=1, num_test=4, seed=3)
    task = kseq2seq.Captioner.from_preset("show_attend_tell_photos", train_texts=train, image_size=32, filters=4,
                                          units=8, embedding_dim=4, min_count=1)
    config = task.generation_config
    assert not config.allow_unknown and config.sampler == "beam" and config.num_beams == 3
    # Unknown words must be likely for allow_unknown=False to decide anything: make [UNK] win everywhere.
    bias = task.backbone.decoder.output_projection.bias
    bias.assign(tf.tensor_scatter_nd_update(bias, [[1]], [50.0]))
    return task, [image for image, _ in test]


def sampling_responder():
    from kseq2seq.datasets.dialogue import load_shop_dialogues

    train, _, test = load_shop_dialogues(num_train=32, num_validation=1, num_test=4, seed=5)
    task = kseq2seq.Responder.from_preset("gru_dialogue_small", train_texts=train, units=8, embedding_dim=4, seed=7)
    assert task.generation_config.sampler == "sample" and task.generation_config.seed == 7
    return task, [turns for turns, _ in test]


TASKS = {"translator_beam_controls": translator_beam_controls, "summarizer_min_length": summarizer_min_length,
         "photo_captioner": photo_captioner, "sampling_responder": sampling_responder}


def _export_request(task, inputs, path):
    batch = task.format_sources(inputs)
    binary = isinstance(batch[0], bytes)
    encoder_inputs = [task.preprocessor.encode_source(tf.constant([item]))[0] for item in batch]
    names = task.preprocessor.encoder_input_names  # what id-level signatures take (masks come from the ids)
    return encoder_inputs, {
        "saved_model": path, "binary": binary,
        "inputs": [base64.b64encode(b).decode() for b in batch] if binary else batch,
        "tflite": os.path.join(path, "tflite", "model.tflite"),
        "tflite_inputs": [{k: x[k].numpy().tolist() for k in names} for x in encoder_inputs],
        "tflite_dtype": "float32" if binary else "int32",
    }


@pytest.fixture(scope="module")
def exported_tasks(tmp_path_factory):
    """Each task of TASKS exported (SavedModel and TFLite), and what a fresh process decodes with the exports."""
    tasks, requests = {}, []
    for name, make in TASKS.items():
        keras.utils.set_random_seed(21)
        task, inputs = make()
        path = task.export(str(tmp_path_factory.mktemp(name) / "1"), formats=("saved_model", "tflite"))
        encoder_inputs, request = _export_request(task, inputs, path)
        tasks[name] = (task, inputs, encoder_inputs, path)
        requests.append(request)
    return tasks, dict(zip(TASKS, run_client(requests, tmp_path_factory.mktemp("client"))))


@pytest.mark.large  # trains, exports or starts processes: kept out of the fast suite's 10 minutes
@pytest.mark.parametrize("name", list(TASKS))
def test_exports_decode_exactly_as_generate_with_the_presets_defaults(exported_tasks, name):
    tasks, served = exported_tasks
    task, inputs, encoder_inputs, path = tasks[name]
    records = task.generate(inputs, return_details=True)
    beam = task.generate(inputs, sampler="beam", return_details=True)
    saved = served[name]["saved_model"]
    assert saved["serving_default"]["outputs"] == [r.text for r in records]
    np.testing.assert_allclose(saved["serving_default"]["scores"], [r.score for r in records], rtol=1e-4, atol=1e-5)
    assert saved["beam_search"]["outputs"] == [r.texts for r in beam]
    for x, lite in zip(encoder_inputs, served[name]["tflite"]):
        expected = task.generate_ids(x).token_ids.numpy()
        np.testing.assert_array_equal(lite["serving_default"], expected[:, 0])
        np.testing.assert_array_equal(lite["beam_search"], task.generate_ids(x, sampler="beam").token_ids.numpy())
    with open(os.path.join(path, "assets.extra", "kseq2seq.json"), encoding="utf-8") as f:
        signatures = json.load(f)["signatures"]
    assert signatures["serving_default"] == task.generation_config.describe()


@pytest.mark.large  # shares the exports of the test above (its fixture is the slow part)
def test_the_photo_preset_rules_out_unknown_words_in_its_exports(exported_tasks):
    tasks, served = exported_tasks
    task, images, _, _ = tasks["photo_captioner"]
    assert all("[UNK]" in caption for caption in task.generate(images, allow_unknown=True))
    captions = task.generate(images)
    assert not any("[UNK]" in caption for caption in captions)
    assert served["photo_captioner"]["saved_model"]["serving_default"]["outputs"] == captions


# --- a new task, defined here and registered: the package needs no change -------------------------
def _reverse(strings):
    characters = tf.strings.unicode_split(strings, "UTF-8").to_tensor("")
    return tf.strings.reduce_join(tf.reverse(characters, axis=[1]), axis=1)


@keras.saving.register_keras_serializable(package="test_task_core")
class ReversingPreprocessor(kseq2seq.Seq2SeqPreprocessor):
    """Reads each source back to front (in graph), so a model that copies its input learns to reverse it."""

    def _source_tokens(self, source):
        return super()._source_tokens(_reverse(tf.convert_to_tensor(source, tf.string)))


@keras.saving.register_keras_serializable(package="test_task_core")
class Reverser(kseq2seq.Seq2SeqTask):
    presets = {"reverser_tiny": {
        **kseq2seq.Translator.presets["bahdanau_gru_small"],
        "preprocessor": "reversing", "units": 16, "embedding_dim": 8, "source_length": 12, "target_length": 12,
        "max_length": 12, "epochs": 4, "batch_size": 16, "learning_rate": 1e-2,
    }}
    preprocessors = {"reversing": ReversingPreprocessor}


def _reversal_pairs(options):
    with open(options.data, encoding="utf-8") as f:
        words = f.read().split()
    return [(word, word[::-1]) for word in words], None


@pytest.fixture
def reversal_task():
    register_task("reversal", Reverser, train_data=_reversal_pairs, description="text reversed")
    yield
    unregister_task("reversal")


def run(argv):
    out = io.StringIO()
    code = cli.main(argv, out=out)
    return code, out.getvalue()


@pytest.mark.large  # trains, exports or starts processes: kept out of the fast suite's 10 minutes
def test_a_task_defined_outside_the_package_trains_generates_and_exports_through_the_cli(reversal_task, tmp_path):
    rng = np.random.RandomState(0)
    words = ["".join(rng.choice(list("abcdef"), rng.randint(2, 6))) for _ in range(400)]
    data = tmp_path / "words.txt"
    data.write_text(" ".join(words))
    model_dir = str(tmp_path / "reverser")
    code, output = run(["train", "--task", "reversal", "--preset", "reverser_tiny", "--data", str(data),
                        "--output", model_dir])
    assert code == 0, output
    task = kseq2seq.load(model_dir)
    assert type(task) is Reverser and type(task.preprocessor) is ReversingPreprocessor
    inputs = ["abc", "fedcb", "aabbc", "dcef"]
    expected = task.generate(inputs)
    assert sum(out == text[::-1] for out, text in zip(expected, inputs)) >= 3, expected  # it learned to reverse
    code, output = run(["generate", "--model", model_dir, *inputs])
    assert code == 0 and output.splitlines() == expected
    version = str(tmp_path / "serving" / "1")
    code, output = run(["export", "--model", model_dir, "--output", version, "--formats", "saved_model,tflite"])
    assert code == 0 and sorted(os.listdir(os.path.join(version, "tflite")))[:2] == ["kseq2seq.json", "model.tflite"]
    served = tf.saved_model.load(version).signatures["serving_default"](inputs=tf.constant(inputs))
    assert [o.decode() for o in served["outputs"].numpy()] == expected
    code, _ = run(["export", "--model", model_dir, "--output", str(tmp_path / "x"), "--formats", "onnx"])
    assert code == 2 and not os.path.exists(tmp_path / "x")


def test_unregistered_tasks_are_named_in_the_error(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--task", "reversal", "--preset", "p", "--output", "o"])
    assert "invalid choice: 'reversal'" in capsys.readouterr().err


# --- saving ---------------------------------------------------------------------------------------
def test_saved_preset_folders_restore_the_trained_task(tiny_translator, tiny_dates, tmp_path):
    folder = tiny_translator.save_to_preset(str(tmp_path / "preset"))
    sources = [s for s, _ in tiny_dates[:10]]
    expected = tiny_translator.generate(sources)
    restored = kseq2seq.Translator.from_preset(folder)
    assert type(restored) is kseq2seq.Translator and restored.generate(sources) == expected
    assert kseq2seq.load(folder).generate(sources) == expected
    assert run(["generate", "--model", folder, *sources])[1].splitlines() == expected
    beam = kseq2seq.Seq2SeqTask.from_preset(folder, sampler="beam", num_beams=3)
    assert beam.generation_config.sampler == "beam"
    assert beam.generate(sources) == tiny_translator.generate(sources, sampler="beam", num_beams=3)
    with pytest.raises(ValueError, match="Expected a Summarizer"):
        kseq2seq.Summarizer.from_preset(folder)
    with pytest.raises(ValueError, match=r"only decoding options.*\['units'\]"):
        kseq2seq.Translator.from_preset(folder, units=4)
    with pytest.raises(ValueError, match="no train_texts"):
        kseq2seq.Translator.from_preset(folder, train_texts=tiny_dates)
    with pytest.raises(FileExistsError):
        tiny_translator.save_to_preset(folder)
    with pytest.raises(FileNotFoundError, match="task folder"):
        kseq2seq.load(str(tmp_path / "missing"))


def test_generation_config_is_validated_once_and_names_the_option():
    config = kseq2seq.GenerationConfig(sampler="beam", num_beams=4, nbest=2)
    assert config.replace(sampler="greedy").nbest == 1  # an n-best list is beam search's
    assert config.replace(num_beams=None) == config  # None leaves an option as it is
    for bad, message in [({"num_beams": 0}, "num_beams"), ({"nbest": 5}, "nbest=5"), ({"top_p": 2.0}, "top_p"),
                         ({"sampler": "nucleus"}, "sampler='nucleus'"), ({"allow_unknown": "no"}, "allow_unknown"),
                         ({"seed": 1.5}, "seed=1.5"), ({"rerank": 1}, "rerank"), ({"beams": 3}, "unknown: \\['beams'\\]")]:
        with pytest.raises(ValueError, match=message):
            config.replace(**bad)
    assert kseq2seq.GenerationConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown"):
        kseq2seq.GenerationConfig.from_dict({"sampler": "greedy", "beam": 2})


def test_rerank_needs_a_task_with_a_reranker(tiny_translator):
    with pytest.raises(ValueError, match="Translator has no reranker. Received: rerank=True"):
        tiny_translator.generate(["3 May 2001"], sampler="beam", rerank=True)


def test_prefixes_bad_words_and_ngram_controls_reach_generate(tiny_translator):
    sources = ["3 May 2001", "December 24, 1999", "12/07/1987"]
    plain = tiny_translator.generate(sources, return_details=True)
    assert all(len(r.text) == 10 for r in plain)  # dates, of which the first 5 characters are forced below
    # Forcing the tokens the model would choose anyway changes no output; forced tokens add 0 to the score
    # (log-probabilities are those of the controlled distribution), so scores rise.
    forced = tiny_translator.generate(sources, prefix=[r.text[:5] for r in plain], return_details=True)
    assert [r.text for r in forced] == [r.text for r in plain]
    assert all(f.score > p.score for f, p in zip(forced, plain))
    assert [t[:5] for t in tiny_translator.generate(sources, prefix="2024-")] == ["2024-"] * 3
    for sampler in ("greedy", "beam", "sample"):
        for text in tiny_translator.generate(sources, sampler=sampler, no_repeat_ngram_size=1, bad_words=["-"]):
            assert "-" not in text and len(set(text)) == len(text), (sampler, text)
    with pytest.raises(ValueError, match=r"one prefix per input \(3\). Received: 2"):
        tiny_translator.generate(sources, prefix=["a", "b"])
    with pytest.raises(ValueError, match="bad_words"):
        tiny_translator.generate(sources, bad_words=[" "])


def test_blank_inputs_give_empty_outputs_not_invented_ones(tiny_translator):
    records = tiny_translator.generate(["", "  \t", "3 May 2001"], return_details=True)
    assert [(r.text, r.score, r.output_tokens) for r in records[:2]] == [("", 0.0, ["[END]"])] * 2
    assert records[2].text == tiny_translator.generate(["3 May 2001"])[0] != ""
    beam = tiny_translator.generate([" "], sampler="beam", num_beams=3, nbest=2, return_details=True)[0]
    assert beam.texts == ["", ""] and beam.scores == [0.0, 0.0]
