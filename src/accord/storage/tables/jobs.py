"""Tables: durable background jobs and their results (issue 6: eligibility).

A job is one row; its files (the validated input, one part file per finished
chunk, the result) live under ``<data_dir>/jobs/<id>/``. The row is the
authority on where a job stands: which worker holds it and until when (the
lease, extended by a heartbeat), how many chunks are done (the checkpoint
cursor), and whether its results may still be read (``expires_at``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from accord.storage.models import Base, Int64
from accord.storage.types import UTCDateTime

JOB_STATES = ("queued", "running", "succeeded", "failed", "cancelled")
FINISHED_STATES = ("succeeded", "failed", "cancelled")


class Job(Base):
    """One background job: who asked for it, under which agreement, and how far it has got."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    agreement_id: Mapped[str] = mapped_column(String(64), index=True)
    body_id: Mapped[str] = mapped_column(String(64), index=True)  # the requesting body: the only one that sees it
    officer: Mapped[str] = mapped_column(String(200))
    client_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    request_id: Mapped[str] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(16))
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    params: Mapped[dict] = mapped_column(JSON)  # kind-specific, fixed at submission (e.g. chunk size)
    total: Mapped[int] = mapped_column(Int64, default=0)  # input rows
    done: Mapped[int] = mapped_column(Int64, default=0)  # input rows whose results are in part files
    checkpoint: Mapped[int] = mapped_column(Integer, default=0)  # chunks finished: the resume cursor
    chunks: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(100), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    summary: Mapped[dict] = mapped_column(JSON)  # counts safe to show the requesting body (e.g. matched)
    result_location: Mapped[str | None] = mapped_column(String(500), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    results_deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    # Workers look for queued jobs, and running ones whose lease has run out, oldest first.
    __table_args__ = (Index("ix_jobs_claim", "state", "created_at"),)
