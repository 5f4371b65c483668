import keras
import numpy as np
import pytest

from kseq2seq.models import Seq2SeqBackbone


def make_inputs(extra_padding=0):
    enc = np.array([[5, 6, 7, 8], [9, 10, 0, 0]], "int32")
    enc = np.pad(enc, ((0, 0), (0, extra_padding)))
    return {"encoder_token_ids": enc, "decoder_token_ids": np.array([[2, 4, 5], [2, 6, 0]], "int32")}


def test_output_shape_and_padding_invariance():
    backbone = Seq2SeqBackbone(12, 9, embedding_dim=4, units=8, cell_type="lstm", num_encoder_layers=2)
    logits = backbone(make_inputs()).numpy()
    assert logits.shape == (2, 3, 9)
    np.testing.assert_allclose(backbone(make_inputs(extra_padding=3)).numpy(), logits, atol=1e-6)


def test_save_and_load_give_identical_logits(tmp_path):
    backbone = Seq2SeqBackbone(12, 9, embedding_dim=4, units=8, attention="luong")
    path = str(tmp_path / "backbone.keras")
    backbone.save(path)
    restored = keras.models.load_model(path)
    assert type(restored) is Seq2SeqBackbone and restored.get_config() == backbone.get_config()
    np.testing.assert_array_equal(restored(make_inputs()).numpy(), backbone(make_inputs()).numpy())


def test_encode_matches_decoder_initial_state():
    backbone = Seq2SeqBackbone(12, 9, embedding_dim=4, units=8)
    memory, state = backbone.encode(make_inputs()["encoder_token_ids"])
    assert memory["values"].shape == (2, 4, 16) and memory["keys"].shape == (2, 4, 8)
    mask = memory["encoder_padding_mask"].numpy().tolist()
    assert state["rnn"][0].shape == (2, 8) and mask == [[True] * 4, [True, True, False, False]]


@pytest.mark.parametrize("arguments,logits_inputs", [
    ({"attention": "luong", "input_feeding": False}, 8),  # whole-sequence decoder: its attentional vector
    ({"output_reads_context": False}, 8),                 # input feeding, the projection reads s_t alone
    ({}, 8 + 16),                                         # input feeding, [s_t; c_t] (bi-GRU values: 16)
    ({"attentional_layer": True, "cell_type": "lstm"}, 8),  # input feeding of h̃_t = tanh(W_c [c_t; s_t])
])
def test_decoder_variants_save_load_and_step_like_teacher_forcing(tmp_path, arguments, logits_inputs):
    backbone = Seq2SeqBackbone(12, 9, embedding_dim=4, units=8, **arguments)
    assert backbone.decoder.output_projection.kernel.shape == (logits_inputs, 9)
    inputs = make_inputs()
    logits = backbone(inputs).numpy()
    path = str(tmp_path / "backbone.keras")
    backbone.save(path)
    restored = keras.models.load_model(path)
    assert {k: restored.get_config()[k] for k in arguments} == arguments
    np.testing.assert_array_equal(restored(inputs).numpy(), logits)
    memory, state = restored.encode(inputs["encoder_token_ids"])
    for t in range(3):
        step_logits, state, _ = restored.step(inputs["decoder_token_ids"][:, t], state, memory)
        np.testing.assert_allclose(step_logits.numpy(), logits[:, t], atol=1e-5)


def test_input_feeding_is_required_for_a_pointer_generator():
    with pytest.raises(ValueError, match="input_feeding=False"):
        Seq2SeqBackbone(12, 9, pointer_generator=True, input_feeding=False)


@pytest.mark.parametrize("option", [{"output_reads_context": False}, {"attentional_layer": True}])
@pytest.mark.parametrize("arguments", [{"input_feeding": False, "attention": "luong"}, {"pointer_generator": True}])
def test_output_layer_options_belong_to_the_input_feeding_decoder(option, arguments):
    """The state-only output and the attentional layer: neither for the Luong decoder nor a pointer-generator."""
    (name, value), = option.items()
    expected = (f"input_feeding=True with {name}={value}" if "input_feeding" in arguments
                else f"{name}={not value} for a pointer-generator")
    with pytest.raises(ValueError, match=expected):
        Seq2SeqBackbone(12, 9, **option, **arguments)


@pytest.mark.parametrize("flag", ["pointer_generator", "coverage", "input_feeding", "output_reads_context",
                                  "attentional_layer"])
@pytest.mark.parametrize("value", ["no", 0])
def test_flags_must_be_bools(flag, value):
    # "no" is truthy: without the check it would build a decoder and store "no" in the config.
    with pytest.raises(ValueError, match=f"Expected {flag} to be True or False. Received: {flag}={value!r}"):
        Seq2SeqBackbone(12, 9, **{"input_feeding": False, "attention": "luong", flag: value})
