"""Server-side batching with TF Serving's parameters and semantics.

One scheduler is shared by every model and version (TF's shared batch
scheduler); each (version, signature, outputs, input shapes) gets its own
queue. A request joins the open batch of its queue if it fits, else opens a
new one; a queue holding `max_enqueued_batches` batches rejects the request
at once with UNAVAILABLE ("... queue ... is full"), so overload never turns
into a hang. `num_batch_threads` threads run batches: a batch is taken when
it is full or `batch_timeout_micros` after it opened (0: whenever a thread
is free, so batches grow exactly as long as the model is busy). Batches are
padded up to the next `allowed_batch_sizes` entry with copies of the first
row, and every request gets back its own slice of the outputs.
"""
import collections
import threading
import time

import numpy as np

from serving.config import BatchingParameters
from serving.status import (Code, ServingError, from_exception,
                            invalid_argument, unavailable)

THREAD_POOL_NAME = "model_server_batch_threads"
QUEUE_FULL = ("The batch scheduling queue to which this task was submitted "
              "is full")


class _Batch:
    __slots__ = ("key", "run", "tasks", "rows", "opened", "full")

    def __init__(self, key, run):
        self.key, self.run = key, run
        self.tasks, self.rows = [], 0
        self.opened = time.monotonic()
        self.full = False


class BatchScheduler:
    def __init__(self, params: BatchingParameters, metrics=None):
        self.params = params
        self._metrics = metrics
        self._queues = collections.OrderedDict()     # key -> deque[_Batch]
        self._cond = threading.Condition()
        self._stopping = False
        self._timeout = params.batch_timeout_micros / 1e6
        self._threads = [threading.Thread(target=self._work, daemon=True,
                                          name=f"batch-{i}")
                         for i in range(params.num_batch_threads)]
        for thread in self._threads:
            thread.start()

    def submit(self, key, run, inputs: dict, rows: int, future) -> None:
        """Queues `inputs` (all with dim 0 == rows); `future` (an asyncio
        future of the calling loop) gets this request's outputs."""
        limit = self.params.max_batch_size
        if rows > limit:
            raise invalid_argument(f"Task size {rows} is larger than maximum "
                                   f"input batch size {limit}",
                                   feature="_request_", rule="batch_size")
        with self._cond:
            if self._stopping:
                raise unavailable("the server is shutting down")
            queue = self._queues.get(key)
            if queue is None:
                queue = self._queues[key] = collections.deque()
            batch = queue[-1] if queue else None
            if batch is None or batch.full or batch.rows + rows > limit:
                if batch is not None:
                    batch.full = True
                if len(queue) >= self.params.max_enqueued_batches:
                    raise ServingError(Code.UNAVAILABLE, QUEUE_FULL)
                batch = _Batch(key, run)
                queue.append(batch)
            batch.tasks.append((inputs, rows, future, time.monotonic()))
            batch.rows += rows
            if batch.rows >= limit:
                batch.full = True
            self._cond.notify()

    def _take(self):
        """The oldest batch that is full or timed out; (None, wait) if none."""
        now = time.monotonic()
        chosen, wait = None, None
        for queue in self._queues.values():
            if not queue:
                continue
            batch = queue[0]
            due = batch.opened + self._timeout
            if batch.full or len(queue) > 1 or due <= now:
                if chosen is None or batch.opened < chosen.opened:
                    chosen = batch
            else:
                wait = due - now if wait is None else min(wait, due - now)
        if chosen is not None:
            self._queues[chosen.key].popleft()
            if not self._queues[chosen.key]:
                del self._queues[chosen.key]
        return chosen, wait

    def _work(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._stopping and not self._queues:
                        return
                    batch, wait = self._take()
                    if batch is not None:
                        break
                    self._cond.wait(wait)
            self._process(batch)

    def _process(self, batch: _Batch) -> None:
        tasks = batch.tasks
        started = time.monotonic()
        try:
            if len(tasks) == 1:
                merged = tasks[0][0]
            else:
                merged = {alias: np.concatenate([t[0][alias] for t in tasks])
                          for alias in tasks[0][0]}
            size = self._padded_size(batch.rows)
            if size > batch.rows:
                merged = {alias: np.concatenate(
                    [array, np.repeat(array[:1], size - batch.rows, axis=0)])
                    for alias, array in merged.items()}
            outputs = batch.run(merged)
            for alias, array in outputs.items():
                if array.ndim == 0 or array.shape[0] != size:
                    raise ServingError(
                        Code.FAILED_PRECONDITION,
                        f"Batched output tensor {alias} has shape "
                        f"{list(array.shape)}; its 0th dimension must equal the "
                        f"batch size {size}, so this signature cannot be "
                        "batched (run it without --enable_batching)")
            results, offset = [], 0
            for _, rows, _, _ in tasks:
                results.append({alias: array[offset:offset + rows]
                                for alias, array in outputs.items()})
                offset += rows
            error = None
        except Exception as e:  # a model error fails this batch, not the server
            results, error = None, from_exception(e)
        self._record(batch, started, tasks)
        self._deliver(tasks, results, error)

    def _padded_size(self, rows: int) -> int:
        for size in self.params.allowed_batch_sizes:
            if size >= rows:
                return size
        return rows

    def _record(self, batch, started, tasks) -> None:
        metrics = self._metrics
        if metrics is None:
            return
        pool = (THREAD_POOL_NAME,)
        for _, rows, _, enqueued in tasks:
            metrics.queuing_latency.observe(pool, (started - enqueued) * 1e6)
            metrics.input_batch_size.observe(pool, rows)
        size = self._padded_size(batch.rows)
        metrics.processed_batch_size.observe(pool, size)
        metrics.padding_size.observe((THREAD_POOL_NAME, str(size)),
                                     size - batch.rows)

    @staticmethod
    def _deliver(tasks, results, error) -> None:
        by_loop = collections.defaultdict(list)
        for index, task in enumerate(tasks):
            by_loop[task[2].get_loop()].append(
                (task[2], results[index] if results else None))

        def complete(items):
            for future, result in items:
                if future.done():
                    continue
                if error is not None:
                    future.set_exception(error)
                else:
                    future.set_result(result)
        for loop, items in by_loop.items():
            try:
                loop.call_soon_threadsafe(complete, items)
            except RuntimeError:  # the loop closed during shutdown
                pass

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            pending = [t for q in self._queues.values() for b in q
                       for t in b.tasks]
            self._queues.clear()
            self._cond.notify_all()
        self._deliver(pending, None, unavailable("the server is shutting down"))
        for thread in self._threads:
            thread.join(timeout=5)
