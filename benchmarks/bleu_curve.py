"""Validation BLEU against minutes of training, from the checkpoints of a `kseq2seq train` run.

    python benchmarks/bleu_curve.py --model saved_models/multi30k --source-file val.en --target-file val.de [--write]

Restores each checkpoint the run kept (`--keep-checkpoints`) into the saved
model and decodes the validation sources greedily and with the preset's beam
search. Minutes are the checkpoint's write time since the run wrote its
resolved config (so they include vocabulary learning and data preparation).
"""

import glob
import json
import os
import re
import sys

import tensorflow as tf

sys.path.insert(0, os.path.dirname(__file__))
from common import argument_parser, report  # noqa: E402

from kseq2seq.saving import load as load_model  # noqa: E402
from kseq2seq.datasets import text_files  # noqa: E402
from kseq2seq.metrics import corpus_bleu  # noqa: E402


def checkpoints(folder):
    """`(step, prefix, minutes)` of every checkpoint in `folder`, oldest first."""
    start = os.path.getmtime(os.path.join(folder, "config.yaml"))
    found = []
    for index in glob.glob(os.path.join(folder, "ckpt-*.index")):
        prefix = index[: -len(".index")]
        step = int(re.search(r"ckpt-(\d+)$", prefix).group(1))
        found.append((step, prefix, (os.path.getmtime(index) - start) / 60))
    return sorted(found)


def main(argv=None):
    parser = argument_parser(__doc__)
    parser.add_argument("--model", required=True, help="the model folder `kseq2seq train` wrote")
    parser.add_argument("--checkpoint-dir", help="default: MODEL.checkpoints")
    parser.add_argument("--source-file", required=True)
    parser.add_argument("--target-file", required=True)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--every", type=int, default=1, help="decode every Nth checkpoint (and the last)")
    parser.add_argument("--section", default="multi30k-bleu-curve", help="docs/benchmarks.md section to write")
    parser.add_argument("--title", default="Multi30k validation BLEU against training time")
    args = parser.parse_args(argv)
    folder = args.checkpoint_dir or args.model.rstrip("/") + ".checkpoints"
    task = load_model(args.model)
    pairs = text_files.load_text_pairs(args.source_file, args.target_file)
    sources, references = [s for s, _ in pairs], [t for _, t in pairs]
    beam = task.generation_options()
    rows, signature = [], None
    found = checkpoints(folder)
    for i, (step, prefix, minutes) in enumerate(found):
        if i % args.every and i != len(found) - 1:
            continue
        tf.train.Checkpoint(model=task).restore(prefix).expect_partial()
        row = {"step": step, "minutes": minutes}
        for name, options in (("greedy", {"sampler": "greedy"}), ("beam", beam)):
            hypotheses = task.generate(sources, batch_size=args.batch_size, **options)
            cased = corpus_bleu(hypotheses, references)
            row[name], signature = cased.score, cased.signature
            row[name + "_lc"] = corpus_bleu(hypotheses, references, lowercase=True).score
        rows.append(row)
        print(json.dumps(row), flush=True)
    with open(os.path.join(args.model, "metadata.json")) as f:
        metadata = json.load(f)
    description = (
        f"`python benchmarks/bleu_curve.py --model {args.model} --source-file {args.source_file} "
        f"--target-file {args.target_file}{f' --every {args.every}' if args.every > 1 else ''} "
        f"{f'--section {args.section} ' if args.section != 'multi30k-bleu-curve' else ''}--write`: "
        f"{'every' if args.every == 1 else f'every {args.every}th and the last'} kept checkpoint of the run (preset "
        f"`{metadata.get('preset')}`), restored and decoded on the {len(pairs):,} validation pairs; greedy and the "
        f"preset's beam search ({', '.join(f'{k} {beam[k]}' for k in ('num_beams', 'length_penalty') if k in beam)}). sacreBLEU "
        f"`{signature}`; \"lc\" = case-insensitive (`-lc`)."
    )
    lines = [
        "| minutes | step | greedy | beam | greedy (lc) | beam (lc) |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [f"| {r['minutes']:.1f} | {r['step']:,} | {r['greedy']:.2f} | {r['beam']:.2f} | {r['greedy_lc']:.2f} | "
              f"{r['beam_lc']:.2f} |" for r in rows]
    report(args.section, args.title, description, lines, args.write)


if __name__ == "__main__":
    main()
