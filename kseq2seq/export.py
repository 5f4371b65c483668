"""Level 4: export for serving: a SavedModel with string-in/string-out signatures.

The SavedModel is written with `keras.export.ExportArchive`, which tracks
only the variables and lookup tables the endpoints use (attaching whole Keras
models to a `tf.Module` breaks the TF1 Session-based loading that TF Serving
uses). Tokenization and decoding run inside the graph, so serving needs
neither Python nor kseq2seq. Signatures, all batch-first:

- `serving_default`: `inputs` string `[batch]` -> `outputs` string `[batch]`,
  `scores` float `[batch]`, decoded with the task's `generation_config`,
  exactly as `task.generate` decodes (its sampler, beams, `min_length`,
  `allow_unknown`, sampling seed);
- `beam_search`: `inputs` string `[batch]` -> `outputs` string `[batch, nbest]`,
  `scores` float `[batch, nbest]`: beam search with the task's beam settings
  (`num_beams`, `length_penalty`, `nbest`, `rerank`, `early_stopping`), or those given to `export`;
- `with_prefix`: `inputs` and `prefix` strings `[batch]` -> `outputs`, `scores`
  `[batch]`: as `serving_default`, each output starting with its prefix
  (`generate(..., prefix=...)`; "" for none);
- `generate_ids`: `encoder_token_ids` int32 `[batch, length]` (and
  `encoder_extended_ids` for a pointer-generator) -> `token_ids` int32
  `[batch, max_length]` (the best output: `[END]` then 0-padding), `scores`,
  decoded as `serving_default` but never reranked (a reranker reads texts).

Layout (TF Serving's `<name>/<version>/`): the folder given is the version
folder; `assets.extra/kseq2seq.json` holds the metadata (preset, special
token ids, vocabularies, each signature's decoding configuration, versions). The folder is
written to a temporary sibling and renamed into place, so a failed export
leaves nothing behind and an existing version is replaced only with
`overwrite=True`.
"""

import json
import logging
import os
import shutil

import keras
import tensorflow as tf

from kseq2seq import decoding, tflite_strings
from kseq2seq.generation import BEAM_FIELDS
from kseq2seq.tokenizers import END_ID, PAD_ID, START_ID, UNK_ID
from kseq2seq.utils import atomic_directory, check_one_of

METADATA_PATH = os.path.join("assets.extra", "kseq2seq.json")
FORMATS = {"saved_model", "tflite"}
QUANTIZATIONS = {None, "dynamic_range", "float16"}
TFLITE_DIR = "tflite"
STRINGS_TFLITE = "strings.tflite"
logger = logging.getLogger(__name__)


def generation_configs(task, beam_config=None):
    """`(default, beam)`: the task's own config, and beam search with its beam settings and `beam_config` over them."""
    unknown = sorted(set(beam_config or {}) - set(BEAM_FIELDS))
    if unknown:
        raise ValueError(f"Expected beam_config keys among {list(BEAM_FIELDS)}. Received unknown: {unknown}")
    default = task.generation_options()
    return default, default.replace(sampler="beam", **{"nbest": default.nbest, **(beam_config or {})})


def metadata(task, default, beam):
    import kseq2seq

    info = {
        "format_version": 1,
        "task": type(task).__name__,
        "preset": task.preset,
        "kseq2seq_version": kseq2seq.__version__,
        "tensorflow_version": tf.__version__,
        "keras_version": keras.__version__,
        "special_token_ids": {"[PAD]": PAD_ID, "[UNK]": UNK_ID, "[START]": START_ID, "[END]": END_ID},
        **task.preprocessor.describe(),
        "max_length": task.max_length,
        "signatures": {
            "serving_default": default.describe(),
            "beam_search": beam.describe(),
            "with_prefix": default.describe(),
            "generate_ids": _ids_level(default.describe()),
        },
    }
    return info


def _ids_level(described):
    """A signature's decoding as the id-level endpoints run it: a reranker needs the texts, so none reranks."""
    return {**described, "rerank": False} if "rerank" in described else described


def _id_signature(task, batch=None):
    """Input specs of the id-level endpoints: the preprocessor's encoder inputs (token ids, or images)."""
    return task.preprocessor.encoder_input_specs(batch)


def _id_inputs(task, tensors):
    return dict(zip(task.preprocessor.encoder_input_names, tensors))


def _archive(task):
    """An empty `ExportArchive` tracking the task's models (an ensemble's members)."""
    archive = keras.export.ExportArchive()
    for model in getattr(task, "members", [task]):
        archive.track(model)  # add_endpoint tracks the StringLookup tables the endpoints use
    return archive


def build_archive(task, default, beam):
    """An `ExportArchive` with the three serving signatures of `task`."""
    archive = _archive(task)

    def best(inputs):
        result = task.decode_strings(inputs, default)
        return {"outputs": result["texts"][:, 0], "scores": result["scores"][:, 0]}

    def beam_search(inputs):
        result = task.decode_strings(inputs, beam)
        return {"outputs": result["texts"], "scores": result["scores"]}

    def generate_ids(*encoder_inputs):
        out = task.generate_ids(_id_inputs(task, encoder_inputs), default)
        return {"token_ids": out.token_ids[:, 0], "scores": out.scores[:, 0]}

    def with_prefix(inputs, prefix):
        result = task.decode_strings(inputs, default, prefix=prefix)
        return {"outputs": result["texts"][:, 0], "scores": result["scores"][:, 0]}

    strings = [tf.TensorSpec([None], task.preprocessor.input_dtype, name="inputs")]
    archive.add_endpoint("serving_default", best, input_signature=strings)
    archive.add_endpoint("beam_search", beam_search, input_signature=strings)
    archive.add_endpoint("with_prefix", with_prefix,
                         input_signature=strings + [tf.TensorSpec([None], tf.string, name="prefix")])
    archive.add_endpoint("generate_ids", generate_ids, input_signature=_id_signature(task))
    return archive


def tflite_model(task, default, beam, work_dir, quantization=None):
    """A batch-1 TFLite flatbuffer with builtin ops only: token ids in, token ids out.

    Signatures `serving_default` (the task's generation config: `token_ids [1, max_length]`, `scores [1]`)
    and `beam_search` (`token_ids [1, nbest, max_length]`, `scores [1, nbest]`),
    both taking `encoder_token_ids` int32 `[1, length]` (and, for a
    pointer-generator, `encoder_extended_ids`), and `with_prefix`: as
    `serving_default`, with `prefix` int32 `[1, P]` (target ids the output
    starts with; `P` may be 0). Converted from a SavedModel so that variables
    are frozen into the decoding loop.
    """
    ids = _id_signature(task, batch=1)

    def best(*encoder_inputs):
        out = task.generate_ids(_id_inputs(task, encoder_inputs), default)
        return {"token_ids": out.token_ids[:, 0], "scores": out.scores[:, 0]}

    def beam_search(*encoder_inputs):
        out = task.generate_ids(_id_inputs(task, encoder_inputs), beam)
        return {"token_ids": out.token_ids, "scores": out.scores}

    def with_prefix(*inputs):
        out = task.generate_ids(_id_inputs(task, inputs[:-1]), default, prefix=inputs[-1])
        return {"token_ids": out.token_ids[:, 0], "scores": out.scores[:, 0]}

    endpoints = {"serving_default": (best, ids), "beam_search": (beam_search, ids),
                 "with_prefix": (with_prefix, ids + [tf.TensorSpec([1, None], tf.int32, name="prefix")])}
    return _convert(task, endpoints, os.path.join(work_dir, "tflite_source"), quantization)


def strings_tflite_model(task, default, beam, work_dir, quantization=None):
    """A batch-1 TFLite flatbuffer, text in, text out (`tflite_strings`): builtin ops and tensorflow-text's.

    Signatures `serving_default` (`inputs` string `[1]` -> `outputs` string `[1]`, `scores [1]`),
    `beam_search` (`outputs [1, nbest]`, `scores [1, nbest]`) and `with_prefix`
    (`inputs` and `prefix` strings `[1]`, as `serving_default`), decoded as the ids model's.
    """
    best, beam_search, with_prefix = tflite_strings.string_endpoints(task, default, beam)
    text = [tf.TensorSpec([1], tf.string, name="inputs")]
    endpoints = {"serving_default": (best, text), "beam_search": (beam_search, text),
                 "with_prefix": (with_prefix, text + [tf.TensorSpec([1], tf.string, name="prefix")])}
    saved_model = os.path.join(work_dir, "tflite_strings_source")
    # Custom ops: tensorflow-text's WordPiece kernels, nothing else (no Flex).
    model = _convert(task, endpoints, saved_model, quantization, custom_ops=True)
    shutil.rmtree(saved_model)
    return model


def _convert(task, endpoints, saved_model, quantization, custom_ops=False):
    """`endpoints` (name -> function, input signature) written as a SavedModel at `saved_model`, then
    converted with builtin ops only."""
    archive = _archive(task)
    with decoding.fixed_shapes():  # TFLite's interpreter crashes on a beam search loop whose batch shrinks
        for name, (function, input_signature) in endpoints.items():
            archive.add_endpoint(name, function, input_signature=input_signature)
        archive.write_out(saved_model, verbose=False)
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model, signature_keys=list(endpoints))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    converter.allow_custom_ops = custom_ops
    if quantization is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]  # dynamic-range int8 weights
    if quantization == "float16":
        converter.target_spec.supported_types = [tf.float16]
    return converter.convert()


def _write_tflite(task, folder, default, beam, info, quantization):
    target = os.path.join(folder, TFLITE_DIR)
    os.makedirs(target)
    model = tflite_model(task, default, beam, folder, quantization)
    shutil.rmtree(os.path.join(folder, "tflite_source"))
    with open(os.path.join(target, "model.tflite"), "wb") as f:
        f.write(model)
    reason = tflite_strings.unsupported_reason(task)
    if reason is None:
        with open(os.path.join(target, STRINGS_TFLITE), "wb") as f:
            f.write(strings_tflite_model(task, default, beam, folder, quantization))
        info = {**info, "strings_model": STRINGS_TFLITE}
    else:
        logger.warning("No string-in/string-out TFLite model (only the ids model): %s", reason)
        info = {**info, "strings_model": None, "strings_model_unsupported": reason}
    for name, tokenizer in task.preprocessor.tokenizers().items():
        with open(os.path.join(target, f"{name}_vocabulary.txt"), "w", encoding="utf-8") as f:
            f.write("".join(token.replace("\n", "\\n") + "\n" for token in tokenizer.vocabulary))
    with open(os.path.join(target, "kseq2seq.json"), "w", encoding="utf-8") as f:
        signatures = {name: _ids_level(described) for name, described in info["signatures"].items()}
        json.dump({**info, "signatures": signatures, "tflite_quantization": quantization}, f, indent=1,
                  ensure_ascii=False)


def export(task, path, formats=("saved_model",), overwrite=False, beam_config=None, tflite_quantization=None):
    """Writes `task` for serving into the version folder `path` (atomically).

    Args:
        task: a trained `Seq2SeqTask` (e.g. a `Translator`).
        path: the version folder, e.g. `saved_models/dates/1`.
        formats: any of `"saved_model"` (written at `path`) and `"tflite"`
            (written to `path/tflite/`: `model.tflite`, the vocabularies as
            one token per line, id = line number, and `kseq2seq.json`).
        overwrite: replace an existing folder at `path`.
        beam_config: `num_beams`, `length_penalty`, `nbest`, `rerank`, `early_stopping` of the
            `beam_search` signatures (default: the task's own; recorded in the metadata).
        tflite_quantization: None, `"dynamic_range"` (int8 weights) or `"float16"`.
    """
    if isinstance(formats, str) or not formats:
        raise ValueError(f"Expected formats to be a non-empty tuple of {sorted(FORMATS)}. Received: formats={formats!r}")
    for fmt in formats:
        check_one_of("formats", fmt, FORMATS)
    check_one_of("tflite_quantization", tflite_quantization, QUANTIZATIONS)
    default, beam = generation_configs(task, beam_config)
    info = metadata(task, default, beam)

    def write(folder):
        if "saved_model" in formats:
            build_archive(task, default, beam).write_out(folder, verbose=False)
            os.makedirs(os.path.join(folder, "assets.extra"), exist_ok=True)
            with open(os.path.join(folder, METADATA_PATH), "w", encoding="utf-8") as f:
                json.dump(info, f, indent=1, ensure_ascii=False)
        if "tflite" in formats:
            _write_tflite(task, folder, default, beam, info, tflite_quantization)

    return atomic_directory(path, write, overwrite=overwrite)
