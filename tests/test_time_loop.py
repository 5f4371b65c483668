import keras
import numpy as np
import pytest
import tensorflow as tf

from kseq2seq.layers.time_loop import run_rnn_layer, scan

MASK = np.array([[True] * 5, [True, True, True, False, False], [False] * 5])


@pytest.mark.parametrize("layer_class", [keras.layers.GRU, keras.layers.LSTM])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_run_rnn_layer_computes_what_the_keras_layer_computes(layer_class, bidirectional):
    """Outputs (masked steps included), final states and gradients, as Keras' own call gives them."""
    rng = np.random.default_rng(0)
    layer = layer_class(6, return_sequences=True, return_state=True)
    if bidirectional:
        layer = keras.layers.Bidirectional(layer)
    inputs = tf.constant(rng.normal(size=(3, 5, 4)).astype("float32"))
    layer.build(inputs.shape)
    for weight in layer.weights:  # non-zero biases
        weight.assign(rng.normal(size=weight.shape).astype("float32") * 0.5)

    def run(fn):
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            outputs, states = fn()
            loss = tf.reduce_sum(outputs * outputs) + sum(tf.reduce_sum(s) for s in states)
        return [outputs, *states, *tape.gradient(loss, [inputs] + layer.trainable_weights)]

    def keras_call():
        result = layer(inputs, mask=MASK)
        return result[0], list(result[1:])

    expected = run(keras_call)
    got = tf.function(lambda: run(lambda: run_rnn_layer(layer, inputs, MASK)))()
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g.numpy(), e.numpy(), atol=1e-5)


def test_scan_stacks_outputs_and_returns_the_final_state():
    xs = tf.constant(np.arange(12, dtype="float32").reshape(2, 3, 2))
    final, ys = scan(lambda total, x: (total + x, total + x), tf.zeros([2, 2]), xs)
    np.testing.assert_array_equal(ys.numpy(), np.cumsum(xs.numpy(), axis=1))
    np.testing.assert_array_equal(final.numpy(), xs.numpy().sum(axis=1))


def test_scan_reads_steps_so_that_its_backward_pass_is_linear_in_the_steps():
    """Slicing `x[t]` in the loop would make each step's input gradient a zero tensor of all steps, summed over
    the loop (O(steps²): a 400-step bi-GRU's backward pass was 5x slower); reading a TensorArray does not."""
    xs = tf.constant(np.arange(24, dtype="float32").reshape(2, 4, 3))
    weights = tf.constant(np.linspace(1.0, 2.0, 4, dtype="float32"))

    @tf.function
    def gradient(xs):
        with tf.GradientTape() as tape:
            tape.watch(xs)
            step = lambda total, x: (total * 0.5 + x[0] + x[1],) * 2
            _, ys = scan(step, tf.zeros([2, 3]), (xs, xs))
            loss = tf.reduce_sum(ys * weights[None, :, None])
        return tape.gradient(loss, xs)

    # y_t = Σ_{s≤t} 0.5^(t-s) · 2x_s, so dL/dx_s = 2 Σ_{t≥s} w_t 0.5^(t-s).
    expected = [2 * sum(weights.numpy()[t] * 0.5 ** (t - s) for t in range(s, 4)) for s in range(4)]
    np.testing.assert_allclose(gradient(xs).numpy(), np.broadcast_to(np.array(expected)[None, :, None], (2, 4, 3)),
                               rtol=1e-6)
    graph = gradient.get_concrete_function(xs).graph.as_graph_def()
    ops = {node.op for node in graph.node} | {node.op for f in graph.library.function for node in f.node_def}
    assert "While" in ops or "StatelessWhile" in ops
    assert "StridedSliceGrad" not in ops


@pytest.mark.parametrize("layer_class", [keras.layers.GRU, keras.layers.LSTM])
def test_run_rnn_layer_starts_from_given_states(layer_class):
    rng = np.random.default_rng(1)
    layer = layer_class(6, return_sequences=True)
    inputs = rng.normal(size=(3, 5, 4)).astype("float32")
    initial = [rng.normal(size=(3, 6)).astype("float32") for _ in range(2 if layer_class is keras.layers.LSTM else 1)]
    expected = layer(inputs, initial_state=initial if len(initial) > 1 else initial[0])
    outputs, _ = run_rnn_layer(layer, inputs, initial_states=initial)
    np.testing.assert_allclose(outputs.numpy(), expected.numpy(), atol=1e-5)
    assert np.abs(outputs.numpy() - run_rnn_layer(layer, inputs)[0].numpy()).max() > 1e-3


@pytest.mark.parametrize("layer, initial, received", [
    (keras.layers.GRU(4, return_sequences=True, go_backwards=True), None, "go_backwards=True"),
    (keras.layers.LSTM(4), None, "return_sequences=False"),
    (keras.layers.Bidirectional(keras.layers.GRU(4, return_sequences=True), merge_mode="sum"), None,
     "merge_mode='sum'"),
    (keras.layers.Bidirectional(keras.layers.GRU(4, return_sequences=True)), [np.zeros((3, 4), "float32")] * 2,
     "initial_states=given"),
    (keras.layers.SimpleRNN(4, return_sequences=True), None, "SimpleRNN"),
])
def test_layer_settings_the_loop_does_not_follow_are_refused(layer, initial, received):
    """Each of these would otherwise run as a plain forward GRU/LSTM with concatenated directions."""
    with pytest.raises(ValueError, match="Expected a GRU or LSTM layer with return_sequences=True") as error:
        run_rnn_layer(layer, np.zeros((3, 5, 4), "float32"), initial_states=initial)
    assert received in str(error.value)
