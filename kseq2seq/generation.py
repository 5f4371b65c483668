"""Level 1: `GenerationConfig`, the one source of decoding defaults.

A task keeps one config (from its preset, saved with it); `generate`, every
export signature (SavedModel and TFLite), `kseq2seq generate`, `export` and
`serve` all decode with it, so an exported model decodes exactly as
`generate` does. Per-call options are merged over it with `replace`, which
validates the result once, naming the bad option.
"""

import dataclasses

from kseq2seq.utils import check_bool

# The options that only matter for one sampler (the others ignore them).
BEAM_FIELDS = ("num_beams", "length_penalty", "nbest", "rerank", "early_stopping")
SAMPLING_FIELDS = ("temperature", "top_k", "top_p")
# Every sampler's controls (`kseq2seq.decoding.controls`); reports name them only when set.
CONTROL_DEFAULTS = {"no_repeat_ngram_size": 0, "repetition_penalty": 1.0, "bad_words": ()}
CONTROL_FIELDS = tuple(CONTROL_DEFAULTS)


@dataclasses.dataclass(frozen=True)
class GenerationConfig:
    """How a task decodes.

    Args:
        sampler: `"greedy"`, `"beam"` or `"sample"`.
        num_beams, length_penalty (GNMT alpha), nbest: beam search.
        temperature, top_k, top_p: sampling (`temperature=0` is greedy).
        seed: sampling's seed; the same seed gives the same sample everywhere.
        min_length: tokens generated before `[END]` may be chosen.
        max_length: tokens generated at most (None: the task's `max_length`).
        allow_unknown: False rules out generating `[UNK]`.
        no_repeat_ngram_size: n > 0: no n-gram of output tokens occurs twice (fairseq, Hugging Face).
        repetition_penalty: > 1 discourages tokens already generated (Hugging Face's definition).
        bad_words: words or phrases (strings, tokenized by the task's target
            tokenizer) never generated.
        rerank: beam search reorders all `num_beams` hypotheses by the task's
            reranker before keeping the `nbest` (`DataToText`: fewest slot
            errors against the MR first; equal ones keep the beam's order).
            Other samplers have one hypothesis and ignore it.
        early_stopping: beam search stops for an input at the first step
            whose best candidate ends, once `nbest` hypotheses have finished
            (OpenNMT's rule: fewer steps, may miss a longer, better-scoring
            hypothesis). False: it goes on until no live beam can beat the
            returned ones (exact under the length penalty).

    Example:

    >>> config = GenerationConfig(sampler="beam", num_beams=4)
    >>> config.replace(nbest=2).nbest
    2
    >>> GenerationConfig(sampler="beam", num_beams=2).replace(nbest=3)
    Traceback (most recent call last):
    ...
    ValueError: Expected nbest <= num_beams (2). Received: nbest=3
    """

    sampler: str = "greedy"
    num_beams: int = 4
    length_penalty: float = 0.6
    nbest: int = 1
    temperature: float = 1.0
    top_k: int = None
    top_p: float = None
    seed: int = 0
    min_length: int = 0
    max_length: int = None
    allow_unknown: bool = True
    rerank: bool = False
    no_repeat_ngram_size: int = 0
    repetition_penalty: float = 1.0
    bad_words: tuple = ()
    early_stopping: bool = False

    def __post_init__(self):
        from kseq2seq import decoding  # here, not at the top: the command line's --help reads fields() without TF

        if isinstance(self.bad_words, list):
            object.__setattr__(self, "bad_words", tuple(self.bad_words))  # hashable, as a saved config's list is not
        decoding.check_control_config(self.no_repeat_ngram_size, self.repetition_penalty, self.bad_words)
        decoding.check_decoding_config(self.sampler, self.max_length, self.num_beams, self.length_penalty,
                                       self.nbest, self.temperature, self.top_k, self.top_p, self.seed,
                                       self.min_length)
        # The checks above skip the options of other samplers; a saved config must still be sound.
        decoding.check_beam_args(self.num_beams, self.length_penalty, self.nbest)
        decoding.check_sampling_args(self.temperature, self.top_k, self.top_p)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"Expected seed to be an integer. Received: seed={self.seed!r}")
        check_bool("allow_unknown", self.allow_unknown)
        check_bool("rerank", self.rerank)
        check_bool("early_stopping", self.early_stopping)

    @classmethod
    def fields(cls):
        return tuple(field.name for field in dataclasses.fields(cls))

    @classmethod
    def from_dict(cls, config):
        """From a dict of options (a preset's, a saved task's); unknown keys are an error."""
        config = dict(config or {})
        unknown = sorted(set(config) - set(cls.fields()))
        if unknown:
            raise ValueError(f"Expected generation options among {list(cls.fields())}. Received unknown: {unknown}")
        return cls(**config)

    def replace(self, **options):
        """A copy with `options` set; None leaves an option as it is."""
        given = {key: value for key, value in options.items() if value is not None}
        unknown = sorted(set(given) - set(self.fields()))
        if unknown:
            raise ValueError(f"Expected generation options among {list(self.fields())}. Received unknown: {unknown}")
        if given.get("sampler", self.sampler) != "beam" and "nbest" not in given:
            given["nbest"] = 1  # an n-best list is beam search's; switching sampler drops it
        return dataclasses.replace(self, **given)

    def to_dict(self):
        return dataclasses.asdict(self)

    def decoding_args(self, max_length):
        """Keyword arguments of `decoding.decode` for this config (only the chosen sampler's options)."""
        args = {"sampler": self.sampler, "max_length": self.max_length or max_length, "min_length": self.min_length,
                "no_repeat_ngram_size": self.no_repeat_ngram_size, "repetition_penalty": self.repetition_penalty}
        if self.sampler == "beam":
            args.update(num_beams=self.num_beams, length_penalty=self.length_penalty, nbest=self.nbest,
                        early_stopping=self.early_stopping)
        elif self.sampler == "sample":
            args.update(temperature=self.temperature, top_k=self.top_k, top_p=self.top_p)
        return args

    def describe(self):
        """The options that decide the output, for export metadata and reports."""
        keep = {"sampler", "min_length", "max_length", "allow_unknown"}
        keep |= {key for key in CONTROL_FIELDS if getattr(self, key) != CONTROL_DEFAULTS[key]}
        keep |= set(BEAM_FIELDS) if self.sampler == "beam" else set()
        keep |= set(SAMPLING_FIELDS) | {"seed"} if self.sampler == "sample" else set()
        return {key: list(value) if isinstance(value, tuple) else value  # as JSON reads it back
                for key, value in self.to_dict().items() if key in keep}
