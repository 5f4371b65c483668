"""Level 1: weight products inside a time loop, with a backward pass TensorFlow runs fast on CPU.

In a time loop the gradient of `x @ W` with respect to `x` is `dy @ Wᵀ`, which
TensorFlow emits as a MatMul with `transpose_b`. On CPU at batch 64 that op
runs at a third of the plain product's rate (oneDNN and Eigen alike: 67
against 205 GFLOP/s for `[64 × 3072] × [3072 × 1280]`, see
`benchmarks/profile_step.py`). A `LoopKernel` holds `W` cast once per
call and, when a backward pass may follow, `Wᵀ` stored once outside the loop;
`loop_matmul`'s gradient then multiplies by the stored `Wᵀ`. The forward
math is the plain product.
"""

from typing import NamedTuple, Optional

import tensorflow as tf
from keras import ops


class LoopKernel(NamedTuple):
    kernel: tf.Tensor
    transposed: Optional[tf.Tensor]  # None: no backward pass through `loop_matmul`


def loop_kernel(variable, dtype, transpose=True):
    """Reads `variable` as `dtype` (once, before the loop), with its transpose stored if `transpose`."""
    kernel = ops.cast(variable, dtype)
    # A Transpose feeding the MatMul directly would be folded back into `transpose_b` by Grappler; this one
    # lives outside the loop while the MatMul runs in the loop's (separate) backward body.
    return LoopKernel(kernel, tf.transpose(kernel) if transpose else None)


def loop_matmul(x, kernel):
    """`x @ kernel.kernel`; with a stored transpose, its input gradient is `dy @ kernel.transposed`."""
    if kernel.transposed is None:
        return tf.matmul(x, kernel.kernel)
    return _matmul_stored_transpose(x, kernel.kernel, kernel.transposed)


def _matmul_stored_transpose(x, kernel, transposed):
    @tf.custom_gradient
    def matmul(x, kernel):
        def backward(dy):
            return tf.matmul(dy, transposed), tf.matmul(x, dy, transpose_a=True)

        return tf.matmul(x, kernel), backward

    return matmul(x, kernel)
