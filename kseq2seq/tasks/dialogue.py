"""Level 3: the dialogue task: conversation history in, reply out."""

import keras

from kseq2seq.tasks.task import Seq2SeqTask
from kseq2seq.utils import check_positive_int

_COMMON = {
    "tokenizer": "word",
    "lowercase": True,
    "cell_type": "gru",
    "bidirectional": True,
    "num_encoder_layers": 1,
    "attention": "bahdanau",
    "learning_rate": 2e-3,
    "clipnorm": 1.0,
    "batch_size": 64,
    "bucket_boundaries": None,
    # A long history loses its oldest tokens, never its latest turn.
    "truncate_source": "start",
    "sampler": "sample",
    "temperature": 0.7,
    "top_p": 0.9,
}

PRESETS = {
    "gru_dialogue_small": {
        **_COMMON,
        "description": "Bidirectional GRU 128 + Bahdanau attention over the last 4 turns; task-style dialogue.",
        "max_vocabulary_size": None,
        "min_count": 1,
        "embedding_dim": 64,
        "units": 128,
        "dropout": 0.0,
        "history_window": 4,
        "source_length": 80,
        "target_length": 24,
        "max_length": 24,
        "epochs": 10,
    },
    "lstm_dialogue_base": {
        **_COMMON,
        "description": "Bidirectional LSTM 512 + Bahdanau attention over the last 3 turns; open-domain chat.",
        "cell_type": "lstm",
        "max_vocabulary_size": 10000,
        "min_count": 2,
        "embedding_dim": 256,
        "units": 512,
        "dropout": 0.2,
        "history_window": 3,
        "source_length": 100,
        "target_length": 30,
        "max_length": 30,
        "learning_rate": 1e-3,
        "bucket_boundaries": [20, 40, 60, 80],
        "epochs": 10,
    },
}


def format_history(turns, window):
    """The last `window` turns, each after a speaker tag: the latest turn's speaker is `<s1>`, the other `<s2>`.

    >>> format_history(["hi .", "hello , how can i help ?", "how much is it ?"], window=2)
    '<s2> hello , how can i help ? <s1> how much is it ?'
    """
    if isinstance(turns, str) or not isinstance(turns, (list, tuple)) or not turns:
        raise ValueError(f"Expected a conversation: a non-empty list of turns (strings). Received: {turns!r}")
    if not all(isinstance(turn, str) for turn in turns):
        raise ValueError(f"Expected every turn to be a string. Received: {turns!r}")
    kept = list(turns)[-window:]
    return " ".join(f"<s{1 + (len(kept) - 1 - i) % 2}> {turn}" for i, turn in enumerate(kept))


@keras.saving.register_keras_serializable(package="kseq2seq")
class Responder(Seq2SeqTask):
    """Replies to a conversation: its last `history_window` turns, speaker-tagged, are the source.

    `fit` takes `(turns, reply)` pairs; `generate` takes a list of
    conversations, each a list of turns, oldest first. Presets decode by
    sampling (temperature 0.7, top-p 0.9); pass `sampler="greedy"` or
    `"beam"` for deterministic replies.

    Example:

    >>> train, val, test = kseq2seq.datasets.dialogue.load_shop_dialogues(num_train=512)
    >>> responder = kseq2seq.Responder.from_preset("gru_dialogue_small", train_texts=train, units=16)
    >>> history = responder.fit(train, epochs=1, verbose=0)
    >>> replies = responder.generate([["hello .", "hello , how can i help ?", "is the glass lamp in stock ?"]])
    """

    presets = PRESETS

    def __init__(self, backbone, preprocessor, history_window=4, **kwargs):
        super().__init__(backbone, preprocessor, **kwargs)
        self.history_window = check_positive_int("history_window", history_window)

    @classmethod
    def format_source(cls, source, config):
        return format_history(source, config["history_window"])

    @classmethod
    def task_arguments(cls, config):
        return {"history_window": config["history_window"]}

    def get_config(self):
        return {**super().get_config(), "history_window": self.history_window}
