"""WAL checkpoints off the request path, for a server on SQLite.

By default SQLite checkpoints inside the COMMIT that takes the write-ahead log
past 1,000 pages: that commit copies the log into the database file and syncs
it while it holds the write lock, and every request waiting on the lock waits
for it too. In the verification benchmark these stalls were part of the p99.
The server instead checkpoints from a thread of its own, once a second, in
PASSIVE mode, which never takes the write lock or waits for readers. Each
connection keeps SQLite's own checkpoint at a higher mark (``engine.py``) as a
backstop, and for processes that run no checkpointer (the CLI).
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Engine, text

from accord.storage.engine import is_sqlite_file

log = logging.getLogger("accord.storage")


class WalCheckpointer:
    def __init__(self, engine: Engine, interval: float = 1.0) -> None:
        self.engine, self.interval = engine, interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.checkpoints = 0

    @staticmethod
    def applies_to(engine: Engine) -> bool:
        return is_sqlite_file(engine)

    def checkpoint(self) -> tuple[int, int, int]:
        """One passive checkpoint: (busy, pages in the log, pages copied), as SQLite reports them."""
        with self.engine.connect() as connection:
            busy, logged, copied = connection.execute(text("PRAGMA wal_checkpoint(PASSIVE)")).one()
        self.checkpoints += 1
        return busy, logged, copied

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="accord-wal-checkpoint", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.checkpoint()
            except Exception:  # noqa: BLE001 - SQLite's own checkpoint is the backstop
                log.exception("WAL checkpoint failed; SQLite will checkpoint on commit instead")
