import numpy as np
import pytest

from kseq2seq.layers import BahdanauAttention, LuongAttention
from kseq2seq.layers.attention import masked_softmax


def softmax(x, mask):
    x = np.where(mask, x, -np.inf)
    e = np.exp(x - x.max(-1, keepdims=True))
    return np.where(mask, e / e.sum(-1, keepdims=True), 0.0)


def bahdanau_reference(layer, query, values, mask):
    w1 = layer.key_projection.kernel.numpy()
    w2, b2 = layer.query_projection.kernel.numpy(), layer.query_projection.bias.numpy()
    v = layer.score_projection.kernel.numpy()[:, 0]
    # e[b, t, i] = vᵀ tanh(W1 h_i + W2 s_t)
    keys = values @ w1
    q = query @ w2 + b2
    scores = np.tanh(keys[:, None, :, :] + q[:, :, None, :]) @ v
    weights = softmax(scores, mask[:, None, :])
    return weights @ values, weights


@pytest.fixture
def inputs():
    rng = np.random.default_rng(0)
    query = rng.normal(size=(3, 4, 6)).astype("float32")
    values = rng.normal(size=(3, 5, 7)).astype("float32")
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0]], bool)
    return query, values, mask


def test_bahdanau_matches_numpy_reference(inputs):
    query, values, mask = inputs
    layer = BahdanauAttention(8)
    context, weights = layer(query, values, encoder_padding_mask=mask)
    ref_context, ref_weights = bahdanau_reference(layer, query, values, mask)
    np.testing.assert_allclose(weights.numpy(), ref_weights, atol=1e-5)
    np.testing.assert_allclose(context.numpy(), ref_context, atol=1e-5)
    assert context.shape == (3, 4, 7) and weights.shape == (3, 4, 5)


def test_single_step_query_and_precomputed_keys(inputs):
    query, values, mask = inputs
    layer = BahdanauAttention(8)
    full_context, full_weights = layer(query, values, encoder_padding_mask=mask)
    keys = layer.project_keys(values)
    context, weights = layer(query[:, 2], values, keys=keys, encoder_padding_mask=mask)
    assert context.shape == (3, 7) and weights.shape == (3, 5)
    np.testing.assert_allclose(weights.numpy(), full_weights.numpy()[:, 2], atol=1e-6)
    np.testing.assert_allclose(context.numpy(), full_context.numpy()[:, 2], atol=1e-6)


@pytest.mark.parametrize("layer_fn", [lambda: BahdanauAttention(8), lambda: LuongAttention("general")])
def test_padded_positions_get_exactly_zero_weight(inputs, layer_fn):
    query, values, mask = inputs
    layer = layer_fn()
    context, weights = layer(query, values, encoder_padding_mask=mask)
    weights = weights.numpy()
    assert np.all(weights[~np.broadcast_to(mask[:, None, :], weights.shape)] == 0.0)
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-6)

    garbage = values.copy()
    garbage[~mask] = 1e3  # changing padded positions changes nothing
    context2, weights2 = layer(query, garbage, encoder_padding_mask=mask)
    np.testing.assert_array_equal(weights2.numpy(), weights)
    np.testing.assert_allclose(context2.numpy(), context.numpy(), atol=1e-6)


def test_fully_padded_row_gives_zero_weights_not_nan():
    scores = np.zeros((1, 2, 3), "float32")
    weights = masked_softmax(scores, np.zeros((1, 3), bool)).numpy()
    np.testing.assert_array_equal(weights, 0.0)


def test_luong_dot_and_general_match_reference(inputs):
    _, values, mask = inputs
    query = np.random.default_rng(1).normal(size=(3, 4, 7)).astype("float32")
    dot = LuongAttention("dot")
    context, weights = dot(query, values, encoder_padding_mask=mask)
    ref_w = softmax(query @ values.transpose(0, 2, 1), mask[:, None, :])
    np.testing.assert_allclose(weights.numpy(), ref_w, atol=1e-5)
    np.testing.assert_allclose(context.numpy(), ref_w @ values, atol=1e-5)

    general = LuongAttention("general")
    _, weights = general(query, values, encoder_padding_mask=mask)
    w = general.key_projection.kernel.numpy()
    ref_w = softmax(query @ (values @ w).transpose(0, 2, 1), mask[:, None, :])
    np.testing.assert_allclose(weights.numpy(), ref_w, atol=1e-5)


def test_config_round_trip_and_argument_errors():
    layer = BahdanauAttention(16, name="att")
    assert BahdanauAttention.from_config(layer.get_config()).units == 16
    assert LuongAttention.from_config(LuongAttention("dot").get_config()).score_mode == "dot"
    with pytest.raises(ValueError, match="units=0"):
        BahdanauAttention(0)
    with pytest.raises(ValueError, match="score_mode='cosine'"):
        LuongAttention("cosine")
    with pytest.raises(ValueError, match="same size"):
        LuongAttention("dot")(np.zeros((1, 2, 3), "float32"), np.zeros((1, 4, 5), "float32"))
