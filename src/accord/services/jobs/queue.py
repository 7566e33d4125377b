"""The job queue: creating a job, claiming it under a lease, keeping the lease, and cancelling."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from accord.clock import utcnow
from accord.errors import Conflict
from accord.runtime import Hub
from accord.services.jobs.files import delete_work_files, job_dir
from accord.services.jobs.views import view, visible_job
from accord.services.purposes import purposes
from accord.storage.leases import claim_due
from accord.storage.tables.jobs import Job

log = logging.getLogger("accord.jobs")


class LeaseLost(Exception):
    """Another worker holds the job now; this one stops without touching it."""


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
    if kind not in purposes().job_kinds:
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

    A job already claimed ``job_max_attempts`` times without finishing is failed for
    good instead (its worker kept dying), and the next one is claimed.
    """
    now = now or utcnow()
    settings = hub.settings
    while True:
        with hub.transaction() as session:
            claimed = claim_due(
                session, Job, key=Job.id, due=(_claimable(now),), order_by=(Job.created_at, Job.id), limit=1,
                recheck=True,
                values={"state": "running", "lease_owner": owner, "attempts": Job.attempts + 1,
                        "lease_expires_at": now + timedelta(seconds=settings.job_lease_seconds),
                        "started_at": func.coalesce(Job.started_at, now)},
            )
            if not claimed:
                return None
            job_id = claimed[0]
            attempts = session.scalar(select(Job.attempts).where(Job.id == job_id))
            if attempts <= settings.job_max_attempts:
                return job_id
            session.execute(
                update(Job)
                .where(held_by(owner, job_id))
                .values(state="failed", finished_at=now, lease_owner=None, lease_expires_at=None, summary={},
                        attempts=Job.attempts - 1,
                        error=f"the job was started {attempts - 1} times and its worker stopped each time; "
                        "it will not be tried again (submit it again to retry)")
            )
        log.warning("job %s failed after %d attempts", job_id, attempts - 1)
        delete_work_files(job_dir(hub, job_id))


def held_by(owner: str, job_id: str):  # noqa: ANN202 - a SQL condition
    """The job, while ``owner`` holds its lease: every write a worker makes to its job is conditional on it."""
    return and_(Job.id == job_id, Job.lease_owner == owner, Job.state == "running")


def renew_lease(hub: Hub, job_id: str, owner: str, now: datetime | None = None) -> bool:
    now = now or utcnow()
    with hub.transaction() as session:
        renewed = session.execute(
            update(Job)
            .where(held_by(owner, job_id))
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
            .where(held_by(owner, job_id))
            .values(checkpoint=checkpoint, done=done,
                    lease_expires_at=now + timedelta(seconds=hub.settings.job_lease_seconds))
        )
        if moved.rowcount != 1:
            raise LeaseLost(job_id)
        return bool(session.scalar(select(Job.cancel_requested).where(Job.id == job_id)))
