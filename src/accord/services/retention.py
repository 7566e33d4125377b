"""Retention: delete personal payloads past their time, and log each deletion.

Audit leaves are never deleted (they hold pseudonymous keys and decisions, not
personal data). What is deleted here is anything that may hold personal data
beyond its retention: replies kept for idempotent retries (for
IDEMPOTENCY_RETENTION), ended sign-ins (citizens' and officers'), expired tokens and job results past
their agreement's retention; and whatever a purpose package registers as its own
payload (``services.purposes``: ``registration.retained``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from accord.audit.log import AuditRecord, append
from accord.runtime import hub_of
from accord.services.jobs import expire_results as _job_results
from accord.services.purposes import purposes, resolve
from accord.storage.models import AuditEntry, AuditSubject, CitizenSession, IdempotencyKey, Token
from accord.storage.tables.officers import OfficerSession, OfficerToken

IDEMPOTENCY_RETENTION = timedelta(hours=24)


def _idempotency_replies(session: Session, now: datetime) -> int:
    result = session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < now - IDEMPOTENCY_RETENTION))
    return result.rowcount or 0


def _citizen_sessions(session: Session, now: datetime) -> int:
    """Ended or expired sign-ins (they hold a pseudonymous person key)."""
    result = session.execute(
        delete(CitizenSession).where(
            or_(CitizenSession.ended_at.is_not(None), CitizenSession.expires_at < now)
        )
    )
    return result.rowcount or 0


def _officer_sessions(session: Session, now: datetime) -> int:
    """Officers' page sessions that were ended (signed out, deactivated) or have expired."""
    result = session.execute(
        delete(OfficerSession).where(or_(OfficerSession.ended_at.is_not(None), OfficerSession.expires_at < now))
    )
    return result.rowcount or 0


def _expired_tokens(session: Session, now: datetime) -> int:
    """API bearer tokens, systems' and officers', past their expiry or revoked more than a day ago."""
    spent = 0
    for table in (Token, OfficerToken):
        result = session.execute(
            delete(table).where(or_(table.expires_at < now, table.revoked_at < now - timedelta(days=1)))
        )
        spent += result.rowcount or 0
    return spent


def _audit_subject_rows(session: Session, now: datetime) -> int:
    """The person keys that find an audit entry for "who used my data", once ACCORD_AUDIT_SUBJECT_RETENTION_DAYS
    have passed since it was logged and its embargo has ended (``audit.binding.subjects_due``, which verify
    applies: the leaf keeps naming them, and the rows that remain must be among those it names)."""
    days = hub_of(session).settings.audit_subject_retention_days
    if days is None:
        return 0
    due = select(AuditEntry.id).where(
        AuditEntry.occurred_at <= now - timedelta(days=days),
        or_(AuditEntry.embargo_until.is_(None), AuditEntry.embargo_until <= now),
    )
    result = session.execute(delete(AuditSubject).where(AuditSubject.entry_id.in_(due)))
    return result.rowcount or 0


PAYLOADS: dict[str, Callable[[Session, datetime], int]] = {
    "idempotency replies": _idempotency_replies,
    "citizen sessions": _citizen_sessions,
    "officer sessions": _officer_sessions,
    "expired API tokens": _expired_tokens,
    "job results past their agreement's retention": _job_results,
    "audit subject rows past their retention": _audit_subject_rows,
}


def payloads() -> dict[str, Callable[[Session, datetime], int]]:
    """The hub's own payloads, then each purpose's."""
    return {**PAYLOADS, **{kind: resolve(path) for kind, path in purposes().retention.items()}}


def run(session: Session, now: datetime) -> dict[str, int]:
    """Delete expired payloads of every kind; each deletion is one audit entry, in the same transaction."""
    deleted: dict[str, int] = {}
    for kind, purge in payloads().items():
        count = purge(session, now)
        deleted[kind] = count
        if count:
            append(
                session,
                AuditRecord(
                    kind="retention.deletion",
                    occurred_at=now,
                    outcome="done",
                    actor="accord retention",
                    records=count,
                    details={"payload": kind},
                ),
            )
    return deleted
