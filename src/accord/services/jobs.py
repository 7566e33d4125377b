"""Durable background jobs: queued in the database, run in chunks, resumed after a crash.

A job is a row in ``jobs`` plus files under ``<data_dir>/jobs/<id>/``: the
validated input, one part file per finished chunk, then the result. Workers
run in the server process (``Worker``, started in the app's lifespan) and in
separate ``accord jobs work`` processes; any number of them may share one
database.

Claiming. A worker takes the oldest job that is queued, or running under a
lease that has run out (its worker died), with one conditional UPDATE whose
WHERE repeats the claim condition, so two workers can never both win. On
PostgreSQL the candidate row is first selected ``FOR UPDATE SKIP LOCKED``, so
workers racing for work pass over each other's rows instead of queueing on them.

Leases and heartbeat. A claim holds the job until ``lease_expires_at``; while
the job runs, a heartbeat thread extends the lease every third of its length.
Every write a worker makes to its job is conditional on still holding the lease
(``lease_owner``), so a worker that lost its lease (paused past it, or presumed
dead) can never overwrite what the worker that took over has done.

Chunks and checkpoints. The input is cut into chunks of ``chunk_rows`` rows,
fixed when the job is submitted. A chunk's results are written to its own part
file (to a temporary name, then renamed), and then the checkpoint is advanced
in one committed UPDATE: the checkpoint is the commit point. A worker that dies
after writing a part but before advancing the checkpoint leaves a part that the
next worker simply writes again, identically; parts at or beyond the checkpoint
are never read. So a resumed job neither duplicates nor loses a row.

Cancellation is cooperative: a queued job (or one whose worker died) is
cancelled at once; a running one is asked to stop, and its worker checks
between chunks, then deletes the partial results. A job that has been claimed
``job_max_attempts`` times without finishing is failed for good.

Each kind of job is a module named in ``KIND_MODULES`` exposing
``start(hub, job) -> Work``: ``Work.process(index)`` writes chunk ``index``'s
part and returns its row count; ``Work.finish(session, job, now)`` assembles
the result and sets the job's final state in the worker's last transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import logging
import os
import secrets
import shutil
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from accord.clock import utcnow
from accord.errors import AccordError, Conflict, NotFound
from accord.privacy.pseudonymise import derive_key
from accord.runtime import Hub
from accord.storage.tables.jobs import FINISHED_STATES, Job

log = logging.getLogger("accord.jobs")

KIND_MODULES = {"eligibility": "accord.services.eligibility"}
ORPHAN_AGE = timedelta(hours=1)  # an upload staged for a job that was never created is deleted after this


class Gone(AccordError):
    """The thing existed but is no more (results past their retention): HTTP 410."""

    status = 410
    title = "Gone"


class Work(Protocol):
    def process(self, index: int) -> int: ...

    def finish(self, session: Session, job: Job, now: datetime) -> None: ...

    def close(self) -> None: ...


class LeaseLost(Exception):
    """Another worker holds the job now; this one stops without touching it."""


# ------------------------------------------------------------------ files


def jobs_root(hub: Hub) -> Path:
    return hub.settings.data_dir / "jobs"


def job_dir(hub: Hub, job_id: str) -> Path:
    return jobs_root(hub) / job_id


def new_job_id() -> str:
    return f"job-{secrets.token_hex(16)}"


def part_path(directory: Path, index: int) -> Path:
    return directory / "parts" / f"part-{index:06d}.parquet"


def delete_work_files(directory: Path, keep: Path | None = None) -> None:
    """Delete a job's files except ``keep`` (its result, while it may still be read)."""
    if not directory.is_dir():
        return
    for item in directory.iterdir():
        if keep is not None and item == keep:
            continue
        if item.is_dir():
            shutil.rmtree(item, ignore_errors=True)
        else:
            item.unlink(missing_ok=True)
    if keep is None:
        shutil.rmtree(directory, ignore_errors=True)


# ------------------------------------------------------------------ creating and reading


def create(
    session: Session,
    *,
    job_id: str,
    kind: str,
    agreement_id: str,
    body_id: str,
    officer: str,
    client_id: str | None,
    request_id: str,
    params: dict,
    total: int,
    chunk_rows: int,
    now: datetime,
) -> Job:
    """Queue a job whose input is already validated and staged in ``job_dir``."""
    if kind not in KIND_MODULES:
        raise ValueError(f"unknown job kind {kind!r}")
    job = Job(
        id=job_id,
        kind=kind,
        agreement_id=agreement_id,
        body_id=body_id,
        officer=officer,
        client_id=client_id,
        request_id=request_id,
        state="queued",
        cancel_requested=False,
        params={**params, "chunk_rows": chunk_rows},
        total=total,
        done=0,
        checkpoint=0,
        chunks=max(1, -(-total // chunk_rows)),
        attempts=0,
        created_at=now,
        summary={},
    )
    session.add(job)
    session.flush()
    return job


def visible_job(session: Session, job_id: str, body_id: str) -> Job:
    """The job if ``body_id`` submitted it; anyone else is told there is no such job.

    Not 403: a job id is not something another body should learn exists.
    """
    job = session.get(Job, job_id) if len(job_id) <= 40 and job_id.isprintable() else None
    if job is None or job.body_id != body_id:
        raise NotFound(f"there is no job '{job_id}' submitted by your body")
    return job


def view(job: Job, now: datetime | None = None) -> dict:
    """What the submitting body may see of its job: state, progress, counts, never rows."""
    now = now or utcnow()
    expired = job.results_deleted_at is not None or (job.expires_at is not None and job.expires_at <= now)
    return {
        "id": job.id,
        "kind": job.kind,
        "agreement_id": job.agreement_id,
        "state": job.state,
        "cancel_requested": job.cancel_requested,
        "progress": {"done": job.done, "total": job.total, "chunks_done": job.checkpoint, "chunks": job.chunks},
        "attempts": job.attempts,
        "created_at": job.created_at.isoformat(),
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "error": job.error,
        "summary": dict(job.summary or {}),
        "results_available": job.state == "succeeded" and not expired and job.result_location is not None,
        "results_expire_at": job.expires_at.isoformat() if job.expires_at else None,
        "results_deleted_at": job.results_deleted_at.isoformat() if job.results_deleted_at else None,
    }


def list_jobs(session: Session, body_id: str | None = None, state: str | None = None, limit: int = 100) -> list[Job]:
    query = select(Job).order_by(Job.created_at.desc()).limit(limit)
    if body_id:
        query = query.where(Job.body_id == body_id)
    if state:
        query = query.where(Job.state == state)
    return list(session.scalars(query))


def result_file(hub: Hub, job_id: str, body_id: str, now: datetime | None = None) -> Path:
    """The result of a finished job, for its submitting body only; ``Gone`` once expired."""
    now = now or utcnow()
    with hub.transaction() as session:
        job = visible_job(session, job_id, body_id)
        if job.state != "succeeded":
            raise Conflict(f"job {job_id} is {job.state}; results are available only once it has succeeded")
        if job.results_deleted_at is not None or job.expires_at is None or job.expires_at <= now:
            raise Gone(f"the results of job {job_id} have been deleted: the agreement's retention period has passed")
        location = job.result_location
    path = Path(location) if location else None
    if path is None or not path.is_file():
        raise Gone(f"the results of job {job_id} are no longer held")
    return path


# ------------------------------------------------------------------ the status page link

STATUS_PAGE_KEY = "accord/jobs/status-page/v1"


def status_key(hub: Hub, job_id: str) -> str:
    """The secret part of a job's status page address, given only to the submitting body.

    A keyed hash of the job id: the page shows state and progress (never results)
    to whoever holds the link, as a body's officers have no browser sign-in.
    """
    key = derive_key(hub.settings.secret_key.get_secret_value(), STATUS_PAGE_KEY)
    return hmac.new(key, job_id.encode(), hashlib.sha256).hexdigest()[:32]


def status_page_path(hub: Hub, job_id: str, prefix: str) -> str:
    return f"{prefix}/{job_id}?key={status_key(hub, job_id)}"


def job_by_status_key(hub: Hub, job_id: str, key: str) -> Job | None:
    if not (0 < len(job_id) <= 40 and job_id.isprintable()) or not hmac.compare_digest(
        status_key(hub, job_id), key or ""
    ):
        return None
    with hub.transaction() as session:
        job = session.get(Job, job_id)
        if job is not None:
            session.expunge(job)
        return job


# ------------------------------------------------------------------ cancelling


def cancel(hub: Hub, job_id: str, body_id: str, now: datetime | None = None) -> dict:
    """Cancel a queued job at once, or ask a running one to stop between chunks."""
    now = now or utcnow()
    discard = False
    with hub.transaction() as session:
        job = visible_job(session, job_id, body_id)
        if job.state in ("succeeded", "failed"):
            raise Conflict(f"job {job_id} has already {job.state}; there is nothing to cancel")
        if job.state == "queued" or (
            job.state == "running" and job.lease_expires_at is not None and job.lease_expires_at < now
        ):
            stopped = session.execute(
                update(Job)
                .where(Job.id == job_id, _claimable(now))
                .values(state="cancelled", cancel_requested=True, finished_at=now, lease_owner=None,
                        lease_expires_at=None, summary={})
            )
            discard = stopped.rowcount == 1
        if not discard and job.state == "running":
            session.execute(update(Job).where(Job.id == job_id, Job.state == "running").values(cancel_requested=True))
        session.expire_all()
        result = view(session.get(Job, job_id), now)
    if discard:
        delete_work_files(job_dir(hub, job_id))
    return result


# ------------------------------------------------------------------ claiming and running


def _claimable(now: datetime):  # noqa: ANN202 - a SQL condition
    return or_(Job.state == "queued", and_(Job.state == "running", Job.lease_expires_at < now))


def claim(hub: Hub, owner: str, now: datetime | None = None) -> str | None:
    """Take the oldest claimable job for ``owner``; None when none is left to claim.

    A worker that loses a race for one job (another claimed it between the SELECT and
    the conditional UPDATE) looks again, so it gets the next job rather than nothing.
    """
    now = now or utcnow()
    settings = hub.settings
    while True:
        with hub.transaction() as session:
            row = session.execute(
                select(Job.id, Job.attempts)
                .where(_claimable(now))
                .order_by(Job.created_at, Job.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            ).first()
            if row is None:
                return None
            job_id, attempts = row
            if attempts >= settings.job_max_attempts:
                given_up = session.execute(
                    update(Job)
                    .where(Job.id == job_id, _claimable(now))
                    .values(state="failed", finished_at=now, lease_owner=None, lease_expires_at=None, summary={},
                            error=f"the job was started {attempts} times and its worker stopped each time; "
                            "it will not be tried again (submit it again to retry)")
                )
                failed = given_up.rowcount == 1
            else:
                claimed = session.execute(
                    update(Job)
                    .where(Job.id == job_id, _claimable(now))
                    .values(
                        state="running",
                        lease_owner=owner,
                        lease_expires_at=now + timedelta(seconds=settings.job_lease_seconds),
                        attempts=Job.attempts + 1,
                        started_at=func.coalesce(Job.started_at, now),
                    )
                )
                if claimed.rowcount == 1:
                    return job_id
                failed = False  # another worker took it between our SELECT and UPDATE: look again
        if failed:
            log.warning("job %s failed after %d attempts", job_id, attempts)
            delete_work_files(job_dir(hub, job_id))


def _holding(owner: str, job_id: str):  # noqa: ANN202 - a SQL condition
    return and_(Job.id == job_id, Job.lease_owner == owner, Job.state == "running")


def renew_lease(hub: Hub, job_id: str, owner: str, now: datetime | None = None) -> bool:
    now = now or utcnow()
    with hub.transaction() as session:
        renewed = session.execute(
            update(Job)
            .where(_holding(owner, job_id))
            .values(lease_expires_at=now + timedelta(seconds=hub.settings.job_lease_seconds))
        )
        return renewed.rowcount == 1


def advance(hub: Hub, job_id: str, owner: str, checkpoint: int, done: int) -> bool:
    """Commit a finished chunk: checkpoint and progress move together, while the lease is held.

    Returns whether the job has been asked to stop; raises LeaseLost if another worker holds it.
    """
    now = utcnow()
    with hub.transaction() as session:
        moved = session.execute(
            update(Job)
            .where(_holding(owner, job_id))
            .values(checkpoint=checkpoint, done=done,
                    lease_expires_at=now + timedelta(seconds=hub.settings.job_lease_seconds))
        )
        if moved.rowcount != 1:
            raise LeaseLost(job_id)
        return bool(session.scalar(select(Job.cancel_requested).where(Job.id == job_id)))


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


def kind_module(kind: str):  # noqa: ANN201 - a module with start(hub, job)
    return importlib.import_module(KIND_MODULES[kind])


def _stop_cancelled(hub: Hub, job_id: str, owner: str) -> str:
    now = utcnow()
    with hub.transaction() as session:
        stopped = session.execute(
            update(Job).where(_holding(owner, job_id)).values(
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
            update(Job).where(_holding(owner, job_id)).values(
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
        session.execute(update(Job).where(_holding(owner, job_id)).values(**values))
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
            work = kind_module(job.kind).start(hub, job)
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
                        select(Job).where(_holding(owner, job_id)).with_for_update()
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
    except AccordError as refused:
        return _fail(hub, job_id, owner, refused.detail)
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


# ------------------------------------------------------------------ retention


def expire_results(session: Session, now: datetime) -> int:
    """Delete the results of jobs past their agreement's retention period (retention hook)."""
    expired = list(
        session.scalars(
            select(Job).where(Job.result_location.is_not(None), Job.expires_at.is_not(None), Job.expires_at <= now)
        )
    )
    for job in expired:
        location = Path(job.result_location)
        job.result_location = None
        job.results_deleted_at = now
        session.flush()
        location.unlink(missing_ok=True)
        try:
            location.parent.rmdir()
        except OSError:
            pass
    return len(expired)


def sweep_orphans(hub: Hub, now: datetime | None = None) -> int:
    """Delete upload directories with no job (a submission that failed before commit) and the work
    files finished jobs left behind (a worker stopped between committing and tidying up)."""
    root = jobs_root(hub)
    if not root.is_dir():
        return 0
    now = now or utcnow()
    removed = 0
    entries = [p for p in root.iterdir() if p.is_dir()]
    with hub.transaction() as session:
        known = {
            row.id: (row.state, row.result_location)
            for row in session.execute(select(Job.id, Job.state, Job.result_location).where(
                Job.id.in_([p.name for p in entries])))
        }
    for directory in entries:
        info = known.get(directory.name)
        if info is None:
            age = now.timestamp() - directory.stat().st_mtime
            if age > ORPHAN_AGE.total_seconds():
                shutil.rmtree(directory, ignore_errors=True)
                removed += 1
        elif info[0] in FINISHED_STATES:
            keep = Path(info[1]) if info[1] else None
            leftovers = [p for p in directory.iterdir() if p != keep]
            if leftovers:
                delete_work_files(directory, keep=keep)
                removed += 1
    return removed
