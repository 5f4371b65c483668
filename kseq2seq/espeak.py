"""Level 0: speech synthesis with eSpeak NG, in a fresh process so that a batch is deterministic.

eSpeak NG (its library and voice data ship in the `espeakng-loader` wheel:
no system package, no download) carries state from one utterance to the
next inside a process (the same text comes out a few samples longer or
shorter, depending on what was spoken before). `synthesize_batch` therefore
speaks each batch in a new Python process (`python -m kseq2seq.espeak`):
the same requests give the same samples, whatever the caller spoke before.
This module imports no TensorFlow, so the process starts in well under a second.
"""

import ctypes
import io
import json
import subprocess
import sys

import numpy as np

# Accents and voice variants whose output is reproducible: the breathy variants f2, f3 and f5 add noise
# that differs from run to run, so they are left out.
VOICES = ("en", "en-us", "en-gb-scotland", "en-gb-x-rp", "en-029", "en+f1", "en+f4", "en-us+f4", "en-gb-x-rp+f4",
          "en+m3", "en-us+m5", "en+m7", "en-gb-scotland+m2", "en+klatt", "en-us+klatt2", "en-us+Annie")
_PARAMETERS = {"rate": 1, "pitch": 3, "range": 4}
_SYNCHRONOUS = 2


def synthesize_batch(requests):
    """`(list of float32 samples in [-1, 1], sample_rate)` for `requests`, spoken in a fresh process.

    Each request is a dict: `text`, `voice` (one of `VOICES`), `words_per_minute`, `pitch`, `pitch_range` (0-100).
    """
    for i, request in enumerate(requests):
        if request.get("voice") not in VOICES:
            raise ValueError(f"Expected requests[{i}]['voice'] to be one of {VOICES}. Received: {request.get('voice')!r}")
    result = subprocess.run([sys.executable, "-m", "kseq2seq.espeak"], input=json.dumps(requests).encode(),
                            capture_output=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"eSpeak NG synthesis failed: {result.stderr.decode(errors='replace')[-2000:]}")
    arrays = np.load(io.BytesIO(result.stdout))
    rate = int(arrays["rate"])
    return [arrays[f"audio_{i}"].astype(np.float32) / 32768.0 for i in range(len(requests))], rate


def _open_library():
    try:
        import espeakng_loader
    except ImportError:
        raise ImportError("Speech synthesis needs the espeakng-loader package: pip install espeakng-loader") from None
    lib = ctypes.CDLL(espeakng_loader.get_library_path())
    rate = lib.espeak_Initialize(_SYNCHRONOUS, 0, espeakng_loader.get_data_path().encode(), 0)
    if rate <= 0:
        raise RuntimeError(f"eSpeak NG failed to initialize (returned {rate})")
    return lib, rate


def _speak_all(requests):
    lib, rate = _open_library()
    chunks = []
    callback_type = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)

    def collect(wav, count, events):
        if count > 0:
            chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        return 0

    callback = callback_type(collect)
    lib.espeak_SetSynthCallback(callback)
    outputs = {"rate": np.array(rate)}
    for i, request in enumerate(requests):
        if lib.espeak_SetVoiceByName(request["voice"].encode()) != 0:
            raise RuntimeError(f"eSpeak NG has no voice {request['voice']!r}")
        for name, key in (("rate", "words_per_minute"), ("pitch", "pitch"), ("range", "pitch_range")):
            lib.espeak_SetParameter(_PARAMETERS[name], int(request[key]), 0)
        chunks.clear()
        data = request["text"].encode("utf-8")
        lib.espeak_Synth(data, len(data) + 1, 0, 0, 0, 0, None, None)
        lib.espeak_Synchronize()
        outputs[f"audio_{i}"] = np.concatenate(chunks) if chunks else np.zeros(0, np.int16)
    return outputs


if __name__ == "__main__":
    buffer = io.BytesIO()
    np.savez(buffer, **_speak_all(json.loads(sys.stdin.buffer.read())))
    sys.stdout.buffer.write(buffer.getvalue())
