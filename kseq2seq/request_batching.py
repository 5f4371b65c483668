"""Level 4: server-side request batching for `kseq2seq serve`, as TF Serving batches.

Concurrent `:predict` requests for the same signature of the same version,
whose inputs have the same shape past the batch axis, are merged along the
batch axis into one signature call of at most `max_batch_size` rows, then
split back: each request gets exactly its own rows. A batch runs when it is
full or `batch_timeout_micros` after its first request arrived, whichever
comes first; `num_batch_threads` batches run at once. At most
`max_enqueued_batches` batches wait; a request past that is refused at once
(`Overloaded`, answered 503), never left hanging.

Rows of a merged batch are decoded exactly as alone, except for float
round-off where a longer neighbour pads the batch further (masked, so the
outputs stay the same). Signatures that sample are never merged: a draw
depends on the row's position in the batch, so a request's sample would
depend on its neighbours. When a merged call fails, each request is run
alone, so one bad request cannot fail the others.
"""

import collections
import dataclasses
import threading
import time

import numpy as np


class Overloaded(RuntimeError):
    """The queue is full: answered 503."""


@dataclasses.dataclass(frozen=True)
class BatchingOptions:
    """TF Serving's batching parameters, with its names and meanings."""

    max_batch_size: int = 32
    batch_timeout_micros: int = 2000
    num_batch_threads: int = 1
    max_enqueued_batches: int = 64

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            minimum = 0 if field.name == "batch_timeout_micros" else 1
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"Expected {field.name} to be an integer >= {minimum}. Received: {value!r}")


class _Request:
    def __init__(self, inputs, rows):
        self.inputs, self.rows = inputs, rows
        self.done = threading.Event()
        self.outputs = self.error = None


class _Batch:
    def __init__(self, key, function, deadline):
        self.key, self.function, self.deadline = key, function, deadline
        self.requests, self.rows = [], 0


class RequestBatcher:
    """Merges concurrent calls of the same function on same-shaped inputs; `run` blocks until its rows are back."""

    def __init__(self, options=None):
        self.options = options or BatchingOptions()
        self._condition = threading.Condition()
        self._queue = collections.deque()  # batches waiting to run, oldest first
        self._open = {}  # key -> the queued batch still taking requests
        self._stopped = False
        self.calls = 0  # function calls made (merged or not), for tests and benchmarks
        self._threads = [threading.Thread(target=self._work, daemon=True, name=f"batch-{i}")
                         for i in range(self.options.num_batch_threads)]
        for thread in self._threads:
            thread.start()

    def run(self, function, inputs):
        """`function(**inputs)` as numpy arrays, merged with other requests for the same function and shapes.

        `inputs`: a dict of tensors or numpy arrays sharing their first axis (strings as bytes objects).
        """
        inputs = {key: value.numpy() if hasattr(value, "numpy") else np.asarray(value) for key, value in inputs.items()}
        rows = len(next(iter(inputs.values())))
        if rows > self.options.max_batch_size:
            return self._call(function, inputs)
        key = (id(function), tuple(sorted((name, value.dtype.str, value.shape[1:]) for name, value in inputs.items())))
        request = _Request(inputs, rows)
        with self._condition:
            batch = self._open.get(key)
            if batch is None or batch.rows + rows > self.options.max_batch_size:
                if len(self._queue) >= self.options.max_enqueued_batches:
                    raise Overloaded(f"Expected at most {self.options.max_enqueued_batches} batches waiting "
                                     "(--max-enqueued-batches). The server is overloaded: retry later.")
                batch = _Batch(key, function, time.monotonic() + self.options.batch_timeout_micros / 1e6)
                self._queue.append(batch)
                self._open[key] = batch
            batch.requests.append(request)
            batch.rows += rows
            if batch.rows == self.options.max_batch_size:
                del self._open[key]  # full: no request joins it any more
            self._condition.notify_all()
        request.done.wait()
        if request.error is not None:
            raise request.error
        return request.outputs

    def stop(self):
        with self._condition:
            self._stopped = True
            self._condition.notify_all()

    def _next_batch(self):
        """The oldest batch once it is full or its timeout has passed (None when stopped)."""
        with self._condition:
            while not self._stopped:
                if self._queue:
                    batch = self._queue[0]
                    wait = batch.deadline - time.monotonic()
                    if batch.rows >= self.options.max_batch_size or wait <= 0:
                        self._queue.popleft()
                        if self._open.get(batch.key) is batch:
                            del self._open[batch.key]
                        return batch
                    self._condition.wait(wait)
                else:
                    self._condition.wait()
            return None

    def _work(self):
        while (batch := self._next_batch()) is not None:
            self._run_batch(batch)

    def _run_batch(self, batch):
        requests = batch.requests
        try:
            if len(requests) == 1:
                requests[0].outputs = self._call(batch.function, requests[0].inputs)
            else:
                merged = {key: np.concatenate([r.inputs[key] for r in requests]) for key in requests[0].inputs}
                outputs = self._call(batch.function, merged)
                ends = np.cumsum([r.rows for r in requests])
                for request, end in zip(requests, ends):
                    request.outputs = {key: value[end - request.rows:end] for key, value in outputs.items()}
        except Exception as error:  # noqa: BLE001  (handed to the waiting request threads)
            if len(requests) == 1:
                requests[0].error = error
            else:
                for request in requests:  # one bad request must not fail its neighbours
                    try:
                        request.outputs = self._call(batch.function, request.inputs)
                    except Exception as single_error:  # noqa: BLE001
                        request.error = single_error
        for request in requests:
            request.done.set()

    def _call(self, function, inputs):
        self.calls += 1
        return {key: np.asarray(value) for key, value in function(**inputs).items()}
