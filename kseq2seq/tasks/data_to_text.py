"""Level 3: text generation from data (meaning representations): the task and its presets."""

import keras
import tensorflow as tf

from kseq2seq.preprocessors.record import RecordPreprocessor, placeholder
from kseq2seq.records import format_mr, parse_mr
from kseq2seq.slot_matching import count_slot_errors
from kseq2seq.tasks.task import Seq2SeqTask

_E2E = {
    "preprocessor": "record",
    "delexicalized": ["name", "near"],
    # Whole words: the vocabulary is small (a few thousand words) once names are placeholders,
    # and a word model's SavedModel needs no tensorflow-text ops in TF Serving.
    "tokenizer": "word",
    "lowercase": False,
    "max_vocabulary_size": 6000,
    "min_count": 1,
    "embedding_dim": 128,
    "units": 256,
    "cell_type": "lstm",
    "bidirectional": True,
    "num_encoder_layers": 1,
    "attention": "bahdanau",
    "input_feeding": True,
    "output_reads_context": True,
    "attentional_layer": False,
    "dropout": 0.2,
    "source_length": 48,
    "target_length": 80,
    "max_length": 80,
    "learning_rate": 2e-3,
    "clipnorm": 1.0,
    "batch_size": 64,
    "bucket_boundaries": [16, 24, 32, 40, 50],
    "epochs": 30,
    "lr_decay_factor": 0.5,
    "lr_decay_patience": 1,
    "sampler": "beam",
    # Ten beams reranked: on both dev sets, fewer slot errors than five at about the same BLEU (docs/benchmarks.md).
    "num_beams": 10,
    "length_penalty": 0.6,
    # TGen's rule-based reranking: of the beam's outputs, one that says every slot of the MR once wins.
    "rerank": True,
}

# A preset is data; every field can be overridden in `DataToText.from_preset(name, train_texts, **overrides)`.
PRESETS = {
    "e2e_lstm": {
        **_E2E,
        "description": "E2E NLG restaurant MRs -> descriptions: linearized MR, name/near delexicalized in graph, "
                       "bidirectional LSTM + Bahdanau attention with input feeding, beam 5.",
    },
    "e2e_cleaned_lstm": {
        **_E2E,
        "description": "The e2e_lstm setup for the cleaned E2E release (Dušek et al. 2019), whose MRs match "
                       "their texts: train it on e2e_cleaned/train.csv with --drop-slot-errors for a low slot "
                       "error rate.",
    },
    "records_small": {
        **_E2E,
        "description": "A small model for generated records (kseq2seq demo --task data_to_text).",
        "embedding_dim": 64,
        "units": 128,
        "dropout": 0.0,
        "bucket_boundaries": None,
        "epochs": 10,
        "sampler": "greedy",
    },
}


@keras.saving.register_keras_serializable(package="kseq2seq")
class DataToText(Seq2SeqTask):
    """Attention encoder-decoder that writes text from a record of attribute -> value.

    Inputs are E2E-style MR strings (`"name[The Eagle], food[French]"`) or
    dicts (`{"name": "The Eagle", "food": "French"}`). Names (the preset's
    `delexicalized` attributes) are copied into the output exactly, even
    names never seen in training. With `rerank=True` (the E2E presets'
    default), beam search returns, of its `num_beams` outputs, those with
    the fewest slot errors against the MR first (`kseq2seq.slot_matching`).

    Example:

    >>> import kseq2seq
    >>> from kseq2seq.datasets.e2e import load_restaurants
    >>> train, val, test = load_restaurants(num_train=64, num_validation=8, num_test=8)
    >>> model = kseq2seq.DataToText.from_preset("records_small", train_texts=train, units=16)
    >>> history = model.fit(train, epochs=1, verbose=0)
    >>> len(model.generate([{"name": "Zanzibar", "food": "French"}, "name[Blue Moon], area[riverside]"]))
    2
    """

    presets = PRESETS
    preprocessors = {"record": RecordPreprocessor}

    @classmethod
    def format_source(cls, source, config):
        """A dict (or `(attribute, value)` pairs) -> an MR string; MR strings are checked as they are."""
        if isinstance(source, str):
            parse_mr(source)
            return source
        if isinstance(source, (dict, list, tuple)):
            return format_mr(source)
        raise TypeError(f"Expected an MR string or a dict of attribute -> value. Received: {type(source).__name__}")


    def reranking_penalties(self, inputs, token_ids):
        """Slot errors of each hypothesis against its MR, counted while names are still placeholders."""
        texts = self.preprocessor.detokenize(token_ids)
        placeholders = {attribute: placeholder(attribute) for attribute in self.preprocessor.delexicalized}
        return tf.cast(count_slot_errors(inputs, texts, placeholders), tf.float32)
