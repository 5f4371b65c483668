import numpy as np
import pytest
import tensorflow as tf

from kseq2seq.layers.loop_kernels import loop_kernel, loop_matmul


@pytest.mark.parametrize("jit_compile", [False, True])
def test_loop_matmul_in_a_while_loop_has_the_plain_products_gradients(jit_compile):
    rng = np.random.default_rng(0)
    weights = tf.Variable(rng.normal(size=(5, 5)).astype("float32"))
    xs = tf.constant(rng.normal(size=(4, 3, 5)).astype("float32"))

    def run(product):
        @tf.function(jit_compile=jit_compile)
        def gradients():
            with tf.GradientTape() as tape:
                tape.watch(xs)
                kernel = loop_kernel(weights, "float32")
                # A recurrence: h_t = tanh(x_t + h_{t-1} W), so the product's input gradient is needed every step.
                h = tf.while_loop(lambda t, h: t < 4, lambda t, h: (t + 1, tf.tanh(xs[t] + product(h, kernel))),
                                  (0, xs[0]), maximum_iterations=4)[1]
                loss = tf.reduce_sum(h * h)
            return (h, *tape.gradient(loss, [xs, weights]))
        return [t.numpy() for t in gradients()]

    fast = run(loop_matmul)
    plain = run(lambda h, kernel: tf.matmul(h, kernel.kernel))
    assert np.abs(plain[2]).max() > 1e-3  # the weights' gradient is not trivially zero
    for got, expected in zip(fast, plain):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_loop_kernel_casts_once_and_stores_the_transpose_only_when_asked():
    weights = tf.Variable(np.arange(6, dtype="float32").reshape(2, 3))
    kernel = loop_kernel(weights, "bfloat16")
    assert kernel.kernel.dtype == tf.bfloat16 and kernel.transposed.shape == (3, 2)
    np.testing.assert_array_equal(kernel.transposed.numpy(), weights.numpy().T)
    assert loop_kernel(weights, "float32", transpose=False).transposed is None
    x = np.ones((1, 2), "float32")
    np.testing.assert_array_equal(loop_matmul(x, loop_kernel(weights, "float32", False)).numpy(), [[3, 5, 7]])
