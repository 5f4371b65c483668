"""Training through the real input pipeline with TensorFlow's malloc patch and with kseq2seq's fix.

    python benchmarks/allocator.py [--rounds 2] [--steps 60] [--block 5] [--write]

The step is `kseq2seq train`'s for the `multi30k_gru_wordpiece` preset
(`Trainer` under `get_strategy()`), fed by the real input pipeline (WordPiece
tokenization in graph, length buckets, the distributed iterator) on the first
`--limit` Multi30k pairs. Two measurements:

- in one process, the two glibc settings in turn (`mallopt`, blocks of
  `--block` steps, alternating): steps/s and the user and system CPU time and
  minor page faults of the steps alone (`getrusage`);
- fresh processes in turn (A B C D, A B C D, ...): TensorFlow's patch kept
  (`KSEQ2SEQ_MALLOC=tensorflow`, the code before the fix), kseq2seq's
  thresholds (the default), and jemalloc or tcmalloc preloaded (`LD_PRELOAD`)
  where Debian's libjemalloc2 / libtcmalloc-minimal4 are installed.

Needs ../shared/data/multi30k.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from common import argument_parser, report  # noqa: E402

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "multi30k")
JEMALLOC = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"
TCMALLOC = "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4"
VARIANTS = {
    "before: TensorFlow's patch kept (M_TRIM_THRESHOLD 128 KiB)": {"KSEQ2SEQ_MALLOC": "tensorflow"},
    "after: kseq2seq's thresholds (default)": {"KSEQ2SEQ_MALLOC": "sound"},
    "jemalloc preloaded (for comparison)": {"KSEQ2SEQ_MALLOC": "tensorflow", "LD_PRELOAD": JEMALLOC},
    "tcmalloc preloaded (for comparison)": {"KSEQ2SEQ_MALLOC": "tensorflow", "LD_PRELOAD": TCMALLOC},
}


def training_step(args):
    """`kseq2seq train`'s step on Multi30k and an iterator of the real pipeline, after `--warmup` steps."""
    from kseq2seq.datasets import load_text_pairs
    from kseq2seq.tasks.translation import Translator
    from kseq2seq.training import Trainer, get_strategy

    pairs = load_text_pairs(os.path.join(DATA, "train.en"), os.path.join(DATA, "train.de"), limit=args.limit)
    strategy = get_strategy()
    with strategy.scope():
        task = Translator.from_preset("multi30k_gru_wordpiece", train_texts=pairs)
    trainer = Trainer(task, strategy)
    config = Translator.preset_config("multi30k_gru_wordpiece")
    step = trainer._step_function(training=True)
    ids = task.tokenize_dataset(pairs)
    iterator = iter(trainer._distributed(ids, config["batch_size"], 0, 0, 0, config["bucket_boundaries"]))
    for _ in range(args.warmup):
        step(iterator)
    return lambda: float(step(iterator)[0])


def measure(step, steps):
    usage, start = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
    for _ in range(steps):
        step()
    end, seconds = resource.getrusage(resource.RUSAGE_SELF), time.monotonic() - start
    return {"steps": steps, "seconds": seconds, "user": end.ru_utime - usage.ru_utime,
            "system": end.ru_stime - usage.ru_stime, "faults": end.ru_minflt - usage.ru_minflt}


def child(args):
    from kseq2seq import runtime

    result = measure(training_step(args), args.steps)
    result["churn"] = max(runtime.malloc_churn_by_size().values())
    print(json.dumps(result))


def in_process(args):
    """One process, TensorFlow's thresholds and ours set in turn (mallopt) for blocks of `--block` steps."""
    from kseq2seq import runtime

    libc = runtime._glibc()
    settings = {"tensorflow": (128 * 1024, 128 * 1024), "sound": (runtime.MMAP_THRESHOLD, runtime.TRIM_THRESHOLD)}
    step = training_step(args)
    totals = {mode: [] for mode in settings}
    for _ in range(args.steps // args.block):
        for mode, (mmap, trim) in settings.items():
            libc.mallopt(runtime.M_MMAP_THRESHOLD, mmap)
            libc.mallopt(runtime.M_TRIM_THRESHOLD, trim)
            step()  # the first step under new settings pays the change (a heap trimmed or grown)
            totals[mode].append(measure(step, args.block))
    print(json.dumps({mode: {key: sum(b[key] for b in blocks) for key in blocks[0]}
                      for mode, blocks in totals.items()}))


def run(args, mode, env=None):
    command = [sys.executable, __file__, mode, "--limit", str(args.limit), "--warmup", str(args.warmup),
               "--steps", str(args.steps), "--block", str(args.block)]
    env = {**os.environ, **(env or {}), "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if result.returncode:
        sys.exit(f"{mode} {env.get('LD_PRELOAD', '')} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main():
    parser = argument_parser(__doc__)
    parser.add_argument("--rounds", type=int, default=2, help="rounds of the fresh-process variants")
    parser.add_argument("--steps", type=int, default=40, help="timed steps per run (in-process: per setting)")
    parser.add_argument("--block", type=int, default=5, help="in-process: steps per turn of one setting")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--limit", type=int, default=6400)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--in-process", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child or args.in_process:
        return child(args) if args.child else in_process(args)
    if not os.path.isdir(DATA):
        sys.exit(f"Expected Multi30k at {DATA} (see ../shared/data/SOURCES.md).")
    turns = run(args, "--in-process")
    print("in process", turns, file=sys.stderr, flush=True)
    variants = [v for v in VARIANTS if os.path.exists(VARIANTS[v].get("LD_PRELOAD", "/"))]
    runs = {v: [] for v in variants}
    for _ in range(args.rounds):
        for variant in variants:
            runs[variant].append(run(args, "--child", VARIANTS[variant]))
            print(variant, runs[variant][-1], file=sys.stderr, flush=True)
    report("allocator", "Memory allocator: TensorFlow's malloc patch against kseq2seq's fix",
           f"`python benchmarks/allocator.py --rounds {args.rounds} --steps {args.steps} --block {args.block}`: "
           f"`kseq2seq train`'s training step for the `multi30k_gru_wordpiece` preset (`Trainer`, "
           f"`get_strategy()`), fed by the real input pipeline (WordPiece in graph, length buckets, the "
           f"distributed iterator) on the first {args.limit} Multi30k pairs, after {args.warmup} warm-up steps.",
           table(turns, runs, args), args.write, machine_note=f" CPU flags with bf16/AMX: {bf16_flags()}.")


HEADER = ["| variant | steps/s | vs before | CPU s/step | vs before | system share of CPU | minor faults/step |",
          "|---|---:|---:|---:|---:|---:|---:|"]


def row(name, r, base):
    cpu = (r["user"] + r["system"]) / r["steps"]
    return (f"| {name} | {r['steps'] / r['seconds']:.3f} | {r['steps'] / r['seconds'] / base['rate']:.2f}x | "
            f"{cpu:.3f} | {cpu / base['cpu']:.2f}x | {r['system'] / (r['user'] + r['system']):.0%} | "
            f"{r['faults'] / r['steps']:,.0f} |")


def rates(r):
    return {"rate": r["steps"] / r["seconds"], "cpu": (r["user"] + r["system"]) / r["steps"]}


def table(turns, runs, args):
    lines = [f"**In one process, in turn** ({args.steps} steps under each setting, in blocks of {args.block} "
             "alternating, set with `mallopt`; the machine's drift and the process's thread layout hit both alike). "
             "Before: TensorFlow's patch where it lands before any large buffer was freed (both thresholds 128 KiB).",
             "", *HEADER]
    base = rates(turns["tensorflow"])
    lines.append(row("before: TensorFlow's patch (thresholds 128 KiB)", turns["tensorflow"], base))
    lines.append(row("after: kseq2seq's thresholds (mmap 32 MiB, trim 64 MiB)", turns["sound"], base))
    lines += ["", f"**Fresh processes, in turn** ({args.rounds} rounds, {args.steps} steps each; the rounds' "
              "steps, seconds and CPU time summed). Whole-process settings: TensorFlow's patch as it lands in `kseq2seq train`; allocators "
              "preloaded with `LD_PRELOAD`. The last column: the share of a freed block's pages that fault again "
              "when it is allocated anew, after training (the worst of 256 KiB to 16 MiB blocks).", "",
              HEADER[0] + " pages faulted again per reused block |", HEADER[1] + "---:|"]
    pooled = {v: {key: sum(r[key] for r in rs) for key in ("steps", "seconds", "user", "system", "faults")}
              for v, rs in runs.items()}
    base = rates(next(iter(pooled.values())))
    for variant, r in pooled.items():
        lines.append(row(variant, r, base) + f" {max(x['churn'] for x in runs[variant]):.0%} |")
    lines += ["", "Each run, steps/s: " + "; ".join(
        f"{variant.split(':')[0].split(' (')[0]} " + ", ".join(f"{r['steps'] / r['seconds']:.2f}" for r in rs)
        for variant, rs in runs.items())]
    return lines


def bf16_flags():
    from kseq2seq.runtime import BF16_FLAGS, cpu_flags

    flags = cpu_flags()
    return ", ".join(f for f in ("avx2", "avx512f", *BF16_FLAGS) if f in flags) or "none"


if __name__ == "__main__":
    main()
