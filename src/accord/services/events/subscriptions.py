"""Subscriptions: a body's standing request to receive event kinds, by webhook or pull feed.

A subscription is made under one civil-registration agreement, found (or named) by
asking the decision point whether the body may receive every kind asked for; it
keeps, per kind, the fields it will be sent (at most those the agreement discloses).
Every change (created, paused, resumed, ended, replayed, re-queued) is an
``events.subscription`` audit entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from accord.audit.log import AuditRecord, append
from accord.errors import Conflict, Forbidden, InvalidInput, NotFound
from accord.ids import new_id
from accord.runtime import Hub
from accord.services.access import AccessRequest, Grant, agreements_for, ask
from accord.services.events.addresses import check_webhook_url
from accord.services.events.kinds import PURPOSE, RECEIVE, EventKind, kind_named
from accord.storage.models import Agreement
from accord.storage.tables.events import EventDelivery, EventFeedHead, EventSubscription, RegistrationEvent


def _agreement_for(session: Session, body_id: str, kinds: Sequence[EventKind], named: str | None,
                   now: datetime) -> Agreement:
    """The agreement under which the body may receive every kind asked for (asked of the decision point)."""
    candidates = agreements_for(session, body_id, kinds[0].dataset_id)
    if named is not None:
        candidates = [terms for terms in candidates if terms.id == named]
    reasons: list[str] = []
    for terms in candidates:
        objections = []
        for kind in kinds:
            own = [t for t in agreements_for(session, body_id, kind.dataset_id) if t.id == terms.id]
            if not own:
                objections.append(f"agreement '{terms.id}' does not disclose '{kind.dataset_id}' to {body_id}")
                continue
            answer = ask(session, AccessRequest(body_id, "subscription check", RECEIVE, kind.dataset_id, PURPOSE,
                                                own[0].fields, agreement_id=terms.id), now=now)
            if not isinstance(answer, Grant):
                objections += list(answer.reasons)
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
    url_checked: bool = False,
) -> EventSubscription:
    """``url_checked``: the caller already passed ``url`` through ``check_webhook_url`` (outside the
    transaction, since in production it resolves the name)."""
    wanted = [kind_named(name, "kinds") for name in dict.fromkeys(kinds)]
    if not wanted:
        raise InvalidInput("kinds: name at least one event kind")
    if url is not None and not url_checked:
        url = check_webhook_url(url, production=hub.settings.environment == "production")
    agreement = _agreement_for(session, body_id, wanted, agreement_id, now)
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
            purpose=str(PURPOSE),
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
