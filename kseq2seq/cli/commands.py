"""Level 5: `kseq2seq generate`, `evaluate`, `export`, `serve` and `demo`."""

import argparse
import json
import sys

from kseq2seq.cli.common import add_decoding_arguments, decoding_options, load_model
from kseq2seq.tasks.registry import get_task, task_for, task_names
from kseq2seq.utils import decode_utf8


def add_parsers(commands):
    demo = commands.add_parser("demo", help="train a built-in task end to end (default: the dates translator)")
    demo.add_argument("--task", default="translation", choices=task_names("demo"))
    demo.add_argument("--output", help="default: saved_models/dates, saved_models/shop (dialogue), "
                                       "saved_models/shapes (captioning), saved_models/restaurants (data_to_text)")
    demo.add_argument("--epochs", type=int, help="default: 3 (translation), 12 (dialogue), 15 (captioning), "
                                                 "10 (data_to_text)")
    demo.add_argument("--num-train", type=int, help="default: 20000 (translation), 4000 (dialogue), "
                                                    "3000 (captioning), 1500 records (data_to_text)")
    demo.add_argument("--seed", type=int, default=0)

    generate = commands.add_parser("generate", help="decode inputs with a saved model")
    generate.add_argument("--model", required=True, action="append",
                          help="a model folder (or .keras file); several --model decode as one ensemble")
    generate.add_argument("--batch-size", type=int, default=64)
    generate.add_argument("--prefix", help="text every output starts with (its tokens are forced)")
    generate.add_argument("texts", nargs="*", help="inputs to decode (one per argument; image paths for a "
                                                   "captioner); read from standard input, a line each, if none")
    add_decoding_arguments(generate)

    evaluate = commands.add_parser("evaluate", help="score a saved model (translation: BLEU and exact match; "
                                                    "summarization: ROUGE with confidence intervals)")
    evaluate.add_argument("--task", default="translation", choices=task_names("evaluate"))
    evaluate.add_argument("--model", help="a saved model folder (or .keras file)")
    evaluate.add_argument("--baseline", help="score a baseline instead of a model (summarization: lead3; "
                                             "data_to_text: template)")
    evaluate.add_argument("--source-file", help="translation: source sentences, one per line")
    evaluate.add_argument("--target-file", help="translation: references, line-aligned")
    evaluate.add_argument("--data", help="summarization: JSON lines with article/highlights, a .source file "
                                         "with a matching .target file, or tfds:cnn_dailymail; data_to_text: an "
                                         "E2E CSV (references grouped by MR)")
    evaluate.add_argument("--split", default="test", help="split of a tensorflow-datasets source (a file is one split)")
    evaluate.add_argument("--tfds-data-dir", help="tfds:cnn_dailymail: folder with (or for) the prepared data set")
    evaluate.add_argument("--manual-dir", help="tfds:cnn_dailymail: folder with the original story archives")
    evaluate.add_argument("--limit", type=int, help="only the first N examples (data_to_text: distinct MRs)")
    evaluate.add_argument("--batch-size", type=int, default=64)
    evaluate.add_argument("--report", help="write a JSON report here")
    evaluate.add_argument("--lowercase", action="store_true", help="translation: case-insensitive BLEU (sacreBLEU -lc)")
    add_decoding_arguments(evaluate)

    export = commands.add_parser("export", help="export a saved model for TF Serving (SavedModel) and/or TFLite")
    export.add_argument("--model", required=True, action="append",
                        help="a model folder (or .keras file); several --model export one ensemble")
    export.add_argument("--output", required=True, help="the version folder, e.g. saved_models/dates/1")
    export.add_argument("--overwrite", action="store_true")
    export.add_argument("--formats", default="saved_model", type=_formats,
                        help="comma-separated: saved_model, tflite (default: saved_model)")
    export.add_argument("--tflite-quantization", choices=["dynamic_range", "float16"])
    # Left out, the beam_search signatures take the model's own beam settings (its generation config).
    export.add_argument("--num-beams", type=int, help="beam_search signatures: beams")
    export.add_argument("--length-penalty", type=float, help="beam_search signatures: GNMT alpha")
    export.add_argument("--nbest", type=int, help="beam_search signatures: hypotheses returned")
    export.add_argument("--rerank", action=argparse.BooleanOptionalAction,
                        help="beam_search signatures: rerank the beams with the task's reranker")
    export.add_argument("--early-stopping", action=argparse.BooleanOptionalAction,
                        help="beam_search signatures: stop at the first step whose best candidate ends")

    average = commands.add_parser(
        "average-checkpoints", help="save the mean of a trained model's last N checkpoints as a model")
    average.add_argument("--model", required=True, help="the model folder `kseq2seq train` wrote")
    average.add_argument("--checkpoint-dir", help="its checkpoints (default: MODEL.checkpoints)")
    average.add_argument("--last", type=int, required=True, metavar="N")
    average.add_argument("--output", required=True)
    average.add_argument("--overwrite", action="store_true")

    serve = commands.add_parser("serve", help="serve a SavedModel over TF Serving's REST API")
    serve.add_argument("--model", required=True, help="a SavedModel folder or a folder of numbered versions")
    serve.add_argument("--name", help="model name in URLs (default: the model folder's name)")
    serve.add_argument("--demo", action=argparse.BooleanOptionalAction, default=True,
                       help="serve the web demo page at / (needs the trained model.keras beside the versions, "
                            "as `kseq2seq export --output MODEL/N` leaves it)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8501)
    serve.add_argument("--max-request-bytes", type=int, default=1 << 20)
    batching = serve.add_argument_group("request batching (TF Serving's flags and meanings)")
    batching.add_argument("--enable-batching", action=argparse.BooleanOptionalAction, default=True,
                          help="merge concurrent predict requests for the same signature into one model call")
    batching.add_argument("--max-batch-size", type=int, default=32, help="rows in one merged call")
    batching.add_argument("--batch-timeout-micros", type=int, default=2000,
                          help="how long a batch waits for more requests after its first one")
    batching.add_argument("--num-batch-threads", type=int, default=1, help="merged calls run at once")
    batching.add_argument("--max-enqueued-batches", type=int, default=64,
                          help="batches waiting at most; past it requests get 503")
    serve.add_argument("--file-system-poll-wait-seconds", type=float, default=1.0,
                       help="how often to look for a newer numbered version folder and serve it (TF Serving's "
                            "flag; 0: never)")


def _formats(text):
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _stdin_lines():
    """Standard input's lines; not UTF-8 is an error naming the line (not TensorFlow's conversion error)."""
    stream = getattr(sys.stdin, "buffer", None)
    text = decode_utf8(stream.read(), "standard input") if stream is not None else sys.stdin.read()
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r") for line in lines]


def _load_models(paths):
    """One task, or with several paths their ensemble."""
    if len(paths) == 1:
        return load_model(paths[0])
    from kseq2seq.tasks.ensemble import ensemble

    return ensemble([load_model(path) for path in paths])


def _read_inputs(model, texts):
    spec_name = task_for(getattr(model, "members", [model])[0])
    reader = get_task(spec_name).resolve("read_inputs") if spec_name else None
    return reader(texts) if reader else texts


def run_generate(args, out):
    """One output per line; with --nbest > 1, `input_index<TAB>score<TAB>text` lines, best first."""
    texts = args.texts or _stdin_lines()
    model = _load_models(args.model)
    records = model.generate(_read_inputs(model, texts), batch_size=args.batch_size, return_details=True,
                             prefix=args.prefix, **decoding_options(args))
    for i, record in enumerate(records):
        if len(record.texts) == 1:
            print(record.text, file=out)
            continue
        for hypothesis, score in zip(record.texts, record.scores):
            print(f"{i}\t{score:.4f}\t{hypothesis}", file=out)
    return 0


def run_evaluate(args, out):
    if args.nbest not in (None, 1):
        raise ValueError(f"Expected --nbest 1 for evaluation. Received: --nbest {args.nbest}")
    args.decoding = decoding_options(args)
    result = get_task(args.task).resolve("evaluate")(args, out)
    if args.report:
        with open(args.report, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=1, ensure_ascii=False)
    return 0


def run_export(args, out):
    beam = {"num_beams": args.num_beams, "length_penalty": args.length_penalty, "nbest": args.nbest,
            "rerank": args.rerank, "early_stopping": args.early_stopping}
    path = _load_models(args.model).export(args.output, formats=args.formats, overwrite=args.overwrite,
                                         beam_config={k: v for k, v in beam.items() if v is not None},
                                         tflite_quantization=args.tflite_quantization)
    print(f"Exported {' and '.join(args.formats)} to {path}", file=out)
    return 0


def run_average_checkpoints(args, out):
    from kseq2seq import averaging, saving

    model = load_model(args.model)
    folder = args.checkpoint_dir or args.model.rstrip("/\\") + ".checkpoints"
    paths = averaging.last_checkpoints(folder, args.last)
    averaging.average_checkpoints(model, paths)
    path = saving.save(model, args.output, {"averaged_checkpoints": paths}, overwrite=args.overwrite)
    print(f"Saved the average of {len(paths)} checkpoints to {path}", file=out)
    return 0


def run_serve(args, out):
    import signal
    import threading

    from kseq2seq import request_batching, serving, web_demo

    # Options are checked before the (slow) model loading.
    options = request_batching.BatchingOptions(args.max_batch_size, args.batch_timeout_micros,
                                               args.num_batch_threads, args.max_enqueued_batches)
    versions = serving.Versions(args.model, args.file_system_poll_wait_seconds)
    batcher = request_batching.RequestBatcher(options) if args.enable_batching else None
    model = versions.current
    name = args.name or serving.default_name(args.model)
    task_folder = web_demo.find_task_folder(args.model) if args.demo else None
    demo = web_demo.WebDemo(task_folder, name) if task_folder else None
    server = serving.make_server(versions, name, args.host, args.port, args.max_request_bytes, demo=demo,
                                 batcher=batcher)
    host, port = server.server_address[:2]
    print(f"Serving {model.path} as '{name}' (version {model.version}) on http://{host}:{port}/v1/models/{name}", file=out)
    print(f"Web demo: http://{host}:{port}/ (decoding with {task_folder})" if demo else
          "Web demo off: no trained task (model.keras) beside the served versions" if args.demo else
          "Web demo off (--no-demo)", file=out)
    out.flush()
    versions.start()
    # SIGTERM (docker stop, kill) stops taking requests and lets those being answered finish.
    signal.signal(signal.SIGTERM, lambda signum, frame: threading.Thread(target=server.shutdown).start())
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        versions.stop()
        if not server.drain(timeout=60):
            print("kseq2seq serve: requests still running after 60 s were cut off", file=sys.stderr)
        if batcher:
            batcher.stop()
        server.server_close()
    return 0


def run_demo(args, out):
    return get_task(args.task).resolve("demo")(args, out)
