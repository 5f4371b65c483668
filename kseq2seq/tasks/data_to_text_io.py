"""Level 3: `DataToText`'s data loader, evaluator, input reader, template baseline and demo, for the registry."""

import json
import logging
import os
import time

from kseq2seq.records import parse_mr

logger = logging.getLogger(__name__)

_PRICE = {"cheap": "cheap", "moderate": "moderately priced", "high": "expensive",
          "less than £20": "priced under £20", "£20-25": "priced at £20-25", "more than £30": "priced over £30"}


def template(mr):
    """The template baseline: one fixed sentence pattern filled from an E2E MR (no learning).

    >>> template("name[The Eagle], eatType[pub], food[French], area[riverside], near[Burger King]")
    'The Eagle is a pub serving French food. It is in the riverside area near Burger King.'
    """
    slots = {}
    for attribute, value in parse_mr(mr):  # the cleaned release may give an attribute twice: say both
        slots[attribute] = f"{slots[attribute]} and {value}" if attribute in slots else value
    first = f"{slots.get('name', 'It')} is a"
    if "priceRange" in slots:
        first += f" {_PRICE.get(slots['priceRange'], slots['priceRange'])}"
    first += f" {slots.get('eatType', 'place')}"
    if "food" in slots:
        first += f" serving {slots['food']} food"
    sentences = [first + "."]
    where = ""
    if "area" in slots:
        where = f" in the {slots['area']} area"
    if "near" in slots:
        where += f" near {slots['near']}"
    if where:
        sentences.append(f"It is{where}.")
    if "customer rating" in slots:
        rating = slots["customer rating"]
        sentences.append(f"It is rated {rating}." if "out of" in rating else f"It has a {rating} customer rating.")
    if "familyFriendly" in slots:
        sentences.append("It is family-friendly." if slots["familyFriendly"] == "yes" else "It is not family-friendly.")
    return " ".join(sentences)


def data_to_text_pairs(options):
    """`--dataset restaurants` (generated), or `--data`/`--validation-data` E2E CSV files.

    `--drop-slot-errors` keeps the training pairs `faithful_pairs` keeps (after `--limit`), then
    `--oversample-multi-valued N` repeats those whose MR gives an attribute two values; validation is left whole.
    """
    from kseq2seq.datasets.e2e import load_e2e_csv, load_restaurants

    if options.dataset == "restaurants":
        train, validation, _ = load_restaurants(num_train=options.limit or 2000, num_test=0, seed=options.seed or 0)
        train = _faithful_if_asked(train, options, "the generated restaurants")
        return _oversampled_if_asked(train, options), validation
    if options.dataset:
        raise ValueError("Expected --dataset restaurants for --task data_to_text. "
                         f"Received: --dataset {options.dataset}")
    if not options.data:
        raise ValueError("Expected --dataset restaurants or --data (an E2E CSV) for --task data_to_text. "
                         "Received: none")
    train = _faithful_if_asked(load_e2e_csv(options.data, limit=options.limit), options, repr(options.data))
    train = _oversampled_if_asked(train, options)
    validation = load_e2e_csv(options.validation_data) if options.validation_data else None
    return train, validation


def _faithful_if_asked(train, options, source):
    from kseq2seq.datasets.e2e import faithful_pairs

    if not getattr(options, "drop_slot_errors", False):
        return train
    kept = faithful_pairs(train)
    if not kept:
        raise ValueError(f"Expected some pairs of {source} whose reference says its MR's slots "
                         f"(--drop-slot-errors). Received: all {len(train)} have slot errors")
    logger.info("--drop-slot-errors: left out %s of %s training pairs (their references miss, add or get wrong a "
                "slot of the MR); %s MRs remain", f"{len(train) - len(kept):,}", f"{len(train):,}",
                f"{len({mr for mr, _ in kept}):,}")
    return kept


def _oversampled_if_asked(train, options):
    from kseq2seq.datasets.e2e import oversample_multi_valued

    times = getattr(options, "oversample_multi_valued", None)
    if times is None:
        return train
    if times < 1:
        raise ValueError(f"Expected --oversample-multi-valued to be at least 1. Received: {times}")
    oversampled = oversample_multi_valued(train, times)
    copies = (len(oversampled) - len(train)) // max(times - 1, 1)
    if times > 1:
        logger.info("--oversample-multi-valued %s: %s training pairs give an attribute more than one value; "
                    "%s pairs in all", times, f"{copies:,}", f"{len(oversampled):,}")
    return oversampled


def read_records(lines):
    """`kseq2seq generate` lines for a DataToText model: MR strings, or JSON objects of attribute -> value.

    Records already read (dicts, from the web demo) pass through.
    """
    records = []
    for i, line in enumerate(lines):
        if isinstance(line, str) and line.lstrip().startswith("{"):
            try:
                line = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"Expected input {i + 1} to be a JSON object. Received: {line[:80]!r} "
                                 f"({error.msg})") from None
        records.append(line)
    return records


def _generate_all(system, mrs, batch_size, decoding):
    import keras

    progress = keras.utils.Progbar(len(mrs), unit_name="MR")
    outputs = []
    for start in range(0, len(mrs), batch_size):
        batch = mrs[start : start + batch_size]
        outputs.extend(system(batch, decoding))
        progress.add(len(batch))
    return outputs


def score_outputs(mrs, outputs, references):
    """E2E scores of one output per MR: multi-reference BLEU (sacreBLEU, lowercased), ROUGE-L, slot errors."""
    from kseq2seq.metrics import corpus_bleu, rouge_l_multi
    from kseq2seq.slot_errors import ERROR_KINDS, slot_error_rate

    bleu = corpus_bleu(outputs, references, lowercase=True)
    ser = slot_error_rate(mrs, outputs)
    return {"bleu": bleu.score, "bleu_signature": bleu.signature, "rouge_l": 100 * rouge_l_multi(outputs, references),
            "slot_error_rate": 100 * ser["ser"], "slot_errors": {k: ser[k] for k in (*ERROR_KINDS, "slots")},
            "texts_with_slot_errors": ser["texts_with_errors"], "per_example": ser["per_example"]}


def evaluate_data_to_text(options, out):
    """BLEU, ROUGE-L and slot error rate of `--model` (or `--baseline template`) on an E2E CSV (`--data`)."""
    from kseq2seq.datasets.e2e import group_references, load_e2e_csv

    if (options.model is None) == (options.baseline is None):
        raise ValueError("Expected exactly one of --model or --baseline template for --task data_to_text.")
    if not options.data:
        raise ValueError("Expected --data (an E2E CSV) for --task data_to_text. Received: none")
    if options.baseline not in (None, "template"):
        raise ValueError(f"Expected --baseline template for --task data_to_text. Received: {options.baseline}")
    mrs, references = group_references(load_e2e_csv(options.data))
    mrs, references = mrs[: options.limit], references[: options.limit]
    decoding = None
    if options.baseline is not None:
        system = lambda batch, _: [template(mr) for mr in batch]  # noqa: E731
    else:
        from kseq2seq import saving
        from kseq2seq.tasks.task_io import decoding_report

        model = saving.load(options.model)
        decoding = decoding_report(model, options.decoding)
        system = lambda batch, options: model.generate(batch, batch_size=len(batch), **options)  # noqa: E731
    started = time.perf_counter()
    outputs = _generate_all(system, mrs, options.batch_size, options.decoding)
    seconds = time.perf_counter() - started
    scores = score_outputs(mrs, outputs, references)
    print(f"{len(mrs)} MRs of {options.data} ({sum(map(len, references))} references), "
          f"{len(mrs) / seconds:.1f} MRs/s", file=out)
    print(f"BLEU = {scores['bleu']:.2f} ({scores['bleu_signature']})", file=out)
    print(f"ROUGE-L F1 = {scores['rouge_l']:.2f} (best reference per MR)", file=out)
    kinds = ", ".join(f"{k} {v}" for k, v in scores["slot_errors"].items() if k != "slots")
    print(f"Slot error rate = {scores['slot_error_rate']:.2f}% ({kinds}; of {scores['slot_errors']['slots']} slots)",
          file=out)
    per_example = [{"mr": mr, "output": text, "references": refs, "slot_errors": errors["details"]}
                   for mr, text, refs, errors in zip(mrs, outputs, references, scores.pop("per_example"))]
    return {"task": "data_to_text", "data": os.path.abspath(options.data), "system": options.baseline or options.model,
            "decoding": decoding, "num_mrs": len(mrs), "mrs_per_second": len(mrs) / seconds, **scores,
            "per_example": per_example}


def run_demo(args, out):
    """Trains the small records model on generated restaurants, exports it and writes from the export."""
    import keras

    import kseq2seq
    from kseq2seq.datasets.e2e import group_references, load_restaurants
    from kseq2seq.demos import fit_save_reload, show_exported

    args.output = args.output or os.path.join("saved_models", "restaurants")
    keras.utils.set_random_seed(args.seed)
    train, validation, test = load_restaurants(num_train=args.num_train or 1500, num_validation=100, num_test=100,
                                               seed=args.seed)
    print(f"Data: generated restaurant records, {len(train)} train / {len(validation)} validation / {len(test)} "
          "test (MR, reference) pairs", file=out)
    model = kseq2seq.DataToText.from_preset("records_small", train_texts=train)
    path, reloaded = fit_save_reload(model, train, validation, args, "restaurants", args.epochs or 10)
    mrs, references = group_references(test)
    scores = score_outputs(mrs, reloaded.generate(mrs), references)
    print(f"Test ({len(mrs)} MRs, model reloaded from {path}): BLEU {scores['bleu']:.2f}, slot error rate "
          f"{scores['slot_error_rate']:.2f}%", file=out)
    examples = ["name[Zanzibar Moon], eatType[pub], food[Italian], area[riverside]",
                "name[Quintessa], eatType[coffee shop], priceRange[cheap], familyFriendly[yes], near[The Lighthouse]"]
    show_exported(path, reloaded, examples,
                  f"Texts by the exported SavedModel ({os.path.join(path, '1')}), names never seen in training:",
                  lambda mr, text: f"  {mr}\n    -> {text}", out)
    return 0
