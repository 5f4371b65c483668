"""Shared helpers for benchmarks: timing, machine description, and saving results (see render.py)."""

import argparse
import datetime
import json
import os
import platform
import resource
import statistics
import time


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
        f"TensorFlow {tf.__version__}; Keras {keras.__version__}; CPU flags: {cpu_flags()}"
    )


def cpu_flags():
    """The vector and matrix extensions that decide how fast this CPU trains: timings compare only between like machines."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return "unknown"
    shown = sorted(f for f in set(flags) if f in ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"))
    return ", ".join(shown) or "none of avx2, avx512f, amx"


def argument_parser(doc):
    """A benchmark's command line: its docstring as help, plus `--write`."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="save the result to benchmarks/results/ and rebuild docs/benchmarks.md")
    return parser


def report(name, title, description, body, write, machine_note=""):
    """Prints a result (title, what was run, the machine, then `body` lines); `write` also saves it.

    Saved as `benchmarks/results/<name>.json`, then docs/benchmarks.md is rebuilt from those results
    (`render.py`); `machine_note` follows the machine line (rates measured in the same run).
    """
    text = "\n".join([f"## {title}", "", description, "", f"Machine: {machine()}.{machine_note}", "", *body])
    print(text, flush=True)
    if write:
        save_result(name, title, description, f"{machine()}.{machine_note}", body)


def save_result(name, title, description, machine_line, body):
    """Writes `benchmarks/results/<name>.json` and rebuilds docs/benchmarks.md from the results."""
    import render

    result = {"name": name, "title": title, "description": description, "machine": machine_line,
              "date": datetime.date.today().isoformat(), "body": list(body)}
    with open(os.path.join(render.RESULTS, f"{name}.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1, ensure_ascii=False)
        f.write("\n")
    render.render()
