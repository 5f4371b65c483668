"""Train, decode, plot and export a date translator with the Python API.

    python apps/dates_translator.py --output saved_models/example

Writes `<output>/attention.png` and a SavedModel + TFLite export to
`<output>/1/`, and prints greedy, beam n-best and sampled outputs.
"""

import argparse
import os

import keras

import kseq2seq


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", default=os.path.join("saved_models", "example"))
    parser.add_argument("--num-train", type=int, default=20000)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(0)

    train, val, test = kseq2seq.datasets.load("dates", num_train=args.num_train)
    translator = kseq2seq.Translator.from_preset("bahdanau_gru_small", train_texts=train)
    translator.fit(train, validation_data=val, epochs=args.epochs, verbose=2)

    texts = ["3 June 2019", "le 4 août 2031", "12/25/1999"]
    print("greedy:", translator.generate(texts))
    records = translator.generate(texts, sampler="beam", num_beams=4, nbest=2, return_details=True)
    print("beam n-best:", [list(zip(record.texts, record.scores)) for record in records])
    print("sampled:", translator.generate(texts, sampler="sample", temperature=0.8, top_p=0.9, seed=1))

    os.makedirs(args.output, exist_ok=True)
    record = translator.generate(texts[1:2], return_attention=True)[0]
    kseq2seq.plot_attention(record.source_tokens, record.output_tokens, record.attention,
                            path=os.path.join(args.output, "attention.png"), title=f"{texts[1]} -> {record.text}")
    export_dir = translator.export(os.path.join(args.output, "1"), formats=("saved_model", "tflite"), overwrite=True)
    print(f"attention map: {os.path.join(args.output, 'attention.png')}; export: {export_dir}")


if __name__ == "__main__":
    main()
