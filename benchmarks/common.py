"""Shared helpers for benchmarks: timing, machine description, and docs/benchmarks.md sections."""

import os
import platform
import re
import statistics
import time

DOC = os.path.join(os.path.dirname(__file__), "..", "docs", "benchmarks.md")


def timed(fn, repeats):
    """Calls `fn` once to warm up (tracing, compilation), then `repeats` times; returns the median seconds."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


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


def write_section(name, body):
    """Replaces (or appends) the section between `<!-- name:begin -->` and `<!-- name:end -->`."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    text = open(DOC).read() if os.path.exists(DOC) else "# Benchmarks\n"
    block = f"{begin}\n{body.strip()}\n{end}"
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    with open(DOC, "w") as f:
        f.write(text)
