"""Group commit: many units of work, one transaction, one commit.

Each caller hands in a unit of work (a function of a session) and blocks until
the transaction holding it has committed, so an acknowledged write is durable
exactly as if it had committed alone. Under concurrency, units that arrive
while a commit is in progress are run together in the next transaction, and
the cost of a commit (the WAL write and sync) is shared between them.

If any unit in a batch fails, the batch is rolled back and every unit is run
again in a transaction of its own, so one bad request never takes others down
with it and each caller gets its own result or its own error.

One writer thread per process. On SQLite that matches the database (one writer
at a time); on PostgreSQL several processes each have their own.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from sqlalchemy.orm import Session, sessionmaker

T = TypeVar("T")
log = logging.getLogger("accord.storage")
_STOP = object()


class GroupCommitter:
    def __init__(self, sessions: sessionmaker[Session], max_batch: int = 128) -> None:
        self._sessions = sessions
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name="accord-group-commit", daemon=True)
        self._lock = threading.Lock()
        self._started = False
        self._closed = False
        self.batches = 0
        self.units = 0

    def run(self, work: Callable[[Session], T]) -> T:
        """Run ``work(session)`` in a committed transaction and return its result (or raise its error)."""
        if self._closed:
            raise RuntimeError("the hub is closing; the write was not made")
        self._ensure_started()
        future: Future = Future()
        self._queue.put((work, future))
        return future.result()

    def close(self) -> None:
        """Finish what is queued, then refuse new work."""
        self._closed = True
        if self._started:
            self._queue.put(_STOP)
            self._thread.join(30)
        while True:  # anything that arrived after the writer stopped is failed, not left waiting
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not _STOP and item[1].set_running_or_notify_cancel():
                item[1].set_exception(RuntimeError("the hub closed before the write was made"))

    def _ensure_started(self) -> None:
        if not self._started:
            with self._lock:
                if not self._started:
                    self._thread.start()
                    self._started = True

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            while len(batch) < self._max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    self._queue.put(_STOP)
                    break
                batch.append(item)
            self._run_batch(batch)

    def _run_batch(self, batch: list[tuple[Callable[[Session], Any], Future]]) -> None:
        live = [(work, future) for work, future in batch if future.set_running_or_notify_cancel()]
        if not live:
            return
        session = self._sessions()
        try:
            results = [work(session) for work, _ in live]
            session.commit()
        except BaseException as exc:  # noqa: BLE001 - isolate the failing unit below
            session.rollback()
            session.close()
            if len(live) == 1:
                live[0][1].set_exception(exc)  # it ran alone already: its error is its own
            else:
                for work, future in live:
                    self._run_alone(work, future)
            return
        session.close()
        self.batches += 1
        self.units += len(live)
        for (_, future), result in zip(live, results, strict=True):
            future.set_result(result)

    def _run_alone(self, work: Callable[[Session], Any], future: Future) -> None:
        session = self._sessions()
        try:
            result = work(session)
            session.commit()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            session.rollback()
            future.set_exception(exc)
        else:
            future.set_result(result)
        finally:
            session.close()
