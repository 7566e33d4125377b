"""Recording events: the registration service's births, deaths and marriages, and who is told of each.

One transaction writes, together:

* the events, numbered from the ``event_feed_head`` row (locked until commit, so the
  sequence is also the commit order and a safe cursor);
* an ``events.record`` audit entry naming the people recorded;
* for every active subscription to the kind, a decision through the governed path
  (``services.access``: action ``events.receive``, the subscriber as the requesting
  body, the people as subjects): the decision and its audit entry are the evidence of
  the disclosure, and the permitted fields are all that body will ever be sent;
* one outbox row (``event_deliveries``) per allowed subscription.

So every disclosure of an event to a body is decided and audited once, with the person
as subject, in the transaction that makes the event exist; webhooks and the pull feed
only carry what was decided.

The person an event is about is named by their subject key (``services.subjects``):
from the National Insurance number the registration gives, else from the registered
given name, surname and date of birth.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from accord.audit.log import AuditRecord, append
from accord.errors import Forbidden, InvalidInput
from accord.linkage.standardise import parse_date, standardise_postcode
from accord.privacy.pseudonymise import normalise_nino
from accord.registry.bodies import get_body
from accord.runtime import Hub
from accord.services.access import AccessRequest, ask, record
from accord.services.events.kinds import KINDS, PURPOSE, RECEIVE, EventKind, kind_named
from accord.services.subjects import subject_key
from accord.storage.models import Dataset
from accord.storage.tables.events import EventDelivery, EventFeedHead, EventSubscription, RegistrationEvent
from accord.storage.upsert import insert_if_absent

CLOCK_SKEW = timedelta(minutes=5)
MAX_VALUE_LENGTH = 500


@dataclass(frozen=True)
class NewEvent:
    kind: str
    registered_at: datetime
    data: dict[str, Any]
    subject_nino: str | None = None  # only its subject key is kept


@dataclass(frozen=True)
class Recorded:
    events: list[RegistrationEvent]
    notified: int  # subscriptions that were allowed to receive the events
    refused: int  # subscriptions the policy refused (recorded as denials)


def _check_recorder(session: Session, hub: Hub, body_id: str) -> None:
    body = get_body(session, body_id)
    gateway = hub.framework.gateway(PURPOSE.gateway)
    if body.body_type not in (gateway.disclosers if gateway is not None else ()):
        raise Forbidden("only a civil registration service may record registration events")


def _dataset_for(session: Session, kind: EventKind, recorder: str, cache: dict[str, Dataset]) -> Dataset:
    if kind.dataset_id not in cache:
        dataset = session.get(Dataset, kind.dataset_id)
        if dataset is None:
            raise InvalidInput(f"{kind.name} events need the dataset '{kind.dataset_id}' to be registered")
        cache[kind.dataset_id] = dataset
    dataset = cache[kind.dataset_id]
    if dataset.body_id != recorder:
        raise Forbidden(f"{kind.name} events are recorded by {dataset.body_id}, which holds '{dataset.id}'")
    return dataset


def _clean_payload(data: dict[str, Any], dataset: Dataset, kind: EventKind, where: str) -> dict[str, Any]:
    """Only the dataset's registered fields, dates as ISO dates, scalars of bounded length."""
    types = {f.name: f.type for f in dataset.fields}
    unknown = [name for name in data if name not in types]
    if unknown:
        raise InvalidInput(
            f"{where}: not a registered field of '{dataset.id}': {', '.join(sorted(unknown))}",
            [f"registered fields: {', '.join(types)}"],
        )
    clean: dict[str, Any] = {}
    for name, value in data.items():
        if value is None or value == "":
            continue
        if isinstance(value, (dict, list)):
            raise InvalidInput(f"{where}: '{name}' must be a single value")
        if types[name] == "date":
            parsed = value if isinstance(value, date) else parse_date(str(value), day_first=True)
            if parsed is None:
                raise InvalidInput(f"{where}: '{name}' is not a date (use YYYY-MM-DD)")
            value = parsed.isoformat()
        elif isinstance(value, str) and len(value) > MAX_VALUE_LENGTH:
            raise InvalidInput(f"{where}: '{name}' is longer than {MAX_VALUE_LENGTH} characters")
        clean[name] = value
    if kind.date_field in types and kind.date_field not in clean:
        raise InvalidInput(f"{where}: a {kind.name} event needs '{kind.date_field}'")
    return clean


def _allocate(session: Session, count: int) -> int:
    """Reserve ``count`` sequence numbers; returns the last. Locks the head row until commit."""
    statement = (
        update(EventFeedHead)
        .where(EventFeedHead.id == 1)
        .values(last_sequence=EventFeedHead.last_sequence + count)
        .returning(EventFeedHead.last_sequence)
    )
    last = session.execute(statement).scalar()
    if last is None:
        insert_if_absent(session, EventFeedHead.__table__, {"id": 1, "last_sequence": 0})
        last = session.execute(statement).scalar()
    return int(last)


def validate(session: Session, hub: Hub, recorder: str, events: Sequence[NewEvent],
             now: datetime) -> list[tuple[EventKind, NewEvent]]:
    """Each event checked whole (kind, dataset, time, fields), before anything is written."""
    if not events:
        raise InvalidInput("there are no events to record")
    _check_recorder(session, hub, recorder)
    datasets: dict[str, Dataset] = {}
    checked = []
    for index, event in enumerate(events):
        where = f"events[{index}]" if len(events) > 1 else "event"
        kind = kind_named(event.kind, where)
        dataset = _dataset_for(session, kind, recorder, datasets)
        if event.registered_at.tzinfo is None:
            raise InvalidInput(f"{where}: registered_at needs a time zone (e.g. 2026-11-22T10:00:00Z)")
        if event.registered_at.year < 1837:  # civil registration began in 1837 (and year 1 cannot move to UTC)
            raise InvalidInput(f"{where}: registered_at is before civil registration began (1837)")
        if event.registered_at > now + CLOCK_SKEW:
            raise InvalidInput(f"{where}: registered_at is in the future")
        nino = normalise_nino(event.subject_nino) if event.subject_nino else None
        payload = _clean_payload(event.data, dataset, kind, where)
        checked.append((kind, NewEvent(event.kind, event.registered_at, payload, nino)))
    return checked


def record_events(session: Session, hub: Hub, recorder: str, officer: str, events: Sequence[NewEvent], *,
                  now: datetime, request_id: str, client_id: str | None = None) -> Recorded:
    """Record events and their outbox rows, decisions and audit entries, in the caller's transaction."""
    checked = validate(session, hub, recorder, events, now)
    last = _allocate(session, len(checked))
    rows = []
    for offset, (kind, event) in enumerate(checked):
        payload = event.data
        rows.append({
            "sequence": last - len(checked) + 1 + offset,
            "id": str(uuid.uuid4()),
            "kind": kind.name,
            "dataset_id": kind.dataset_id,
            "registered_at": event.registered_at,
            "recorded_at": now,
            "recorded_by": recorder,
            "subject_key": subject_key(hub, nino=event.subject_nino, first_name=payload.get("first_name"),
                                       surname=payload.get("surname"), dob=payload.get("date_of_birth")),
            "payload": payload,
            "match_dob": parse_date(payload.get("date_of_birth")) if kind.name == "death" else None,
            "match_postcode": standardise_postcode(payload.get("postcode")) if kind.name == "death" else None,
        })
    session.execute(insert(RegistrationEvent), rows)
    notified = refused = 0
    by_kind: dict[str, list[dict]] = {}
    for row in rows:
        by_kind.setdefault(row["kind"], []).append(row)
    subscriptions = list(session.scalars(
        select(EventSubscription).where(EventSubscription.state == "active").order_by(EventSubscription.id)))
    for kind_name, group in by_kind.items():
        kind = KINDS[kind_name]
        subjects = tuple(dict.fromkeys(row["subject_key"] for row in group if row["subject_key"]))
        append(session, AuditRecord(
            kind="events.record", occurred_at=now, outcome="done", body_id=recorder, actor=officer,
            purpose=str(PURPOSE), action="events.record", dataset_id=kind.dataset_id, subjects=subjects,
            records=len(group), request_id=request_id,
            details={"kind": kind_name, "first_sequence": group[0]["sequence"], "last_sequence": group[-1]["sequence"]},
        ))
        for subscription in subscriptions:
            if kind_name not in subscription.kinds:
                continue
            answer = ask(session, AccessRequest(
                body_id=subscription.body_id, officer=f"subscription {subscription.id}", action=RECEIVE,
                dataset_id=kind.dataset_id, purpose=PURPOSE, fields=tuple(subscription.fields.get(kind_name, ())),
                records=len(group), agreement_id=subscription.agreement_id, subjects=subjects,
            ), now=now)
            recorded = record(session, answer, {"kind": kind_name}, request_id=request_id, client_id=client_id)
            if not recorded.allowed:
                refused += 1
                continue
            notified += 1
            session.execute(insert(EventDelivery), [
                {"event_sequence": row["sequence"], "subscription_id": subscription.id,
                 "decision_id": recorded.decision_id, "fields": list(recorded.decision.permitted_fields),
                 "state": "pending" if subscription.url else "feed", "attempts": 0, "next_attempt_at": now}
                for row in group
            ])
    stored = list(session.scalars(
        select(RegistrationEvent).where(RegistrationEvent.sequence.in_([row["sequence"] for row in rows]))
        .order_by(RegistrationEvent.sequence)))
    return Recorded(stored, notified, refused)


def recorded_view(event: RegistrationEvent) -> dict[str, Any]:
    """What the recorder gets back: the event's identity, not its data again."""
    return {"id": event.id, "sequence": event.sequence, "kind": event.kind,
            "registered_at": event.registered_at.isoformat(), "recorded_at": event.recorded_at.isoformat()}
