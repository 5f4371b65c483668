"""Level 3: the summarization task and its presets."""

import keras

from kseq2seq.tasks.task import Seq2SeqTask

_COMMON = {
    "tokenizer": "word",
    "lowercase": True,
    "max_vocabulary_size": 50000,
    "min_count": 1,
    "embedding_dim": 128,
    "units": 256,
    "cell_type": "lstm",
    "bidirectional": True,
    "num_encoder_layers": 1,
    "attention": "bahdanau",
    "dropout": 0.0,
    # See et al. (2017): articles truncated to 400 tokens, summaries to 100.
    "source_length": 400,
    "target_length": 100,
    "max_length": 100,
    "learning_rate": 1e-3,
    "clipnorm": 2.0,
    "batch_size": 16,
    "bucket_boundaries": None,
    "epochs": 10,
    "sampler": "beam",
    "num_beams": 4,
    "length_penalty": 1.0,
    "min_length": 35,
    "pointer_generator": False,
    "coverage": False,
    "coverage_loss_weight": 1.0,
}

# A preset is data; every field can be overridden in
# `Summarizer.from_preset(name, train_texts, **overrides)`.
PRESETS = {
    "attention_lstm": {
        **_COMMON,
        "description": "Baseline: bidirectional LSTM encoder, LSTM decoder, Bahdanau attention (See et al.'s "
        "'baseline seq2seq'); unknown words come out as [UNK].",
    },
    "pointer_generator": {
        **_COMMON,
        "description": "Pointer-generator (See et al., 2017): the baseline plus copying of source words, "
        "including words outside the vocabulary.",
        "pointer_generator": True,
    },
    "pointer_generator_coverage": {
        **_COMMON,
        "description": "Pointer-generator with coverage (attention sees what it already covered; coverage loss "
        "with weight 1) against repeated phrases.",
        "pointer_generator": True,
        "coverage": True,
    },
}


@keras.saving.register_keras_serializable(package="kseq2seq")
class Summarizer(Seq2SeqTask):
    """Attention encoder-decoder that summarizes long texts; optionally copies source words.

    Example:

    >>> import kseq2seq
    >>> train, val, test = kseq2seq.datasets.load("news", num_train=256, num_validation=16, num_test=16)
    >>> summarizer = kseq2seq.Summarizer.from_preset(
    ...     "pointer_generator", train_texts=train, units=32, embedding_dim=16, source_length=120, min_length=0)
    >>> history = summarizer.fit(train, epochs=1, verbose=0)
    >>> len(summarizer.generate(["a long article ."]))
    1
    """

    presets = PRESETS
