"""Signed checkpoints of the stored tree (the formats are in ``accord.audit.note``)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from accord.audit.note import (  # noqa: F401 - re-exported: callers know them as checkpoint.*
    ED25519,
    SIGNATURE_PREFIX,
    Checkpoint,
    CheckpointError,
    body_text,
    key_id,
    load_or_create_key,
    parse_verifier_key,
    sign,
    verifier_key,
    verify_note,
)
from accord.audit.store import head
from accord.storage.models import AuditCheckpoint


def create(session: Session, key: Ed25519PrivateKey, origin: str, now: datetime) -> AuditCheckpoint:
    """Sign the integrated tree as it stands and store the checkpoint."""
    size, root_hash = head(session)
    signed = sign(key, origin, size, root_hash, now)
    row = AuditCheckpoint(tree_size=size, root_hash=root_hash, created_at=now, note=signed.note)
    session.add(row)
    session.flush()
    return row


def latest(session: Session) -> AuditCheckpoint | None:
    return session.scalar(select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc()).limit(1))


def all_checkpoints(session: Session) -> list[AuditCheckpoint]:
    return list(session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.id)))


def utc_from_timestamp(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)
