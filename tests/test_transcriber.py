"""The Transcriber task: speech data sets, generation from WAV bytes or floats, exports, the demo and FSDD."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import kseq2seq
from kseq2seq.datasets import speech
from kseq2seq.datasets.spoken_numbers import load_spoken_numbers
from kseq2seq.layers.audio_encoders import reduced_length
from kseq2seq.preprocessors.audio import read_wav, wav_bytes
from kseq2seq.tasks.speech_io import error_rates

from conftest import shared_data


def test_docstring_examples_run():
    import doctest

    from kseq2seq.models import speech as speech_models
    from kseq2seq.tasks import transcriber

    for module in (speech_models, transcriber):
        result = doctest.testmod(module, extraglobs={"np": np, "kseq2seq": kseq2seq}, optionflags=doctest.ELLIPSIS)
        assert result.attempted > 0 and result.failed == 0, module.__name__


def test_spoken_numbers_are_deterministic_speech_with_disjoint_splits():
    train, validation, test = load_spoken_numbers(num_train=20, num_validation=5, num_test=5, seed=3)
    assert (train, validation, test) == load_spoken_numbers(num_train=20, num_validation=5, num_test=5, seed=3)
    assert not {text for _, text in validation + test} & {text for _, text in train}
    for audio, text in train[:5]:
        samples, rate = read_wav(audio)
        assert rate == 8000 and set(text.split()) <= set(speech.DIGIT_WORDS)
        # Speech, not a tone: energy comes and goes (frames of 20 ms), and longer strings last longer.
        frames = samples[: len(samples) // 160 * 160, 0].reshape(-1, 160)
        energy = (frames**2).mean(1)
        assert energy.max() > 100 * np.percentile(energy, 10)
    durations = {len(text.split()): len(audio) for audio, text in train}
    assert durations[max(durations)] > durations[min(durations)]


def test_fsdd_strings_hold_out_speakers_and_spell_the_digits():
    folder = shared_data("spoken_digits")
    recordings = speech.load_fsdd(folder, speakers={"theo", "george"})
    assert {r["speaker"] for r in recordings} == {"theo", "george"} and len(recordings) == 1000
    pairs = speech.connected_digits(recordings, 6, seed=4)
    assert pairs == speech.connected_digits(recordings, 6, seed=4)
    for audio, text in pairs:
        assert 1 <= len(text.split()) <= 6 and read_wav(audio)[1] == 8000
    with pytest.raises(ValueError, match=r"validation_speakers among \['george', 'jackson'"):
        speech.fsdd_splits(folder, num_train=2, num_validation=2, validation_speakers=("nobody",))


def test_speech_commands_clips_are_resampled_to_8_khz():
    pairs = speech.load_speech_commands_digits(shared_data("speech_commands_digits"))
    assert len(pairs) == 100 and {text for _, text in pairs} == set(speech.DIGIT_WORDS)
    samples, rate = read_wav(pairs[0][0])
    assert rate == 8000 and len(samples) <= 8000
    strings = speech.load_speech_commands_digits(shared_data("speech_commands_digits"), strings=3)
    assert len(strings) == 3 and all(read_wav(audio)[1] == 8000 for audio, _ in strings)


def test_manifest_lines_are_read_and_bad_ones_counted(tmp_path):
    (tmp_path / "a.wav").write_bytes(wav_bytes(np.full(800, 0.1), 8000))
    lines = [{"audio_filepath": "a.wav", "text": "one two", "duration": 0.1}, {"audio_filepath": "gone.wav",
             "text": "x"}, {"audio_filepath": "a.wav", "text": ""}]
    manifest = tmp_path / "train.jsonl"
    manifest.write_text("\n".join(json.dumps(line) for line in lines) + "\nnot json\n")
    pairs, report = speech.load_manifest(str(manifest))
    assert [text for _, text in pairs] == ["one two"]
    assert report["bad"] == {"invalid_json": 1, "missing_audio": 1, "no_text": 1}


def test_error_rates_count_words_characters_and_strings():
    rates = error_rates(["one two", "three"], ["one two", "three four"])
    assert rates["wer"] == pytest.approx(1 / 4) and rates["ser"] == 0.5
    assert rates["cer"] == pytest.approx(5 / 17)  # " four": 5 of the references' 7 + 10 characters deleted


def _texts_and_scores(task, inputs):
    return [(record.text, record.score) for record in task.generate(inputs, return_details=True)]


def test_wav_bytes_paths_and_float_samples_give_the_same_transcripts(tiny_transcriber, spoken_numbers, tmp_path):
    audio = [a for a, _ in spoken_numbers[2]]
    floats = [read_wav(a)[0][:, 0] for a in audio]
    path = tmp_path / "0.wav"
    path.write_bytes(audio[0])
    by_bytes = _texts_and_scores(tiny_transcriber, audio)
    assert _texts_and_scores(tiny_transcriber, floats) == by_bytes
    assert _texts_and_scores(tiny_transcriber, [str(path)])[0] == by_bytes[0]
    with pytest.raises(ValueError, match=r"inputs\[1\] to hold audio"):
        tiny_transcriber.generate([audio[0], wav_bytes(np.zeros(0), 8000)])


def test_attention_runs_over_the_encoder_steps_and_is_plotted(tiny_transcriber, spoken_numbers, tmp_path):
    audio = spoken_numbers[2][0][0]
    record = tiny_transcriber.generate([audio], return_attention=True)[0]
    frames = tiny_transcriber.backbone.features.num_frames(len(read_wav(audio)[0]))
    assert record.attention.shape == (len(record.output_tokens), reduced_length(int(frames), 2))
    np.testing.assert_allclose(record.attention.sum(axis=1), 1.0, atol=1e-5)
    features = tiny_transcriber.backbone.log_mel(read_wav(audio)[0][:, 0])
    assert features.shape == (int(frames), 20)
    figure_path = tmp_path / "attention.png"
    kseq2seq.plot_audio_attention(features, record.output_tokens, record.attention, str(figure_path))
    assert figure_path.read_bytes().startswith(b"\x89PNG")


def test_save_and_load_keep_the_transcripts(tiny_transcriber, spoken_numbers, tmp_path):
    path = str(tmp_path / "tiny_transcriber.keras")
    tiny_transcriber.save(path)
    restored = keras.models.load_model(path)
    audio = [a for a, _ in spoken_numbers[2]]
    assert type(restored) is kseq2seq.Transcriber
    assert _texts_and_scores(restored, audio) == _texts_and_scores(tiny_transcriber, audio)


def test_frequency_warp_and_ctc_weight_act_in_fit_and_are_kept_by_save(spoken_numbers, tmp_path):
    keras.utils.set_random_seed(0)
    task = kseq2seq.Transcriber.from_preset("las_digits_small", train_texts=spoken_numbers[0], units=8, filters=8,
                                            num_mel_bins=16, frequency_warp=[0.9, 1.1], ctc_weight=0.3)
    features, kernel = task.backbone.features, task.backbone.ctc.projection.kernel
    seed_before, kernel_before = features.seed_generator.state.numpy().copy(), kernel.numpy().copy()
    task.fit(spoken_numbers[0][:64], epochs=1, verbose=0)
    assert (features.seed_generator.state.numpy() != seed_before).any()  # the training steps drew warp factors
    # Only the CTC loss reaches this projection: it moved, so the loss was in the training objective.
    assert np.abs(kernel.numpy() - kernel_before).max() > 1e-4
    path = str(tmp_path / "warped.keras")
    task.save(path)
    restored = keras.models.load_model(path)
    audio = [a for a, _ in spoken_numbers[2][:4]]
    assert restored.backbone.features.frequency_warp == [0.9, 1.1] and restored.backbone.ctc_weight == 0.3
    assert _texts_and_scores(restored, audio) == _texts_and_scores(task, audio)  # generation never warps


@pytest.mark.large  # exports: kept out of the fast suite's 10 minutes
def test_exports_take_wav_bytes_and_a_float_waveform(tiny_transcriber, spoken_numbers, tmp_path):
    path = tiny_transcriber.export(str(tmp_path / "1"), formats=("saved_model", "tflite"))
    audio = [a for a, _ in spoken_numbers[2]]
    served = tf.saved_model.load(path).signatures["serving_default"](inputs=tf.constant(audio))
    assert [text.decode() for text in served["outputs"].numpy()] == tiny_transcriber.generate(audio)
    with open(os.path.join(path, "tflite", "kseq2seq.json")) as f:
        info = json.load(f)
    assert info["encoder_inputs"] == ["waveform"] and info["sample_rate"] == 8000
    runner = tf.lite.Interpreter(model_path=os.path.join(path, "tflite", "model.tflite")).get_signature_runner(
        "serving_default")
    for clip in audio[:3]:
        waveform = read_wav(clip)[0][:, 0][np.newaxis]
        ids = runner(waveform=waveform)["token_ids"]
        np.testing.assert_array_equal(ids, tiny_transcriber.generate_ids({"waveform": waveform}).token_ids[:, 0].numpy())


@pytest.mark.large  # about 1 minute: 3,000 generated strings, 12 epochs of the small preset
def test_demo_transcribes_generated_numbers(tmp_path, capsys, report_figure):
    from kseq2seq import cli

    assert cli.main(["demo", "--task", "speech", "--output", str(tmp_path / "numbers")]) == 0
    output = capsys.readouterr().out
    line = next(line for line in output.splitlines() if line.startswith("Test:"))
    report_figure(line)
    # The same code measured 94.00% exact match (digit error rate 1.46%) on one machine, 2026-12-03, and
    # 71.50% (6.36%) on a fresh one, 2026-12-06: the demo's figure depends on the installed environment.
    assert float(line.split("exact match ")[1].split("%")[0]) >= 60.0, line


@pytest.mark.large
def test_fsdd_unseen_speaker_digit_error_rate_after_450_steps(tmp_path, report_figure):
    """`kseq2seq train` on FSDD strings (speaker theo held out) for 450 steps (about 1.5 minutes), then `evaluate`."""
    from kseq2seq import cli

    folder = shared_data("spoken_digits")
    output = str(tmp_path / "fsdd")
    assert cli.main(["train", "--task", "speech", "--preset", "las_digits", "--data", folder, "--limit", "1500",
                     "--max-steps", "450", "--output", output]) == 0
    report = str(tmp_path / "report.json")
    assert cli.main(["evaluate", "--task", "speech", "--model", output, "--data", folder, "--limit", "150",
                     "--report", report]) == 0
    with open(report) as f:
        wer = json.load(f)["wer"]
    report_figure(f"FSDD held-out speaker, 450 training steps: digit error rate {wer:.2%}")
    # 17.30% measured at 450 steps (116 s in all) on the evaluation strings; 12.39% at 600 steps.
    assert wer <= 0.30
