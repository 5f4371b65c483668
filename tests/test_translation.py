import doctest
import time

import keras
import numpy as np
import pytest

import kseq2seq
from kseq2seq.tasks import translation


def test_a_few_hundred_steps_drive_the_loss_down(tiny_translator, tiny_dates):
    losses = tiny_translator.test_history["loss"]
    assert losses[0] > 1.0  # ln(15) = 2.7 at the start, 15 target symbols
    assert losses[-1] < 0.3
    outputs = tiny_translator.generate([s for s, _ in tiny_dates])
    assert np.mean([o == t for o, (_, t) in zip(outputs, tiny_dates)]) >= 0.9


def test_generate_is_batched_and_shape_preserving(tiny_translator, tiny_dates):
    sources = [s for s, _ in tiny_dates[:10]]
    outputs = tiny_translator.generate(sources)
    assert tiny_translator.generate(sources, batch_size=3) == outputs
    assert tiny_translator.generate(sources[4:5]) == outputs[4:5]
    # generate decodes shortest first; outputs (and per-input prefixes) must come back in the inputs' order.
    mixed = sorted(sources, key=len, reverse=True)
    prefixes = [output[:i % 3] for i, output in enumerate(tiny_translator.generate(mixed))]
    alone = [tiny_translator.generate([s], prefix=[p])[0] for s, p in zip(mixed, prefixes)]
    assert tiny_translator.generate(mixed, batch_size=3, prefix=prefixes) == alone
    with pytest.raises(TypeError, match="Expected inputs to be a batch"):
        tiny_translator.generate(sources[4])
    out = tiny_translator.generate_ids(tiny_translator.preprocessor.tokenize_source(sources[:2]))
    assert out.token_ids.shape == (2, 1, tiny_translator.max_length) and out.scores.shape == (2, 1)


def test_save_load_round_trip_gives_identical_generate(tiny_translator, tiny_dates, tmp_path):
    path = str(tmp_path / "new_folder" / "translator.keras")  # save makes the folder, as for saved_models/
    tiny_translator.save(path)
    restored = keras.models.load_model(path)  # no custom_objects
    assert type(restored) is kseq2seq.Translator
    sources = [s for s, _ in tiny_dates] + ["31 décembre 1999", "1/1/2001", "unknown ✓ text"]
    assert restored.generate(sources) == tiny_translator.generate(sources)
    assert restored.preprocessor.source_tokenizer.vocabulary == tiny_translator.preprocessor.source_tokenizer.vocabulary
    assert restored.optimizer.iterations.numpy() == tiny_translator.optimizer.iterations.numpy()
    assert restored.generation_config == tiny_translator.generation_config == kseq2seq.GenerationConfig()


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_policy_survives_save_and_load(tiny_dates, tmp_path, policy):
    """A model trained in mixed precision loads in it (as Keras layers do), with its loss-scaling optimizer."""
    keras.mixed_precision.set_global_policy(policy)
    try:
        translator = kseq2seq.Translator.from_preset("bahdanau_gru_small", train_texts=tiny_dates, units=8)
        translator.fit(tiny_dates, epochs=1, verbose=0)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    path = str(tmp_path / "mixed.keras")
    translator.save(path)
    restored = keras.models.load_model(path)  # under the float32 global policy
    compute = policy.replace("mixed_", "")
    assert restored.dtype_policy.name == restored.backbone.dtype_policy.name == policy
    assert restored.backbone.encoder.compute_dtype == restored.backbone.decoder.compute_dtype == compute
    assert type(restored.optimizer) is type(translator.optimizer)
    assert isinstance(restored.optimizer, keras.optimizers.LossScaleOptimizer) == (policy == "mixed_float16")
    for saved, loaded in zip(translator.optimizer.variables, restored.optimizer.variables, strict=True):
        np.testing.assert_array_equal(loaded, saved)
    sources = [s for s, _ in tiny_dates[:8]]
    assert restored.generate(sources) == translator.generate(sources)


def test_fit_accepts_lists_batched_datasets_and_validation(tiny_dates):
    translator = kseq2seq.Translator.from_preset("bahdanau_gru_small", train_texts=tiny_dates, units=8)
    batched = kseq2seq.datasets.to_dataset(tiny_dates).batch(16)
    history = translator.fit(batched, validation_data=tiny_dates[:8], epochs=1, verbose=0)
    assert set(history.history) >= {"loss", "masked_accuracy", "val_loss", "val_masked_accuracy"}
    loss, accuracy = translator.evaluate(tiny_dates[:16], verbose=0)
    assert 0.0 <= accuracy <= 1.0 and loss > 0


def test_presets_are_data_and_errors_name_the_argument(tiny_dates):
    fields = set(kseq2seq.GenerationConfig.fields())
    common = {}  # presets of one backbone name the same fields
    for name, preset in translation.PRESETS.items():
        expected = common.setdefault(preset.get("backbone", "rnn"), set(preset) - fields)
        assert set(preset) - fields == expected, name
    assert sorted(common) == ["rnn", "transformer"]
    lstm = kseq2seq.Translator.from_preset(
        "bahdanau_lstm_base", train_texts=[("a b", "c d")], units=8, embedding_dim=4, num_encoder_layers=1
    )
    assert lstm.backbone.cell_type == "lstm" and lstm.preprocessor.source_tokenizer.lowercase
    assert lstm.generation_config == kseq2seq.GenerationConfig(sampler="beam", num_beams=4, length_penalty=0.6)
    # the preset's decoding default is used, and an explicit argument wins
    assert lstm.generate(["a b"]) == lstm.generate(["a b"], sampler="beam", num_beams=4, length_penalty=0.6)
    with pytest.raises(ValueError, match="nbest=2"):
        lstm.generate(["a b"], sampler="greedy", nbest=2)
    with pytest.raises(ValueError, match="preset='nope'"):
        kseq2seq.Translator.from_preset("nope", train_texts=tiny_dates)
    with pytest.raises(ValueError, match="unit"):
        kseq2seq.Translator.from_preset("bahdanau_gru_small", train_texts=tiny_dates, unit=3)
    with pytest.raises(ValueError, match="batch_size=0"):
        lstm.generate(["a"], batch_size=0)


def test_docstring_examples_run():
    from kseq2seq import generation
    from kseq2seq.models import rnn

    for module in (translation, rnn, generation):
        result = doctest.testmod(module, extraglobs={"np": np}, optionflags=doctest.ELLIPSIS)
        assert result.attempted > 0 and result.failed == 0, module.__name__


@pytest.mark.parametrize("sampler,args", [
    ("greedy", {}),
    ("beam", {"num_beams": 3, "nbest": 2, "length_penalty": 0.6}),
    ("sample", {"top_k": 4, "top_p": 0.9, "temperature": 1.5}),
])
def test_decoding_is_identical_eager_in_tf_function_and_with_xla(tiny_translator, tiny_dates, sampler, args):
    import tensorflow as tf

    ids = tiny_translator.preprocessor.tokenize_source([s for s, _ in tiny_dates[:6]])
    run = lambda x: tiny_translator.generate_ids(x, sampler=sampler, seed=5, **args)  # noqa: E731
    eager = run(ids)
    for compiled in (tf.function(run), tf.function(run, jit_compile=True)):
        out = compiled(ids)
        np.testing.assert_array_equal(out.token_ids.numpy(), eager.token_ids.numpy())
        np.testing.assert_allclose(out.scores.numpy(), eager.scores.numpy(), rtol=1e-4, atol=1e-5)


def test_beam_and_sampling_through_generate(tiny_translator, tiny_dates):
    sources = [s for s, _ in tiny_dates[:8]]
    records = tiny_translator.generate(sources, return_details=True)
    greedy, greedy_scores = [r.text for r in records], [r.score for r in records]
    assert tiny_translator.generate(sources) == greedy
    one_beam = tiny_translator.generate(sources, sampler="beam", num_beams=1, nbest=1, length_penalty=0.0)
    assert one_beam == greedy
    records = tiny_translator.generate(sources, sampler="beam", num_beams=4, nbest=3, return_details=True)
    nbest, scores = [r.texts for r in records], [r.scores for r in records]
    assert tiny_translator.generate(sources, sampler="beam", num_beams=4, nbest=3) == [row[0] for row in nbest]
    assert all(len(row) == 3 and len(set(row)) == 3 for row in nbest)
    assert all(row == sorted(row, reverse=True) for row in scores)
    assert all(g < 0 for g in greedy_scores)
    first = tiny_translator.generate(sources, sampler="sample", temperature=2.0, seed=11)
    assert tiny_translator.generate(sources, sampler="sample", temperature=2.0, seed=11) == first
    assert tiny_translator.generate(sources, sampler="sample", temperature=0.0) == greedy
    for bad, message in [({"sampler": "beam", "num_beams": 0}, "num_beams=0"),
                         ({"sampler": "sample", "top_p": 1.2}, "top_p=1.2"),
                         ({"sampler": "sample", "temperature": -1}, "temperature=-1"),
                         ({"sampler": "nucleus"}, "sampler='nucleus'"),
                         ({"nbest": 2}, "nbest=2"),
                         ({"max_length": 0}, "max_length=0")]:
        with pytest.raises(ValueError, match=message):
            tiny_translator.generate(sources, **bad)


def test_attention_is_returned_and_plotted(tiny_translator, tmp_path):
    record = tiny_translator.generate(["12 de septiembre de 1992"], return_attention=True)[0]
    assert record.source_tokens == list("12 de septiembre de 1992")
    assert record.output_tokens[-1] == "[END]" and "".join(record.output_tokens[:-1]) == record.text
    assert record.attention.shape == (len(record.output_tokens), len(record.source_tokens))
    np.testing.assert_allclose(record.attention.sum(axis=1), 1.0, atol=1e-5)
    beam = tiny_translator.generate(["1/1/2001"], sampler="beam", num_beams=3, return_attention=True)[0]
    np.testing.assert_allclose(beam.attention.sum(axis=1), 1.0, atol=1e-5)
    path = tmp_path / "attention.png"
    kseq2seq.plot_attention(record.source_tokens, record.output_tokens, record.attention, path=str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="shape"):
        kseq2seq.plot_attention(["a", "b"], ["c"], np.zeros((1, 1)))


def test_make_dataset_caches_buckets_and_knows_its_length(tiny_translator):
    import tensorflow as tf

    pairs = [("1" * n, "2" * (n % 5 + 1)) for n in range(1, 41)]
    plain = tiny_translator.make_dataset(pairs, batch_size=8)
    assert int(plain.cardinality()) == 5
    bucketed = tiny_translator.make_dataset(pairs, batch_size=8, shuffle=True, seed=1, bucket_boundaries=[11, 21, 31])
    lengths = []
    for x, labels in bucketed:
        real = tf.reduce_sum(tf.cast(x["encoder_token_ids"] != 0, tf.int32), axis=1).numpy()
        assert real.max() - real.min() < 10 and x["encoder_token_ids"].shape[1] == real.max()
        assert labels.shape == x["decoder_token_ids"].shape
        lengths.extend(real.tolist())
    # buckets <11, 11-20, 21-30, >=31 hold 10 sequences each: 2 batches of at most 8 per bucket
    assert sorted(lengths) == list(range(1, 41)) and int(bucketed.cardinality()) == 8


@pytest.mark.large
def test_multi30k_english_german_bleu(report_figure):
    """bahdanau_gru_small (word-level) on Multi30k en->de for 300 steps; sacreBLEU on 500 validation pairs, greedy."""
    from conftest import shared_data

    from kseq2seq.datasets import text_files
    from kseq2seq.metrics import corpus_bleu

    folder = shared_data("multi30k")
    train = text_files.load_text_pairs(f"{folder}/train.en", f"{folder}/train.de")
    validation = text_files.load_text_pairs(f"{folder}/val.en", f"{folder}/val.de", limit=500)
    translator = kseq2seq.Translator.from_preset(
        "bahdanau_gru_small", train_texts=train, tokenizer="word", lowercase=True, max_vocabulary_size=8000,
        min_count=2, embedding_dim=128, units=256, dropout=0.2, source_length=40, target_length=40, max_length=40,
    )
    # A step count, not a time budget: a slower CPU takes longer but reaches the same model.
    start = time.perf_counter()
    translator.fit(train, epochs=1, steps_per_epoch=300, bucket_boundaries=[8, 12, 16, 20, 25, 30], verbose=2,
                   seed=0)
    trained = time.perf_counter()
    hypotheses = translator.generate([s for s, _ in validation], sampler="greedy")
    print(f"\ntraining {trained - start:.0f} s, decoding {time.perf_counter() - trained:.0f} s")
    # References are raw cased text; the model writes lowercased, space-tokenized text,
    # so BLEU is case-insensitive (sacreBLEU lowercase=True, 13a tokenization).
    bleu = corpus_bleu(hypotheses, [t for _, t in validation], lowercase=True)
    report_figure(f"Multi30k en->de validation BLEU (greedy, 300 steps, 500 pairs): {bleu.score:.2f}  {bleu.signature}")
    for (source, reference), hypothesis in list(zip(validation, hypotheses))[:3]:
        print(f"  {source}\n  -> {hypothesis}\n  ref {reference}")
    # A path check: 7.35 measured after these 300 steps (4.48 after 250; 31.8 after 10 minutes of training).
    assert bleu.score >= 4.0


PAIRS = [("a man plays football", "ein mann spielt fußball"), ("two girls play", "zwei mädchen spielen"),
         ("a dog runs", "ein hund rennt"), ("the players played", "die spieler spielten")] * 4


@pytest.mark.parametrize("preset", ["multi30k_gru_wordpiece", "multi30k_luong_wordpiece"])
def test_multi30k_presets_use_wordpiece_and_greedy_matches_teacher_forcing(preset, tmp_path):
    translator = kseq2seq.Translator.from_preset(preset, train_texts=PAIRS, units=16, embedding_dim=8,
                                                 max_vocabulary_size=60, max_length=6)
    source_tokenizer = translator.preprocessor.source_tokenizer
    assert type(source_tokenizer).__name__ == "WordPieceTokenizer"
    assert translator.backbone.input_feeding is (preset == "multi30k_gru_wordpiece")
    assert 1 not in source_tokenizer.tokenize(["a replayed football"]).to_list()[0]  # pieces, not [UNK]
    sources = [s for s, _ in PAIRS[:4]]
    ids = translator.generate_ids(translator.preprocessor.encode_source(sources)[0], sampler="greedy")
    greedy = ids.token_ids.numpy()[:, 0]  # [batch, steps] (untrained: no end token expected)
    # Feeding the greedy tokens back with teacher forcing must reproduce them as the argmax at every step.
    inputs = {"encoder_token_ids": translator.preprocessor.encode_source(sources)[0]["encoder_token_ids"].numpy(),
              "decoder_token_ids": np.concatenate([np.full((4, 1), 2), greedy[:, :-1]], axis=1).astype("int32")}
    logits = translator.backbone(inputs).numpy()
    valid = np.cumsum(greedy == 3, axis=1) - (greedy == 3) == 0  # up to and including the first [END]
    np.testing.assert_array_equal(logits.argmax(-1)[valid], greedy[valid])
    path = str(tmp_path / "model.keras")
    translator.save(path)
    restored = keras.models.load_model(path)
    expected = translator.generate(sources, sampler="greedy")
    assert restored.generate(sources, sampler="greedy") == expected
    # The SavedModel tokenizes and detokenizes WordPiece in its own graph (tensorflow-text ops).
    import tensorflow as tf

    translator.export(str(tmp_path / "serving"))
    served = tf.saved_model.load(str(tmp_path / "serving")).signatures["serving_default"](tf.constant(sources))
    assert translator.generation_config.sampler == "beam"  # the preset's: the export decodes as generate does
    assert [o.decode() for o in served["outputs"].numpy()] == translator.generate(sources)


def test_min_length_through_generate(tiny_translator, tiny_dates):
    sources = [s for s, _ in tiny_dates[:4]]
    for sampler in ("greedy", "beam"):
        outputs = tiny_translator.generate(sources, sampler=sampler, min_length=12)
        assert all(len(o) >= 12 for o in outputs), outputs  # dates are 10 characters otherwise
    with pytest.raises(ValueError, match="min_length=-1"):
        tiny_translator.generate(sources, min_length=-1)
    # A preset whose min_length reaches its max_length is refused when built, not at the first generate.
    with pytest.raises(ValueError, match=r"Expected min_length < max_length \(8\). Received: min_length=8"):
        kseq2seq.Translator.from_preset("bahdanau_gru_small", train_texts=tiny_dates, max_length=8, min_length=8)


def test_allow_unknown_false_rules_out_unk_in_generate_and_export(tiny_dates, tmp_path):
    import tensorflow as tf

    from kseq2seq.utils import UNK_ID

    sources = [s for s, _ in tiny_dates[:6]]
    keras.utils.set_random_seed(3)
    translator = kseq2seq.Translator.from_preset("bahdanau_gru_small", train_texts=tiny_dates, units=8,
                                                 embedding_dim=4, max_length=6)
    bias = translator.backbone.decoder.output_projection.bias
    values = bias.numpy()
    values[UNK_ID] = -100.0  # [UNK] never wins: what greedy picks without it
    bias.assign(values)
    without_unk = translator.generate(sources)
    values[UNK_ID] = 100.0  # [UNK] always wins
    bias.assign(values)
    assert translator.generate(sources) == ["[UNK]" * 6] * 6
    assert translator.generate(sources, allow_unknown=False) == without_unk
    for sampler in ("beam", "sample"):
        assert not any("[UNK]" in o for o in translator.generate(sources, sampler=sampler, allow_unknown=False))
    with pytest.raises(ValueError, match="allow_unknown='no'"):
        translator.generate(sources, allow_unknown="no")

    # A task whose generation options rule [UNK] out exports signatures that do too.
    translator.generation_config = translator.generation_config.replace(allow_unknown=False)
    assert translator.generate(sources) == without_unk
    translator.export(str(tmp_path / "serving"))
    served = tf.saved_model.load(str(tmp_path / "serving")).signatures["serving_default"](tf.constant(sources))
    assert [o.decode() for o in served["outputs"].numpy()] == without_unk


def test_decoding_defaults_are_preset_overrides(tiny_dates):
    translator = kseq2seq.Translator.from_preset("bahdanau_gru_small", train_texts=tiny_dates, units=8,
                                                 allow_unknown=False, top_k=5)
    assert translator.generation_config.allow_unknown is False and translator.generation_config.top_k == 5
    assert translator.generation_options().allow_unknown is False
