"""Group commit: reads before the write lock, writes under it, one unit's failure is its own."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from accord.storage.group_commit import GroupCommitter
from accord.storage.models import Body
from accord.storage.write_lock import ProcessWriteLock, write_lock_for

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


class RecordingLock:
    """A write lock that says whether it is held, and counts how often it was taken."""

    def __init__(self) -> None:
        self.held = False
        self.taken = 0

    def __enter__(self) -> "RecordingLock":
        self.held, self.taken = True, self.taken + 1
        return self

    def __exit__(self, *_: object) -> None:
        self.held = False


def _add_body(body_id: str):  # noqa: ANN202
    def work(session, read=None):  # noqa: ANN001, ANN202
        session.add(Body(id=body_id, name=f"Body {body_id}", body_type="local_authority", created_at=NOW))
        session.flush()
        return body_id if read is None else (body_id, read)

    return work


def _bodies(hub) -> set[str]:  # noqa: ANN001
    with hub.transaction() as session:
        return set(session.scalars(select(Body.id)))


def test_reads_run_outside_the_lock_and_writes_inside_it(hub) -> None:  # noqa: ANN001
    lock = RecordingLock()
    committer = GroupCommitter(hub.sessions, lock=lock)
    seen: dict[str, bool] = {}

    def read(session):  # noqa: ANN001, ANN202
        seen["read under lock"] = lock.held
        return session.scalar(select(func.count()).select_from(Body))

    def work(session, count):  # noqa: ANN001, ANN202
        seen["write under lock"] = lock.held
        return _add_body("northshire")(session, count)

    try:
        assert committer.run(work, read=read) == ("northshire", 0)
    finally:
        committer.close()
    assert seen == {"read under lock": False, "write under lock": True}
    assert lock.taken == 1 and not lock.held
    assert _bodies(hub) == {"northshire"}


def _batch_behind_a_blocked_unit(committer: GroupCommitter, units: list) -> list:  # noqa: ANN001
    """Run ``units`` as one batch: the first unit holds the writer until they are all queued."""
    release = threading.Event()

    def blocker(session):  # noqa: ANN001, ANN202
        release.wait(10)
        return "first"

    with ThreadPoolExecutor(len(units) + 1) as pool:
        first = pool.submit(committer.run, blocker)
        time.sleep(0.2)  # the writer is now inside the blocker's batch
        pending = [pool.submit(committer.run, work, read=read) for work, read in units]
        time.sleep(0.2)  # and the rest are queued behind it
        release.set()
        assert first.result(10) == "first"
        outcomes = []
        for future in pending:
            try:
                outcomes.append(future.result(10))
            except Exception as exc:  # noqa: BLE001 - the test looks at it
                outcomes.append(exc)
    return outcomes


def test_a_read_that_fails_fails_only_its_own_unit(hub) -> None:  # noqa: ANN001
    committer = GroupCommitter(hub.sessions)

    def ok(session):  # noqa: ANN001, ANN202
        return "read"

    def broken(session):  # noqa: ANN001, ANN202
        raise ValueError("this applicant's read failed")

    try:
        outcomes = _batch_behind_a_blocked_unit(committer, [
            (_add_body("a"), ok), (_add_body("b"), broken), (_add_body("c"), ok),
        ])
    finally:
        committer.close()
    assert outcomes[0] == ("a", "read") and outcomes[2] == ("c", "read")
    assert isinstance(outcomes[1], ValueError) and "read failed" in str(outcomes[1])
    assert _bodies(hub) == {"a", "c"}  # the failed unit wrote nothing, the others committed


def test_a_write_that_fails_fails_only_its_own_unit(hub) -> None:  # noqa: ANN001
    committer = GroupCommitter(hub.sessions)

    def ok(session):  # noqa: ANN001, ANN202
        return "read"

    try:
        outcomes = _batch_behind_a_blocked_unit(committer, [
            (_add_body("a"), ok), (_add_body("a"), ok), (_add_body("c"), ok),  # the second "a" collides
        ])
    finally:
        committer.close()
    assert outcomes[0] == ("a", "read") and outcomes[2] == ("c", "read")
    assert isinstance(outcomes[1], Exception)
    assert _bodies(hub) == {"a", "c"}


def test_the_write_lock_excludes_another_holder_of_the_same_file(tmp_path: Path) -> None:
    """Two locks on one file (as two processes would have) take turns; flock, not a thread lock."""
    first, second = ProcessWriteLock(tmp_path / "db.write-lock"), ProcessWriteLock(tmp_path / "db.write-lock")
    got_second = threading.Event()

    def take_second() -> None:
        with second:
            got_second.set()

    try:
        with first:
            waiter = threading.Thread(target=take_second)
            waiter.start()
            assert not got_second.wait(0.3)  # blocked while the first is held
        assert got_second.wait(5)  # and let in as soon as it is released
        waiter.join(5)
    finally:
        first.close()
        second.close()


def test_only_a_sqlite_file_gets_a_file_lock(hub) -> None:  # noqa: ANN001
    lock = write_lock_for(hub.engine)
    if hub.engine.dialect.name == "sqlite":
        assert isinstance(lock, ProcessWriteLock)
        assert lock.path.name == Path(hub.engine.url.database).name + ".write-lock"
    else:
        assert not isinstance(lock, ProcessWriteLock)


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_an_in_memory_database_needs_no_file_lock(url: str) -> None:
    from accord.storage.engine import make_engine

    engine = make_engine(url)
    try:
        assert not isinstance(write_lock_for(engine), ProcessWriteLock)
    finally:
        engine.dispose()
