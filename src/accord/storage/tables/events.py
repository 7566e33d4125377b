"""Tables: civil-registration events, subscriptions, and the delivery outbox (issue 6).

``registration_events`` holds what the registration service recorded, numbered by a
``sequence`` that is handed out from the single ``event_feed_head`` row inside the
recording transaction. Holding that row's lock until commit means events commit in
sequence order, so a reader that has seen sequence N can never later find a smaller
one appearing: the sequence is a safe cursor for the pull feed.

``event_deliveries`` is the transactional outbox: one row per (event, subscription),
written in the same transaction as the event and the decision that allowed it. The
dispatcher claims due rows with a lease (``next_attempt_at`` moved past the lease and a
fresh ``claim_token``), so a claim that is never acknowledged is simply due again later.

Subscriptions store no secret: the webhook signing key is derived from the hub's
secret, the subscription id and ``secret_version`` (HKDF) whenever a delivery is signed.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from accord.storage.models import Base, Int64
from accord.storage.types import UTCDateTime


class EventFeedHead(Base):
    """The last sequence number handed out; its single row serialises recording."""

    __tablename__ = "event_feed_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_sequence: Mapped[int] = mapped_column(Int64)


class RegistrationEvent(Base):
    """A birth, death or marriage as the registration service recorded it.

    ``payload`` holds only registered fields of the kind's dataset. ``subject_key``
    is the subject key the audit log names (``services.subjects``; None when the registration
    names no one by NINO, or by given name, surname and date of birth).
    ``match_dob`` and ``match_postcode`` are standardised blocking keys for the
    deceased check, so it reads a handful of candidate rows rather than every death.
    """

    __tablename__ = "registration_events"

    sequence: Mapped[int] = mapped_column(Int64, primary_key=True, autoincrement=False)
    id: Mapped[str] = mapped_column(String(36))
    kind: Mapped[str] = mapped_column(String(16))
    dataset_id: Mapped[str] = mapped_column(String(64))
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_by: Mapped[str] = mapped_column(String(64))
    subject_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    payload: Mapped[dict] = mapped_column(JSON)
    match_dob: Mapped[date | None] = mapped_column(Date, nullable=True)
    match_postcode: Mapped[str | None] = mapped_column(String(8), nullable=True)

    __table_args__ = (
        Index("ix_registration_events_id", "id", unique=True),
        Index("ix_registration_events_kind_dob", "kind", "match_dob"),
        Index("ix_registration_events_kind_postcode", "kind", "match_postcode"),
    )


class EventSubscription(Base):
    """A body's subscription to event kinds under one civil-registration agreement.

    ``url`` is the webhook; without one the subscription is read through the pull feed
    only. ``fields`` maps each kind to the fields the body asked for (at most what the
    agreement discloses). ``feed_cursor`` is the last sequence the body acknowledged
    on the pull feed.
    """

    __tablename__ = "event_subscriptions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    body_id: Mapped[str] = mapped_column(ForeignKey("bodies.id"), index=True)
    agreement_id: Mapped[str] = mapped_column(ForeignKey("agreements.id"))
    kinds: Mapped[list[str]] = mapped_column(JSON)
    fields: Mapped[dict] = mapped_column(JSON)
    url: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    secret_version: Mapped[int] = mapped_column(Integer, default=1)
    state: Mapped[str] = mapped_column(String(16), index=True)
    feed_cursor: Mapped[int] = mapped_column(Int64, default=0)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class EventDelivery(Base):
    """The outbox: one event for one subscription, and how its delivery is going.

    States: ``pending`` (due at ``next_attempt_at``), ``delivered``, ``dead`` (gave up
    after the maximum attempts; can be re-queued), ``cancelled`` (the subscription
    ended or its agreement ended), ``feed`` (pull-only subscription: read, not sent).
    ``fields`` are the fields the recorded decision permitted: the event is minimised
    to them on every delivery and feed page.
    """

    __tablename__ = "event_deliveries"

    id: Mapped[int] = mapped_column(Int64, primary_key=True, autoincrement=True)
    event_sequence: Mapped[int] = mapped_column(Int64, ForeignKey("registration_events.sequence"))
    subscription_id: Mapped[str] = mapped_column(ForeignKey("event_subscriptions.id"))
    decision_id: Mapped[int] = mapped_column(Int64)
    fields: Mapped[list[str]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    claim_token: Mapped[str | None] = mapped_column(String(32), nullable=True)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (
        UniqueConstraint("subscription_id", "event_sequence", name="uq_event_deliveries_subscription_event"),
        Index("ix_event_deliveries_due", "state", "next_attempt_at"),
        Index("ix_event_deliveries_claim", "claim_token"),
    )
