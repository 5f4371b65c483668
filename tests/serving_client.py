"""Loads an exported SavedModel the way a server does, with kseq2seq and keras unimportable.

    python tests/serving_client.py SAVED_MODEL_DIR INPUTS_JSON

Prints JSON: the outputs of every signature through TF2 loading
(`tf.saved_model.load`) and through TF1 Session-based loading
(`tf.compat.v1.saved_model.loader.load`, as TF Serving does).

    python tests/serving_client.py --requests REQUESTS_JSON_FILE

The file holds a list of requests (one process answers them all); each names
`saved_model` (a folder), `inputs` (strings, or base64 bytes with
`"binary": true`) and optionally `tflite` (a model file) with
`tflite_inputs` (one dict of int32/float arrays per example). Prints JSON:
per request, the string signatures' outputs and each example's TFLite token
ids, then the kseq2seq/keras modules that were imported (none).
"""

import base64
import json
import sys


# A None entry makes `import keras` fail and `importlib.util.find_spec("keras")`
# answer None, exactly as if the package were not installed.
for _name in ("kseq2seq", "keras", "keras_hub", "tf_keras"):
    sys.modules[_name] = None
sys.path = [p for p in sys.path if not p.endswith("/tests") and p not in ("", ".")]

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def to_json(value):
    value = np.asarray(value)
    if value.dtype.kind in ("S", "O"):
        return np.vectorize(lambda b: b.decode("utf-8"), otypes=[object])(value).tolist()
    return value.tolist()


def tf2(path, inputs, ids):
    model = tf.saved_model.load(path)
    results = {}
    for name in ("serving_default", "beam_search"):
        out = model.signatures[name](inputs=tf.constant(inputs))
        results[name] = {k: to_json(v) for k, v in out.items()}
    out = model.signatures["generate_ids"](encoder_token_ids=tf.constant(ids, tf.int32))
    results["generate_ids"] = {k: to_json(v) for k, v in out.items()}
    return results


def tf1(path, inputs):
    results = {}
    with tf.Graph().as_default(), tf.compat.v1.Session() as session:
        meta = tf.compat.v1.saved_model.loader.load(session, ["serve"], path)
        for name in ("serving_default", "beam_search"):
            signature = meta.signature_def[name]
            fetches = {k: v.name for k, v in signature.outputs.items()}
            values = session.run(fetches, {signature.inputs["inputs"].name: inputs})
            results[name] = {k: to_json(v) for k, v in values.items()}
    return results


def answer(request):
    inputs = request["inputs"]
    if request.get("binary"):
        inputs = [base64.b64decode(item) for item in inputs]
    model = tf.saved_model.load(request["saved_model"])
    result = {"saved_model": {}}
    for name in ("serving_default", "beam_search"):
        out = model.signatures[name](inputs=tf.constant(inputs))
        result["saved_model"][name] = {k: to_json(v) for k, v in out.items()}
    if request.get("tflite"):
        interpreter = tf.lite.Interpreter(model_path=request["tflite"])
        runners = {name: interpreter.get_signature_runner(name) for name in ("serving_default", "beam_search")}
        result["tflite"] = [
            {name: to_json(runner(**{k: np.asarray(v, dtype=request["tflite_dtype"]) for k, v in example.items()})
                           ["token_ids"]) for name, runner in runners.items()}
            for example in request["tflite_inputs"]]
    return result


def imported():
    return sorted(m for m in sys.modules if m.split(".")[0] in ("kseq2seq", "keras") and sys.modules[m])


if __name__ == "__main__" and sys.argv[1] == "--requests":
    with open(sys.argv[2], encoding="utf-8") as f:
        results = [answer(request) for request in json.load(f)]
    print(json.dumps({"results": results, "modules": imported()}))
elif __name__ == "__main__":
    path, request = sys.argv[1], json.loads(sys.argv[2])
    print(json.dumps({
        "modules": imported(),
        "tf2": tf2(path, request["inputs"], request["ids"]),
        "tf1": tf1(path, request["inputs"]),
    }))
