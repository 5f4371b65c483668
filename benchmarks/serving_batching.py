"""`kseq2seq serve` under concurrent clients, with and without request batching.

    python benchmarks/serving_batching.py --model saved_models/multi30k_gru_avg [--seconds 20] [--write]

`--model` is a trained task folder; it is exported to a temporary folder and
served twice, by two `kseq2seq serve` processes started side by side (one
`--no-enable-batching`, one with the default batching flags). For 1, 8, 32
and 128 concurrent clients, in turn (without, then with batching, for each
count), every client sends Multi30k validation sentences, one per request, to
`serving_default` (the preset's own decoding) over a kept-alive connection
for `--seconds`; requests/s counts the answered requests, latencies are each
request's round trip. Only the measured server works at a time.
"""

import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from common import argument_parser, report  # noqa: E402

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "multi30k", "val.en")
CLIENTS = (1, 8, 32, 128)


def start_server(base, batching):
    flags = [] if batching else ["--no-enable-batching"]
    process = subprocess.Popen([sys.executable, "-m", "kseq2seq", "serve", "--model", base, "--port", "0",
                                "--no-demo", *flags], stdout=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    port = int(line.split("http://127.0.0.1:")[1].split("/")[0])
    return process, port


def load(port, clients, seconds, sentences):
    """Runs `clients` threads for `seconds`; returns (requests/s, latencies in ms)."""
    latencies, errors = [], []
    stop = time.monotonic() + seconds

    def client(index):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        i = index
        while time.monotonic() < stop:
            body = json.dumps({"instances": [sentences[i % len(sentences)]]})
            start = time.perf_counter()
            connection.request("POST", "/v1/models/model:predict", body=body)
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                errors.append(response.status)
            latencies.append(1000 * (time.perf_counter() - start))
            i += clients
        connection.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"{len(errors)} failed requests: {sorted(set(errors))}")
    return len(latencies) / (time.monotonic() - began), np.array(latencies)


def main():
    parser = argument_parser(__doc__)
    parser.add_argument("--model", required=True, help="a trained task folder (model.keras)")
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    import kseq2seq

    with open(DATA, encoding="utf-8") as f:
        sentences = [line.strip() for line in f]
    with tempfile.TemporaryDirectory() as tmp:
        base = os.path.join(tmp, "model")
        kseq2seq.load(args.model).export(os.path.join(base, "1"))
        servers = {batching: start_server(base, batching) for batching in (False, True)}
        try:
            for batching, (_, port) in servers.items():  # warm-up: first calls load kernels
                load(port, 8, 3.0, sentences)
            rows = []
            for clients in CLIENTS:
                result = {batching: load(port, clients, args.seconds, sentences)
                          for batching, (_, port) in servers.items()}
                (alone, alone_ms), (batched, batched_ms) = result[False], result[True]
                rows.append(f"| {clients} | {alone:.1f} | {np.percentile(alone_ms, 50):.0f} | "
                            f"{np.percentile(alone_ms, 99):.0f} | {batched:.1f} | {np.percentile(batched_ms, 50):.0f} "
                            f"| {np.percentile(batched_ms, 99):.0f} | **{batched / alone:.2f}x** |")
                print(rows[-1], flush=True)
        finally:
            for process, _ in servers.values():
                process.terminate()
                process.wait(60)
    body = ["| clients | alone: requests/s | p50 ms | p99 ms | batched: requests/s | p50 ms | p99 ms | "
            "requests/s batched / alone |", "|---:|---:|---:|---:|---:|---:|---:|---:|", *rows]
    description = (f"`python benchmarks/serving_batching.py --model {args.model} --seconds {args.seconds:g}`: "
                   "two `kseq2seq serve` processes on the same export, without (`--no-enable-batching`) and with "
                   "request batching (the defaults: `--max-batch-size 32 --batch-timeout-micros 2000`), one "
                   "Multi30k validation sentence per request to `serving_default` (the preset's decoding), each "
                   "client on a kept-alive connection; the clients run in the benchmark's process.")
    report("serving-batching", "Serving: request batching under concurrent clients", description, body, args.write)


if __name__ == "__main__":
    main()
