"""The server's audit worker publishes each checkpoint it signs to the witnesses, without waiting for them."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from audit_support import append_entries
from sqlalchemy import select
from witness_support import new_witness, served, setting

from accord.audit.store import head
from accord.runtime import Hub
from accord.services import audit
from accord.storage.models import AuditWitnessReply


@contextmanager
def worker_for(hub: Hub, **settings: object) -> Iterator[Hub]:
    """The server's audit worker on this hub, with quick intervals and these settings (for this test only:
    the hub's settings are swapped, not the hub, which its sessions know by identity)."""
    original = hub.settings
    hub.settings = original.model_copy(update={
        "audit_integrate_seconds": 0.05, "audit_checkpoint_seconds": 0.1, **settings})
    worker = audit.AuditWorker(hub)
    worker.start()
    try:
        yield hub
    finally:
        worker.stop()
        hub.settings = original


def eventually(check: Callable[[], bool], seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "not within the time allowed"
        time.sleep(0.05)


def test_the_worker_publishes_each_checkpoint_and_stores_the_cosignature(sqlite_hub: Hub, tmp_path: Path) -> None:
    store = new_witness(tmp_path / "w", sqlite_hub)
    origin = sqlite_hub.settings.audit_origin
    with served(store) as url, worker_for(sqlite_hub, witnesses=[setting(store, url)]) as hub:
        append_entries(hub, 0, 3)
        eventually(lambda: (store.latest(origin).size or 0) == 3)
        append_entries(hub, 3, 4)
        eventually(lambda: store.latest(origin).size == 7)  # the second with a consistency proof from 3

        def replies() -> list:
            with hub.transaction() as session:
                return sorted(session.execute(select(AuditWitnessReply.tree_size, AuditWitnessReply.refusal)).all())

        eventually(lambda: len(replies()) == 2)  # stored once the witness's answer is back
        assert replies() == [(3, None), (7, None)]
        report = audit.verify_log(hub)
        assert report.ok and report.cosigned_checked >= 2, report.problems


def test_a_witness_that_never_answers_does_not_hold_up_integration(sqlite_hub: Hub, tmp_path: Path) -> None:
    store = new_witness(tmp_path / "w", sqlite_hub)
    with socket.socket() as silent:  # accepts connections (the kernel's backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        with worker_for(sqlite_hub, witnesses=[setting(store, url)], witness_timeout_seconds=30) as hub:
            append_entries(hub, 0, 2)
            time.sleep(0.5)  # a checkpoint is signed and the publisher is now waiting on the witness
            append_entries(hub, 2, 3)
            started = time.monotonic()

            def integrated() -> bool:
                with hub.transaction() as session:
                    return head(session)[0] == 5

            eventually(integrated, seconds=10)
            assert time.monotonic() - started < 10
            with hub.transaction() as session:
                assert session.scalar(select(AuditWitnessReply)) is None  # nothing stored: sent again later
            silent.close()  # the waiting request fails now, so the worker stops at once


@pytest.fixture(autouse=True)
def _quiet_alarms(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("CRITICAL", logger="accord.audit.witnesses")
