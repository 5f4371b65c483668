"""Level 4: the web demo that `kseq2seq serve` shows at `/`, and the endpoint it decodes with.

TF Serving's REST API (`serving`) answers from the exported SavedModel, whose
signatures fix the decoding. The page wants more: any sampler and n-best per
request, and the attention to draw. So it talks to one documented extra
endpoint, answered by the trained task (`model.keras`) found beside the
served versions (the folder `kseq2seq export --output DIR/N` exports into):

- `GET /`, `GET /static/<file>`: the page (files in `kseq2seq/web/`, no CDN);
- `GET /kseq2seq/v1/models`: `{"models": [{name, task, preset, version, demo, generation_config}]}`;
- `POST /kseq2seq/v1/models/<name>:generate` with `{"inputs": [text, ...],
  "options": {GenerationConfig fields}}` -> `{"results": [{"texts", "scores",
  "source_tokens", "output_tokens", "attention"}], "latency_ms"}`, where
  `attention[i][j]` is output token i's weight on source token j (best output).
  A model whose input is a file (`input` is `"image"` or `"audio"` in the
  model list) takes `{"b64": base64 bytes}` inputs, TF Serving's convention
  for binary data; its attention columns are image grid cells (row by row,
  `attention_grid` gives `[height, width]`) or the listener's steps over
  time (`spectrogram` gives the log-mel features `[mel bins][frames]` they
  cover), and `source_tokens` is empty. A data-to-text model lists its
  `fields` (attribute -> values seen in training) and also takes a record
  as an object of attribute -> value strings, which the page's form sends.

Errors are TF Serving's shape, `{"error": message}`: 400 for bad input or
options (the message names them), 404 without a task folder.
"""

import base64
import binascii
import functools
import mimetypes
import os
import threading
import time

import numpy as np

from kseq2seq.utils import PAD

WEB_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "web")
API = "/kseq2seq/v1/models"
# Decoding options a page may set; the rest stay the model's (its generation config).
OPTIONS = ("sampler", "num_beams", "length_penalty", "nbest", "temperature", "top_k", "top_p", "seed", "max_length",
           "min_length")
MAX_INPUTS = 16


class DemoError(ValueError):
    """A request the demo cannot answer: `status` and a message for the page."""

    def __init__(self, message, status=400):
        super().__init__(message)
        self.status = status


def find_task_folder(model_dir):
    """The folder holding `model.keras` beside served versions: `model_dir` or, for a version folder, its parent."""
    from kseq2seq.saving import is_preset_folder

    path = os.path.normpath(os.path.abspath(model_dir))
    for folder in (path, os.path.dirname(path)):
        if is_preset_folder(folder):
            return folder
    return None


def static_file(url_path):
    """`(content type, bytes)` of a page file for `/` or `/static/<name>`, or None (unknown or outside web/)."""
    name = "index.html" if url_path == "/" else url_path[len("/static/"):] if url_path.startswith("/static/") else None
    if not name or "/" in name or "\\" in name or name.startswith("."):
        return None
    return _page_file(name)


@functools.lru_cache(maxsize=64)
def _page_file(name):
    """Read once per process: the package's page files do not change while it serves."""
    path = os.path.join(WEB_DIR, name)
    if not os.path.isfile(path):
        return None
    with open(path, "rb") as f:
        data = f.read()
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return (f"{content_type}; charset=utf-8" if content_type.startswith("text/") or name.endswith(".js")
            else content_type), data


class WebDemo:
    """Decodes page requests with the trained task in `task_folder` (one request at a time)."""

    def __init__(self, task_folder, name):
        from kseq2seq import saving
        from kseq2seq.tasks.registry import get_task, task_for

        self.name = name
        self.task_folder = task_folder
        self.task = saving.load(task_folder)
        self.task_name = task_for(self.task)
        spec = get_task(self.task_name) if self.task_name else None
        self._read_inputs = spec.resolve("read_inputs") if spec and spec.read_inputs else list
        self._lock = threading.Lock()

    def describe(self, version=None):
        return {"name": self.name, "task": self.task_name, "preset": self.task.preset, "version": version,
                "demo": True, "input": self.task.preprocessor.input_kind,
                "fields": getattr(self.task.preprocessor, "fields", None),
                "generation_config": self.task.generation_config.to_dict()}

    def generate(self, request):
        inputs, options = self._check(request)
        start = time.perf_counter()
        with self._lock:
            try:
                records = self.task.generate(self._read_inputs(inputs), return_attention=True, **options)
            except (ValueError, TypeError) as error:
                raise DemoError(str(error)) from None
        latency_ms = 1000 * (time.perf_counter() - start)
        results = [_result(record) for record in records]
        for result, value, record in zip(results, inputs, records):
            result.update(self._drawing(value, record))
        return {"results": results, "latency_ms": round(latency_ms, 3)}

    def _drawing(self, value, record):
        """What the page draws the attention over: an image's grid shape, or an audio input's log-mel spectrogram."""
        kind = self.task.preprocessor.input_kind
        if kind == "image" and record.attention is not None:
            return {"attention_grid": list(np.asarray(record.attention).shape[1:])}
        if kind == "audio":
            waveform = self.task.preprocessor.encode_source([value])[0]["waveform"][0].numpy()
            features = self.task.backbone.log_mel(waveform)
            return {"spectrogram": np.round(features.T, 2).tolist()}  # [mel bins][frames]
        return {}

    @staticmethod
    def _check(request):
        if not isinstance(request, dict) or not isinstance(request.get("inputs"), list):
            raise DemoError('Expected a JSON object {"inputs": [text, ...], "options": {...}}.')
        inputs = request["inputs"]
        if not 1 <= len(inputs) <= MAX_INPUTS:
            raise DemoError(f"Expected 'inputs' to be 1 to {MAX_INPUTS} strings. Received: {str(inputs)[:80]}")
        inputs = [_input(value, i) for i, value in enumerate(inputs)]
        options = request.get("options") or {}
        unknown = sorted(set(options) - set(OPTIONS)) if isinstance(options, dict) else None
        if unknown is None or unknown:
            raise DemoError(f"Expected 'options' to be an object with keys among {list(OPTIONS)}. "
                            f"Received: {unknown if unknown else type(options).__name__}")
        return inputs, {key: value for key, value in options.items() if value is not None}


def _input(value, index):
    """A request input: text, `{"b64": ...}` decoded to bytes (an image or a WAV file), or a record (a dict).

    The task checks a record itself: a model that takes no records says so.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and set(value) == {"b64"} and isinstance(value["b64"], str):
        try:
            return base64.b64decode(value["b64"], validate=True)
        except binascii.Error:
            raise DemoError(f"Expected inputs[{index}]['b64'] to be base64. Received: {value['b64'][:40]!r}") from None
    if isinstance(value, dict) and value and all(isinstance(v, str) for v in value.values()):
        return value
    raise DemoError(f"Expected inputs[{index}] to be a string, {{\"b64\": base64 bytes}} or a record "
                    f"{{attribute: value string, ...}}. Received: {str(value)[:80]}")


def _result(record):
    source = [token for token in (record.source_tokens or []) if token != PAD]
    weights = None if record.attention is None else np.asarray(record.attention)
    if weights is not None and not source:  # an image grid (row by row) or audio steps: every column
        weights = weights.reshape(weights.shape[0], -1)
        width = weights.shape[1]
    else:
        width = len(source)
    attention = [] if weights is None else [[round(float(w), 4) for w in row[:width]] for row in weights]
    return {"texts": record.texts, "scores": [round(s, 4) for s in record.scores], "source_tokens": source,
            "output_tokens": list(record.output_tokens), "attention": attention}
