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

Errors are TF Serving's shape, `{"error": message}`: 400 for bad input or
options (the message names them), 404 without a task folder.
"""

import mimetypes
import os
import threading
import time

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
                "demo": self.task_name != "captioning", "generation_config": self.task.generation_config.to_dict()}

    def generate(self, request):
        inputs, options = self._check(request)
        if self.task_name == "captioning":
            raise DemoError("The web demo takes text inputs; this captioning model is served by the REST API only.")
        start = time.perf_counter()
        with self._lock:
            try:
                records = self.task.generate(self._read_inputs(inputs), return_attention=True, **options)
            except (ValueError, TypeError) as error:
                raise DemoError(str(error)) from None
        latency_ms = 1000 * (time.perf_counter() - start)
        return {"results": [_result(record) for record in records], "latency_ms": round(latency_ms, 3)}

    @staticmethod
    def _check(request):
        if not isinstance(request, dict) or not isinstance(request.get("inputs"), list):
            raise DemoError('Expected a JSON object {"inputs": [text, ...], "options": {...}}.')
        inputs = request["inputs"]
        if not 1 <= len(inputs) <= MAX_INPUTS or not all(isinstance(text, str) for text in inputs):
            raise DemoError(f"Expected 'inputs' to be 1 to {MAX_INPUTS} strings. Received: {str(inputs)[:80]}")
        options = request.get("options") or {}
        unknown = sorted(set(options) - set(OPTIONS)) if isinstance(options, dict) else None
        if unknown is None or unknown:
            raise DemoError(f"Expected 'options' to be an object with keys among {list(OPTIONS)}. "
                            f"Received: {unknown if unknown else type(options).__name__}")
        return inputs, {key: value for key, value in options.items() if value is not None}


def _result(record):
    source = [token for token in (record.source_tokens or []) if token != PAD]
    attention = [] if record.attention is None else [[round(float(w), 4) for w in row[: len(source)]]
                                                      for row in record.attention]
    return {"texts": record.texts, "scores": [round(s, 4) for s in record.scores], "source_tokens": source,
            "output_tokens": list(record.output_tokens), "attention": attention}
