"""Civil-registration events' entry points, the same for the API and the command line.

Every write goes through the unit of work (``services.unit_of_work``): an
idempotency key replays the first answer, and the write commits with its audit
entries under group commit. Reads (the feed, subscriptions and their health)
open a transaction of their own. The hub operator (``Actor.is_admin``) may see
and manage any body's subscriptions; a body only its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from accord.clock import utcnow
from accord.runtime import Hub
from accord.services.events import subscriptions as subs
from accord.services.events.disclosure import feed as read_feed
from accord.services.events.recording import NewEvent, record_events, recorded_view
from accord.services.events.retention import purge_events
from accord.services.events.signing import signing_secret
from accord.services.unit_of_work import Actor, Reply, run


def _owner(actor: Actor) -> str | None:
    """The body whose subscriptions the actor sees: its own, or any for the hub operator."""
    return None if actor.is_admin else actor.body_id


def record(hub: Hub, actor: Actor, events: Sequence[NewEvent], *, key: str | None = None) -> Reply:
    """Record events (the registration service only): 201 with each event's identity, never its data again."""

    def write(session: Session, _: None) -> tuple[int, dict]:
        recorded = record_events(session, hub, actor.body_id, actor.officer, events, now=utcnow(),
                                 request_id=actor.request_id, client_id=actor.client_id)
        return 201, {"events": [recorded_view(e) for e in recorded.events],
                     "subscriptions_notified": recorded.notified, "subscriptions_refused": recorded.refused}

    payload = {"officer": actor.officer, "events": [[e.kind, e.registered_at.isoformat(), e.data, e.subject_nino]
                                                    for e in events]}
    return run(hub, actor, operation="events.record", payload=payload, key=key, write=write)


@dataclass(frozen=True)
class SubscriptionSpec:
    kinds: tuple[str, ...]
    url: str | None = None
    agreement_id: str | None = None
    fields: tuple[str, ...] | None = None


def subscribe(hub: Hub, actor: Actor, spec: SubscriptionSpec, *, key: str | None = None) -> Reply:
    """Subscribe the actor's body (201); a webhook's signing secret is shown in this answer only."""

    def checked_url() -> str | None:  # before the transaction: in production it resolves the name
        if spec.url is None:
            return None
        return subs.check_webhook_url(spec.url, production=hub.settings.environment == "production")

    def write(session: Session, url: str | None) -> tuple[int, dict]:
        subscription = subs.create_subscription(
            session, hub, actor.body_id, actor.officer, kinds=spec.kinds, url=url, url_checked=True,
            agreement_id=spec.agreement_id, fields=spec.fields, now=utcnow(), request_id=actor.request_id)
        view = subs.subscription_view(session, subscription, with_health=False)
        if subscription.url:
            view["signing_secret"] = signing_secret(hub.settings.secret_key.get_secret_value(), subscription.id,
                                                    subscription.secret_version)
            view["note"] = "Verify each webhook's Accord-Signature with this secret; it is shown once."
        return 201, view

    def without_secret(view: dict) -> dict:
        if "signing_secret" not in view:
            return view
        return {**view, "signing_secret": None,
                "note": "This subscription was created by an earlier request with the same Idempotency-Key; "
                        "its signing secret was shown then and is not repeated."}

    payload = {"officer": actor.officer, "kinds": list(spec.kinds), "url": spec.url, "agreement": spec.agreement_id,
               "fields": list(spec.fields) if spec.fields is not None else None}
    return run(hub, actor, operation="events.subscribe", payload=payload, key=key, write=write, redact=without_secret,
               prepare=checked_url)


def change(hub: Hub, actor: Actor, subscription_id: str, state: str, *, key: str | None = None) -> Reply:
    """Pause or resume the actor's own subscription."""

    def write(session: Session, _: None) -> tuple[int, dict]:
        subscription = subs.get_subscription(session, subscription_id, actor.body_id)
        subs.set_state(session, subscription, state, actor.officer, utcnow(), actor.request_id)
        return 200, subs.subscription_view(session, subscription)

    return run(hub, actor, operation=f"events.change:{subscription_id}", payload={"state": state, "officer": actor.officer},
               key=key, write=write)


def end(hub: Hub, actor: Actor, subscription_id: str, *, key: str | None = None) -> Reply:
    """End a subscription (the body's own, or any for the operator); undelivered events are cancelled."""

    def write(session: Session, _: None) -> tuple[int, dict]:
        subscription = subs.get_subscription(session, subscription_id, _owner(actor))
        subs.end_subscription(session, subscription, actor.officer, utcnow(), actor.request_id)
        return 200, subs.subscription_view(session, subscription)

    return run(hub, actor, operation=f"events.end:{subscription_id}", payload={"officer": actor.officer}, key=key,
               write=write)


def replay(hub: Hub, actor: Actor, subscription_id: str, after: int, *, key: str | None = None) -> Reply:
    """Send again every event after ``after`` decided for the subscription."""

    def write(session: Session, _: None) -> tuple[int, dict]:
        subscription = subs.get_subscription(session, subscription_id, _owner(actor))
        count = subs.replay(session, subscription, after, actor.officer, utcnow(), actor.request_id)
        return 200, {"subscription": subscription.id, "from": after, "requeued": count}

    return run(hub, actor, operation=f"events.replay:{subscription_id}",
               payload={"from": after, "officer": actor.officer}, key=key, write=write)


def requeue(hub: Hub, actor: Actor, subscription_id: str, event_ids: Sequence[str] | None = None, *,
            key: str | None = None) -> Reply:
    """Send dead letters again: all of them, or the events named."""

    def write(session: Session, _: None) -> tuple[int, dict]:
        subscription = subs.get_subscription(session, subscription_id, _owner(actor))
        count = subs.requeue_dead(session, subscription, actor.officer, utcnow(), actor.request_id, event_ids)
        return 200, {"subscription": subscription.id, "requeued": count}

    chosen = list(event_ids) if event_ids is not None else None
    return run(hub, actor, operation=f"events.requeue:{subscription_id}",
               payload={"events": chosen, "officer": actor.officer}, key=key, write=write)


def feed(hub: Hub, actor: Actor, *, after: int | None, limit: int, subscription_id: str | None,
         acknowledge: bool = True) -> dict:
    """The pull feed of the actor's body (see ``disclosure.feed``)."""
    with hub.transaction() as session:
        return read_feed(session, actor.body_id, after=after, limit=limit, subscription_id=subscription_id,
                                now=utcnow(), acknowledge=acknowledge)


def subscription_views(hub: Hub, actor: Actor, *, include_ended: bool = False) -> list[dict]:
    with hub.transaction() as session:
        return [subs.subscription_view(session, s)
                for s in subs.list_subscriptions(session, _owner(actor), include_ended=include_ended)]


def subscription_detail(hub: Hub, actor: Actor, subscription_id: str) -> dict:
    with hub.transaction() as session:
        return subs.subscription_view(session, subs.get_subscription(session, subscription_id, _owner(actor)))


def dead_letters(hub: Hub, actor: Actor, subscription_id: str, limit: int = 100) -> dict:
    with hub.transaction() as session:
        found = subs.get_subscription(session, subscription_id, _owner(actor))
        return {"subscription": found.id, "dead_letters": subs.dead_letters(session, found, limit)}


def purge(hub: Hub, actor: Actor, before: datetime) -> Reply:
    """Delete events recorded before ``before`` that no webhook still owes (the hub operator's task)."""

    def write(session: Session, _: None) -> tuple[int, dict]:
        now = utcnow()
        return 200, {"deleted": purge_events(session, before, actor.officer, now, actor.request_id)}

    return run(hub, actor, operation="events.purge", payload=None, key=None, write=write)
