"""Level 4: a small HTTP server that speaks TF Serving's REST API for an exported SavedModel.

For users without the `tensorflow/serving` binary. It needs only TensorFlow
(the SavedModel carries tokenization and decoding) and answers:

- `GET  /v1/models/<name>` (and `/versions/<v>`): model status;
- `GET  /v1/models/<name>/metadata`: signature names, inputs and outputs;
- `POST /v1/models/<name>[/versions/<v>]:predict` with `{"instances": [...]}`
  (row format; answer `{"predictions": [...]}`) or `{"inputs": ...}` (columnar;
  answer `{"outputs": ...}`), and an optional `"signature_name"`.

Served from a base folder of numbered versions (`Versions`), a newer version
is loaded and swapped in without a restart, as TF Serving does.

With a `web_demo.WebDemo`, the server also shows a demo page at `/` and
answers its extra endpoint under `/kseq2seq/v1/models` (see `web_demo`).

Bad requests get a 400 with `{"error": message}` (TF Serving's shape), an
unknown model or path a 404, a body over `max_request_bytes` a 413; the
server never dies on a request.
"""

import contextlib
import json
import logging
import os
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import tensorflow as tf

from kseq2seq import web_demo
from kseq2seq.request_batching import Overloaded

logger = logging.getLogger(__name__)
MAX_REQUEST_BYTES = 1 << 20
PATH = re.compile(r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+))?(?P<rest>/metadata|:predict)?$")


class BadRequest(ValueError):
    """A client error: answered with 400 and the message."""


def find_version(model_dir):
    """`model_dir` is a SavedModel, or a TF Serving base folder of numbered versions (newest wins)."""
    if os.path.isfile(os.path.join(model_dir, "saved_model.pb")):
        return model_dir, os.path.basename(os.path.normpath(model_dir))
    versions = [d for d in os.listdir(model_dir) if d.isdigit() and os.path.isfile(os.path.join(model_dir, d, "saved_model.pb"))]
    if not versions:
        raise FileNotFoundError(f"Expected --model to be a SavedModel or a folder of numbered versions. Received: {model_dir!r}")
    version = max(versions, key=int)
    return os.path.join(model_dir, version), version


def default_name(model_dir):
    """`saved_models/dates` and `saved_models/dates/1` are both served as `dates`."""
    path = os.path.normpath(os.path.abspath(model_dir))
    return os.path.basename(os.path.dirname(path)) if os.path.basename(path).isdigit() else os.path.basename(path)


class Model:
    """A loaded SavedModel and TF Serving's request/response conversions."""

    def __init__(self, path):
        import tensorflow_text  # noqa: F401  (registers the WordPiece ops our WordPiece models' graphs use)

        self.path, self.version = find_version(path)
        self.saved_model = tf.saved_model.load(self.path)
        self.signatures = dict(self.saved_model.signatures)
        self.samplers = _samplers(self.path)

    def metadata(self):
        def describe(specs):
            return {k: {"dtype": v.dtype.name, "shape": v.shape.as_list()} for k, v in specs.items()}

        return {
            name: {"inputs": describe(fn.structured_input_signature[1]), "outputs": describe(fn.structured_outputs)}
            for name, fn in self.signatures.items()
        }

    def predict(self, request, batcher=None):
        """TF Serving's predict; with a `RequestBatcher`, merged with concurrent requests (not sampling ones)."""
        if not isinstance(request, dict):
            raise BadRequest("Expected a JSON object with 'instances' or 'inputs'.")
        name = request.get("signature_name", "serving_default")
        if name not in self.signatures:
            raise BadRequest(f"Serving signature name: \"{name}\" not found in signature def. Known: {sorted(self.signatures)}")
        if ("instances" in request) == ("inputs" in request):
            raise BadRequest("Expected exactly one of 'instances' (row format) or 'inputs' (columnar format).")
        function = self.signatures[name]
        specs = function.structured_input_signature[1]
        row_format = "instances" in request
        columns = self._columns(request["instances"], specs) if row_format else self._inputs(request["inputs"], specs)
        tensors = {key: self._tensor(key, value, specs[key]) for key, value in columns.items()}
        if batcher is not None and self.samplers.get(name) != "sample":
            outputs = {key: _to_json(value) for key, value in batcher.run(function, tensors).items()}
        else:
            outputs = {key: _to_json(value.numpy()) for key, value in function(**tensors).items()}
        if row_format:
            if len(outputs) == 1:
                return {"predictions": next(iter(outputs.values()))}
            rows = len(next(iter(outputs.values())))
            return {"predictions": [{k: v[i] for k, v in outputs.items()} for i in range(rows)]}
        return {"outputs": next(iter(outputs.values())) if len(outputs) == 1 else outputs}

    @staticmethod
    def _columns(instances, specs):
        if not isinstance(instances, list) or not instances:
            raise BadRequest("Expected 'instances' to be a non-empty list.")
        if all(isinstance(i, dict) for i in instances):
            keys = set(specs)
            for i in instances:
                if set(i) != keys:
                    raise BadRequest(f"Expected every instance to have the keys {sorted(keys)}. Received: {sorted(i)}")
            return {k: [i[k] for i in instances] for k in keys}
        if len(specs) != 1:
            raise BadRequest(f"Expected named instances for a signature with inputs {sorted(specs)}.")
        return {next(iter(specs)): instances}

    @staticmethod
    def _inputs(inputs, specs):
        if isinstance(inputs, dict):
            if set(inputs) != set(specs):
                raise BadRequest(f"Expected 'inputs' with the keys {sorted(specs)}. Received: {sorted(inputs)}")
            return inputs
        if len(specs) != 1:
            raise BadRequest(f"Expected 'inputs' to be an object with keys {sorted(specs)}.")
        return {next(iter(specs)): inputs}

    @staticmethod
    def _tensor(key, value, spec):
        if spec.dtype == tf.string:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise BadRequest(f"Expected input '{key}' to be a list of strings.")
            return tf.constant(value, tf.string)
        try:
            array = np.asarray(value)
            if array.dtype.kind not in "iu" or array.ndim != len(spec.shape):
                raise ValueError
        except ValueError:
            raise BadRequest(f"Expected input '{key}' to be a rectangular {len(spec.shape)}-D list of integers.")
        return tf.constant(array, spec.dtype)


def _samplers(path):
    """Signature name -> its sampler, from a kseq2seq export's metadata ({} for other SavedModels)."""
    try:
        with open(os.path.join(path, "assets.extra", "kseq2seq.json"), encoding="utf-8") as f:
            signatures = json.load(f).get("signatures", {})
    except (OSError, ValueError):
        return {}
    return {name: config.get("sampler") for name, config in signatures.items() if isinstance(config, dict)}


class Versions:
    """A TF Serving base folder served at its newest version, which a poll thread swaps in when one appears.

    Like TF Serving's default version policy (latest): a new numbered folder
    with a `saved_model.pb` is loaded in the background while the current
    version answers; requests then go to the new one, and a request already
    running finishes on the version it started with. A version that fails to
    load is logged and skipped; the current one goes on serving. Our exports
    appear atomically (written aside, then renamed), so a half-written version
    is never seen.
    """

    def __init__(self, base, poll_seconds=1.0):
        self.base = base
        self.current = Model(base)
        # A version folder given directly is served as it is: there is nothing to look for.
        self.poll_seconds = 0 if self.current.path == base else poll_seconds
        self._failed = set()
        self._stop = threading.Event()
        self._thread = None

    def snapshot(self):
        """The version that answers a request from start to end."""
        return self.current

    def poll(self):
        """Loads and swaps in a version newer than the current one, if there is one; returns it or None."""
        if self.current.path == self.base:
            return None
        try:
            _, version = find_version(self.base)
        except (FileNotFoundError, OSError):
            return None
        if int(version) <= int(self.current.version) or version in self._failed:
            return None
        try:
            model = Model(os.path.join(self.base, version))
        except Exception:  # a broken version must not stop the one being served
            logger.exception("could not load version %s of %s; still serving version %s",
                             version, self.base, self.current.version)
            self._failed.add(version)
            return None
        self.current = model  # one reference assignment: requests see the old or the new version, whole
        logger.info("serving version %s of %s", version, self.base)
        return model

    def start(self):
        """Polls every `poll_seconds` in a daemon thread (`poll_seconds` <= 0: never)."""
        if self.poll_seconds > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def stop(self):
        self._stop.set()

    def _run(self):
        while not self._stop.wait(self.poll_seconds):
            self.poll()


def _to_json(array):
    if array.dtype.kind in ("S", "O"):
        return np.vectorize(lambda b: b.decode("utf-8"), otypes=[object])(array).tolist()
    return array.tolist()


class _Server(ThreadingHTTPServer):
    # socketserver's default listen backlog is 5: a burst of clients connecting
    # at once would see resets. One thread per request; threads die with the server.
    request_queue_size = 256
    daemon_threads = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._running = 0
        self._idle = threading.Condition()

    @contextlib.contextmanager
    def request_running(self):
        with self._idle:
            self._running += 1
        try:
            yield
        finally:
            with self._idle:
                self._running -= 1
                self._idle.notify_all()

    def drain(self, timeout=60.0):
        """Waits (up to `timeout` s) for the requests being answered; True when none is left."""
        with self._idle:
            return self._idle.wait_for(lambda: self._running == 0, timeout)


def make_server(served, name, host="127.0.0.1", port=8501, max_request_bytes=MAX_REQUEST_BYTES, demo=None,
                batcher=None):
    """A `ThreadingHTTPServer` answering TF Serving's REST API for `served` (a `Model` or `Versions`) under `name`.

    `demo`: a `web_demo.WebDemo` for the page at `/` and its endpoint (None: the page says the demo is off).
    `batcher`: a `request_batching.RequestBatcher` merging concurrent predict requests (None: each alone).
    """

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            logger.info("%s - %s", self.address_string(), fmt % args)

        def _send(self, status, body, content_type="application/json"):
            data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _route(self, method):
            model = served.snapshot() if hasattr(served, "snapshot") else served
            if not self.path.startswith("/v1/"):
                return self._demo(method, model)
            match = PATH.match(self.path)
            if not match or match.group("name") != name:
                return self._send(404, {"error": f"Servable not found for request: {self.path}"})
            if match.group("version") not in (None, model.version):
                return self._send(404, {"error": f"Version {match.group('version')} of model {name} not found"})
            rest = match.group("rest")
            if method == "GET" and rest is None:
                status = {"version": model.version, "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
                return self._send(200, {"model_version_status": [status]})
            if method == "GET" and rest == "/metadata":
                spec = {"name": name, "version": model.version}
                return self._send(200, {"model_spec": spec, "metadata": {"signature_def": model.metadata()}})
            if method == "POST" and rest == ":predict":
                return self._predict(model)
            return self._send(405 if rest else 404, {"error": f"Unsupported {method} for {self.path}"})

        def _demo(self, method, model):
            path = self.path.split("?", 1)[0]
            page = web_demo.static_file(path) if method == "GET" else None
            if page:
                return self._send(200, page[1], page[0])
            if method == "GET" and path == web_demo.API:
                described = demo.describe(model.version) if demo else {"name": name, "version": model.version,
                                                                         "demo": False}
                return self._send(200, {"models": [described]})
            if method == "POST" and path == f"{web_demo.API}/{name}:generate":
                if demo is None:
                    return self._send(404, {"error": f"No trained task (model.keras) was found beside the served "
                                                     f"versions of {name}: the web demo is off."})
                return self._predict(demo.generate)
            return self._send(404, {"error": f"Not found: {method} {self.path}"})

        def _predict(self, model):
            """Answers a JSON POST with `model.predict(request)` (or `model(request)`, the demo's)."""
            try:
                length = int(self.headers.get("Content-Length", "-1"))
            except ValueError:
                length = -1
            if length < 0:
                return self._send(411, {"error": "Expected a Content-Length header."})
            if length > max_request_bytes:
                self._discard(length)
                return self._send(413, {"error": f"Request body of {length} bytes exceeds {max_request_bytes} bytes."})
            body = self.rfile.read(length)
            try:
                request = json.loads(body.decode("utf-8"))
                return self._send(200, model.predict(request, batcher) if hasattr(model, "predict") else model(request))
            except Overloaded as error:
                return self._send(503, {"error": str(error)})
            except (UnicodeDecodeError, json.JSONDecodeError) as error:
                return self._send(400, {"error": f"Malformed JSON request: {error}"})
            except BadRequest as error:
                return self._send(400, {"error": str(error)})
            except web_demo.DemoError as error:
                return self._send(error.status, {"error": str(error)})
            except tf.errors.InvalidArgumentError as error:
                return self._send(400, {"error": error.message})
            except Exception as error:  # never let one request take the server down
                logger.exception("predict failed")
                return self._send(500, {"error": f"{type(error).__name__}: {error}"})

        def _discard(self, length):
            """Reads an oversized body in small chunks (never holding it) so the client sees the 413."""
            self.close_connection = True
            remaining = min(length, 64 * max_request_bytes)
            while remaining > 0:
                chunk = self.rfile.read(min(remaining, 65536))
                if not chunk:
                    break
                remaining -= len(chunk)

        def do_GET(self):
            with self.server.request_running():
                self._route("GET")

        def do_POST(self):
            with self.server.request_running():
                self._route("POST")

    server = _Server((host, port), Handler)
    return server


def serve_in_thread(server):
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread
