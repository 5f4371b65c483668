"""Level 2: export for serving: a SavedModel with string-in/string-out signatures.

The SavedModel is written with `keras.export.ExportArchive`, which tracks
only the variables and lookup tables the endpoints use (attaching whole Keras
models to a `tf.Module` breaks the TF1 Session-based loading that TF Serving
uses). Tokenization and decoding run inside the graph, so serving needs
neither Python nor kseq2seq. Signatures, all batch-first:

- `serving_default`: `inputs` string `[batch]` -> `outputs` string `[batch]`,
  `scores` float `[batch]` (greedy; sum of log-probabilities);
- `beam_search`: `inputs` string `[batch]` -> `outputs` string `[batch, nbest]`,
  `scores` float `[batch, nbest]` (fixed `num_beams`, `length_penalty`, `nbest`);
- `generate_ids`: `encoder_token_ids` int32 `[batch, length]` -> `token_ids`
  int32 `[batch, max_length]` (greedy; `[END]` then 0-padding), `scores`.

Layout (TF Serving's `<name>/<version>/`): the folder given is the version
folder; `assets.extra/kseq2seq.json` holds the metadata (preset, special
token ids, vocabularies, decoding configuration, versions). The folder is
written to a temporary sibling and renamed into place, so a failed export
leaves nothing behind and an existing version is replaced only with
`overwrite=True`.
"""

import json
import os

import keras
import tensorflow as tf

from kseq2seq.tokenizers import END_ID, PAD_ID, START_ID, UNK_ID
from kseq2seq.utils import atomic_directory, check_one_of

METADATA_PATH = os.path.join("assets.extra", "kseq2seq.json")
DEFAULT_BEAM = {"num_beams": 4, "length_penalty": 0.6, "nbest": 4}
FORMATS = {"saved_model"}


def metadata(task, beam_config):
    import kseq2seq

    preprocessor = task.preprocessor
    return {
        "format_version": 1,
        "task": type(task).__name__,
        "preset": task.preset,
        "kseq2seq_version": kseq2seq.__version__,
        "tensorflow_version": tf.__version__,
        "keras_version": keras.__version__,
        "special_token_ids": {"[PAD]": PAD_ID, "[UNK]": UNK_ID, "[START]": START_ID, "[END]": END_ID},
        "source_tokenizer": type(preprocessor.source_tokenizer).__name__,
        "target_tokenizer": type(preprocessor.target_tokenizer).__name__,
        "lowercase": preprocessor.source_tokenizer.lowercase,
        "source_length": preprocessor.source_length,
        "max_length": task.max_length,
        "source_vocabulary": preprocessor.source_tokenizer.vocabulary,
        "target_vocabulary": preprocessor.target_tokenizer.vocabulary,
        "signatures": {
            "serving_default": {"sampler": "greedy"},
            "beam_search": {"sampler": "beam", **beam_config},
            "generate_ids": {"sampler": "greedy"},
        },
    }


def build_archive(task, beam_config):
    """An `ExportArchive` with the three serving signatures of `task`."""
    preprocessor = task.preprocessor
    detokenize = preprocessor.target_tokenizer.detokenize
    archive = keras.export.ExportArchive()
    archive.track(task)
    for tokenizer in (preprocessor.source_tokenizer, preprocessor.target_tokenizer):
        archive.track(tokenizer._lookup)  # the vocabulary's hash table

    def greedy(inputs):
        out = task.generate_ids(preprocessor.tokenize_source(inputs), sampler="greedy")
        return {"outputs": detokenize(out.token_ids[:, 0]), "scores": out.scores[:, 0]}

    def beam_search(inputs):
        out = task.generate_ids(preprocessor.tokenize_source(inputs), sampler="beam", **beam_config)
        batch, nbest = tf.shape(out.token_ids)[0], tf.shape(out.token_ids)[1]
        texts = detokenize(tf.reshape(out.token_ids, [batch * nbest, -1]))
        return {"outputs": tf.reshape(texts, [batch, nbest]), "scores": out.scores}

    def generate_ids(encoder_token_ids):
        out = task.generate_ids(encoder_token_ids, sampler="greedy")
        return {"token_ids": out.token_ids[:, 0], "scores": out.scores[:, 0]}

    strings = [tf.TensorSpec([None], tf.string, name="inputs")]
    archive.add_endpoint("serving_default", greedy, input_signature=strings)
    archive.add_endpoint("beam_search", beam_search, input_signature=strings)
    archive.add_endpoint(
        "generate_ids", generate_ids, input_signature=[tf.TensorSpec([None, None], tf.int32, name="encoder_token_ids")]
    )
    return archive


def export(task, path, formats=("saved_model",), overwrite=False, beam_config=None):
    """Writes `task` for serving into the version folder `path` (atomically).

    Args:
        task: a trained `Seq2SeqTask` (e.g. a `Translator`).
        path: the version folder, e.g. `saved_models/dates/1`.
        formats: `("saved_model",)`.
        overwrite: replace an existing folder at `path`.
        beam_config: `num_beams`, `length_penalty`, `nbest` of the `beam_search` signature.
    """
    for fmt in formats:
        check_one_of("formats", fmt, FORMATS)
    beam_config = {**DEFAULT_BEAM, **(beam_config or {})}
    from kseq2seq.decoding import check_beam_args

    check_beam_args(beam_config["num_beams"], beam_config["length_penalty"], beam_config["nbest"])
    info = metadata(task, beam_config)

    def write(folder):
        build_archive(task, beam_config).write_out(folder, verbose=False)
        os.makedirs(os.path.join(folder, "assets.extra"), exist_ok=True)
        with open(os.path.join(folder, METADATA_PATH), "w", encoding="utf-8") as f:
            json.dump(info, f, indent=1, ensure_ascii=False)

    return atomic_directory(path, write, overwrite=overwrite)
