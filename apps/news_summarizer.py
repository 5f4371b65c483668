"""Summarize the built-in news stories with a pointer-generator, then compare decoding controls.

    python apps/news_summarizer.py --output saved_models/news_example

Trains the `pointer_generator` preset (CPU-sized) on generated news articles,
prints ROUGE of beam search with and without trigram blocking, shows one
summary, and exports a SavedModel to `<output>/1/`.
"""

import argparse
import os

import keras

import kseq2seq
from kseq2seq.datasets.news import load_news
from kseq2seq.metrics import rouge


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", default=os.path.join("saved_models", "news_example"))
    parser.add_argument("--num-train", type=int, default=4000)
    parser.add_argument("--epochs", type=int, default=8)
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(0)

    # (article, highlights) pairs; every story invents its own names and towns, which only copying can write.
    train, validation, test = load_news(num_train=args.num_train, num_validation=100, num_test=100)
    summarizer = kseq2seq.Summarizer.from_preset(
        "pointer_generator", train_texts=train,
        units=128, embedding_dim=64, source_length=120, target_length=32, max_length=32, min_length=0,
        min_count=5)  # CPU-sized; the stories' highlights are short, so no minimum length
    summarizer.fit(train, validation_data=validation, epochs=args.epochs, batch_size=32, verbose=2)

    articles, references = [a for a, _ in test], [h for _, h in test]
    for name, controls in (("beam", {}), ("beam + trigram blocking", {"no_repeat_ngram_size": 3})):
        summaries = summarizer.generate(articles, sampler="beam", num_beams=4, **controls)
        scores = rouge(summaries, references, bootstrap_samples=100)["aggregate"]
        print(f"{name}: ROUGE-1 {100 * scores['rouge1']['fmeasure']['mean']:.1f}, "
              f"ROUGE-2 {100 * scores['rouge2']['fmeasure']['mean']:.1f}")
    print(f"article: {articles[0][:200]}...\nsummary: {summarizer.generate(articles[:1])[0]}")

    export_dir = summarizer.export(os.path.join(args.output, "1"), overwrite=True)
    print(f"export: {export_dir}")


if __name__ == "__main__":
    main()
