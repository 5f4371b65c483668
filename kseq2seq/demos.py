"""Level 4: the built-in demos behind `kseq2seq demo --task translation|dialogue|captioning`.

Each trains a preset on a generated data set, saves and reloads it, and prints
figures a test can check (see docs/quickstart.md).
"""

import os

from kseq2seq import saving


def fit_save_reload(task, train, validation, args, data, epochs, **fit_options):
    """Fits a demo's task, saves it with a SavedModel version 1 beside it, and reloads it: `(path, reloaded)`."""
    task.fit(train, validation_data=validation, epochs=epochs, seed=args.seed, verbose=2, **fit_options)
    path = saving.save(task, args.output, {"data": data}, overwrite=True, serving_version=1)
    return path, saving.load(path)


def show_exported(path, reloaded, examples, heading, line, out):
    """Prints the outputs of the demo's exported SavedModel (`path/1`) for `examples`, one `line(input, output)`
    each, and fails if they differ from the reloaded Keras model's."""
    import tensorflow as tf

    served = tf.saved_model.load(os.path.join(path, "1")).signatures["serving_default"]
    exported = [s.decode("utf-8") for s in served(inputs=tf.constant(examples))["outputs"].numpy()]
    print(heading, file=out)
    for example, output in zip(examples, exported):
        print(line(example, output), file=out)
    if exported != reloaded.generate(examples):
        raise RuntimeError("The exported SavedModel and the Keras model disagree.")


def run_demo_translation(args, out):
    """Trains the dates translator, exports it and translates with the export."""
    args.output = args.output or os.path.join("saved_models", "dates")
    args.epochs, args.num_train = args.epochs or 3, args.num_train or 20000
    import keras

    import kseq2seq
    from kseq2seq.datasets.dates import load_dates
    from kseq2seq.metrics import exact_match

    keras.utils.set_random_seed(args.seed)
    train, validation, test = load_dates(num_train=args.num_train, seed=args.seed)
    print(f"Data: generated dates, {len(train)} train / {len(validation)} validation / {len(test)} test pairs", file=out)
    translator = kseq2seq.Translator.from_preset("bahdanau_gru_small", train_texts=train)
    path, reloaded = fit_save_reload(translator, train, validation, args, "dates", args.epochs)
    val_loss, val_accuracy = translator.evaluate(validation, verbose=0)
    outputs = reloaded.generate([s for s, _ in test])
    score = exact_match(outputs, [t for _, t in test])
    print(f"Validation token accuracy: {val_accuracy:.4f} (loss {val_loss:.4f})", file=out)
    print(f"Test exact match: {score:.2%} on {len(test)} examples (model reloaded from {path})", file=out)
    examples = ["3 June 2019", "the 1st of January 2000", "12/25/1999", "14. Juli 1789", "le 4 août 2031"]
    show_exported(path, reloaded, examples,
                  f"Translations by the exported SavedModel ({os.path.join(path, '1')}, TF Serving layout):",
                  lambda source, output: f"  {source!r:32} -> {output}", out)
    return 0


def run_demo_dialogue(args, out):
    """Trains the shop-assistant responder, then checks that its answers depend on earlier turns."""
    import keras

    import kseq2seq
    from kseq2seq.datasets.dialogue import load_shop_dialogues

    output = args.output or os.path.join("saved_models", "shop")
    keras.utils.set_random_seed(args.seed)
    train, validation, test = load_shop_dialogues(num_train=args.num_train or 4000, num_validation=200,
                                                  num_test=300, seed=args.seed)
    print(f"Data: generated shop dialogues, {len(train)} train / {len(validation)} validation / {len(test)} test",
          file=out)
    responder = kseq2seq.Responder.from_preset("gru_dialogue_small", train_texts=train)
    responder.fit(train, validation_data=validation, epochs=args.epochs or 12, seed=args.seed, verbose=2)
    path = saving.save(responder, output, {"data": "shop"}, overwrite=True)
    reloaded = saving.load(path)
    replies = reloaded.generate([turns for turns, _ in test], sampler="greedy")
    accuracy = sum(r == y for r, (_, y) in zip(replies, test)) / len(test)
    # The question alone ("how much is it ?") does not say which item: without the history, the model must guess.
    blind = reloaded.generate([turns[-1:] for turns, _ in test], sampler="greedy")
    blind_accuracy = sum(r == y for r, (_, y) in zip(blind, test)) / len(test)
    print(f"Test replies exactly right (greedy): {accuracy:.2%} with the history, {blind_accuracy:.2%} from the "
          f"last turn alone ({len(test)} conversations; model reloaded from {path})", file=out)
    for turns, _ in test[:3]:
        print("  " + " | ".join(turns[-3:]), file=out)
        print(f"    -> {reloaded.generate([turns], seed=1)[0]}   (sampled, the preset's default)", file=out)
    return 0


def run_demo_captioning(args, out):
    """Trains the shapes captioner, exports it (image bytes in, caption out) and captions with the export."""
    import keras
    import tensorflow as tf

    import kseq2seq
    from kseq2seq.datasets.shapes import load_shapes
    from kseq2seq.metrics import corpus_bleu, exact_match

    output = args.output or os.path.join("saved_models", "shapes")
    keras.utils.set_random_seed(args.seed)
    train, validation, test = load_shapes(num_train=args.num_train or 3000, num_validation=100, num_test=200,
                                          seed=args.seed)
    print(f"Data: generated shape scenes (64 x 64 PNG), {len(train)} train / {len(validation)} validation / "
          f"{len(test)} test", file=out)
    captioner = kseq2seq.Captioner.from_preset("show_attend_tell_small", train_texts=train)
    captioner.fit(train, validation_data=validation, epochs=args.epochs or 15, seed=args.seed, verbose=2)
    path = saving.save(captioner, output, {"data": "shapes"}, overwrite=True, serving_version=1)
    reloaded = saving.load(path)
    captions = reloaded.generate([image for image, _ in test])
    references = [caption for _, caption in test]
    bleu = corpus_bleu(captions, references)
    print(f"Test exact match: {exact_match(captions, references):.2%}, BLEU-4 {bleu.score:.2f} on {len(test)} "
          f"images (model reloaded from {path})", file=out)
    served = tf.saved_model.load(os.path.join(path, "1")).signatures["serving_default"]
    exported = served(inputs=tf.constant([image for image, _ in test[:3]]))["outputs"].numpy()
    print(f"Captions by the exported SavedModel ({os.path.join(path, '1')}, PNG bytes in):", file=out)
    for (image, reference), caption in zip(test[:3], exported):
        print(f"  {caption.decode()!r:45} (reference: {reference!r})", file=out)
    record = reloaded.generate([test[0][0]], return_attention=True)[0]
    kseq2seq.plot_image_attention(test[0][0], record.output_tokens, record.attention,
                                  os.path.join(path, "attention.png"))
    print(f"Attention over the image grid, word by word: {os.path.join(path, 'attention.png')}", file=out)
    return 0
