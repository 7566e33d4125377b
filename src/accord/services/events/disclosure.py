"""What leaves the hub about an event: the decided fields only, by webhook or by the pull feed.

``minimise`` is the one redaction function for events at the trust boundary: an event
goes to a body with exactly the fields the decision recorded for its delivery. The pull
feed serves a body the events decided for its subscriptions, after a cursor, while the
agreement they were decided under is still in force.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from accord.errors import Conflict, InvalidInput
from accord.registry.agreements import not_in_force
from accord.services.events.subscriptions import get_subscription, list_subscriptions
from accord.storage.models import Agreement
from accord.storage.tables.events import EventDelivery, EventSubscription, RegistrationEvent


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


def live_agreements(session: Session, agreement_ids: Iterable[str], today: date) -> set[str]:
    """Of these agreements, those in force today: only they let events leave the hub."""
    ids = set(agreement_ids)
    if not ids:
        return set()
    agreements = session.scalars(select(Agreement).where(Agreement.id.in_(ids)))
    return {a.id for a in agreements if not_in_force(a, today) is None}


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
