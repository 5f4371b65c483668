"""Shared helpers for benchmarks: timing, machine description, and docs/benchmarks.md sections."""

import argparse
import os
import platform
import re
import resource
import statistics
import time

DOC = os.path.join(os.path.dirname(__file__), "..", "docs", "benchmarks.md")


def timed(fn, repeats):
    """Calls `fn` once to warm up (tracing, compilation), then `repeats` times; returns the median seconds."""
    fn()
    return time_in_turn({"fn": fn}, repeats)["fn"]


def time_in_turn(steps, repeats, cpu=None):
    """Median seconds of each of `steps` (name -> function, each already run once to trace and compile), called
    in turn `repeats` times, so that the drift of a shared machine hits every one alike.

    `cpu`, a dict, receives each step's summed user and system CPU seconds: `{name: (user, system)}`.
    """
    times = {name: [] for name in steps}
    used = {name: [0.0, 0.0] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            usage, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
            end = resource.getrusage(resource.RUSAGE_SELF)
            used[name][0] += end.ru_utime - usage.ru_utime
            used[name][1] += end.ru_stime - usage.ru_stime
    if cpu is not None:
        cpu.update({name: tuple(values) for name, values in used.items()})
    return {name: statistics.median(values) for name, values in times.items()}


def matmul_gflops(dtype, n=2048, repeats=10):
    """Measured matrix-multiply rate (n x n by n x n) in GFLOP/s: the compute ceiling."""
    import tensorflow as tf

    a = tf.random.normal([n, n], dtype=tf.float32)
    a, b = tf.cast(a, dtype), tf.cast(tf.transpose(a), dtype)
    matmul = tf.function(lambda: tf.matmul(a, b))
    return 2 * n**3 / timed(lambda: matmul().numpy(), repeats) / 1e9


def memory_gbytes_per_second(mib=1024, repeats=10):
    """Measured read bandwidth (a sum over a float32 array far larger than the caches) in GB/s."""
    import tensorflow as tf

    x = tf.random.uniform([mib * 2**18])
    total = tf.function(lambda: tf.reduce_sum(x))
    return mib * 2**20 / timed(lambda: total().numpy(), repeats) / 1e9


def machine():
    import keras
    import tensorflow as tf

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = f"{names[0]} x{len(names)}" if names else cpu
    except OSError:
        pass
    gpus = tf.config.list_physical_devices("GPU")
    return (
        f"{cpu}; GPUs: {len(gpus)}; Python {platform.python_version()}; "
        f"TensorFlow {tf.__version__}; Keras {keras.__version__}"
    )


def argument_parser(doc):
    """A benchmark's command line: its docstring as help, plus `--write`."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="update this benchmark's section of docs/benchmarks.md")
    return parser


def report(name, title, description, body, write, machine_note=""):
    """Prints a docs section (title, what was run, the machine, then `body` lines); `write` also saves it.

    `name` is the section's marker in docs/benchmarks.md; `machine_note` follows the machine line (rates
    measured in the same run).
    """
    text = "\n".join([f"## {title}", "", description, "", f"Machine: {machine()}.{machine_note}", "", *body])
    print(text, flush=True)
    if write:
        write_section(name, text)


def write_section(name, body):
    """Replaces (or appends) the section between `<!-- name:begin -->` and `<!-- name:end -->`."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    text = open(DOC).read() if os.path.exists(DOC) else "# Benchmarks\n"
    block = f"{begin}\n{body.strip()}\n{end}"
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    with open(DOC, "w") as f:
        f.write(text)
