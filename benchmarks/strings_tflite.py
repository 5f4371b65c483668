"""The string-in/string-out TFLite model against the SavedModel: sizes, batch-1 latency, equal outputs.

    python benchmarks/strings_tflite.py --model saved_models/multi30k_gru_avg [--count 200] [--write]

`--model` is a trained task folder with WordPiece tokenizers (a Multi30k
preset). It is exported (SavedModel and TFLite) to a temporary folder; the
first `--count` Multi30k validation sentences are decoded one at a time by
the SavedModel's `serving_default` (string in, string out), by
`tflite/strings.tflite` (string in, string out) and by `tflite/model.tflite`
(ids in, ids out: tokenizing left to the app, not timed). Latency is the
median of the calls after a warm-up; "same outputs" counts sentences whose
text equals the SavedModel's.
"""

import os
import sys
import tempfile

import numpy as np
import tensorflow as tf

sys.path.insert(0, os.path.dirname(__file__))
from common import argument_parser, report  # noqa: E402
from export import folder_size, latency_and_outputs  # noqa: E402

import kseq2seq  # noqa: E402
from kseq2seq import tflite_strings  # noqa: E402

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "multi30k", "val.en")


def main():
    parser = argument_parser(__doc__)
    parser.add_argument("--model", required=True)
    parser.add_argument("--count", type=int, default=200)
    args = parser.parse_args()
    task = kseq2seq.load(args.model)
    with open(DATA, encoding="utf-8") as f:
        sentences = [line.strip() for line in f][: args.count]
    with tempfile.TemporaryDirectory() as tmp:
        path = task.export(os.path.join(tmp, "1"), formats=("saved_model", "tflite"))
        saved = tf.saved_model.load(path).signatures["serving_default"]
        strings = tflite_strings.interpreter(open(os.path.join(path, "tflite", "strings.tflite"), "rb").read())
        ids = tf.lite.Interpreter(model_path=os.path.join(path, "tflite", "model.tflite"))
        run_strings, run_ids = strings.get_signature_runner("serving_default"), ids.get_signature_runner("serving_default")
        encoded = [task.preprocessor.encode_source(tf.constant([s]))[0]["encoder_token_ids"].numpy() for s in sentences]
        saved_ms, saved_out = latency_and_outputs(lambda s: saved(inputs=tf.constant([s]))["outputs"].numpy()[0], sentences)
        strings_ms, strings_out = latency_and_outputs(lambda s: run_strings(inputs=np.array([s]))["outputs"][0], sentences)
        ids_ms, _ = latency_and_outputs(lambda e: run_ids(encoder_token_ids=e)["token_ids"], encoded)
        sizes = {"saved": folder_size(path) - folder_size(os.path.join(path, "tflite")),
                 "strings": os.path.getsize(os.path.join(path, "tflite", "strings.tflite")),
                 "ids": os.path.getsize(os.path.join(path, "tflite", "model.tflite"))}
    same = sum(a == b for a, b in zip(saved_out, strings_out))
    mib = lambda n: f"{n / 2**20:.1f} MiB"  # noqa: E731
    body = ["| artifact | size | batch-1 latency (median) | same outputs as the SavedModel |", "|---|---:|---:|---:|",
            f"| SavedModel `serving_default` (text in, text out) | {mib(sizes['saved'])} | {saved_ms:.1f} ms | - |",
            f"| `strings.tflite` (text in, text out) | {mib(sizes['strings'])} | {strings_ms:.1f} ms | "
            f"{same} of {len(sentences)} |",
            f"| `model.tflite` (ids in, ids out) | {mib(sizes['ids'])} | {ids_ms:.1f} ms | - |"]
    config = task.generation_config
    description = (f"`python benchmarks/strings_tflite.py --model {args.model} --count {args.count}`: the first "
                   f"{len(sentences)} Multi30k validation sentences, one at a time, decoded as the model's generation "
                   f"config says (sampler {config.sampler}, {config.num_beams} beams); each artifact in this process.")
    report("strings-tflite", "TFLite text in, text out: size and batch-1 latency", description, body, args.write)


if __name__ == "__main__":
    main()
