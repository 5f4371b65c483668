"""Level 1: where a decoding loop's tensors may change shape, and the loop shapes that let them.

A step may keep a cache that grows by one position a step (the
Transformer's self-attention keys and values), so that reordering beams
and attending cost what the positions so far cost, not the longest
decoding. XLA and the TFLite converter need every loop tensor's shape
fixed; there a model keeps a full-length cache instead. `dynamic_shapes()`
tells a model which it is in, when it builds its initial state; a state
tensor that starts with a 0-size axis grows along it (`loop_invariants`).
"""

import contextlib
import contextvars

import tensorflow as tf
from tensorflow.python.ops import control_flow_util  # private, but TF's own while_v2 asks it the same question

_FIXED_SHAPES = contextvars.ContextVar("kseq2seq_fixed_shapes", default=False)


@contextlib.contextmanager
def fixed_shapes():
    """Decodings traced inside keep every loop tensor's shape (no beam compaction, no growing caches), for
    converters that need it.

    The TFLite converter takes a loop whose tensors shrink, and the model then crashes in the
    interpreter; XLA is detected without this.
    """
    token = _FIXED_SHAPES.set(True)
    try:
        yield
    finally:
        _FIXED_SHAPES.reset(token)


def dynamic_shapes():
    """True where decoding loops may change their tensors' shapes: outside XLA and `fixed_shapes()`."""
    return not (_FIXED_SHAPES.get()
                or control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph()))


def loop_invariants(loop_vars):
    """The static shapes of `loop_vars`, with every 0-size axis left open where `dynamic_shapes()` (a state
    tensor that starts empty along an axis grows along it)."""
    relax = dynamic_shapes()

    def invariant(x):
        shape = x.shape
        if not relax or shape.rank is None:
            return shape
        return tf.TensorShape([None if size == 0 else size for size in shape.as_list()])

    return tf.nest.map_structure(invariant, loop_vars)
