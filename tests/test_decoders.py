import numpy as np
import pytest
import tensorflow as tf

from kseq2seq.layers import AttentionDecoder, LuongDecoder, RNNEncoder

SRC = np.array([[5, 6, 7, 8, 4], [5, 6, 0, 0, 0]], "int32")
TGT = np.array([[2, 4, 5, 6], [2, 7, 8, 0]], "int32")


def encode(cell_type):
    encoder = RNNEncoder(10, 4, 6, cell_type=cell_type, bidirectional=True)
    mask = SRC != 0
    values, states = encoder(SRC, encoder_padding_mask=mask)
    return values, states, mask


@pytest.mark.parametrize("cell_type", ["gru", "lstm"])
@pytest.mark.parametrize("attention,output_reads_context", [("bahdanau", True), ("luong", True), ("bahdanau", False)])
def test_teacher_forcing_equals_step_by_step(cell_type, attention, output_reads_context):
    values, states, mask = encode(cell_type)
    decoder = AttentionDecoder(9, 4, 12, cell_type=cell_type, attention=attention,
                               output_reads_context=output_reads_context)
    assert_steps_match_teacher_forcing(decoder, values, states, mask)
    # W_o reads [s_t; c_t] (12 + 12 bi-RNN values) or s_t alone (12)
    assert decoder.output_projection.kernel.shape == (24 if output_reads_context else 12, 9)


def assert_steps_match_teacher_forcing(decoder, values, states, mask):
    """Whole-sequence logits == the step function's, token by token; returns the logits."""
    logits = decoder(TGT, values, states, encoder_padding_mask=mask)
    assert logits.shape == (2, 4, 9)
    keys = decoder.attention.project_keys(values)
    state = decoder.initial_state(states, values)
    for t in range(TGT.shape[1]):
        step_logits, state, weights = decoder.step(TGT[:, t], state, values, keys, mask)
        np.testing.assert_allclose(step_logits.numpy(), logits.numpy()[:, t], atol=1e-5)
        assert np.all(weights.numpy()[~mask] == 0.0)
    return logits


@pytest.mark.parametrize("cell_type", ["gru", "lstm"])
@pytest.mark.parametrize("attention", ["luong", "bahdanau"])
def test_attentional_layer_teacher_forcing_equals_step_by_step(cell_type, attention):
    values, states, mask = encode(cell_type)
    decoder = AttentionDecoder(9, 4, 12, cell_type=cell_type, attention=attention, attentional_layer=True)
    assert_steps_match_teacher_forcing(decoder, values, states, mask)
    # W_c reads [c_t; s_t] (12 + 12), W_o the attentional vector (12), and the cell [x_t; h̃_{t-1}] (4 + 12)
    assert decoder.attentional.kernel.shape == (24, 12) and decoder.output_projection.kernel.shape == (12, 9)
    assert decoder.cell.kernel.shape[0] == 16


def reference_luong_lstm_attentional_logits(decoder, token_ids, values, encoder_states, mask):
    """OpenNMT's RNN decoder (LSTM, "general" attention, input feeding of h̃) written out in NumPy."""
    w = {v.path.split("/", 1)[1]: v.numpy() for v in decoder.weights}
    kernel, recurrent, bias = w["lstm_cell/kernel"], w["lstm_cell/recurrent_kernel"], w["lstm_cell/bias"]
    units = recurrent.shape[0]
    keys = values @ w["attention/w/kernel"]                                            # W h_i, once
    h = np.tanh(encoder_states[0] @ w["bridge_0/kernel"] + w["bridge_0/bias"])
    c = np.tanh(encoder_states[1] @ w["bridge_1/kernel"] + w["bridge_1/bias"])
    fed = np.zeros((token_ids.shape[0], units), "float32")                            # h̃_0 = 0
    steps = []
    for t in range(token_ids.shape[1]):
        x = np.concatenate([w["embedding/embeddings"][token_ids[:, t]], fed], -1)      # input feeding of h̃_{t-1}
        i, f, g, o = np.split(x @ kernel + h @ recurrent + bias, 4, axis=-1)
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        h = _sigmoid(o) * np.tanh(c)
        e = np.where(mask, np.einsum("bd,bsd->bs", h, keys), -np.inf)                  # s_tᵀ W h_i
        alpha = np.exp(e - e.max(-1, keepdims=True))
        alpha /= alpha.sum(-1, keepdims=True)
        context = np.einsum("bs,bsd->bd", alpha, values)
        fed = np.tanh(np.concatenate([context, h], -1) @ w["attentional/kernel"])      # h̃_t = tanh(W_c [c_t; s_t])
        steps.append(fed @ w["logits/kernel"] + w["logits/bias"])                       # W_o h̃_t
    return np.stack(steps, 1)


def test_attentional_layer_matches_luong_formula():
    values, states, mask = encode("lstm")
    decoder = AttentionDecoder(9, 4, 12, cell_type="lstm", attention="luong", attentional_layer=True)
    logits = decoder(TGT, values, states, encoder_padding_mask=mask)
    expected = reference_luong_lstm_attentional_logits(decoder, TGT, values.numpy(), [s.numpy() for s in states], mask)
    np.testing.assert_allclose(logits.numpy(), expected, atol=1e-5)


def test_attentional_layer_reads_the_context():
    config = AttentionDecoder(9, 4, 12, attentional_layer=True).get_config()
    assert config["attentional_layer"] is True and AttentionDecoder.from_config(config).get_config() == config
    with pytest.raises(ValueError, match="output_reads_context=True with attentional_layer=True"):
        AttentionDecoder(9, 4, 12, attentional_layer=True, output_reads_context=False)
    with pytest.raises(ValueError, match="attentional_layer=1"):
        AttentionDecoder(9, 4, 12, attentional_layer=1)


def test_state_is_carried_and_decoder_is_causal():
    values, states, mask = encode("gru")
    decoder = AttentionDecoder(9, 4, 12)
    logits = decoder(TGT, values, states, encoder_padding_mask=mask).numpy()
    changed = TGT.copy()
    changed[:, 1] = 3
    logits2 = decoder(changed, values, states, encoder_padding_mask=mask).numpy()
    # step 0 cannot see the later token; step 3 must, through the carried state
    np.testing.assert_allclose(logits2[:, 0], logits[:, 0], atol=1e-6)
    assert np.abs(logits2[:, 3] - logits[:, 3]).max() > 1e-4


def test_config_round_trip():
    decoder = AttentionDecoder(9, 4, 12, cell_type="lstm", attention="luong", dropout=0.2, output_reads_context=False)
    config = decoder.get_config()
    assert config["output_reads_context"] is False
    assert AttentionDecoder.from_config(config).get_config() == config
    with pytest.raises(ValueError, match="attention='dot'"):
        AttentionDecoder(9, 4, 12, attention="dot")
    with pytest.raises(ValueError, match="output_reads_context=0"):
        AttentionDecoder(9, 4, 12, output_reads_context=0)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def reference_bahdanau_gru_logits(decoder, token_ids, values, encoder_state, mask, output_reads_context=True):
    """The per-step formulas written out in NumPy from the decoder's weights (Keras GRU, reset_after=True)."""
    w = {v.path.split("/", 1)[1]: v.numpy() for v in decoder.weights}
    kernel, recurrent, bias = w["gru_cell/kernel"], w["gru_cell/recurrent_kernel"], w["gru_cell/bias"]
    units = recurrent.shape[0]
    keys = values @ w["attention/w1/kernel"]                                        # W1 h_i, once
    s = np.tanh(encoder_state @ w["bridge_0/kernel"] + w["bridge_0/bias"])
    context = np.zeros_like(values[:, 0])
    steps = []
    for t in range(token_ids.shape[1]):
        x = np.concatenate([w["embedding/embeddings"][token_ids[:, t]], context], -1)   # input feeding
        xi, hi = x @ kernel + bias[0], s @ recurrent + bias[1]
        z = _sigmoid(xi[:, :units] + hi[:, :units])
        r = _sigmoid(xi[:, units:2 * units] + hi[:, units:2 * units])
        s = z * s + (1 - z) * np.tanh(xi[:, 2 * units:] + r * hi[:, 2 * units:])
        query = s @ w["attention/w2/kernel"] + w["attention/w2/bias"]
        e = (np.tanh(keys + query[:, None]) @ w["attention/v/kernel"])[..., 0]      # vᵀ tanh(W1 h_i + W2 s_t)
        e = np.where(mask, e, -np.inf)
        alpha = np.exp(e - e.max(-1, keepdims=True))
        alpha /= alpha.sum(-1, keepdims=True)
        context = np.einsum("bs,bsd->bd", alpha, values)                           # c_t = Σ α_i h_i
        features = np.concatenate([s, context], -1) if output_reads_context else s    # W_o [s_t; c_t] or W_o s_t
        steps.append(features @ w["logits/kernel"] + w["logits/bias"])
    return np.stack(steps, 1)


@pytest.mark.parametrize("jit_compile,output_reads_context", [(False, True), (True, True), (False, False)])
def test_compiled_decoder_loop_matches_reference_formula(jit_compile, output_reads_context):
    rng = np.random.default_rng(0)
    batch, source, target = 3, 7, 6
    values = rng.normal(size=(batch, source, 10)).astype("float32")
    encoder_state = rng.normal(size=(batch, 10)).astype("float32")
    mask = np.arange(source)[None] < np.array([[7], [4], [1]])
    token_ids = rng.integers(0, 50, size=(batch, target)).astype("int32")
    decoder = AttentionDecoder(50, 8, 16, cell_type="gru", attention="bahdanau", attention_units=12,
                               output_reads_context=output_reads_context)
    decoder(token_ids, values, [encoder_state], encoder_padding_mask=mask)  # builds the weights
    assert decoder.output_projection.kernel.shape == ((16 + 10) if output_reads_context else 16, 50)
    compiled = tf.function(lambda ids: decoder(ids, values, [encoder_state], encoder_padding_mask=mask),
                           jit_compile=jit_compile)
    expected = reference_bahdanau_gru_logits(decoder, token_ids, values, encoder_state, mask, output_reads_context)
    np.testing.assert_allclose(compiled(token_ids).numpy(), expected, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("cell_type", ["gru", "lstm"])
@pytest.mark.parametrize("attention", ["luong", "bahdanau"])
def test_luong_decoder_whole_sequence_equals_step_by_step(cell_type, attention):
    values, states, mask = encode(cell_type)
    decoder = LuongDecoder(9, 4, 12, cell_type=cell_type, attention=attention)
    logits = assert_steps_match_teacher_forcing(decoder, values, states, mask)
    # causal: changing token 2 leaves steps 0-1 alone and changes step 3
    changed = TGT.copy()
    changed[:, 2] = 3
    logits2 = decoder(changed, values, states, encoder_padding_mask=mask).numpy()
    np.testing.assert_allclose(logits2[:, :2], logits.numpy()[:, :2], atol=1e-6)
    assert np.abs(logits2[:, 3] - logits.numpy()[:, 3]).max() > 1e-4


def test_luong_decoder_config_round_trip():
    decoder = LuongDecoder(9, 4, 12, cell_type="lstm", dropout=0.1)
    config = decoder.get_config()
    assert LuongDecoder.from_config(config).get_config() == config
    with pytest.raises(ValueError, match="cell_type='rnn'"):
        LuongDecoder(9, 4, 12, cell_type="rnn")


@pytest.mark.parametrize("cell_type", ["gru", "lstm"])
@pytest.mark.parametrize("attention", ["bahdanau", "luong"])
def test_teacher_forcing_gradients_equal_step_by_step_gradients(cell_type, attention):
    """The time loop's products back-propagate through stored transposes; `step` uses plain products."""
    values, states, mask = encode(cell_type)
    values, states = tf.constant(values), [tf.constant(s) for s in states]
    decoder = AttentionDecoder(9, 4, 12, cell_type=cell_type, attention=attention)
    decoder(TGT, values, states, encoder_padding_mask=mask)
    targets = tf.one_hot(np.roll(TGT, -1, axis=1), 9)

    def gradients(logits_fn):
        with tf.GradientTape() as tape:
            tape.watch([values] + states)
            loss = tf.reduce_sum(tf.nn.softmax_cross_entropy_with_logits(targets, logits_fn()))
        return tape.gradient(loss, decoder.trainable_weights + [values] + states)

    def step_by_step():
        keys = decoder.attention.project_keys(values)
        state = decoder.initial_state(states, values)
        logits = []
        for t in range(TGT.shape[1]):
            step_logits, state, _ = decoder.step(TGT[:, t], state, values, keys, mask)
            logits.append(step_logits)
        return tf.stack(logits, axis=1)

    whole = tf.function(lambda: gradients(lambda: decoder(TGT, values, states, encoder_padding_mask=mask)))()
    stepped = gradients(step_by_step)
    for weight, got, expected in zip(decoder.trainable_weights + [values] + states, whole, stepped):
        name = getattr(weight, "path", "input")
        got = tf.convert_to_tensor(got).numpy()  # the embedding's gradient is an IndexedSlices
        np.testing.assert_allclose(got, tf.convert_to_tensor(expected).numpy(), atol=1e-5, err_msg=name)
    assert np.abs(tf.convert_to_tensor(whole[1]).numpy()).max() > 1e-4
