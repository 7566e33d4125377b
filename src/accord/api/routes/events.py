"""Civil-registration events: recording, subscriptions, signed webhooks and the pull feed.

A face only: who may record, what a body may receive and how it is minimised are decided
in accord.services.events (through the governed path); these routes parse, authenticate
and shape responses. See docs/events.md.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from accord.api.deps import ActorDep, HubDep, IdempotencyKeyDep, ReaderDep
from accord.api.replies import respond
from accord.services import events

router = APIRouter(prefix="/v1", tags=["events"])

Kind = Literal["birth", "death", "marriage"]
FieldName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$")]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Value = Annotated[str, StringConstraints(max_length=500)] | int | float | bool | None
SubscriptionId = Annotated[str, Path(max_length=64, description="A subscription id (sub-...)")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Subject(Strict):
    nino: Annotated[str, StringConstraints(min_length=9, max_length=13)] = Field(
        description="The person's National Insurance number, if the registration knows it: only its "
        "pseudonymous key is kept, so the person sees the event on 'who used my data'."
    )


class EventIn(Strict):
    kind: Kind
    registered_at: AwareDatetime = Field(description="When the registration was made, with a time zone")
    data: Annotated[dict[FieldName, Value], Field(min_length=1, max_length=100)] = Field(
        description="Registered fields of the kind's dataset (gro-births, gro-deaths, gro-marriages) only"
    )
    subject: Subject | None = None


class SubscriptionIn(Strict):
    kinds: Annotated[list[Kind], Field(min_length=1, max_length=3)]
    url: Annotated[str, StringConstraints(min_length=8, max_length=2000)] | None = Field(
        None, description="Webhook URL; leave out for a pull-feed-only subscription"
    )
    agreement: Slug | None = Field(None, description="The civil-registration agreement; found when left out")
    fields: Annotated[list[FieldName], Field(min_length=1, max_length=100)] | None = Field(
        None, description="Fewer fields than the agreement discloses, if the body needs fewer"
    )


class SubscriptionChange(Strict):
    state: Literal["active", "paused"]


class Requeue(Strict):
    events: Annotated[list[Annotated[str, StringConstraints(max_length=36)]], Field(max_length=10_000)] | None = None


# ------------------------------------------------------------------ recording and the feed


@router.post("/events", status_code=201, summary="Record a birth, death or marriage (the registration service)")
def record_event(hub: HubDep, actor: ActorDep, body: EventIn, request: Request,
                 idempotency_key: IdempotencyKeyDep = None):
    event = events.NewEvent(body.kind, body.registered_at, dict(body.data), body.subject.nino if body.subject else None)
    reply = events.record(hub, actor, [event], key=idempotency_key)
    if reply.ok:  # one event in, one event's identity out
        body = reply.body
        reply = type(reply)(reply.status, {**body["events"][0], "subscriptions_notified": body["subscriptions_notified"]},
                            reply.replayed)
    return respond(request, reply)


@router.get("/events", summary="The pull feed: events for the caller's subscriptions after a cursor")
def event_feed(
    hub: HubDep,
    actor: ReaderDep,
    after: Annotated[int | None, Query(ge=0, le=2**62, description="Cursor: events after this sequence; "
                                       "acknowledges everything up to it")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    subscription: Annotated[str | None, Query(max_length=64)] = None,
) -> dict:
    return events.feed(hub, actor, after=after, limit=limit, subscription_id=subscription)


# ------------------------------------------------------------------ subscriptions


@router.post("/events/subscriptions", status_code=201, summary="Subscribe to event kinds (webhook or pull feed)")
def subscribe(hub: HubDep, actor: ActorDep, body: SubscriptionIn, request: Request,
              idempotency_key: IdempotencyKeyDep = None):
    spec = events.SubscriptionSpec(tuple(body.kinds), body.url, body.agreement,
                                   tuple(body.fields) if body.fields is not None else None)
    return respond(request, events.subscribe(hub, actor, spec, key=idempotency_key))


@router.get("/events/subscriptions", summary="The caller's subscriptions, with delivery health")
def list_subscriptions(hub: HubDep, actor: ReaderDep) -> dict:
    return {"subscriptions": events.subscription_views(hub, actor)}


@router.get("/events/subscriptions/{subscription_id}", summary="One subscription, with delivery health")
def get_subscription(hub: HubDep, actor: ReaderDep, subscription_id: SubscriptionId) -> dict:
    return events.subscription_detail(hub, actor, subscription_id)


@router.patch("/events/subscriptions/{subscription_id}", summary="Pause or resume a subscription's webhook")
def change_subscription(hub: HubDep, actor: ActorDep, subscription_id: SubscriptionId, body: SubscriptionChange,
                        request: Request, idempotency_key: IdempotencyKeyDep = None):
    return respond(request, events.change(hub, actor, subscription_id, body.state, key=idempotency_key))


@router.delete("/events/subscriptions/{subscription_id}", summary="End a subscription; undelivered events are cancelled")
def end_subscription(hub: HubDep, actor: ActorDep, subscription_id: SubscriptionId, request: Request,
                     idempotency_key: IdempotencyKeyDep = None):
    return respond(request, events.end(hub, actor, subscription_id, key=idempotency_key))


@router.post("/events/subscriptions/{subscription_id}/replay", summary="Send again every event after a cursor")
def replay(
    hub: HubDep,
    actor: ActorDep,
    subscription_id: SubscriptionId,
    request: Request,
    from_: Annotated[int, Query(alias="from", ge=0, le=2**62, description="Cursor: replay events after it")] = 0,
    idempotency_key: IdempotencyKeyDep = None,
):
    return respond(request, events.replay(hub, actor, subscription_id, from_, key=idempotency_key))


@router.get("/events/subscriptions/{subscription_id}/dead-letters", summary="Events the webhook gave up on")
def dead_letters(hub: HubDep, actor: ReaderDep, subscription_id: SubscriptionId,
                 limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict:
    return events.dead_letters(hub, actor, subscription_id, limit)


@router.post(
    "/events/subscriptions/{subscription_id}/dead-letters/requeue", summary="Send dead letters again (all or some)"
)
def requeue_dead_letters(hub: HubDep, actor: ActorDep, subscription_id: SubscriptionId, request: Request,
                         body: Requeue | None = None, idempotency_key: IdempotencyKeyDep = None):
    chosen = body.events if body else None
    return respond(request, events.requeue(hub, actor, subscription_id, chosen, key=idempotency_key))
