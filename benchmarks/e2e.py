"""E2E data-to-text: BLEU, ROUGE-L, slot error rate and MRs/s of trained models and the template baseline.

    python benchmarks/e2e.py --data ../shared/data/e2e/dev.csv \
        --model "e2e_lstm, 60 min=saved_models/e2e_lstm" [--model LABEL=DIR ...] [--name e2e] [--write]

Every model is scored greedily, with its preset's beam search, and with
the beam reranked by slot errors (`rerank=True`), one output
per distinct MR against all its references, exactly as `kseq2seq evaluate
--task data_to_text` scores it (`score_outputs`); the template baseline
(`template`, one fixed sentence pattern) in the same run. MRs/s is the wall
time of `generate` over all MRs in batches of 64, after one warm-up batch
(tracing excluded). The training steps come from the model's metadata.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from common import argument_parser, report  # noqa: E402

from kseq2seq.datasets.e2e import group_references, load_e2e_csv  # noqa: E402
from kseq2seq.runtime import cpu_flags  # noqa: E402
from kseq2seq.saving import load as load_model  # noqa: E402
from kseq2seq.tasks.data_to_text_io import score_outputs, template  # noqa: E402


def timed_outputs(system, mrs, batch_size=64):
    system(mrs[:batch_size])  # warm-up: traces the decoding function
    started = time.perf_counter()
    outputs = []
    for start in range(0, len(mrs), batch_size):
        outputs.extend(system(mrs[start : start + batch_size]))
    return outputs, len(mrs) / (time.perf_counter() - started)


def row(label, decoding, outputs, speed, mrs, references):
    scores = score_outputs(mrs, outputs, references)
    kinds = scores["slot_errors"]
    print(json.dumps({"system": label, "decoding": decoding, **{k: v for k, v in scores.items() if k != "per_example"},
                      "mrs_per_second": speed}), flush=True)
    return (f"| {label} | {decoding} | {scores['bleu']:.2f} | {scores['rouge_l']:.2f} | "
            f"{scores['slot_error_rate']:.2f} ({kinds['missing']}/{kinds['wrong']}/{kinds['added']}/{kinds['repeated']}) "
            f"| {speed:,.1f} |")


def main(argv=None):
    parser = argument_parser(__doc__)
    parser.add_argument("--data", required=True, help="an E2E CSV (dev)")
    parser.add_argument("--model", action="append", default=[], metavar="LABEL=DIR")
    parser.add_argument("--name", default="e2e", help="the section's marker in docs/benchmarks.md")
    parser.add_argument("--wide-beams", type=int, nargs="*", default=[10],
                        help="also score reranked beam search with these beam counts")
    args = parser.parse_args(argv)
    mrs, references = group_references(load_e2e_csv(args.data))
    lines = ["| system | decoding | BLEU | ROUGE-L | SER % (missing/wrong/added/repeated) | MRs/s |",
             "|---|---|---:|---:|---:|---:|"]
    outputs, speed = timed_outputs(lambda batch: [template(mr) for mr in batch], mrs)
    lines.append(row("template baseline", "—", outputs, speed, mrs, references))
    steps = []
    for spec in args.model:
        label, _, path = spec.rpartition("=")
        model = load_model(path)
        with open(os.path.join(path, "metadata.json"), encoding="utf-8") as f:
            history = json.load(f).get("history") or {}
        steps.append(f"{label}: {history['steps']:,} steps" if history.get("steps") else f"{label}: steps unknown")
        beam = model.generation_options(sampler="beam")
        beam_label = f"beam {beam.num_beams}, α {beam.length_penalty}"
        for decoding, options in (("greedy", {"sampler": "greedy"}),
                                  (beam_label, {"sampler": "beam", "rerank": False}),
                                  (beam_label + ", reranked", {"sampler": "beam", "rerank": True}),
                                  *[(f"beam {n}, α {beam.length_penalty}, reranked",
                                     {"sampler": "beam", "rerank": True, "num_beams": n}) for n in args.wide_beams]):
            outputs, speed = timed_outputs(lambda batch: model.generate(batch, batch_size=64, **options), mrs)
            lines.append(row(label, decoding, outputs, speed, mrs, references))
    description = (
        f"`python benchmarks/e2e.py --data {args.data} "
        + " ".join(f'--model "{m}"' for m in args.model)
        + (f" --name {args.name}" if args.name != "e2e" else "")
        + (" --wide-beams " + " ".join(map(str, args.wide_beams)) if args.wide_beams != [10] else "")
        + f" --write`: {len(mrs)} distinct MRs, {sum(map(len, references)):,} references. BLEU: sacreBLEU, lowercased, "
        "references grouped by MR; ROUGE-L: F1 against the best reference; SER: `kseq2seq.slot_errors` (whose "
        "wordings the reranker also uses, in graph: reranked SER is measured by the rules it optimizes). "
        + ("Training: " + "; ".join(steps) + "." if steps else "")
    )
    flags = sorted(cpu_flags() & {"avx2", "avx512f", "avx512_bf16", "amx_bf16"})
    report(args.name, f"Data-to-text: E2E ({os.path.basename(os.path.dirname(os.path.abspath(args.data)))}, "
           f"{os.path.basename(args.data)})", description, lines, args.write,
           machine_note=f" CPU flags: {', '.join(flags) or 'none of avx2/avx512f'}.")


if __name__ == "__main__":
    main()
