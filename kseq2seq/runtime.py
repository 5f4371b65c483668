"""Level 1: the process's runtime for training: glibc's malloc parameters, and bfloat16 without hardware.

TensorFlow's `GeneratorDataset` kernel, which every `tf.distribute` iterator
(`MultiDeviceIterator`) and `Dataset.from_generator` create, calls
`mallopt(M_TRIM_THRESHOLD, 128 KiB)` the first time it runs in a process.
Setting any threshold turns off glibc's dynamic mmap threshold, which stays at
128 KiB: from then on every tensor buffer above 128 KiB is mapped on `malloc`,
unmapped on `free`, and page-faulted again page by page on its next use: the
kernel's share of training's CPU time grows several-fold (docs/benchmarks.md).

`settle_malloc()` makes that one-time call happen now (it cannot happen twice)
and then sets the thresholds glibc's own dynamic rule would reach: buffers up
to 32 MiB come from the heap and are reused. The kseq2seq command line,
`Trainer` and `Seq2SeqTask.fit` call it; other Python code can too. Set
`KSEQ2SEQ_MALLOC=tensorflow` to keep TensorFlow's setting (the benchmarks'
"before").
"""

import ctypes
import functools
import logging
import os
import resource

logger = logging.getLogger("kseq2seq.runtime")

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
# glibc's ceiling for the dynamic mmap threshold on 64-bit (DEFAULT_MMAP_THRESHOLD_MAX), and the trim
# threshold its dynamic rule sets beside it (twice the mmap threshold).
MMAP_THRESHOLD = 32 * 1024 * 1024
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD
MALLOC_ENV = "KSEQ2SEQ_MALLOC"
MALLOC_MODES = ("sound", "tensorflow")

# mixed_bfloat16 / float32 training speed measured on CPUs without bf16 instructions (docs/training.md).
BF16_EMULATED_SPEED = 0.82
BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@functools.cache
def _glibc():
    """The process's C library when it is glibc (it has `mallopt`), else None; opened once."""
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018  (absent outside glibc: musl, macOS)
    except (OSError, AttributeError):
        return None
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    return libc


def malloc_mode():
    mode = os.environ.get(MALLOC_ENV, "sound")
    if mode not in MALLOC_MODES:
        raise ValueError(f"Expected {MALLOC_ENV} among {list(MALLOC_MODES)}. Received: {MALLOC_ENV}={mode!r}")
    return mode


@functools.cache
def settle_malloc():
    """Runs TensorFlow's one-time malloc patch now, then restores sound thresholds; idempotent.

    Returns what was done: "sound" (thresholds set), "tensorflow" (kept, by
    `KSEQ2SEQ_MALLOC`) or "unsupported" (not glibc).
    """
    mode = malloc_mode()
    libc = _glibc()
    if libc is None:
        return "unsupported"
    _run_generator_dataset()
    if mode == "tensorflow":
        return mode
    if not (libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) and libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)):
        logger.warning("mallopt refused the thresholds; buffers above 128 KiB stay mapped per use.")
        return "unsupported"
    return mode


def _run_generator_dataset():
    """Iterates a one-element `from_generator` dataset: its `GeneratorDataset` kernel applies the patch."""
    import tensorflow as tf

    dataset = tf.data.Dataset.from_generator(lambda: iter((0,)), output_signature=tf.TensorSpec([], tf.int32))
    next(iter(dataset))


def malloc_churn(size=1 << 20, repeats=64):
    """Minor page faults per `malloc`/touch/`free` of a `size`-byte block, as this process allocates now.

    Near 0 when freed blocks are reused; `size / 4096` when each one is
    mapped afresh (TensorFlow's patch in effect).
    """
    libc = _glibc()
    if libc is None:
        return None
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(repeats):
        block = libc.malloc(size)
        ctypes.memset(block, 1, size)
        libc.free(block)
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / repeats


def malloc_churn_by_size(sizes=(1 << 18, 1 << 20, 1 << 22, 1 << 24)):
    """{size in bytes: the share of its pages faulted again per reuse}, 0 (reused) to 1 (mapped afresh)."""
    return {size: malloc_churn(size) / (size // 4096) for size in sizes} if _glibc() else {}


def cpu_flags(path="/proc/cpuinfo"):
    """The CPU's feature flags (empty where /proc/cpuinfo is absent)."""
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def warn_if_bfloat16_emulated(policy, flags=None):
    """Logs a warning (and returns True) when `policy` computes in bfloat16 on a CPU without bf16 instructions."""
    name = getattr(policy, "name", policy)
    if "bfloat16" not in str(name):
        return False
    import tensorflow as tf

    if tf.config.list_logical_devices("GPU"):
        return False
    flags = cpu_flags() if flags is None else flags
    if flags and not any(flag in flags for flag in BF16_FLAGS):
        logger.warning(
            "%s on a CPU without bfloat16 instructions (no %s in its flags): bfloat16 math is emulated, and "
            "training measured %.2fx the float32 speed on such a CPU. Use float32 here; CPUs with avx512_bf16 "
            "or AMX gain (docs/training.md).", name, " or ".join(BF16_FLAGS), BF16_EMULATED_SPEED)
        return True
    return False


def prepare_for_training(policy=None):
    """What every training entry point does first: sound malloc thresholds, and the bfloat16 warning."""
    settle_malloc()
    if policy is not None:
        _warn_once(getattr(policy, "name", policy))


@functools.cache
def _warn_once(name):
    return warn_if_bfloat16_emulated(name)
