"""Tables: officers (people named at a body, with roles), their API tokens and their page sessions.

An officer is found by the subject (``sub``) their identity provider vouches for; only one active
officer may hold a subject, so a sign-in names exactly one person at one body. Tokens and
sessions are stored only as SHA-256 hashes of the values handed out (as client tokens are).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from accord.storage.models import Base
from accord.storage.types import UTCDateTime


class Officer(Base):
    """A person who acts for one body, with one or more roles (``registry.officers.ROLES``)."""

    __tablename__ = "officers"
    __table_args__ = (
        Index("ix_officers_active_subject", "subject", unique=True,
              sqlite_where=text("deactivated_at IS NULL"), postgresql_where=text("deactivated_at IS NULL")),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    body_id: Mapped[str] = mapped_column(ForeignKey("bodies.id"), index=True)
    subject: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(200))
    roles: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class OfficerToken(Base):
    """A short-lived bearer token issued to an officer after sign-in; only its hash is stored."""

    __tablename__ = "officer_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    officer_id: Mapped[str] = mapped_column(ForeignKey("officers.id"), index=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class OfficerSession(Base):
    """An officer's sign-in to the pages; the cookie holds the random id, the table only its hash."""

    __tablename__ = "officer_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    officer_id: Mapped[str] = mapped_column(ForeignKey("officers.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
