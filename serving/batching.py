"""Server-side batching: concurrent small requests run as one model call.

Requests queue up; a worker takes the first and everything already queued (up to
`max_batch_size` examples). It waits up to `timeout_s` for more only while the
batch is smaller than the last one: a lone client never waits, and a crowd that
arrives together is gathered into one call. It concatenates the inputs along the
batch axis, calls the model once and hands each request its rows of the outputs.
"""
from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from typing import Callable, Dict

import numpy as np


class QueueFull(RuntimeError):
    pass


class Batcher:
    def __init__(self, run: Callable[[Dict[str, np.ndarray]], Dict[str, np.ndarray]], max_batch_size: int,
                 timeout_s: float, max_enqueued: int = 1000, name: str = "batcher", threads: int = 1):
        self.run, self.max_batch_size, self.timeout_s = run, max_batch_size, timeout_s
        self.queue: "queue.Queue" = queue.Queue(maxsize=max_enqueued)
        self.stopped = threading.Event()
        self.last_requests = 1  # requests in the previous batch: how many to expect now
        self.submit_lock = threading.Lock()
        self.threads = [threading.Thread(target=self._loop, name=f"{name}-{i}", daemon=True)
                        for i in range(max(1, threads))]  # batches that may run at once
        for thread in self.threads:
            thread.start()

    def submit(self, inputs: Dict[str, np.ndarray]) -> Future:
        future: Future = Future()
        with self.submit_lock:
            if not self.stopped.is_set():
                try:
                    self.queue.put_nowait((inputs, future))
                except queue.Full:
                    raise QueueFull("too many requests queued for batching") from None
                return future
        # Stopped (its version is being retired): the model is still in memory, run here.
        future.set_running_or_notify_cancel()
        self._run_one(inputs, future)
        return future

    def stop(self):
        """Stops taking requests; every request already queued is still answered."""
        with self.submit_lock:
            self.stopped.set()
            for _ in self.threads:
                self.queue.put((None, None))
        for thread in self.threads:
            thread.join(timeout=60)
        while True:
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                return
            if item[0] is not None:
                self._run([item])

    def _take_batch(self):
        first = self.queue.get()
        if first[0] is None:
            return []
        batch, size = [first], len(next(iter(first[0].values())))
        deadline = _now() + self.timeout_s
        while size < self.max_batch_size:
            remaining = deadline - _now()
            try:
                if remaining > 0 and len(batch) < self.last_requests:
                    item = self.queue.get(timeout=remaining)
                else:
                    item = self.queue.get_nowait()
            except queue.Empty:
                break
            if item[0] is None:  # stop() was called: finish this batch, then drain
                self.queue.put(item)
                break
            rows = len(next(iter(item[0].values())))
            if size + rows > self.max_batch_size:
                self._run([item])  # does not fit: run it on its own rather than split it
                continue
            batch.append(item)
            size += rows
        self.last_requests = len(batch)
        return batch

    def _loop(self):
        while True:
            batch = self._take_batch()
            if batch:
                self._run(batch)
            elif self.stopped.is_set():
                return

    def _run(self, batch):
        live = [(inputs, future) for inputs, future in batch
                if future.running() or future.set_running_or_notify_cancel()]
        if not live:
            return
        try:
            names = live[0][0].keys()
            joined = {k: np.concatenate([inputs[k] for inputs, _ in live]) for k in names}
            outputs = self.run(joined)
            start = 0
            for inputs, future in live:
                rows = len(next(iter(inputs.values())))
                future.set_result({k: v[start:start + rows] for k, v in outputs.items()})
                start += rows
        except Exception as error:  # noqa: BLE001
            if len(live) > 1:  # one bad request must not fail the others: run each alone
                for inputs, future in live:
                    self._run_one(inputs, future)
                return
            live[0][1].set_exception(error)

    def _run_one(self, inputs, future):
        try:
            future.set_result(self.run(inputs))
        except Exception as error:  # noqa: BLE001
            future.set_exception(error)


def _now() -> float:
    import time
    return time.monotonic()
