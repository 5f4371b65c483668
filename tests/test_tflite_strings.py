"""The string-in/string-out TFLite model: its tokenizer and detokenizer equal ours; its outputs equal `generate`."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import kseq2seq
from kseq2seq import tflite_strings
from kseq2seq.tokenizers import END_ID, PAD_ID, START_ID

CORPUS = ["A man in a T - shirt (blue) rides a bike.", "Two dogs run; one jumps!", "Is it 5 $ or 10+2=12?",
          "Kids play soccer, outside.", "A woman's hat is red-and-white.", "x - ray, 3-D (A) and [b]"]
TEXTS = ["A man rides a bike.", "Two dogs, one man (old) - and kids!", "T-shirt: 5$ + tip?", "", "   ",
         "a\u00a0b\u3000c\u2028d", "Unseen wörds ÷ here", "(x) - y - z", "a -- b", "end .", "[UNK] man",
         "A man in a T - shirt (blue) rides a bike.", "x-ray", "Dogs; cats: birds", "?!", "12 - 3",
         "Kids play soccer outside", "ein Mann", "woman's hat", "A dog"]

# The string model's with_prefix signature, per text: forced target prefixes (the targets are upper case).
PREFIXES = ["A MAN," if i % 3 else "" for i in range(len(TEXTS))]


@pytest.fixture(scope="module")
def translator():
    keras.utils.set_random_seed(7)
    pairs = [(text, text.upper()) for text in CORPUS] * 4
    task = kseq2seq.Translator.from_preset("multi30k_gru_wordpiece", train_texts=pairs, max_vocabulary_size=120,
                                           embedding_dim=8, units=8, source_length=12, max_length=10,
                                           min_length=6)  # barely trained: min_length makes it write tokens
    task.fit(task.make_dataset(pairs, batch_size=8).repeat(), steps_per_epoch=3, epochs=1, verbose=0)
    return task


def _tflite(codec, function, spec, folder):
    """`function` of one input (`spec`) converted as the export converts (builtins + tensorflow-text's ops)."""
    module = tf.Module()
    module.tokenizers = [codec.tokenizer, codec.detokenizer]
    module.function = tf.function(function, input_signature=[spec])
    tf.saved_model.save(module, str(folder), signatures={"serving_default": module.function})
    converter = tf.lite.TFLiteConverter.from_saved_model(str(folder))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    converter.allow_custom_ops = True
    return tflite_strings.interpreter(converter.convert()).get_signature_runner()


def test_tflite_tokenizer_gives_our_ids(translator, tmp_path):
    codec = tflite_strings.StringCodec(translator.preprocessor)
    runner = _tflite(codec, lambda text: dict(zip(("ids", "count"), codec.encode(text))),
                     tf.TensorSpec([1], tf.string, name="text"), tmp_path)
    for text in TEXTS + CORPUS:
        ours, _ = translator.preprocessor.encode_source(tf.constant([text]))
        got = runner(text=np.array([text]))
        expected = ours["encoder_token_ids"].numpy()
        assert got["ids"].tolist() == expected.tolist(), text
        assert int(got["count"]) == int((expected != 0).sum()), text


def test_tflite_detokenizer_writes_our_text_for_random_ids(translator, tmp_path):
    codec = tflite_strings.StringCodec(translator.preprocessor)
    runner = _tflite(codec, lambda ids: {"text": codec.decode(ids)},
                     tf.TensorSpec([1, None], tf.int32, name="ids"), tmp_path)
    vocabulary = translator.preprocessor.target_tokenizer.vocabulary
    punctuation = [vocabulary.index(t) for t in (".", ",", "-", "(", ")", "!", "?", ";", "$") if t in vocabulary]
    rng = np.random.default_rng(0)
    for trial in range(300):
        length = rng.integers(0, 12)
        ids = rng.choice(np.r_[np.arange(1, len(vocabulary)), np.repeat(punctuation, 4)], length)
        if trial % 5 == 0 and length:
            ids[rng.integers(0, length)] = rng.choice([END_ID, PAD_ID, START_ID])
        ids = np.r_[ids, END_ID, rng.integers(4, len(vocabulary), 2)].astype(np.int32)[np.newaxis]
        expected = translator.preprocessor.target_tokenizer.detokenize(tf.constant(ids)).numpy()[0]
        assert runner(ids=ids)["text"][0] == expected, [vocabulary[i] for i in ids[0]]


SCRIPT = """
import json, sys
import numpy as np
import tensorflow_text
from tensorflow.lite.python.interpreter import InterpreterWithCustomOps
model = InterpreterWithCustomOps(model_path=sys.argv[1],
                                 custom_op_registerers=tensorflow_text.tflite_registrar.SELECT_TFTEXT_OPS)
answers = {}
texts, prefixes = json.loads(sys.argv[2]), json.loads(sys.argv[3])
for name in ("serving_default", "beam_search", "with_prefix"):
    run = model.get_signature_runner(name)
    extra = lambda i: {"prefix": np.array([prefixes[i]])} if name == "with_prefix" else {}
    answers[name] = [{key: np.asarray(value).tolist() for key, value in run(inputs=np.array([text]),
                                                                            **extra(i)).items()}
                     for i, text in enumerate(texts)]
assert not [m for m in sys.modules if m.startswith("kseq2seq")]
print(json.dumps(answers, default=lambda b: b.decode("utf-8")))
"""


@pytest.mark.large  # trains, exports or starts processes: kept out of the fast suite's 10 minutes
def test_string_tflite_equals_generate_in_a_process_without_kseq2seq(translator, tmp_path):
    path = translator.export(str(tmp_path / "1"), formats=("tflite",), beam_config={"num_beams": 3, "nbest": 2})
    with open(os.path.join(path, "tflite", "kseq2seq.json"), encoding="utf-8") as f:
        assert json.load(f)["strings_model"] == "strings.tflite"
    result = subprocess.run([sys.executable, "-c", SCRIPT, os.path.join(path, "tflite", "strings.tflite"),
                             json.dumps(TEXTS), json.dumps(PREFIXES)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    answers = json.loads(result.stdout.splitlines()[-1])
    greedy = translator.generate(TEXTS, return_details=True)
    beam = translator.generate(TEXTS, return_details=True, sampler="beam", num_beams=3, nbest=2)
    assert len({g.text for g in greedy}) >= 10  # varied outputs: pieces, punctuation, [UNK]
    for text, got, expected in zip(TEXTS, answers["serving_default"], greedy):
        assert got["outputs"] == [expected.text], text
        np.testing.assert_allclose(got["scores"], [expected.score], atol=1e-4)
    for text, got, expected in zip(TEXTS, answers["beam_search"], beam):
        assert got["outputs"] == [expected.texts], text
        np.testing.assert_allclose(got["scores"], [expected.scores], atol=1e-4)
    prefixed = translator.generate(TEXTS, return_details=True, prefix=PREFIXES)
    forced = [p.text for p, prefix, text in zip(prefixed, PREFIXES, TEXTS) if prefix and text.strip()]
    assert len(forced) >= 10 and all(t.startswith("A MAN,") for t in forced), forced  # blank input stays ""
    for text, got, expected in zip(TEXTS, answers["with_prefix"], prefixed):
        assert got["outputs"] == [expected.text], text
        np.testing.assert_allclose(got["scores"], [expected.score], atol=1e-4)


def test_models_without_wordpiece_get_the_ids_model_only_and_say_why(tiny_translator, tmp_path, caplog):
    path = tiny_translator.export(str(tmp_path / "1"), formats=("tflite",))
    with open(os.path.join(path, "tflite", "kseq2seq.json"), encoding="utf-8") as f:
        info = json.load(f)
    assert info["strings_model"] is None
    assert info["strings_model_unsupported"].startswith("its tokenizers are not WordPiece")
    assert "No string-in/string-out TFLite model (only the ids model): its tokenizers" in caplog.text
    assert sorted(os.listdir(os.path.join(path, "tflite")))[:2] == ["kseq2seq.json", "model.tflite"]
