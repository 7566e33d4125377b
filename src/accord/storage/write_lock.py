"""Writers in several processes on one SQLite file take turns through a file lock.

SQLite allows one writer at a time. A writer that finds the database locked
runs SQLite's busy handler, which sleeps and retries (1, 2, 5, 10 ... 100 ms),
so two server processes whose group-commit writers collide lose most of each
wait to oversleeping: in the verification benchmark two workers were slower
than one. An exclusive ``flock`` on a file beside the database is a queue the
kernel keeps: the waiter wakes the moment the holder lets go, and waiting
releases the GIL. Writers that do not take it (the CLI, the job and event
workers) still meet SQLite's own lock and busy timeout, so correctness never
depends on this lock; it only makes the heavy writers take turns promptly.

Not used for PostgreSQL (row locks, many writers) or where ``fcntl`` does not
exist (Windows), where the busy handler alone applies.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from contextlib import AbstractContextManager as ContextManager

from sqlalchemy import Engine

from accord.storage.engine import is_sqlite_file

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX
    fcntl = None  # type: ignore[assignment]


class ProcessWriteLock:
    """An exclusive lock across threads and processes, on ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._threads = threading.Lock()  # flock does not exclude threads sharing one descriptor
        self._fd: int | None = None

    def __enter__(self) -> "ProcessWriteLock":
        self._threads.acquire()
        try:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._threads.release()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def close(self) -> None:
        with self._threads:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


def write_lock_for(engine: Engine) -> ContextManager:
    """The lock the engine's heavy writers share: a file lock for a SQLite file, else none."""
    if fcntl is None or not is_sqlite_file(engine):
        return contextlib.nullcontext()
    database = Path(engine.url.database)
    return ProcessWriteLock(database.with_name(database.name + ".write-lock"))
