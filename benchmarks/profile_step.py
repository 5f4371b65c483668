"""Where a training step's time goes: TensorFlow profiler op times of our step and the tutorial-style reference.

    python benchmarks/profile_step.py [--units 1024] [--steps 3] [--write]

Runs the same steps as train_throughput.py (ours: the input-feeding Bahdanau
GRU translator under `Trainer`; the reference: the tutorial style with keys
projected once) under `tf.profiler`, reads the trace, and sums each op's
execution time by kind (matrix multiplies, element-wise math, softmax and
cross-entropy, loop bookkeeping, ...) and by where it ran (forward time loop,
backward time loop, outside the loops). Op times are summed over TensorFlow's
threads, so they can add up to more than the wall-clock time when ops overlap.
"""

import collections
import glob
import os
import sys
import tempfile

import tensorflow as tf
from tensorflow.tsl.profiler.protobuf import xplane_pb2

sys.path.insert(0, os.path.dirname(__file__))
from common import argument_parser, report, timed  # noqa: E402
from train_throughput import BATCH, LENGTH, VOCAB, kseq2seq_variant, tutorial_variant  # noqa: E402

KINDS = [  # first match wins; op types as the trace names them (oneDNN kernels are _Mkl*)
    ("matrix multiply", ("MatMul", "FusedMatMul", "BatchMatMul", "BatchMatMulV2", "Einsum")),
    ("softmax, cross-entropy", ("Softmax", "LogSoftmax", "SoftmaxGrad", "SparseSoftmaxCrossEntropyWithLogits")),
    ("tanh / sigmoid and their gradients", ("Tanh", "TanhGrad", "Sigmoid", "SigmoidGrad")),
    ("element-wise arithmetic", ("Mul", "AddV2", "Add", "Sub", "RealDiv", "Neg", "Square", "Sqrt", "Maximum",
                                 "Minimum", "Select", "SelectV2", "Cast", "AddN", "BiasAdd", "BiasAddGrad")),
    ("reductions", ("Sum", "Mean", "Max", "Prod", "ArgMax", "L2Loss")),
    ("copies: concat, slice, transpose, gather, reshape", ("ConcatV2", "Split", "SplitV", "Slice", "StridedSlice",
                                                          "StridedSliceGrad", "Transpose", "GatherV2", "Pack",
                                                          "Unpack", "Reshape", "Tile", "UnsortedSegmentSum",
                                                          "ResourceGather", "BroadcastTo", "Fill", "ZerosLike",
                                                          "OnesLike", "Identity")),
    ("loop and TensorArray bookkeeping", ("Enter", "Exit", "Merge", "Switch", "NextIteration", "LoopCond", "Less",
                                          "TensorListPushBack", "TensorListPopBack", "TensorListGetItem",
                                          "TensorListSetItem", "TensorListStack", "TensorListFromTensor",
                                          "TensorListReserve", "TensorListElementShape", "StackV2", "StackPushV2",
                                          "StackPopV2", "TensorArrayV3", "TensorArrayWriteV3", "TensorArrayReadV3",
                                          "TensorArrayGatherV3", "TensorArrayScatterV3", "TensorArraySizeV3")),
    ("optimizer update", ("ResourceApplyAdam", "AssignVariableOp", "AssignAddVariableOp", "ReadVariableOp",
                          "AssignSubVariableOp")),
]


def kind_of(op_type):
    base = op_type.replace("_MklNative", "").replace("_MklFused", "").replace("_Mkl", "")
    for kind, types in KINDS:
        if base in types:
            return kind
    return "other"


def region_of(op_name):
    if "while_grad" in op_name or "gradients/while" in op_name:
        return "backward loop"
    if "/while/" in op_name:
        return "forward loop"
    return "outside the loops"


def profile(step, steps, folder):
    # Wall clock without the profiler, which slows the many small ops of a time loop.
    wall = timed(step, steps)
    tf.profiler.experimental.start(folder)
    for _ in range(steps):
        step()
    tf.profiler.experimental.stop()
    trace = sorted(glob.glob(os.path.join(folder, "**", "*.xplane.pb"), recursive=True))[-1]
    space = xplane_pb2.XSpace()
    with open(trace, "rb") as f:
        space.ParseFromString(f.read())
    by_kind, by_region = collections.Counter(), collections.Counter()
    for plane in space.planes:
        if plane.name != "/host:CPU":
            continue
        for line in plane.lines:
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                if ":" not in name or "::" in name:
                    continue  # executor and runtime frames, not ops
                op_name, op_type = name.rsplit(":", 1)
                if not op_type[:1].isalpha() and not op_type.startswith("_Mkl"):
                    continue  # the function call around the whole step (" __inference_step_N")
                seconds = event.duration_ps / 1e12 / steps
                by_kind[kind_of(op_type)] += seconds
                by_region[region_of(op_name)] += seconds
    return wall, by_kind, by_region


def loop_product_rates(units, embedding=256, repeats=20):
    """GFLOP/s of the products a time loop's step runs for the GRU input kernel `W` `[inputs × 3·units]`.

    The products are the ones TensorFlow's MatMul gradient emits (`dy Wᵀ` as
    `transpose_b`, `xᵀ dy` as `transpose_a`), the input gradient with `Wᵀ`
    stored (`loop_kernels.loop_matmul`), and the weight gradient of all steps
    at once. Operands are function arguments, so Grappler cannot fold a
    stored transpose back into the product.
    """
    inputs, outputs = embedding + units, 3 * units  # [embedding; context] with a unidirectional encoder
    x, dy = tf.random.normal([BATCH, inputs]), tf.random.normal([BATCH, outputs])
    kernel = tf.random.normal([inputs, outputs])
    kernel_t = tf.transpose(kernel)
    xs, dys = tf.random.normal([BATCH * LENGTH, inputs]), tf.random.normal([BATCH * LENGTH, outputs])
    products = {
        "forward `x W`": (lambda a, b: tf.matmul(a, b), (x, kernel), BATCH),
        "input gradient `dy Wᵀ` as TensorFlow emits it (`transpose_b`)":
            (lambda a, b: tf.matmul(a, b, transpose_b=True), (dy, kernel), BATCH),
        "input gradient with `Wᵀ` stored (ours)": (lambda a, b: tf.matmul(a, b), (dy, kernel_t), BATCH),
        "weight gradient `xᵀ dy` per step (`transpose_a`)":
            (lambda a, b: tf.matmul(a, b, transpose_a=True), (x, dy), BATCH),
        f"weight gradient `xᵀ dy` for all {LENGTH} steps at once":
            (lambda a, b: tf.matmul(a, b, transpose_a=True), (xs, dys), BATCH * LENGTH),
    }
    rates = {}
    for label, (product, operands, rows) in products.items():
        compiled = tf.function(product)
        seconds = timed(lambda: compiled(*operands).numpy(), repeats)
        rates[label] = 2 * rows * inputs * outputs / seconds / 1e9
    return inputs, outputs, rates


def main(argv=None):
    parser = argument_parser(__doc__)
    parser.add_argument("--units", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args(argv)
    source = tf.random.uniform([BATCH, LENGTH], 4, VOCAB, tf.int32, seed=1)
    target = tf.random.uniform([BATCH, LENGTH], 4, VOCAB, tf.int32, seed=2)
    variants = {
        "ours (input feeding, fp32)": kseq2seq_variant(args.units, source, target),
        "tutorial style, keys once": tutorial_variant(args.units, True, False, source, target),
    }
    results = {}
    for name, step in variants.items():
        with tempfile.TemporaryDirectory() as folder:
            results[name] = profile(step, args.steps, folder)
        wall, by_kind, _ = results[name]
        print(f"{name}: {wall * 1e3:.0f} ms/step wall, {sum(by_kind.values()) * 1e3:.0f} ms of op time (profiled)")
    description = (
        f"`python benchmarks/profile_step.py --units {args.units}{' --write' if args.write else ''}`: "
        f"`tf.profiler` op times, mean of {args.steps} profiled steps, batch {BATCH}, lengths {LENGTH}, "
        f"vocabularies {VOCAB}. The wall clock is the median of {args.steps} steps without the profiler, which "
        "slows the many small ops of a time loop. Op times are summed over TensorFlow's threads (ops that overlap "
        "count twice), so a column's op times can add up to more than its wall-clock step. Regions: ours runs its "
        "time loop as a `tf.while_loop`; the tutorial style unrolls its time loop, and its \"loops\" are the "
        "one-step loops inside each Keras GRU call."
    )
    lines = [
        "| ms per step | " + " | ".join(results) + " |",
        "|---|" + "---:|" * len(results),
        "| wall clock | " + " | ".join(f"{r[0] * 1e3:,.0f}" for r in results.values()) + " |",
    ]
    for index, label in ((1, "kind"), (2, "region")):
        keys = sorted({k for r in results.values() for k in r[index]},
                      key=lambda k: -max(r[index][k] for r in results.values()))
        for key in keys:
            cells = []
            for r in results.values():
                total = sum(r[index].values())
                cells.append(f"{r[index][key] * 1e3:,.0f} ({r[index][key] / total:.0%})")
            lines.append(f"| {label}: {key} | " + " | ".join(cells) + " |")
    inputs, outputs, rates = loop_product_rates(args.units)
    lines += [
        "",
        f"The products of one loop step for the GRU input kernel (`[{BATCH} × {inputs}]` inputs, "
        f"`[{inputs} × {outputs}]` kernel), measured in the same run:",
        "",
        "| product | GFLOP/s |",
        "|---|---:|",
    ] + [f"| {label} | {rate:.0f} |" for label, rate in rates.items()]
    report(f"profile-units-{args.units}", f"Where the training step's time goes, units {args.units}", description,
           lines, args.write)


if __name__ == "__main__":
    main()
