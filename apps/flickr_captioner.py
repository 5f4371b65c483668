"""Caption real photos: train a Show-Attend-Tell captioner on the Flickr8k subset in ../shared/data/captioning.

    python apps/flickr_captioner.py [--data ../shared/data/captioning/captions.jsonl] [--minutes 5 | --epochs N]

Trains the `show_attend_tell_photos` preset (a CNN from scratch; no download)
on the 662 training images (5 captions each) for a wall-clock budget (or a
number of epochs, which any machine repeats exactly), then
captions the 100 validation images and scores them with sacreBLEU against
their 5 references, and saves an attention plot of one photo.
"""

import argparse
import os

import keras

import kseq2seq
from kseq2seq.datasets.images import caption_pairs, load_caption_jsonl
from kseq2seq.metrics import corpus_bleu
from kseq2seq.training import TimeBudget

DEFAULT_DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "captioning", "captions.jsonl")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DEFAULT_DATA)
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--minutes", type=float, default=5.0, help="training budget (default)")
    budget.add_argument("--epochs", type=int, help="train this many epochs instead of for --minutes")
    parser.add_argument("--output", default=os.path.join("saved_models", "flickr"))
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(0)
    train, _ = load_caption_jsonl(args.data, split="train")
    validation, _ = load_caption_jsonl(args.data, split="validation")
    pairs = caption_pairs(train)
    captioner = kseq2seq.Captioner.from_preset("show_attend_tell_photos", train_texts=pairs)
    schedule = {"epochs": args.epochs} if args.epochs else {"epochs": 100, "callbacks": [TimeBudget(args.minutes)]}
    captioner.fit(pairs, validation_data=caption_pairs(validation), verbose=2, **schedule)
    captions = captioner.generate([image for image, _ in validation])
    references = [list(refs) for _, refs in validation]
    bleu = corpus_bleu(captions, references, lowercase=True)
    print(f"Validation BLEU-4 {bleu.score:.2f} against 5 references ({bleu.signature}), {len(validation)} photos")
    for caption, refs in list(zip(captions, references))[:5]:
        print(f"  {caption!r}\n     reference: {refs[0]!r}")
    os.makedirs(args.output, exist_ok=True)
    captioner.save(os.path.join(args.output, "model.keras"))
    record = captioner.generate([validation[0][0]], return_attention=True)[0]
    kseq2seq.plot_image_attention(validation[0][0], record.output_tokens, record.attention,
                                  os.path.join(args.output, "attention.png"))
    return {"bleu": bleu.score, "captions": captions, "references": references}


if __name__ == "__main__":
    main()
