"""Keeping job files no longer than needed: results past their retention, and files no job owns."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from accord.clock import utcnow
from accord.runtime import Hub
from accord.services.jobs.files import delete_work_files, jobs_root
from accord.storage.tables.jobs import FINISHED_STATES, Job

ORPHAN_AGE = timedelta(hours=1)  # an upload staged for a job that was never created is deleted after this


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
