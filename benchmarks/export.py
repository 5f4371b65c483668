"""Export artifacts: sizes, batch-1 latency of SavedModel vs TFLite, and the effect of TFLite quantization.

    python benchmarks/export.py [--model saved_models/dates] [--write]

Uses the dates translator that `make demo` saves (trains one like it if the
folder is missing), exports it in every format, then decodes the 1000 test
dates one at a time with each artifact and compares exact match.
"""

import os
import sys
import tempfile
import time

import numpy as np
import tensorflow as tf

sys.path.insert(0, os.path.dirname(__file__))
from common import argument_parser, report  # noqa: E402

import kseq2seq  # noqa: E402
from kseq2seq.saving import load as load_model  # noqa: E402
from kseq2seq.datasets.dates import load_dates  # noqa: E402


def folder_size(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def trained_model(path):
    if os.path.isdir(path):
        return load_model(path)
    train, _, _ = load_dates()
    translator = kseq2seq.Translator.from_preset("bahdanau_gru_small", train_texts=train)
    translator.fit(train, epochs=3, verbose=2)
    return translator


def latency_and_outputs(fn, inputs):
    fn(inputs[0])  # warm-up
    outputs, times = [], []
    for x in inputs:
        start = time.perf_counter()
        outputs.append(fn(x))
        times.append(time.perf_counter() - start)
    return np.median(times) * 1000, outputs


def main(argv=None):
    parser = argument_parser(__doc__)
    parser.add_argument("--model", default=os.path.join("saved_models", "dates"))
    parser.add_argument("--examples", type=int, default=1000)
    args = parser.parse_args(argv)

    translator = trained_model(args.model)
    _, _, test = load_dates()
    test = test[: args.examples]
    sources, references = [s for s, _ in test], [t for _, t in test]
    vocabulary = translator.preprocessor.target_tokenizer.vocabulary
    ids = [translator.preprocessor.tokenize_source([s]).numpy() for s in sources]

    def text(token_ids):
        token_ids = list(token_ids)
        end = token_ids.index(3) if 3 in token_ids else len(token_ids)
        return "".join(vocabulary[i] for i in token_ids[:end] if i > 3)

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        saved = translator.export(os.path.join(tmp, "full"), formats=("saved_model", "tflite"))
        serving = tf.saved_model.load(saved).signatures
        ms, out = latency_and_outputs(lambda s: serving["serving_default"](inputs=tf.constant([s]))["outputs"], sources)
        hyps = [o.numpy()[0].decode() for o in out]
        rows.append(("SavedModel, strings in/out (greedy)", folder_size(saved) - folder_size(os.path.join(saved, "tflite")), ms, hyps))
        ms, out = latency_and_outputs(lambda i: serving["generate_ids"](encoder_token_ids=tf.constant(i))["token_ids"], ids)
        rows.append(("SavedModel, ids in/out (greedy)", None, ms, [text(o.numpy()[0]) for o in out]))
        for name, quantization in (("float32", None), ("dynamic-range int8", "dynamic_range"), ("float16", "float16")):
            path = saved if quantization is None else translator.export(
                os.path.join(tmp, quantization), formats=("tflite",), tflite_quantization=quantization)
            model_file = os.path.join(path, "tflite", "model.tflite")
            runner = tf.lite.Interpreter(model_path=model_file).get_signature_runner("serving_default")
            ms, out = latency_and_outputs(lambda i: runner(encoder_token_ids=i)["token_ids"], ids)
            rows.append((f"TFLite {name}, ids in/out (greedy)", os.path.getsize(model_file), ms, [text(o[0]) for o in out]))

    lines = [
        "| artifact | size | batch-1 latency (ms) | test exact match |",
        "|---|---:|---:|---:|",
    ]
    for name, size, ms, hyps in rows:
        match = np.mean([h == r for h, r in zip(hyps, references)])
        size_text = "same folder" if size is None else f"{size / 1024:,.0f} KiB"
        lines.append(f"| {name} | {size_text} | {ms:.2f} | {match:.2%} |")
    report("export", "Export: artifact sizes and batch-1 latency",
           f"`python benchmarks/export.py{' --write' if args.write else ''}`: the `bahdanau_gru_small` dates "
           f"translator (`make demo`), {len(test)} test dates decoded one at a time; latency is the median per input "
           "after a warm-up.", lines, args.write)


if __name__ == "__main__":
    main()
