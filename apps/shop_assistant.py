"""A shop assistant that answers from the whole conversation, trained on built-in dialogues.

    python apps/shop_assistant.py --output saved_models/shop_example

Trains `gru_dialogue_small` on generated shop conversations, measures how
often greedy replies are exactly right with and without the earlier turns,
samples replies (the preset's default decoding) and saves the model.
"""

import argparse
import os

import keras

import kseq2seq
from kseq2seq.datasets.dialogue import load_shop_dialogues


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", default=os.path.join("saved_models", "shop_example"))
    parser.add_argument("--num-train", type=int, default=4000)
    parser.add_argument("--epochs", type=int, default=12)
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(0)

    # (turns, reply) pairs: a conversation is a list of turns; the reply is the next one.
    train, validation, test = load_shop_dialogues(num_train=args.num_train, num_validation=100, num_test=100)
    responder = kseq2seq.Responder.from_preset("gru_dialogue_small", train_texts=train)
    responder.fit(train, validation_data=validation, epochs=args.epochs, verbose=2)

    conversations, replies = [turns for turns, _ in test], [reply for _, reply in test]
    with_history = responder.generate(conversations, sampler="greedy")
    last_turn_only = responder.generate([turns[-1:] for turns in conversations], sampler="greedy")
    right = lambda outputs: sum(o == r for o, r in zip(outputs, replies)) / len(replies)  # noqa: E731
    print(f"exactly right: {right(with_history):.0%} with the history, {right(last_turn_only):.0%} from the last "
          "turn alone")
    conversation = ["hello", "do you have the red mug ?", "yes , we have it", "how much is it ?"]
    print(f"conversation: {' | '.join(conversation)}")
    print(f"sampled replies: {responder.generate([conversation] * 3, seed=1, batch_size=1)}")

    responder.save_to_preset(args.output)  # kseq2seq.load(...) restores it
    print(f"saved: {args.output}")


if __name__ == "__main__":
    main()
