"""The server's WAL checkpointer: passive checkpoints from its own thread, SQLite's as the backstop."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from sqlalchemy import text

from accord.storage.engine import WAL_AUTOCHECKPOINT_PAGES
from accord.storage.models import Body
from accord.storage.wal import WalCheckpointer

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def test_a_passive_checkpoint_copies_the_log_into_the_database(sqlite_hub) -> None:  # noqa: ANN001
    assert WalCheckpointer.applies_to(sqlite_hub.engine)
    with sqlite_hub.transaction() as session:
        for n in range(50):
            session.add(Body(id=f"body-{n}", name=f"Body {n}", body_type="local_authority", created_at=NOW))
    checkpointer = WalCheckpointer(sqlite_hub.engine)
    busy, logged, copied = checkpointer.checkpoint()
    assert busy == 0 and logged > 0 and copied == logged  # nothing else was reading or writing
    assert checkpointer.checkpoints == 1


def test_connections_keep_sqlite_s_own_checkpoint_as_a_backstop(sqlite_hub) -> None:  # noqa: ANN001
    with sqlite_hub.engine.connect() as connection:
        assert connection.execute(text("PRAGMA wal_autocheckpoint")).scalar_one() == WAL_AUTOCHECKPOINT_PAGES


def test_the_thread_checkpoints_until_stopped(sqlite_hub) -> None:  # noqa: ANN001
    checkpointer = WalCheckpointer(sqlite_hub.engine, interval=0.05)
    checkpointer.start()
    try:
        deadline = time.monotonic() + 5
        while checkpointer.checkpoints < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        checkpointer.stop()
    assert checkpointer.checkpoints >= 2
    stopped_at = checkpointer.checkpoints
    time.sleep(0.2)
    assert checkpointer.checkpoints == stopped_at


def test_only_a_sqlite_file_is_checkpointed(hub) -> None:  # noqa: ANN001
    assert WalCheckpointer.applies_to(hub.engine) == (hub.engine.dialect.name == "sqlite")
