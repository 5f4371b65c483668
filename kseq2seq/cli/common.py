"""Level 5: pieces every command shares: decoding options, `--set` values, loading a model."""

import argparse
import json

from kseq2seq.generation import GenerationConfig  # no TensorFlow: the dataclass and its checks only

def parse_override(text):
    """`key=value` with JSON values where they parse (`units=256`, `bidirectional=false`)."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"Expected KEY=VALUE. Received: {text!r}")
    key, value = text.split("=", 1)
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def add_decoding_arguments(parser):
    group = parser.add_argument_group("decoding")
    # Left out, each takes the model's preset default (see docs/decoding.md).
    group.add_argument("--sampler", choices=["greedy", "beam", "sample"])
    group.add_argument("--num-beams", type=int)
    group.add_argument("--length-penalty", type=float, help="GNMT alpha for beam search")
    group.add_argument("--nbest", type=int, help="hypotheses per input (beam search)")
    group.add_argument("--early-stopping", action=argparse.BooleanOptionalAction,
                       help="beam search: stop at the first step whose best candidate ends (OpenNMT's rule)")
    group.add_argument("--temperature", type=float)
    group.add_argument("--top-k", type=int)
    group.add_argument("--top-p", type=float)
    group.add_argument("--seed", type=int, default=0, help="sampling seed")
    group.add_argument("--max-length", type=int)
    group.add_argument("--min-length", type=int, help="tokens before the end token may be chosen")
    group.add_argument("--allow-unknown", action=argparse.BooleanOptionalAction,
                       help="whether [UNK] may be generated (--no-allow-unknown rules it out)")
    group.add_argument("--no-repeat-ngram-size", type=int, help="no n-gram of output tokens occurs twice")
    group.add_argument("--repetition-penalty", type=float, help="> 1 discourages tokens already generated")
    group.add_argument("--bad-word", dest="bad_words", action="append", metavar="TEXT",
                       help="a word or phrase never generated (repeat for more)")
    group.add_argument("--rerank", action=argparse.BooleanOptionalAction,
                       help="beam search: rerank the beams with the task's reranker (data_to_text: slot errors)")


def decoding_options(args):
    """The decoding flags given (None = take the model's generation config)."""
    return {name: getattr(args, name) for name in GenerationConfig.fields() if getattr(args, name, None) is not None}


def load_model(path):
    from kseq2seq import saving

    try:
        return saving.load(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"Expected --model to be a folder holding {saving.MODEL_FILE} or a .keras file. "
                                f"Received: {path!r}") from None
