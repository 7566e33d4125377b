"""Database models: the registry, agreements, credentials, decisions, daily usage, citizens' sign-ins,
replies kept for idempotent retries, and the audit log's entries and subjects. Each purpose's own tables
are in ``storage/tables/`` and imported here, so one metadata holds the whole schema.

Names follow the public DEA register where one exists. JSON columns hold small
lists (areas, processors, reasons) that are always read whole.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    JSON,
    LargeBinary,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from accord.storage.types import UTCDateTime


class Base(DeclarativeBase):
    pass


# 64-bit on PostgreSQL; plain INTEGER on SQLite, where it is already 64-bit and
# only INTEGER PRIMARY KEY is an auto-incrementing rowid.
Int64 = BigInteger().with_variant(Integer, "sqlite")


class Body(Base):
    __tablename__ = "bodies"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    body_type: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    datasets: Mapped[list[Dataset]] = relationship(back_populates="body", order_by="Dataset.id")


class Dataset(Base):
    __tablename__ = "datasets"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    body_id: Mapped[str] = mapped_column(ForeignKey("bodies.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    body: Mapped[Body] = relationship(back_populates="datasets")
    fields: Mapped[list[DatasetField]] = relationship(
        back_populates="dataset", order_by="DatasetField.position", cascade="all, delete-orphan"
    )


class DatasetField(Base):
    __tablename__ = "dataset_fields"

    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id"), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    category: Mapped[str] = mapped_column(String(32))
    type: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text, default="")

    dataset: Mapped[Dataset] = relationship(back_populates="fields")


class Client(Base):
    """An API client credential of a body (OAuth2 client credentials)."""

    __tablename__ = "clients"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    body_id: Mapped[str] = mapped_column(ForeignKey("bodies.id"), index=True)
    label: Mapped[str] = mapped_column(String(200), default="")
    secret_hash: Mapped[str] = mapped_column(String(128))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Token(Base):
    """A short-lived bearer token; only its hash is stored."""

    __tablename__ = "tokens"

    token_hash: Mapped[str] = mapped_column(String(128), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.client_id"), index=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Agreement(Base):
    """A data-sharing agreement, with the fields the public DEA register publishes."""

    __tablename__ = "agreements"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    gateway: Mapped[str] = mapped_column(String(64), index=True)
    objective: Mapped[str | None] = mapped_column(String(64), nullable=True)
    purpose: Mapped[str] = mapped_column(Text)
    benefits: Mapped[str] = mapped_column(Text)
    processors: Mapped[list[str]] = mapped_column(JSON)
    sharing_method: Mapped[str] = mapped_column(Text)
    retention: Mapped[str] = mapped_column(String(32))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    review_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    contact: Mapped[str] = mapped_column(String(300))
    areas: Mapped[list[str]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), index=True)
    notes: Mapped[str] = mapped_column(Text, default="")
    on_excess_fields: Mapped[str] = mapped_column(String(16), default="minimise")
    max_records_per_request: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_requests_per_day: Mapped[int | None] = mapped_column(Integer, nullable=True)
    embargo: Mapped[str | None] = mapped_column(String(32), nullable=True)
    is_pilot: Mapped[bool] = mapped_column(Boolean, default=False)
    business_case: Mapped[str | None] = mapped_column(Text, nullable=True)
    success_measures: Mapped[list[str]] = mapped_column(JSON)
    consultation_weeks: Mapped[int] = mapped_column(Integer, default=8)
    consultation_opens_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    consultation_closes_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The party that proposed the draft (it consents by proposing); None: drafted by the hub operator.
    proposer_id: Mapped[str | None] = mapped_column(String(64), nullable=True)

    parties: Mapped[list[AgreementParty]] = relationship(
        back_populates="agreement", cascade="all, delete-orphan", order_by="AgreementParty.body_id"
    )
    data: Mapped[list[AgreementField]] = relationship(
        back_populates="agreement", cascade="all, delete-orphan", order_by="AgreementField.position"
    )
    history: Mapped[list[AgreementEvent]] = relationship(
        back_populates="agreement", cascade="all, delete-orphan", order_by="AgreementEvent.id"
    )
    comments: Mapped[list[ConsultationComment]] = relationship(
        back_populates="agreement", cascade="all, delete-orphan", order_by="ConsultationComment.id"
    )
    confirmations: Mapped[list[AgreementConfirmation]] = relationship(
        back_populates="agreement", cascade="all, delete-orphan", order_by="AgreementConfirmation.body_id"
    )


class AgreementParty(Base):
    """A body's role in an agreement: discloser (provides data) or recipient."""

    __tablename__ = "agreement_parties"

    agreement_id: Mapped[str] = mapped_column(ForeignKey("agreements.id"), primary_key=True)
    body_id: Mapped[str] = mapped_column(ForeignKey("bodies.id"), primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(16), primary_key=True)

    agreement: Mapped[Agreement] = relationship(back_populates="parties")


class AgreementConfirmation(Base):
    """A named party's confirmation of a draft's terms, as they stand (removed when they change)."""

    __tablename__ = "agreement_confirmations"

    agreement_id: Mapped[str] = mapped_column(ForeignKey("agreements.id"), primary_key=True)
    body_id: Mapped[str] = mapped_column(ForeignKey("bodies.id"), primary_key=True)
    confirmed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(200))

    agreement: Mapped[Agreement] = relationship(back_populates="confirmations")


class AgreementField(Base):
    """One dataset field disclosed under an agreement (the 'data disclosed')."""

    __tablename__ = "agreement_fields"

    agreement_id: Mapped[str] = mapped_column(ForeignKey("agreements.id"), primary_key=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id"), primary_key=True, index=True)
    field_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)

    agreement: Mapped[Agreement] = relationship(back_populates="data")


class AgreementEvent(Base):
    """A lifecycle transition: the agreement's status history."""

    __tablename__ = "agreement_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agreement_id: Mapped[str] = mapped_column(ForeignKey("agreements.id"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_status: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text, default="")

    agreement: Mapped[Agreement] = relationship(back_populates="history")


class ConsultationComment(Base):
    __tablename__ = "consultation_comments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agreement_id: Mapped[str] = mapped_column(ForeignKey("agreements.id"), index=True)
    author: Mapped[str] = mapped_column(String(200))
    organisation: Mapped[str] = mapped_column(String(200), default="")
    comment: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    agreement: Mapped[Agreement] = relationship(back_populates="comments")


class DecisionRecord(Base):
    """Every policy decision, allowed or denied, written with the access it governs.

    Its id is quoted back to the body (``decision_id``), which reads it again at
    ``GET /v1/decisions/{id}``; event deliveries point at the decision that allowed them.
    The same decision is also an entry of the tamper-evident audit log (``AuditEntry``),
    written in the same transaction by ``services.access.record``.
    """

    __tablename__ = "decisions"

    id: Mapped[int] = mapped_column(Int64, primary_key=True, autoincrement=True)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    request_id: Mapped[str] = mapped_column(String(128))
    body_id: Mapped[str] = mapped_column(String(64), index=True)
    client_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    officer: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    dataset_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    purpose: Mapped[str] = mapped_column(String(128))
    agreement_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    allowed: Mapped[bool] = mapped_column(Boolean)
    reasons: Mapped[list[str]] = mapped_column(JSON)
    fields_requested: Mapped[list[str]] = mapped_column(JSON)
    fields_permitted: Mapped[list[str]] = mapped_column(JSON)
    records: Mapped[int] = mapped_column(Integer, default=1)
    obligations: Mapped[dict] = mapped_column(JSON)


class AgreementUsage(Base):
    """Allowed requests per agreement, body and UTC day: the authority for daily limits.

    Claimed with one conditional UPDATE (``used < limit``), so concurrent requests,
    in one process or many, can never together exceed the limit.
    """

    __tablename__ = "agreement_usage"

    agreement_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    body_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    used: Mapped[int] = mapped_column(Integer, default=0)


class CitizenSession(Base):
    """A citizen's sign-in, so that signing out ends it even if the cookie was copied.

    Only a hash of the session id (held in the signed cookie) is stored.
    """

    __tablename__ = "citizen_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    person_key: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class IdempotencyKey(Base):
    """A write already done for (owner, key): a retry gets the stored response (``services.unit_of_work``).

    The owner is the API client, or the body for the pages; the request is kept only as a keyed hash.
    """

    __tablename__ = "idempotency_keys"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_fingerprint: Mapped[str] = mapped_column(String(128))
    status_code: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # (client_id, key) is the primary key, so already unique; a separate UNIQUE
    # constraint is dropped by PostgreSQL at CREATE TABLE and showed as schema drift.


# ---------------------------------------------------------------- audit log


class AuditEntry(Base):
    """One leaf of the audit log: the canonical JSON that is hashed, plus columns to find it.

    Written in the same transaction as the access it records. ``leaf_index``
    is assigned when the sequencer integrates the entry into the Merkle tree.
    """

    __tablename__ = "audit_entries"

    id: Mapped[int] = mapped_column(Int64, primary_key=True, autoincrement=True)
    leaf_index: Mapped[int | None] = mapped_column(Int64, nullable=True, unique=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    kind: Mapped[str] = mapped_column(String(64))
    body_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    agreement_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(128), nullable=True, index=True)
    embargo_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    payload: Mapped[str] = mapped_column(Text)

    __table_args__ = (Index("ix_audit_entries_unsequenced", "leaf_index", "id"),)


class AuditSubject(Base):
    """Which pseudonymous person keys an entry is about (for "who used my data")."""

    __tablename__ = "audit_subjects"

    entry_id: Mapped[int] = mapped_column(Int64, ForeignKey("audit_entries.id"), primary_key=True)
    person_key: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)


class AuditNode(Base):
    """Hash of a complete aligned subtree: level 0 are leaf hashes."""

    __tablename__ = "audit_nodes"

    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(Int64, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))

    # On SQLite, rows live in the primary-key B-tree itself: a proof's lookups are one seek each.
    __table_args__ = {"sqlite_with_rowid": False}


class AuditHead(Base):
    """The integrated tree's size and root; its single row is the sequencer's lock."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    tree_size: Mapped[int] = mapped_column(Int64)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AuditCheckpoint(Base):
    """A signed checkpoint (C2SP signed note) of the tree at some size."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tree_size: Mapped[int] = mapped_column(Int64, index=True)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    note: Mapped[str] = mapped_column(Text)


class AuditWitnessReply(Base):
    """A witness's answer to a published checkpoint: its cosignature line, or its refusal (an alarm).

    A witness that could not be reached leaves no row: the checkpoint is published again later.
    """

    __tablename__ = "audit_witness_replies"

    checkpoint_id: Mapped[int] = mapped_column(Integer, ForeignKey("audit_checkpoints.id"), primary_key=True)
    witness: Mapped[str] = mapped_column(String(255), primary_key=True)
    tree_size: Mapped[int] = mapped_column(Int64)
    cosignature: Mapped[str | None] = mapped_column(Text, nullable=True)  # a C2SP tlog-cosignature line
    refusal: Mapped[str | None] = mapped_column(Text, nullable=True)  # the HTTP status and the witness's reason
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime())


# The purpose services' tables live beside their services' concerns, in accord.storage.tables;
# imported here, after Base, so that Base.metadata holds every table.
from accord.storage.tables import events, jobs, linkage, officers, sharecodes, throttle  # noqa: E402,F401
