"""Running jobs: a claimed job chunk by chunk from its checkpoint, and the worker that claims them."""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from accord.clock import utcnow
from accord.errors import AccordError
from accord.files import server_paths, without_server_paths
from accord.runtime import Hub
from accord.services.jobs.files import delete_work_files, job_dir
from accord.services.jobs.queue import LeaseLost, advance, claim, held_by, renew_lease
from accord.services.jobs.retention import sweep_orphans
from accord.services.purposes import purposes, resolve
from accord.storage.tables.jobs import Job

log = logging.getLogger("accord.jobs")


class Work(Protocol):
    def process(self, index: int) -> int: ...

    def finish(self, session: Session, job: Job, now: datetime) -> None: ...

    def close(self) -> None: ...


class Heartbeat:
    """Extends a running job's lease every third of its length, on its own thread."""

    def __init__(self, hub: Hub, job_id: str, owner: str) -> None:
        self.hub, self.job_id, self.owner = hub, job_id, owner
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"accord-heartbeat-{job_id[-6:]}", daemon=True)

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _beat(self) -> None:
        interval = self.hub.settings.job_lease_seconds / 3
        while not self._stop.wait(interval):
            try:
                if not renew_lease(self.hub, self.job_id, self.owner):
                    self.lost.set()
                    return
            except Exception:  # noqa: BLE001 - a missed beat is retried; the lease has slack for two
                log.exception("heartbeat for job %s failed", self.job_id)


def starter(kind: str) -> Callable[[Hub, Job], Work]:
    """The registered ``start(hub, job)`` of a job kind."""
    return resolve(purposes().job_kinds[kind])


def _stop_cancelled(hub: Hub, job_id: str, owner: str) -> str:
    now = utcnow()
    with hub.transaction() as session:
        stopped = session.execute(
            update(Job).where(held_by(owner, job_id)).values(
                state="cancelled", finished_at=now, lease_owner=None, lease_expires_at=None, summary={})
        )
    if stopped.rowcount != 1:
        raise LeaseLost(job_id)
    delete_work_files(job_dir(hub, job_id))
    return "cancelled"


def _fail(hub: Hub, job_id: str, owner: str, message: str) -> str:
    now = utcnow()
    with hub.transaction() as session:
        failed = session.execute(
            update(Job).where(held_by(owner, job_id)).values(
                state="failed", finished_at=now, error=message, lease_owner=None, lease_expires_at=None,
                summary={}, result_location=None)
        )
    if failed.rowcount != 1:
        raise LeaseLost(job_id)
    delete_work_files(job_dir(hub, job_id))
    return "failed"


def _release(hub: Hub, job_id: str, owner: str, message: str | None, *, counted: bool = True) -> str:
    """Give a job back to the queue: after an unexpected error (a later attempt resumes it), or
    uncounted when its worker is shutting down (it was not the job's fault)."""
    values: dict = {"state": "queued", "lease_owner": None, "lease_expires_at": None}
    if message is not None:
        values["error"] = message
    if not counted:
        values["attempts"] = Job.attempts - 1
    with hub.transaction() as session:
        session.execute(update(Job).where(held_by(owner, job_id)).values(**values))
    return "queued"


def run_claimed(hub: Hub, job_id: str, owner: str, *, on_chunk: Callable[[int], None] | None = None) -> str:
    """Run a job this worker has claimed, from its checkpoint to the end; return the state it was left in."""
    with hub.transaction() as session:
        job = session.get(Job, job_id)
        if job is None or job.lease_owner != owner or job.state != "running":
            return "lost"
        session.expunge(job)
    if job.cancel_requested:
        return _stop_cancelled(hub, job_id, owner)
    try:
        with Heartbeat(hub, job_id, owner) as heartbeat:
            work = starter(job.kind)(hub, job)
            try:
                done = job.done
                for index in range(job.checkpoint, job.chunks):
                    if heartbeat.lost.is_set():
                        raise LeaseLost(job_id)
                    done += work.process(index)
                    if advance(hub, job_id, owner, index + 1, done):
                        return _stop_cancelled(hub, job_id, owner)
                    if on_chunk is not None:
                        on_chunk(index)
                now = utcnow()
                with hub.transaction() as session:
                    current = session.scalars(
                        select(Job).where(held_by(owner, job_id)).with_for_update()
                    ).first()
                    if current is None:
                        raise LeaseLost(job_id)
                    if current.cancel_requested:
                        cancelled = True
                    else:
                        cancelled = False
                        work.finish(session, current, now)
                        current.finished_at = now
                        current.lease_owner = None
                        current.lease_expires_at = None
                        state = current.state
                        keep = Path(current.result_location) if current.result_location else None
            finally:
                work.close()
    except LeaseLost:
        log.warning("job %s: lease lost to another worker; stopping without writing", job_id)
        return "lost"
    except _Stopping:
        _release(hub, job_id, owner, None, counted=False)
        raise
    except AccordError as refused:  # shown to the submitting body (API, status page): never a server path
        hidden = hub.cache("server_paths", lambda: server_paths(hub.settings.data_dir))
        return _fail(hub, job_id, owner, without_server_paths(refused.detail, hidden))
    except Exception as exc:  # noqa: BLE001 - never let one job stop the worker
        log.exception("job %s: attempt failed", job_id)
        return _release(hub, job_id, owner, f"an unexpected error ({type(exc).__name__}) stopped an attempt; "
                        "the job will be resumed from its last checkpoint")
    if cancelled:
        return _stop_cancelled(hub, job_id, owner)
    delete_work_files(job_dir(hub, job_id), keep=keep if state == "succeeded" else None)
    return state


def worker_name() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"


def run_pending(hub: Hub, owner: str | None = None, *, max_jobs: int | None = None) -> list[tuple[str, str]]:
    """Claim and run jobs until none is claimable (or ``max_jobs`` ran); the (job id, state) of each."""
    owner = owner or worker_name()
    ran: list[tuple[str, str]] = []
    while max_jobs is None or len(ran) < max_jobs:
        job_id = claim(hub, owner)
        if job_id is None:
            break
        ran.append((job_id, run_claimed(hub, job_id, owner)))
    return ran


class Worker:
    """A job worker on its own thread: in the server process, or in `accord jobs work`."""

    def __init__(self, hub: Hub, name: str | None = None) -> None:
        self.hub = hub
        self.name = name or worker_name()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="accord-jobs", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10) -> None:
        """Stop after the current chunk; an unfinished job's lease runs out and another worker resumes it."""
        self._stop.set()
        self._thread.join(timeout)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def _run(self) -> None:
        last_sweep = 0.0
        while not self._stop.is_set():
            try:
                if time.monotonic() - last_sweep > 600:
                    last_sweep = time.monotonic()
                    sweep_orphans(self.hub)
                job_id = claim(self.hub, self.name)
                if job_id is not None:
                    run_claimed(self.hub, job_id, self.name, on_chunk=self._check_stop)
                    continue
            except _Stopping:
                return
            except Exception:  # noqa: BLE001 - keep the worker alive; the database may be back next poll
                log.exception("job worker %s: claim failed", self.name)
            self._stop.wait(self.hub.settings.job_poll_seconds)

    def _check_stop(self, _index: int) -> None:
        if self._stop.is_set():
            raise _Stopping


class _Stopping(BaseException):
    """Raised between chunks when the worker is told to stop: the job keeps its checkpoint."""
