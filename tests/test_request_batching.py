"""Request batching: merged calls give each request exactly its rows; a full queue refuses; the timeout bounds waits."""

import concurrent.futures
import threading
import time

import numpy as np
import pytest

from kseq2seq.request_batching import BatchingOptions, Overloaded, RequestBatcher


class Recorder:
    """A signature stand-in: row-wise outputs, recording each call's batch size."""

    def __init__(self, gate=None):
        self.sizes, self.gate = [], gate

    def __call__(self, ids, text):
        if self.gate is not None:
            self.gate.wait(10)
        self.sizes.append(len(ids))
        return {"total": ids.sum(axis=1), "echo": np.array([t + b"!" for t in text], dtype=object)}


def _inputs(i, rows):
    ids = np.arange(rows * 3, dtype=np.int32).reshape(rows, 3) + 100 * i
    return {"ids": ids, "text": np.array([f"request {i} row {r}".encode() for r in range(rows)], dtype=object)}


def test_64_concurrent_requests_get_exactly_their_rows_in_merged_calls():
    function = Recorder()
    batcher = RequestBatcher(BatchingOptions(max_batch_size=16, batch_timeout_micros=200_000))
    with concurrent.futures.ThreadPoolExecutor(64) as pool:
        futures = [pool.submit(batcher.run, function, _inputs(i, 1 + i % 3)) for i in range(64)]
        results = [future.result(timeout=60) for future in futures]
    for i, result in enumerate(results):
        alone = function.__class__()(**_inputs(i, 1 + i % 3))
        np.testing.assert_array_equal(result["total"], alone["total"])
        assert result["echo"].tolist() == alone["echo"].tolist()
    assert sum(function.sizes) == sum(1 + i % 3 for i in range(64))
    assert max(function.sizes) <= 16 and len(function.sizes) < 64 / 2
    batcher.stop()


def test_requests_of_other_shapes_or_functions_are_not_merged():
    first, second = Recorder(), Recorder()
    batcher = RequestBatcher(BatchingOptions(max_batch_size=8, batch_timeout_micros=100_000))
    wide = {"ids": np.ones((1, 5), np.int32), "text": np.array([b"w"], dtype=object)}
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(batcher.run, first, _inputs(0, 1)), pool.submit(batcher.run, first, wide),
                   pool.submit(batcher.run, second, _inputs(1, 1)), pool.submit(batcher.run, first, _inputs(2, 2))]
        results = [future.result(timeout=60) for future in futures]
    assert results[1]["total"].tolist() == [5]
    assert sorted(first.sizes) == [1, 3] and second.sizes == [1]
    batcher.stop()


def test_a_full_queue_answers_overloaded_at_once():
    gate = threading.Event()
    function = Recorder(gate)
    batcher = RequestBatcher(BatchingOptions(max_batch_size=1, batch_timeout_micros=0, max_enqueued_batches=2))
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        running = pool.submit(batcher.run, function, _inputs(0, 1))  # taken by the batch thread, blocked on gate
        time.sleep(0.3)
        queued = [pool.submit(batcher.run, function, _inputs(i, 1)) for i in (1, 2)]
        time.sleep(0.3)
        start = time.monotonic()
        with pytest.raises(Overloaded, match="at most 2 batches waiting"):
            batcher.run(function, _inputs(3, 1))
        assert time.monotonic() - start < 1.0
        gate.set()
        assert [f.result(timeout=60)["total"].tolist() for f in [running, *queued]] == [[3], [303], [603]]
    batcher.stop()


def test_the_batch_timeout_bounds_a_lone_requests_wait():
    batcher = RequestBatcher(BatchingOptions(max_batch_size=32, batch_timeout_micros=300_000))
    start = time.monotonic()
    batcher.run(Recorder(), _inputs(0, 1))
    waited = time.monotonic() - start
    assert 0.3 <= waited < 0.3 + 0.5
    batcher.stop()


def test_a_failing_request_does_not_fail_its_neighbours():
    def function(ids, text):
        if (ids < 0).any():
            raise ValueError("negative id")
        return {"total": ids.sum(axis=1)}

    batcher = RequestBatcher(BatchingOptions(max_batch_size=8, batch_timeout_micros=200_000))
    bad = {"ids": -np.ones((1, 3), np.int32), "text": np.array([b"x"], dtype=object)}
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(batcher.run, function, inputs) for inputs in (_inputs(0, 1), bad, _inputs(1, 1))]
        assert futures[0].result(timeout=60)["total"].tolist() == [3]
        with pytest.raises(ValueError, match="negative id"):
            futures[1].result(timeout=60)
        assert futures[2].result(timeout=60)["total"].tolist() == [303]
    batcher.stop()


@pytest.mark.parametrize("options, message", [
    ({"max_batch_size": 0}, "Expected max_batch_size to be an integer >= 1. Received: 0"),
    ({"batch_timeout_micros": -1}, "Expected batch_timeout_micros to be an integer >= 0"),
    ({"num_batch_threads": 1.5}, "Expected num_batch_threads to be an integer >= 1. Received: 1.5"),
])
def test_bad_options_name_the_option(options, message):
    with pytest.raises(ValueError, match=message):
        BatchingOptions(**options)
