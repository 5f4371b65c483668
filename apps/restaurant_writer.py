"""Write restaurant descriptions from records (E2E meaning representations), names copied exactly.

    python apps/restaurant_writer.py --output saved_models/restaurants_example

Trains `records_small` on generated restaurant records, scores the test
records as the E2E challenge does (multi-reference BLEU, slot error rate),
writes texts for a record given as a dict and as an MR string with names
never seen in training, and exports a SavedModel to `<output>/1/`.
"""

import argparse
import os

import keras

import kseq2seq
from kseq2seq.datasets.e2e import group_references, load_restaurants
from kseq2seq.metrics import corpus_bleu
from kseq2seq.slot_errors import slot_error_rate


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", default=os.path.join("saved_models", "restaurants_example"))
    parser.add_argument("--num-train", type=int, default=1500)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(0)

    # (MR, reference) pairs; an MR has several references, grouped for scoring.
    train, validation, test = load_restaurants(num_train=args.num_train, num_validation=100, num_test=100)
    writer = kseq2seq.DataToText.from_preset("records_small", train_texts=train)
    writer.fit(train, validation_data=validation, epochs=args.epochs, verbose=2)

    mrs, references = group_references(test)
    texts = writer.generate(mrs)
    bleu = corpus_bleu(texts, references, lowercase=True)
    print(f"test: BLEU {bleu.score:.1f} over {len(mrs)} records, slot error rate "
          f"{100 * slot_error_rate(mrs, texts)['ser']:.1f}%")
    record = {"name": "Zanzibar Moon", "eatType": "pub", "food": "Italian", "area": "riverside"}
    print(f"from a dict: {writer.generate([record])[0]}")
    print(f"from an MR: {writer.generate(['name[Quintessa], eatType[coffee shop], near[The Lighthouse]'])[0]}")

    export_dir = writer.export(os.path.join(args.output, "1"), overwrite=True)
    print(f"export: {export_dir}")


if __name__ == "__main__":
    main()
