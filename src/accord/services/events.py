"""Civil-registration events: record, subscribe, read the feed, manage the outbox.

The registration service (a body whose type the civil-registration gateway lists as a
discloser, e.g. GRO) records births, deaths and marriages for datasets it holds. One
transaction writes, together:

* the events, numbered from the ``event_feed_head`` row (locked until commit, so the
  sequence is also the commit order and a safe cursor);
* an ``events.record`` audit entry naming the people recorded (pseudonymous keys);
* for every active subscription to the kind, a policy decision through
  ``request_access`` (action ``events.receive``, the subscriber as the requesting body,
  the people as subjects): the decision record and its audit entry are the evidence of
  the disclosure, and the permitted fields are what that body will ever be sent;
* one outbox row (``event_deliveries``) per allowed subscription.

So every disclosure of an event to a body is decided and audited once, with the person
as subject, in the transaction that makes the event exist; the webhook attempts and the
pull feed only carry what was decided, minimised by ``minimise`` to the decision's
fields. Re-sending (replay, re-queued dead letters) is logged as an ``events.subscription``
entry (the subjects were named when the disclosure was decided).

Subject keys: ``hub.person_key("nino", ...)`` when the registration names the person's
National Insurance number (so the citizen sees the entry on /citizen); otherwise a key
of the scheme ``registration`` over ``<kind>:<registration_id>``.
"""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import duckdb
import httpx
from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.orm import Session

from accord.audit.log import AuditRecord, append
from accord.errors import Conflict, Forbidden, InvalidInput, NotFound
from accord.framework import Framework
from accord.ids import new_id
from accord.linkage.deterministic import MATCH, verify
from accord.linkage.standardise import parse_date, standardise_postcode, standardise_record
from accord.policy import AccessRequest, decide
from accord.policy.context import SqlPolicyContext
from accord.privacy.pseudonymise import normalise_nino
from accord.registry.agreements import effective_status
from accord.registry.bodies import get_body
from accord.runtime import Hub
from accord.services.access import request_access
from accord.services.holdings import holding_path
from accord.storage.models import Agreement, Dataset
from accord.storage.tables.events import EventDelivery, EventFeedHead, EventSubscription, RegistrationEvent
from accord.storage.upsert import insert_if_absent

GATEWAY = "civil_registration"
RECEIVE = "events.receive"
CLOCK_SKEW = timedelta(minutes=5)
MAX_VALUE_LENGTH = 500


@dataclass(frozen=True)
class EventKind:
    """An event kind, the registered dataset its fields come from, and the date it records."""

    name: str
    dataset_id: str
    date_field: str


KINDS: dict[str, EventKind] = {
    kind.name: kind
    for kind in (
        EventKind("birth", "gro-births", "date_of_birth"),
        EventKind("death", "gro-deaths", "date_of_death"),
        EventKind("marriage", "gro-marriages", "marriage_date"),
    )
}


@dataclass(frozen=True)
class NewEvent:
    kind: str
    registered_at: datetime
    data: dict[str, Any]
    subject_nino: str | None = None  # only its person key is kept


@dataclass(frozen=True)
class Recorded:
    events: list[RegistrationEvent]
    notified: int  # subscriptions that were allowed to receive the events
    refused: int  # subscriptions the policy refused (recorded as denials)


# ------------------------------------------------------------------ recording


def _kind(name: str, where: str) -> EventKind:
    kind = KINDS.get(name)
    if kind is None:
        raise InvalidInput(f"{where}: '{name}' is not an event kind (one of {', '.join(KINDS)})")
    return kind


def _check_recorder(session: Session, framework: Framework, body_id: str) -> None:
    body = get_body(session, body_id)
    gateway = framework.gateway(GATEWAY)
    disclosers = gateway.disclosers if gateway is not None else ()
    if body.body_type not in disclosers:
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


def _subject_key(hub: Hub, event: NewEvent, payload: dict[str, Any], event_id: str) -> str:
    if event.subject_nino:
        return hub.person_key("nino", event.subject_nino)
    reference = payload.get("registration_id") or payload.get("marriage_registration")
    if reference:
        return hub.person_key("registration", f"{event.kind}:{reference}")
    return hub.person_key("registration", f"event:{event_id}")


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


def _active_subscriptions(session: Session) -> list[EventSubscription]:
    return list(
        session.scalars(
            select(EventSubscription).where(EventSubscription.state == "active").order_by(EventSubscription.id)
        )
    )


def record_events(
    session: Session,
    hub: Hub,
    recorder: str,
    officer: str,
    events: Sequence[NewEvent],
    *,
    now: datetime,
    request_id: str,
    client_id: str | None = None,
) -> Recorded:
    """Record events and their outbox rows, decisions and audit entries, in the caller's transaction."""
    if not events:
        raise InvalidInput("there are no events to record")
    _check_recorder(session, hub.framework, recorder)
    datasets: dict[str, Dataset] = {}
    prepared = []
    for index, event in enumerate(events):
        where = f"events[{index}]" if len(events) > 1 else "event"
        kind = _kind(event.kind, where)
        dataset = _dataset_for(session, kind, recorder, datasets)
        if event.registered_at.tzinfo is None:
            raise InvalidInput(f"{where}: registered_at needs a time zone (e.g. 2026-11-22T10:00:00Z)")
        if event.registered_at.year < 1837:  # civil registration began in 1837 (and year 1 cannot move to UTC)
            raise InvalidInput(f"{where}: registered_at is before civil registration began (1837)")
        if event.registered_at > now + CLOCK_SKEW:
            raise InvalidInput(f"{where}: registered_at is in the future")
        nino = normalise_nino(event.subject_nino) if event.subject_nino else None
        payload = _clean_payload(event.data, dataset, kind, where)
        prepared.append((kind, NewEvent(event.kind, event.registered_at, payload, nino), payload))

    last = _allocate(session, len(prepared))
    rows = []
    for offset, (kind, event, payload) in enumerate(prepared):
        event_id = str(uuid.uuid4())
        dob = parse_date(payload.get("date_of_birth")) if kind.name == "death" else None
        rows.append(
            {
                "sequence": last - len(prepared) + 1 + offset,
                "id": event_id,
                "kind": kind.name,
                "dataset_id": kind.dataset_id,
                "registered_at": event.registered_at,
                "recorded_at": now,
                "recorded_by": recorder,
                "subject_key": _subject_key(hub, event, payload, event_id),
                "payload": payload,
                "match_dob": dob,
                "match_postcode": standardise_postcode(payload.get("postcode")) if kind.name == "death" else None,
            }
        )
    session.execute(insert(RegistrationEvent), rows)

    by_kind: dict[str, list[dict]] = {}
    for row in rows:
        by_kind.setdefault(row["kind"], []).append(row)
    subscriptions = _active_subscriptions(session)
    notified = refused = 0
    for kind_name, group in by_kind.items():
        kind = KINDS[kind_name]
        subjects = tuple(row["subject_key"] for row in group)
        append(
            session,
            AuditRecord(
                kind="events.record",
                occurred_at=now,
                outcome="done",
                body_id=recorder,
                actor=officer,
                purpose=GATEWAY,
                action="events.record",
                dataset_id=kind.dataset_id,
                subjects=subjects,
                records=len(group),
                request_id=request_id,
                details={"kind": kind_name, "first_sequence": group[0]["sequence"], "last_sequence": group[-1]["sequence"]},
            ),
        )
        for subscription in subscriptions:
            if kind_name not in subscription.kinds:
                continue
            decision, record = request_access(
                session,
                hub.framework,
                AccessRequest(
                    body_id=subscription.body_id,
                    officer=f"subscription {subscription.id}",
                    action=RECEIVE,
                    dataset_id=kind.dataset_id,
                    purpose=GATEWAY,
                    fields=tuple(subscription.fields.get(kind_name, ())),
                    records=len(group),
                    agreement_id=subscription.agreement_id,
                    subjects=subjects,
                ),
                now=now,
                request_id=request_id,
                client_id=client_id,
            )
            if not decision.allowed:
                refused += 1
                continue
            notified += 1
            state = "pending" if subscription.url else "feed"
            session.execute(
                insert(EventDelivery),
                [
                    {
                        "event_sequence": row["sequence"],
                        "subscription_id": subscription.id,
                        "decision_id": record.id,
                        "fields": list(decision.permitted_fields),
                        "state": state,
                        "attempts": 0,
                        "next_attempt_at": now,
                    }
                    for row in group
                ],
            )
    stored = list(
        session.scalars(
            select(RegistrationEvent)
            .where(RegistrationEvent.sequence.in_([row["sequence"] for row in rows]))
            .order_by(RegistrationEvent.sequence)
        )
    )
    return Recorded(stored, notified, refused)


# ------------------------------------------------------------------ the event as a body sees it


def minimise(event: RegistrationEvent, fields: Iterable[str]) -> dict[str, Any]:
    """The one redaction function for events leaving the hub: only the decided fields.

    ``event`` is a RegistrationEvent or a row with the same columns (the dispatcher's).
    """
    allowed = set(fields)
    return {
        "id": event.id,
        "sequence": event.sequence,
        "kind": event.kind,
        "registered_at": event.registered_at.isoformat(),
        "recorded_at": event.recorded_at.isoformat(),
        "recorded_by": event.recorded_by,
        "data": {name: value for name, value in event.payload.items() if name in allowed},
    }


def recorded_view(event: RegistrationEvent) -> dict[str, Any]:
    """What the recorder gets back: the event's identity, not its data again."""
    return {
        "id": event.id,
        "sequence": event.sequence,
        "kind": event.kind,
        "registered_at": event.registered_at.isoformat(),
        "recorded_at": event.recorded_at.isoformat(),
    }


# ------------------------------------------------------------------ subscriptions


def _agreement_for(
    session: Session, framework: Framework, body_id: str, kinds: Sequence[EventKind], named: str | None, now: datetime
) -> Agreement:
    """The agreement under which the body may receive every kind asked for (decided by the policy)."""
    context = SqlPolicyContext(session, framework)
    candidates = context.candidate_agreements(body_id, kinds[0].dataset_id)
    if named is not None:
        candidates = [terms for terms in candidates if terms.id == named]
    reasons: list[str] = []
    for terms in candidates:
        objections = []
        for kind in kinds:
            own = [t for t in context.candidate_agreements(body_id, kind.dataset_id) if t.id == terms.id]
            if not own:
                objections.append(f"agreement '{terms.id}' does not disclose '{kind.dataset_id}' to {body_id}")
                continue
            decision = decide(
                context,
                AccessRequest(body_id, "subscription check", RECEIVE, kind.dataset_id, GATEWAY, own[0].fields,
                              agreement_id=terms.id),
                now,
            )
            if not decision.allowed:
                objections += list(decision.reasons)
        if not objections:
            agreement = session.get(Agreement, terms.id)
            assert agreement is not None
            return agreement
        reasons += objections
    if not reasons:
        what = f"agreement '{named}'" if named else "no active civil registration agreement"
        reasons = [f"{what} names {body_id} as a recipient of '{kinds[0].dataset_id}'"
                   if not named else f"{what} does not name {body_id} as a recipient of '{kinds[0].dataset_id}'"]
    raise Forbidden(f"{body_id} may not receive {', '.join(k.name for k in kinds)} events", reasons)


def _disclosed(agreement: Agreement, dataset_id: str) -> list[str]:
    return [f.field_name for f in agreement.data if f.dataset_id == dataset_id]


def check_webhook_url(url: str, *, production: bool) -> str:
    """http(s) with a host and no credentials; in production https to a public address only."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise InvalidInput("url is not a valid URL") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise InvalidInput("url must be an http or https URL with a host")
    if parsed.userinfo:
        raise InvalidInput("url must not contain a user name or password")
    if production:
        if parsed.scheme != "https":
            raise InvalidInput("url must use https in production")
        try:
            address = ipaddress.ip_address(parsed.host)
        except ValueError:
            address = None  # a name: resolved when called (see docs/events.md)
        if address is not None and not address.is_global:
            raise InvalidInput("url must not point at a loopback, private or link-local address in production")
        if parsed.host == "localhost" or parsed.host.endswith(".localhost"):
            raise InvalidInput("url must not point at this machine in production")
    return str(parsed)


def create_subscription(
    session: Session,
    hub: Hub,
    body_id: str,
    officer: str,
    *,
    kinds: Sequence[str],
    url: str | None,
    agreement_id: str | None,
    fields: Sequence[str] | None,
    now: datetime,
    request_id: str,
) -> EventSubscription:
    wanted = [_kind(name, "kinds") for name in dict.fromkeys(kinds)]
    if not wanted:
        raise InvalidInput("kinds: name at least one event kind")
    if url is not None:
        url = check_webhook_url(url, production=hub.settings.environment == "production")
    agreement = _agreement_for(session, hub.framework, body_id, wanted, agreement_id, now)
    if fields is not None:
        everything = {f for kind in wanted for f in _disclosed(agreement, kind.dataset_id)}
        extra = [f for f in fields if f not in everything]
        if extra:
            raise InvalidInput(f"fields: not disclosed under '{agreement.id}': {', '.join(extra)}")
    per_kind: dict[str, list[str]] = {}
    for kind in wanted:
        disclosed = _disclosed(agreement, kind.dataset_id)
        per_kind[kind.name] = [f for f in disclosed if fields is None or f in fields]
        if not per_kind[kind.name]:
            raise InvalidInput(
                f"fields: none of the fields asked for is disclosed for {kind.name} events "
                f"under '{agreement.id}' ({', '.join(disclosed)})"
            )
    subscription = EventSubscription(
        id=new_id("sub"),
        body_id=body_id,
        agreement_id=agreement.id,
        kinds=[k.name for k in wanted],
        fields=per_kind,
        url=url,
        secret_version=1,
        state="active",
        feed_cursor=_last_sequence(session),
        created_by=officer,
        created_at=now,
    )
    session.add(subscription)
    _audit_change(session, subscription, officer, "created", now, request_id)
    session.flush()
    return subscription


def _last_sequence(session: Session) -> int:
    head = session.get(EventFeedHead, 1)
    return head.last_sequence if head is not None else 0


def _audit_change(
    session: Session, subscription: EventSubscription, actor: str, change: str, now: datetime, request_id: str,
    **details: Any,
) -> None:
    append(
        session,
        AuditRecord(
            kind="events.subscription",
            occurred_at=now,
            outcome="done",
            body_id=subscription.body_id,
            actor=actor,
            purpose=GATEWAY,
            agreement_id=subscription.agreement_id,
            action=RECEIVE,
            request_id=request_id,
            details={"subscription": subscription.id, "change": change, "kinds": list(subscription.kinds),
                     "webhook": subscription.url is not None, **details},
        ),
    )


def get_subscription(session: Session, subscription_id: str, body_id: str | None) -> EventSubscription:
    """A subscription of ``body_id`` (None: any, for the hub operator); another body's looks absent."""
    subscription = session.get(EventSubscription, subscription_id)
    if subscription is None or (body_id is not None and subscription.body_id != body_id):
        raise NotFound(f"no subscription '{subscription_id}'")
    return subscription


def list_subscriptions(session: Session, body_id: str | None, *, include_ended: bool = False) -> list[EventSubscription]:
    query = select(EventSubscription).order_by(EventSubscription.created_at, EventSubscription.id)
    if body_id is not None:
        query = query.where(EventSubscription.body_id == body_id)
    if not include_ended:
        query = query.where(EventSubscription.state != "ended")
    return list(session.scalars(query))


def set_state(
    session: Session, subscription: EventSubscription, state: str, actor: str, now: datetime, request_id: str
) -> EventSubscription:
    if state not in ("active", "paused"):
        raise InvalidInput(f"state must be active or paused, not '{state}'")
    if subscription.state == "ended":
        raise Conflict(f"subscription '{subscription.id}' has ended")
    if subscription.state != state:
        subscription.state = state
        _audit_change(session, subscription, actor, state, now, request_id)
        if state == "active":  # what waited while paused is due now, not after its old back-off
            session.execute(
                update(EventDelivery)
                .where(EventDelivery.subscription_id == subscription.id, EventDelivery.state == "pending")
                .values(next_attempt_at=now)
                .execution_options(synchronize_session=False)
            )
    session.flush()
    return subscription


def end_subscription(
    session: Session, subscription: EventSubscription, actor: str, now: datetime, request_id: str
) -> EventSubscription:
    if subscription.state == "ended":
        return subscription
    subscription.state = "ended"
    subscription.ended_at = now
    session.execute(
        update(EventDelivery)
        .where(EventDelivery.subscription_id == subscription.id, EventDelivery.state.in_(("pending", "dead")))
        .values(state="cancelled", claim_token=None, last_error="the subscription ended")
        .execution_options(synchronize_session=False)
    )
    _audit_change(session, subscription, actor, "ended", now, request_id)
    session.flush()
    return subscription


def _requeue(session: Session, subscription: EventSubscription, where: list, now: datetime) -> int:
    if subscription.state == "ended":
        raise Conflict(f"subscription '{subscription.id}' has ended; nothing can be sent to it")
    if subscription.url is None:
        raise Conflict(f"subscription '{subscription.id}' has no webhook; read the pull feed with an earlier cursor")
    result = session.execute(
        update(EventDelivery)
        .where(EventDelivery.subscription_id == subscription.id, *where)
        .values(state="pending", attempts=0, next_attempt_at=now, claim_token=None)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)


def replay(
    session: Session, subscription: EventSubscription, after: int, actor: str, now: datetime, request_id: str
) -> int:
    """Send again every event after ``after`` that was decided for this subscription."""
    if after < 0:
        raise InvalidInput("from must be a cursor (0 or more)")
    count = _requeue(
        session, subscription,
        [EventDelivery.event_sequence > after, EventDelivery.state.in_(("delivered", "dead", "pending"))], now,
    )
    _audit_change(session, subscription, actor, "replay", now, request_id, after=after, requeued=count)
    return count


def requeue_dead(
    session: Session, subscription: EventSubscription, actor: str, now: datetime, request_id: str,
    event_ids: Sequence[str] | None = None,
) -> int:
    where = [EventDelivery.state == "dead"]
    if event_ids:
        sequences = select(RegistrationEvent.sequence).where(RegistrationEvent.id.in_(list(event_ids)))
        where.append(EventDelivery.event_sequence.in_(sequences))
    count = _requeue(session, subscription, where, now)
    _audit_change(session, subscription, actor, "requeue", now, request_id, requeued=count)
    return count


def dead_letters(session: Session, subscription: EventSubscription, limit: int = 100) -> list[dict]:
    rows = session.execute(
        select(EventDelivery, RegistrationEvent.id, RegistrationEvent.kind)
        .join(RegistrationEvent, RegistrationEvent.sequence == EventDelivery.event_sequence)
        .where(EventDelivery.subscription_id == subscription.id, EventDelivery.state == "dead")
        .order_by(EventDelivery.event_sequence)
        .limit(limit)
    ).all()
    return [
        {
            "event_id": event_id,
            "sequence": delivery.event_sequence,
            "kind": kind,
            "attempts": delivery.attempts,
            "last_attempt_at": delivery.last_attempt_at.isoformat() if delivery.last_attempt_at else None,
            "last_status": delivery.last_status,
            "last_error": delivery.last_error,
        }
        for delivery, event_id, kind in rows
    ]


def health(session: Session, subscription: EventSubscription) -> dict[str, Any]:
    """Delivery counts by state, the last delivery and the last failure: enough to see trouble."""
    counts = dict(
        session.execute(
            select(EventDelivery.state, func.count())
            .where(EventDelivery.subscription_id == subscription.id)
            .group_by(EventDelivery.state)
        ).all()
    )
    last_delivered = session.scalar(
        select(func.max(EventDelivery.delivered_at)).where(EventDelivery.subscription_id == subscription.id)
    )
    failure = session.execute(
        select(EventDelivery.last_attempt_at, EventDelivery.last_status, EventDelivery.last_error)
        .where(EventDelivery.subscription_id == subscription.id, EventDelivery.last_error.is_not(None),
               EventDelivery.state.in_(("pending", "dead")))
        .order_by(EventDelivery.last_attempt_at.desc())
        .limit(1)
    ).first()
    return {
        "pending": counts.get("pending", 0),
        "delivered": counts.get("delivered", 0),
        "dead": counts.get("dead", 0),
        "cancelled": counts.get("cancelled", 0),
        "feed": counts.get("feed", 0),
        "last_delivered_at": last_delivered.isoformat() if last_delivered else None,
        "last_failure": None if failure is None else {
            "at": failure[0].isoformat() if failure[0] else None, "status": failure[1], "error": failure[2],
        },
    }


def subscription_view(session: Session, subscription: EventSubscription, *, with_health: bool = True) -> dict:
    view = {
        "id": subscription.id,
        "body": subscription.body_id,
        "agreement": subscription.agreement_id,
        "kinds": list(subscription.kinds),
        "fields": dict(subscription.fields),
        "url": subscription.url,
        "state": subscription.state,
        "feed_cursor": subscription.feed_cursor,
        "created_at": subscription.created_at.isoformat(),
        "created_by": subscription.created_by,
        "ended_at": subscription.ended_at.isoformat() if subscription.ended_at else None,
    }
    if with_health:
        view["deliveries"] = health(session, subscription)
    return view


# ------------------------------------------------------------------ keeping events no longer than needed


def purge_events(session: Session, before: datetime, actor: str, now: datetime, request_id: str) -> int:
    """Delete events recorded before ``before`` that no webhook still has to send.

    The hub keeps an event only to deliver it, to serve the pull feed and replays, and to
    answer deceased checks; the recipients keep their copies under their agreements'
    retention. Events with a pending or dead-lettered delivery are kept (they are owed).
    """
    if before > now:
        raise InvalidInput("the cut-off must not be in the future")
    owed = select(EventDelivery.event_sequence).where(EventDelivery.state.in_(("pending", "dead")))
    doomed = list(session.scalars(
        select(RegistrationEvent.sequence).where(RegistrationEvent.recorded_at < before,
                                                 RegistrationEvent.sequence.not_in(owed))
    ))
    for start in range(0, len(doomed), 5000):
        chunk = doomed[start:start + 5000]
        session.execute(EventDelivery.__table__.delete().where(EventDelivery.__table__.c.event_sequence.in_(chunk)))
        session.execute(RegistrationEvent.__table__.delete().where(RegistrationEvent.__table__.c.sequence.in_(chunk)))
    append(session, AuditRecord(kind="events.purge", occurred_at=now, outcome="done", actor=actor, purpose=GATEWAY,
                                records=len(doomed), request_id=request_id,
                                details={"recorded_before": before.isoformat(), "deleted": len(doomed)}))
    return len(doomed)


# ------------------------------------------------------------------ pull feed


def live_agreements(session: Session, agreement_ids: Iterable[str], today: date) -> set[str]:
    """Of these agreements, those active today: only they let events leave the hub."""
    ids = set(agreement_ids)
    if not ids:
        return set()
    agreements = session.scalars(select(Agreement).where(Agreement.id.in_(ids)))
    return {a.id for a in agreements if effective_status(a, today) == "active" and a.start_date <= today}


def feed(
    session: Session,
    body_id: str,
    *,
    after: int | None,
    limit: int,
    subscription_id: str | None,
    now: datetime,
    acknowledge: bool = True,
) -> dict[str, Any]:
    """Events decided for the body's subscriptions, after a cursor, oldest first, minimised.

    Passing ``after`` acknowledges everything up to it (the stored cursor only moves
    forward; ``acknowledge=False`` for an operator's look that must not move it);
    without it the feed continues from the cursor last acknowledged.
    """
    if not 1 <= limit <= 1000:
        raise InvalidInput("limit must be between 1 and 1000")
    if after is not None and after < 0:
        raise InvalidInput("after must be a cursor (0 or more)")
    if subscription_id is not None:
        subscriptions = [get_subscription(session, subscription_id, body_id)]
        if subscriptions[0].state == "ended":
            raise Conflict(f"subscription '{subscription_id}' has ended")
    else:
        subscriptions = list_subscriptions(session, body_id)
    if not subscriptions:
        return {"events": [], "next": after or 0, "more": False}
    if after is None:
        after = min(s.feed_cursor for s in subscriptions)
    elif acknowledge:
        session.execute(
            update(EventSubscription)
            .where(EventSubscription.id.in_([s.id for s in subscriptions]), EventSubscription.feed_cursor < after)
            .values(feed_cursor=after)
            .execution_options(synchronize_session=False)
        )
    live = live_agreements(session, {s.agreement_id for s in subscriptions}, now.astimezone(UTC).date())
    readable = [s.id for s in subscriptions if s.agreement_id in live]
    if not readable:
        return {"events": [], "next": after, "more": False}
    # The next page of each subscription (an index range scan each), merged: never a sort
    # of everything after the cursor.
    found: set[int] = set()
    for subscription_id in readable:
        found.update(session.scalars(
            select(EventDelivery.event_sequence)
            .where(EventDelivery.subscription_id == subscription_id, EventDelivery.event_sequence > after,
                   EventDelivery.state != "cancelled")
            .order_by(EventDelivery.event_sequence)
            .limit(limit + 1)
        ))
    sequences = sorted(found)[:limit + 1]
    more = len(sequences) > limit
    sequences = sequences[:limit]
    if not sequences:
        return {"events": [], "next": after, "more": False}
    fields: dict[int, list[str]] = {}
    for sequence, allowed in session.execute(
        select(EventDelivery.event_sequence, EventDelivery.fields).where(
            EventDelivery.subscription_id.in_(readable), EventDelivery.event_sequence.in_(sequences),
            EventDelivery.state != "cancelled",
        )
    ):
        fields.setdefault(sequence, []).extend(allowed)
    events = session.scalars(
        select(RegistrationEvent).where(RegistrationEvent.sequence.in_(sequences)).order_by(RegistrationEvent.sequence)
    )
    return {
        "events": [minimise(event, fields[event.sequence]) for event in events],
        "next": sequences[-1],
        "more": more,
    }


# ------------------------------------------------------------------ deceased check
#
# A body learns only whether a person is recorded as dead: {"deceased": true|false}.
# The person's details are compared, with the deterministic cascade
# (accord.linkage.deterministic), with the death events recorded here and with GRO's
# deaths holding when one is loaded. Only the grade "match" (one of the cascade's
# rules fired) says deceased; "partial" (some identifiers agree, e.g. the same date of
# birth and surname but another given name) and "no match" both say false, because a
# wrong "deceased" stops someone's letters and payments. False therefore means "not
# recorded as deceased on these details", never "alive".

DECEASED_CHECK = "deceased.check"
# The flag is derived from date_of_death, so the agreement must disclose it; the date
# itself is never returned.
DECEASED_FIELDS = ("date_of_death",)


@dataclass(frozen=True)
class PersonDetails:
    first_name: str
    surname: str
    date_of_birth: date
    postcode: str | None = None
    nino: str | None = None
    middle_name: str | None = None


def _standard(person: PersonDetails) -> dict[str, Any]:
    record = {
        "first_name": person.first_name, "middle_name": person.middle_name, "surname": person.surname,
        "dob": person.date_of_birth, "postcode": person.postcode, "nino": person.nino,
    }
    return standardise_record({k: v for k, v in record.items() if v is not None})


def check_subject(hub: Hub, person: PersonDetails) -> str:
    """The audit subject of a check: the NINO's person key, else a key over name and date of birth."""
    if person.nino:
        return hub.person_key("nino", person.nino)
    std = _standard(person)
    return hub.person_key("person", f"{std.get('first_name')}|{std.get('surname')}|{person.date_of_birth}")


def deceased_request(hub: Hub, body_id: str, officer: str, person: PersonDetails) -> AccessRequest:
    return AccessRequest(
        body_id=body_id,
        officer=officer,
        action=DECEASED_CHECK,
        dataset_id=KINDS["death"].dataset_id,
        purpose=GATEWAY,
        fields=DECEASED_FIELDS,
        records=1,
        subjects=(check_subject(hub, person),),
    )


def _event_candidates(session: Session, applicant: dict[str, Any]) -> list[dict[str, Any]]:
    dob = applicant.get("dob")
    keys = []
    if dob is not None:
        keys.append(RegistrationEvent.match_dob == dob)
        if dob.day <= 12 and dob.day != dob.month:
            keys.append(RegistrationEvent.match_dob == dob.replace(month=dob.day, day=dob.month))
    if applicant.get("postcode"):
        keys.append(RegistrationEvent.match_postcode == applicant["postcode"])
    if not keys:
        return []
    rows = session.scalars(select(RegistrationEvent).where(RegistrationEvent.kind == "death", or_(*keys)).limit(500))
    return [_candidate(event.payload, f"event:{event.id}") for event in rows]


def _candidate(payload: dict[str, Any], ident: str) -> dict[str, Any]:
    names = {"first_name": "first_name", "middle_name": "middle_name", "surname": "surname",
             "dob": "date_of_birth", "postcode": "postcode", "nino": "nino"}
    record = {std: payload.get(column) for std, column in names.items() if payload.get(column) not in (None, "")}
    try:
        std = standardise_record(record)
    except InvalidInput:  # an unreadable date in a source row: compare without it
        record.pop("dob", None)
        std = standardise_record(record)
    std["id"] = ident
    return std


def _holding_candidates(hub: Hub, applicant: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows of GRO's deaths holding sharing the date of birth (or its transposition) or postcode."""
    try:
        path = holding_path(hub, KINDS["death"].dataset_id)
    except NotFound:
        return []
    connection = duckdb.connect()
    try:
        columns = {row[0] for row in connection.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(path)]).fetchall()}
        conditions, parameters = [], [str(path)]
        dob = applicant.get("dob")
        if dob is not None and "date_of_birth" in columns:
            days = [dob] + ([dob.replace(month=dob.day, day=dob.month)] if dob.day <= 12 and dob.day != dob.month else [])
            conditions.append("TRY_CAST(date_of_birth AS DATE) IN (" + ", ".join("?" for _ in days) + ")")
            parameters += days
        if applicant.get("postcode") and "postcode" in columns:
            conditions.append("replace(upper(CAST(postcode AS VARCHAR)), ' ', '') = ?")
            parameters.append(applicant["postcode"].replace(" ", ""))
        if applicant.get("nino") and "nino" in columns:
            conditions.append("replace(upper(CAST(nino AS VARCHAR)), ' ', '') = ?")
            parameters.append(applicant["nino"])
        if not conditions:
            return []
        cursor = connection.execute(
            f"SELECT * FROM read_parquet(?) WHERE {' OR '.join(conditions)} LIMIT 500", parameters
        )
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
    except duckdb.Error:
        return []  # an unreadable holding is no evidence of death
    finally:
        connection.close()
    return [_candidate(row, f"holding:{index}") for index, row in enumerate(rows)]


def recorded_as_dead(session: Session, hub: Hub, person: PersonDetails) -> bool:
    """True only when the cascade grades some death record a "match" for these details."""
    applicant = _standard(person)
    candidates = _event_candidates(session, applicant) + _holding_candidates(hub, applicant)
    return verify(applicant, candidates).grade == MATCH
