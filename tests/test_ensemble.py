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
from kseq2seq.tokenizers import END_ID, PAD_ID, START_ID

HERE = os.path.dirname(__file__)
SOURCES = ["3 May 2001", "December 24, 1999", "12/07/1987", ""]


@pytest.fixture(scope="module")
def members(tiny_dates):
    """Two untrained translators with the same vocabularies and different backbones (GRU and LSTM)."""
    keras.utils.set_random_seed(5)
    gru = kseq2seq.Translator.from_preset("bahdanau_gru_small", train_texts=tiny_dates, units=16, embedding_dim=8)
    lstm = kseq2seq.Translator.from_preset("bahdanau_gru_small", train_texts=tiny_dates, units=12, embedding_dim=8,
                                           cell_type="lstm", max_length=12)
    return gru, lstm


def test_a_model_ensembled_with_itself_decodes_as_the_model(members):
    model = members[0]
    pair = kseq2seq.ensemble([model, model])
    for options in ({}, {"sampler": "beam", "num_beams": 3, "nbest": 2}, {"sampler": "sample", "seed": 3}):
        alone = model.generate(SOURCES, return_details=True, **options)
        both = pair.generate(SOURCES, return_details=True, **options)
        assert [r.texts for r in both] == [r.texts for r in alone]
        np.testing.assert_allclose([r.scores for r in both], [r.scores for r in alone], rtol=1e-5)


def test_each_step_takes_the_mean_of_the_members_log_probabilities(members):
    pair = kseq2seq.ensemble(members)
    encoder_inputs, _ = pair.preprocessor.encode_source(tf.constant(SOURCES))
    # The first step from scratch, each member alone:
    tokens = tf.fill([len(SOURCES)], START_ID)
    own = []
    for member in members:
        m_memory, m_state = member.backbone.encode(encoder_inputs)
        own.append(tf.nn.log_softmax(member.backbone.step(tokens, m_state, m_memory)[0]).numpy())
    memory, state = pair.backbone.encode(encoder_inputs)
    np.testing.assert_allclose(pair.backbone.step(tokens, state, memory)[0].numpy(), np.mean(own, axis=0),
                               rtol=1e-5, atol=1e-6)
    # ... and greedy search over the mean agrees with a step-by-step loop over the members.
    ids = pair.generate_ids(encoder_inputs).token_ids.numpy()[:, 0]
    states = [member.backbone.encode(encoder_inputs) for member in members]
    tokens, loop = tf.fill([len(SOURCES)], START_ID), []
    for _ in range(3):
        steps = [m.backbone.step(tokens, s, mem) for m, (mem, s) in zip(members, states)]
        states = [(mem, step[1]) for (mem, _), step in zip(states, steps)]
        mean = np.mean([tf.nn.log_softmax(step[0]).numpy() for step in steps], axis=0)
        mean[:, [PAD_ID, START_ID]] = -np.inf  # never correct outputs: generate_ids rules them out
        tokens = tf.constant(mean.argmax(axis=-1), tf.int32)
        loop.append(tokens.numpy())
    loop = np.stack(loop, axis=1)
    loop[np.cumsum(np.cumsum(loop == END_ID, axis=1), axis=1) > 1] = 0  # padding after [END]
    np.testing.assert_array_equal(ids[:, :3], loop)


def test_members_must_share_class_and_vocabularies(members, tiny_dates):
    other = kseq2seq.Translator.from_preset("bahdanau_gru_small", train_texts=tiny_dates[:20], units=8)
    with pytest.raises(ValueError, match=r"members\[1\] differs from members\[0\] in \['source_vocabulary'"):
        kseq2seq.ensemble([members[0], other])
    with pytest.raises(ValueError, match="at least 2 tasks"):
        kseq2seq.ensemble([members[0]])


def test_the_ensemble_exports_and_the_cli_decodes_with_several_models(members, tmp_path):
    pair = kseq2seq.ensemble(members)
    version = pair.export(str(tmp_path / "ensemble" / "1"))
    file = tmp_path / "requests.json"
    file.write_text(json.dumps([{"saved_model": version, "inputs": SOURCES}]))
    result = subprocess.run([sys.executable, os.path.join(HERE, "serving_client.py"), "--requests", str(file)],
                            capture_output=True, text=True, timeout=300, cwd="/",
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert result.returncode == 0, result.stderr[-3000:]
    saved = json.loads(result.stdout.splitlines()[-1])["results"][0]["saved_model"]
    assert saved["serving_default"]["outputs"] == pair.generate(SOURCES)
    beam = pair.generate(SOURCES, sampler="beam", return_details=True)
    assert saved["beam_search"]["outputs"] == [r.texts for r in beam]

    from kseq2seq.cli import main

    paths = [kseq2seq.saving.save(m, str(tmp_path / f"m{i}"), {}, overwrite=True) for i, m in enumerate(members)]
    out = io.StringIO()
    assert main(["generate", "--model", paths[0], "--model", paths[1], *SOURCES[:3]], out=out) == 0
    assert out.getvalue().splitlines() == pair.generate(SOURCES[:3])
