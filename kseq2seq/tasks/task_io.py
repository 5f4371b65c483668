"""Level 3: the built-in tasks' data loaders, evaluators and input readers, as the task registry names them.

Each takes the command's options (any object with the command line's
attribute names, e.g. an `argparse.Namespace`) and imports its data
libraries when called.
"""

import json
import logging

logger = logging.getLogger(__name__)


def text_pairs(options):
    """`(train, validation)` pairs from `--dataset`, `--data` (JSON lines), `--tsv` or `--source/target-file`."""
    from kseq2seq.datasets import BUILTIN, text_files

    if options.dataset:
        train, validation, _ = BUILTIN[options.dataset](num_train=options.limit or 5000, num_test=0)
        return train, validation
    if options.data:
        return summarization_pairs(options)
    if options.tsv:
        train = text_files.load_tsv(options.tsv, limit=options.limit)
    elif options.source_file and options.target_file:
        train = text_files.load_text_pairs(options.source_file, options.target_file, limit=options.limit)
    else:
        raise ValueError("Expected --dataset, --data, --tsv, or --source-file and --target-file. Received: none")
    validation = None
    if options.validation_source_file or options.validation_target_file:
        validation = text_files.load_text_pairs(options.validation_source_file, options.validation_target_file)
    return train, validation


def summarization_pairs(options):
    """`--dataset news`, or `--data`/`--validation-data` JSON lines with article/highlights fields."""
    from kseq2seq.datasets import summarization

    if not options.data:
        return text_pairs(options)
    train = summarization.load_jsonl(options.data, limit=options.limit)[0]
    validation = summarization.load_jsonl(options.validation_data)[0] if options.validation_data else None
    return train, validation


def dialogue_pairs(options):
    """`--dataset shop` (generated) or `--data`/`--validation-data` dialogue JSON lines."""
    from kseq2seq.datasets.dialogue import load_dialogue_jsonl, load_shop_dialogues

    if options.dataset == "shop":
        train, validation, _ = load_shop_dialogues(num_train=options.limit or 4000, num_test=0)
        return train, validation
    if not options.data:
        raise ValueError("Expected --dataset shop or --data (dialogue JSON lines) for --task dialogue. Received: none")
    train = load_dialogue_jsonl(options.data, limit=options.limit)[0]
    validation = load_dialogue_jsonl(options.validation_data)[0] if options.validation_data else None
    return train, validation


def read_conversations(lines):
    """`kseq2seq generate` lines for a Responder: a JSON list of turns, or turns separated by ` ||| `."""
    conversations = []
    for i, line in enumerate(lines):
        try:
            turns = json.loads(line) if line.lstrip().startswith("[") else line.split(" ||| ")
        except json.JSONDecodeError as error:
            raise ValueError(f"Expected input {i + 1} to be a JSON list of turns. Received: {line[:80]!r} "
                             f"({error.msg})") from None
        conversations.append(turns)
    return conversations


def read_paths(lines):
    """`kseq2seq generate` arguments for a Captioner or a Transcriber: image or WAV file paths."""
    return list(lines)


def decoding_report(model, decoding):
    """The decoding an evaluation used: the model's generation config with the command's options over it."""
    config = model.generation_options(**decoding)
    return {**config.to_dict(), "max_length": config.max_length or model.max_length}


def evaluate_translation(options, out):
    """BLEU and exact match of `--model` on `--source-file`/`--target-file`."""
    from kseq2seq import saving
    from kseq2seq.datasets import text_files
    from kseq2seq.metrics import evaluate_generation

    if not (options.model and options.source_file and options.target_file):
        raise ValueError("Expected --model, --source-file and --target-file for --task translation.")
    pairs = text_files.load_text_pairs(options.source_file, options.target_file, limit=options.limit)
    model = saving.load(options.model)
    result = evaluate_generation(model, pairs, batch_size=options.batch_size, decoding=options.decoding,
                                 lowercase=options.lowercase)
    result["decoding"] = decoding_report(model, options.decoding)
    print(f"BLEU = {result['bleu']:.2f} ({result['bleu_signature']})", file=out)
    print(f"Exact match = {result['exact_match']:.2%} on {result['num_examples']} examples", file=out)
    return result


def _summarization_data(options):
    from kseq2seq.datasets import summarization, text_files

    if not options.data:
        raise ValueError("Expected --data for --task summarization. Received: none")
    if options.data == "tfds:cnn_dailymail":
        from kseq2seq.datasets.cnn_dailymail import load_cnn_dailymail

        pairs = load_cnn_dailymail(options.split, data_dir=options.tfds_data_dir, manual_dir=options.manual_dir,
                                   limit=options.limit)
        report = {"path": f"{options.data} ({options.split})", "lines": len(pairs), "kept": len(pairs), "bad": {}}
        return pairs, [str(i) for i in range(len(pairs))], report
    if options.data.startswith("tfds:"):
        raise ValueError(f"Expected --data tfds:cnn_dailymail for a tfds source. Received: --data {options.data}")
    if options.data.endswith(".source"):
        target = options.data[: -len(".source")] + ".target"
        pairs = text_files.load_text_pairs(options.data, target, limit=options.limit)
        report = {"path": options.data, "lines": len(pairs), "kept": len(pairs), "bad": {}}
        return pairs, [str(i) for i in range(len(pairs))], report
    return summarization.load_jsonl(options.data, limit=options.limit)


def evaluate_summarization(options, out):
    """ROUGE (95% bootstrap intervals) of `--model` or `--baseline lead3` on `--data`."""
    import keras

    from kseq2seq import saving
    from kseq2seq.metrics import lead, rouge, split_sentences

    if (options.model is None) == (options.baseline is None):
        raise ValueError("Expected exactly one of --model or --baseline for --task summarization.")
    if options.baseline not in (None, "lead3"):
        raise ValueError(f"Expected --baseline lead3 for --task summarization. Received: --baseline {options.baseline}")
    pairs, ids, data_report = _summarization_data(options)
    articles, references = [a for a, _ in pairs], [h for _, h in pairs]
    progress = keras.utils.Progbar(len(pairs), unit_name="article")
    decoding, predictions = None, []
    if options.baseline == "lead3":
        for article in articles:
            predictions.append(lead(article, 3))
            progress.add(1)
    else:
        model = saving.load(options.model)
        decoding = decoding_report(model, options.decoding)
        for start in range(0, len(articles), options.batch_size):
            batch = articles[start : start + options.batch_size]
            outputs = model.generate(batch, batch_size=options.batch_size, **options.decoding)
            # One sentence per line, as references are, so that ROUGE-Lsum compares sentences.
            predictions.extend("\n".join(split_sentences(output)) for output in outputs)
            progress.add(len(batch))
    scores = rouge(predictions, references)
    print(f"ROUGE F1 x 100 on {len(pairs)} examples of {options.data} (95% bootstrap interval):", file=out)
    for rouge_type, measures in scores["aggregate"].items():
        f1 = measures["fmeasure"]
        print(f"  {rouge_type:9s} {100 * f1['mean']:6.2f}  [{100 * f1['low']:.2f}, {100 * f1['high']:.2f}]", file=out)
    return {
        "task": "summarization",
        "data": data_report,
        "system": options.baseline or options.model,
        "decoding": decoding,
        "num_examples": len(pairs),
        "aggregate": scores["aggregate"],
        "per_example": [
            {"id": i, "prediction": p, "reference": r, "scores": s}
            for i, p, r, s in zip(ids, predictions, references, scores["per_example"])
        ],
    }
