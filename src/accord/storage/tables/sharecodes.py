"""Tables: share codes, the consent records behind them, and redemption attempts (issue 6).

A citizen's consent is kept as a record shaped after ISO/IEC TS 27560 (``consents``); each share
code (``share_codes``) carries out one consent. Codes are stored only as keyed hashes, and the
driving-licence record a consent covers only as a sealed (encrypted) locator, so a copy of these
tables alone neither redeems a code nor names a driver. ``share_code_attempts`` is the durable
ledger the rate limits count from, shared by every process using the database.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from accord.storage.models import Base, Int64
from accord.storage.types import UTCDateTime


class Consent(Base):
    """One consent given by a citizen: who (pseudonymously), to what, for what, until when.

    ``events`` is the record's history (given, withdrawn), each ``{"event", "at", "state"}``;
    redemptions are processing, recorded in the audit log rather than here.
    """

    __tablename__ = "consents"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    schema_version: Mapped[str] = mapped_column(String(64))
    person_key: Mapped[str] = mapped_column(String(64), index=True)  # the data subject; never the NINO
    controller_id: Mapped[str] = mapped_column(String(64))
    dataset_id: Mapped[str] = mapped_column(String(64))
    purpose_code: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(200))
    purpose_iri: Mapped[str] = mapped_column(String(200))
    items: Mapped[list[str]] = mapped_column(JSON)
    processing: Mapped[list[str]] = mapped_column(JSON)
    recipients: Mapped[str] = mapped_column(Text)
    legal_basis: Mapped[str] = mapped_column(String(200))
    legal_basis_iri: Mapped[str] = mapped_column(String(200))
    record_locator: Mapped[bytes] = mapped_column(LargeBinary(512))  # AES-GCM sealed; see services.sharecodes
    given_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    events: Mapped[list[dict]] = mapped_column(JSON)
    receipt_id: Mapped[str] = mapped_column(String(40), unique=True)


class ShareCode(Base):
    """A code that shows a consent's items to whoever presents it with the second factor."""

    __tablename__ = "share_codes"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # public reference; not the code
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)  # HMAC-SHA256 (hex) of the code
    key_version: Mapped[int] = mapped_column(Integer)
    consent_id: Mapped[str] = mapped_column(ForeignKey("consents.id"), index=True)
    person_key: Mapped[str] = mapped_column(String(64), index=True)
    items: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    multiple_use: Mapped[bool] = mapped_column(Boolean)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ShareCodeAttempt(Base):
    """Every redemption attempt, kept for the rate limits and for the operator; never the code.

    ``caller`` is ``body:<id>`` for an authenticated body or ``address:<keyed hash>`` for an
    anonymous checker. ``failed`` marks the guesses the limits count (unknown code, wrong factor).
    """

    __tablename__ = "share_code_attempts"

    id: Mapped[int] = mapped_column(Int64, primary_key=True, autoincrement=True)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    caller: Mapped[str] = mapped_column(String(100))
    share_code_id: Mapped[str | None] = mapped_column(ForeignKey("share_codes.id"), nullable=True)
    outcome: Mapped[str] = mapped_column(String(32))
    failed: Mapped[bool] = mapped_column(Boolean)

    __table_args__ = (
        Index("ix_share_code_attempts_caller", "caller", "attempted_at"),
        Index("ix_share_code_attempts_code", "share_code_id", "attempted_at"),
    )
