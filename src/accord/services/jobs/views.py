"""What a body sees of its job: state, progress and counts, never rows; its result file; its status page."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from accord.clock import utcnow
from accord.errors import AccordError, Conflict, NotFound
from accord.privacy import labels
from accord.privacy.pseudonymise import derive_key
from accord.runtime import Hub
from accord.storage.tables.jobs import Job


class Gone(AccordError):
    """The thing existed but is no more (results past their retention): HTTP 410."""

    status = 410
    title = "Gone"


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


def status_key(hub: Hub, job_id: str) -> str:
    """The secret part of a job's status page address, given only to the submitting body.

    A keyed hash of the job id: the page shows state and progress (never results)
    to whoever holds the link, as a body's officers have no browser sign-in.
    """
    key = derive_key(hub.settings.secret_key.get_secret_value(), labels.JOB_STATUS_PAGE)
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
