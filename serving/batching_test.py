"""Batching with TF Serving's parameters: real SavedModels, real threads."""
import asyncio
import concurrent.futures
import json
import time

import numpy as np
import pytest

from serving import testutil
from serving.batching import QUEUE_FULL, BatchScheduler
from serving.config import BatchingParameters
from serving.metrics import Metrics
from serving.runtimes import SavedModelRuntime
from serving.testutil import call_rest


@pytest.fixture(scope="module")
def half_plus_two_dir(tmp_path_factory):
    module, signatures = testutil.half_plus_two()
    return testutil.write_version(str(tmp_path_factory.mktemp("hpt")), 1,
                                  module, signatures)


@pytest.fixture(scope="module")
def slow_dir(tmp_path_factory):
    module, signatures = testutil.slow_half_plus_two()
    base = tmp_path_factory.mktemp("slow")
    testutil.write_version(str(base), 1, module, signatures)
    return base


def test_batches_are_padded_to_allowed_sizes_and_sliced(half_plus_two_dir):
    runtime = SavedModelRuntime(half_plus_two_dir)
    metrics = Metrics()
    seen_sizes = []

    def run(inputs):
        seen_sizes.append(inputs["x"].shape[0])
        return runtime.run("serving_default", inputs, ("y",))

    scheduler = BatchScheduler(BatchingParameters(
        max_batch_size=8, batch_timeout_micros=50_000, num_batch_threads=1,
        allowed_batch_sizes=(4, 8)), metrics)

    async def main():
        loop = asyncio.get_running_loop()
        futures = []
        for x in ([1.0], [2.0, 3.0]):
            future = loop.create_future()
            scheduler.submit("key", run, {"x": np.array(x, np.float32)},
                             len(x), future)
            futures.append(future)
        return await asyncio.gather(*futures)

    try:
        first, second = asyncio.run(main())
    finally:
        scheduler.stop()
    assert first["y"].tolist() == [2.5]
    assert second["y"].tolist() == [3.0, 3.5]
    assert seen_sizes == [4]                      # 3 rows padded to 4
    assert metrics.padding_size.count(("model_server_batch_threads", "4")) == 1


def test_task_larger_than_max_batch_size_is_invalid(half_plus_two_dir):
    scheduler = BatchScheduler(BatchingParameters(max_batch_size=2,
                                                  num_batch_threads=1))
    try:
        with pytest.raises(Exception, match="Task size 3 is larger than maximum "
                                            "input batch size 2"):
            scheduler.submit("k", None, {"x": np.zeros(3, np.float32)}, 3, None)
    finally:
        scheduler.stop()


def _post_many(url, bodies, workers):
    def post(body):
        started = time.monotonic()
        status, reply = call_rest(url, json.dumps(body).encode(), timeout=60)
        return status, json.loads(reply), time.monotonic() - started
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        return list(pool.map(post, bodies))


def test_concurrent_requests_share_batches_and_get_their_own_rows(tmp_path,
                                                                   slow_dir):
    params = tmp_path / "batching.config"
    params.write_text("max_batch_size { value: 64 }\n"
                      "batch_timeout_micros { value: 0 }\n"
                      "num_batch_threads { value: 1 }\n"
                      "max_enqueued_batches { value: 100 }\n")
    with testutil.ServerProcess("--model_name=slow", f"--model_base_path={slow_dir}",
                                "--enable_batching",
                                f"--batching_parameters_file={params}",
                                "--port=0") as server:
        bodies = [{"instances": [float(i)]} for i in range(48)]
        results = _post_many(f"{server.url}/v1/models/slow:predict", bodies, 16)
        assert [r[:2] for r in results] == [
            (200, {"predictions": [0.5 * i + 2.0]}) for i in range(48)]
        _, page = call_rest(server.url + "/monitoring/prometheus/metrics")
        lines = dict(line.rsplit(" ", 1) for line in page.decode().splitlines()
                     if line.startswith(":tensorflow:serving:batching_session:"
                                        "processed_batch_size_"))
        batches = int(lines[':tensorflow:serving:batching_session:processed_batch_'
                            'size_count{thread_pool_name="model_server_batch_threads"}'])
        rows = float(lines[':tensorflow:serving:batching_session:processed_batch_'
                           'size_sum{thread_pool_name="model_server_batch_threads"}'])
        assert rows == 48 and batches < 48      # some requests shared a batch


def test_full_queue_answers_503_and_never_hangs(tmp_path, slow_dir):
    params = tmp_path / "batching.config"
    params.write_text("max_batch_size { value: 1 }\n"
                      "batch_timeout_micros { value: 0 }\n"
                      "num_batch_threads { value: 1 }\n"
                      "max_enqueued_batches { value: 1 }\n")
    with testutil.ServerProcess("--model_name=slow", f"--model_base_path={slow_dir}",
                                "--enable_batching",
                                f"--batching_parameters_file={params}",
                                "--port=0") as server:
        url = f"{server.url}/v1/models/slow:predict"
        results = _post_many(url, [{"instances": [1.0]}] * 24, 24)
        statuses = [status for status, _, _ in results]
        assert set(statuses) == {200, 503}, statuses
        assert all(body == {"error": QUEUE_FULL}
                   for status, body, _ in results if status == 503)
        assert max(seconds for _, _, seconds in results) < 30
        assert call_rest(url, b'{"instances": [2.0]}')[0] == 200   # recovers
        _, page = call_rest(server.url + "/monitoring/prometheus/metrics")
        assert ':tensorflow:serving:request_count{model_name="slow",' \
               f'status="UNAVAILABLE"}} {statuses.count(503)}' in page.decode()
