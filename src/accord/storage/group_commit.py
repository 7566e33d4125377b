"""Group commit: many units of work, one transaction, one commit.

Each caller hands in a unit of work (a function of a session) and blocks until
the transaction holding it has committed, so an acknowledged write is durable
exactly as if it had committed alone. Under concurrency, units that arrive
while a commit is in progress are run together in the next transaction, and
the cost of a commit (the WAL write and sync) is shared between them.

If any unit in a batch fails, the batch is rolled back and every unit is run
again in a transaction of its own, so one bad request never takes others down
with it and each caller gets its own result or its own error.

A unit may come in two parts: a ``read`` that only reads (the decision point's
reads, say) and the ``work`` that writes. A batch runs every unit's read first
and takes the write lock (``storage/write_lock.py``: on SQLite, the file lock
that makes writer processes take turns) only for the writes and the commit, so
another process's writer waits for writes, not for reads and matching. On
SQLite the reads see the latest committed state, as the database's deferred
transactions always gave them; on PostgreSQL they are in the same transaction.

One writer thread per process. On SQLite that matches the database (one writer
at a time); on PostgreSQL several processes each have their own.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import AbstractContextManager as ContextManager
from typing import Any, TypeVar

from sqlalchemy.orm import Session, sessionmaker

T = TypeVar("T")
log = logging.getLogger("accord.storage")
_STOP = object()


class GroupCommitter:
    def __init__(
        self, sessions: sessionmaker[Session], max_batch: int = 128, lock: ContextManager | None = None
    ) -> None:
        self._sessions = sessions
        # Held around each transaction: on SQLite, the file lock that makes writer processes
        # take turns without SQLite's sleeping busy handler (storage/write_lock.py).
        self._lock = lock if lock is not None else contextlib.nullcontext()
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name="accord-group-commit", daemon=True)
        self._start_lock = threading.Lock()
        self._started = False
        self._closed = False
        self.batches = 0
        self.units = 0

    def run(self, work: Callable[..., T], read: Callable[[Session], Any] | None = None) -> T:
        """Run ``work(session)`` in a committed transaction and return its result (or raise its error).

        With ``read``, the unit is ``work(session, read(session))``: the batch runs every
        unit's ``read`` first, before it takes the write lock, so the lock is held only
        for the writes. ``read`` must not write.
        """
        if self._closed:
            raise RuntimeError("the hub is closing; the write was not made")
        self._ensure_started()
        future: Future = Future()
        self._queue.put((_Unit(work, read), future))
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
            with self._start_lock:
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

    def _run_batch(self, batch: list[tuple["_Unit", Future]]) -> None:
        live = [(unit, future) for unit, future in batch if future.set_running_or_notify_cancel()]
        if live:
            self._run_live(live)

    def _run_live(self, live: list[tuple["_Unit", Future]]) -> None:
        session = self._sessions()
        try:
            reads = []
            for index, (unit, future) in enumerate(live):
                try:
                    reads.append(unit.read(session) if unit.read else None)
                except BaseException as exc:  # noqa: BLE001 - this unit's own error
                    session.rollback()  # on PostgreSQL a failed statement spoils the transaction
                    session.close()
                    future.set_exception(exc)
                    rest = live[:index] + live[index + 1:]
                    if rest:  # the others again, in a transaction of their own
                        self._run_live(rest)
                    return
            with self._lock:
                results = [unit.write(session, read) for (unit, _), read in zip(live, reads, strict=True)]
                session.commit()
        except BaseException as exc:  # noqa: BLE001 - isolate the failing unit below
            session.rollback()
            session.close()
            if len(live) == 1:
                live[0][1].set_exception(exc)  # it ran alone already: its error is its own
            else:
                for unit, future in live:
                    self._run_alone(unit, future)
            return
        session.close()
        self.batches += 1
        self.units += len(live)
        for (_, future), result in zip(live, results, strict=True):
            future.set_result(result)

    def _run_alone(self, unit: "_Unit", future: Future) -> None:
        session = self._sessions()
        try:
            read = unit.read(session) if unit.read else None
            with self._lock:
                result = unit.write(session, read)
                session.commit()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            session.rollback()
            future.set_exception(exc)
        else:
            future.set_result(result)
        finally:
            session.close()


class _Unit:
    __slots__ = ("work", "read")

    def __init__(self, work: Callable[..., Any], read: Callable[[Session], Any] | None) -> None:
        self.work, self.read = work, read

    def write(self, session: Session, read: Any) -> Any:
        return self.work(session, read) if self.read else self.work(session)
