"""Level 3: ensembles: several trained tasks that decode as one, with the mean of their log-probabilities.

`kseq2seq.ensemble([a, b, ...])` takes tasks of one class whose
preprocessors are the same (type, vocabularies, lengths): any backbones.
Every step runs each member's step and gives the decoding strategy the mean
of the members' log-probabilities (fairseq and OpenNMT average
probabilities instead; OpenNMT-py's `-ensemble` option and the issue that
asked for this both name log-probabilities), so greedy, beam, sampling, the
controls and reranking all work as for one task. The ensemble generates and
exports (SavedModel, TFLite) like a task; it does not train.
"""

import tensorflow as tf

from kseq2seq.tasks.generating import GenerationMixin


class EnsembleBackbone:
    """`encode` and `step` of every member; the members' memories and states are tuples."""

    def __init__(self, backbones):
        self.backbones = tuple(backbones)

    @property
    def max_decoding_length(self):
        """The shortest of the members' limits (Transformers have position tables), or None."""
        limits = [getattr(b, "max_decoding_length", None) for b in self.backbones]
        return min((limit for limit in limits if limit is not None), default=None)

    def encode(self, encoder_inputs):
        encoded = [backbone.encode(encoder_inputs) for backbone in self.backbones]
        return tuple(memory for memory, _ in encoded), tuple(state for _, state in encoded)

    def step(self, token_ids, state, memory):
        outputs = [b.step(token_ids, s, m) for b, s, m in zip(self.backbones, state, memory)]
        log_probs = tf.add_n([tf.nn.log_softmax(tf.cast(o[0], tf.float32)) for o in outputs]) / len(outputs)
        weights = [o[2] for o in outputs]
        if all(w is not None and w.shape == weights[0].shape for w in weights):
            attention = tf.add_n([tf.cast(w, tf.float32) for w in weights]) / len(weights)
        else:
            attention = weights[0]  # members attend over different grids: the first one's
        return log_probs, tuple(o[1] for o in outputs), attention


class Ensemble(GenerationMixin):
    """Trained tasks that decode together; `generate` and `export` as a task's (see the module docstring).

    The first member gives the preprocessor, the generation config (set
    `ensemble.generation_config` to change it), `max_length` and, where it
    has one, the reranker.

    Example:

    >>> import kseq2seq
    >>> from kseq2seq.datasets.dates import load_dates
    >>> train, _, _ = load_dates(num_train=32, num_validation=1, num_test=1)
    >>> a = kseq2seq.Translator.from_preset("bahdanau_gru_small", train_texts=train, units=8)
    >>> b = kseq2seq.Translator.from_preset("bahdanau_gru_small", train_texts=train, units=16)
    >>> len(kseq2seq.ensemble([a, b]).generate(["3 May 2001"], sampler="beam"))
    1
    """

    def __init__(self, members):
        members = list(members)
        check_members(members)
        first = members[0]
        self.members = members
        self.preprocessor = first.preprocessor
        self.backbone = EnsembleBackbone(m.backbone for m in members)
        self.max_length = first.max_length
        self.generation_config = first.generation_config
        self.preset = [m.preset for m in members]
        self.reranking_penalties = first.reranking_penalties
        self._init_generation()

    def format_sources(self, sources):
        return self.members[0].format_sources(sources)

    def export(self, path, formats=("saved_model",), overwrite=False, beam_config=None, tflite_quantization=None):
        """Writes the ensemble as one SavedModel (and/or TFLite); see `kseq2seq.export`."""
        from kseq2seq import export

        return export.export(self, path, formats=formats, overwrite=overwrite, beam_config=beam_config,
                             tflite_quantization=tflite_quantization)


def check_members(members):
    if len(members) < 2:
        raise ValueError(f"Expected at least 2 tasks to ensemble. Received: {len(members)}")
    first = members[0]
    for i, member in enumerate(members[1:], 1):
        if type(member) is not type(first):
            raise ValueError(f"Expected tasks of one class. Received: members[0] is {type(first).__name__}, "
                             f"members[{i}] is {type(member).__name__}")
        if type(member.preprocessor) is not type(first.preprocessor) or \
                member.preprocessor.describe() != first.preprocessor.describe():
            different = sorted(k for k, v in member.preprocessor.describe().items()
                               if first.preprocessor.describe().get(k) != v)
            raise ValueError(f"Expected members with the same preprocessing (vocabularies, lengths). "
                             f"Received: members[{i}] differs from members[0] in {different or 'its type'}")


def ensemble(tasks):
    """An `Ensemble` of trained tasks (at least two, one class, the same vocabularies)."""
    return Ensemble(tasks)
