"""Runs exported models as a server or an app would: kseq2seq and keras unimportable.

    python tests/export_client.py REQUEST_JSON_FILE

The request names `saved_model` (a folder), `inputs` (strings, or base64
bytes with `"binary": true`) and optionally `tflite` (a model file) with
`tflite_inputs` (one dict of int32/float arrays per example). Prints JSON:
each SavedModel signature's outputs and each example's TFLite outputs.
"""

import base64
import json
import sys

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


def main(request):
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
    result["modules"] = sorted(m for m in sys.modules if m.split(".")[0] in ("kseq2seq", "keras") and sys.modules[m])
    return result


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as f:
        print(json.dumps(main(json.load(f))))
