"""Civil-registration events: recording, subscriptions, signed webhooks, pull feed, deceased check.

A face only: who may record, what a body may receive and how it is minimised are decided
in accord.services.events (through the policy); these routes parse, authenticate and
shape responses. See docs/events.md.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, field_validator

from accord.api.deps import CallerDep, HubDep, IdempotencyKeyDep, OfficerDep, RequestIdDep
from accord.api.idempotency import run_write
from accord.api.problems import PROBLEM, TITLES
from accord.clock import utcnow
from accord.policy import decide
from accord.policy.context import SqlPolicyContext
from accord.services import events
from accord.services.access import request_access
from accord.services.webhooks import signing_secret

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


class PersonIn(Strict):
    first_name: Name
    middle_name: Name | None = None
    surname: Name
    date_of_birth: date
    postcode: Annotated[str, StringConstraints(max_length=10)] | None = None
    nino: Annotated[str, StringConstraints(min_length=9, max_length=13)] | None = None

    @field_validator("date_of_birth")
    @classmethod
    def _not_future(cls, value: date) -> date:
        if value > utcnow().date() or value.year < 1850:
            raise ValueError("date_of_birth must be a past date")
        return value


def _owner(caller) -> str | None:  # noqa: ANN001
    """The body whose subscriptions the caller sees: its own, or any for the hub operator."""
    return None if caller.is_admin else caller.body_id


def _as_problem(response: JSONResponse) -> JSONResponse:
    """A stored refusal (a recorded denial) is still a problem document."""
    if response.status_code >= 400:
        response.headers["content-type"] = PROBLEM
    return response


# ------------------------------------------------------------------ recording and the feed


@router.post("/events", status_code=201, summary="Record a birth, death or marriage (the registration service)")
def record_event(
    hub: HubDep,
    caller: CallerDep,
    officer: OfficerDep,
    request_id: RequestIdDep,
    body: EventIn,
    request: Request,
    idempotency_key: IdempotencyKeyDep = None,
):
    event = events.NewEvent(body.kind, body.registered_at, dict(body.data), body.subject.nino if body.subject else None)

    def work(session):
        recorded = events.record_events(
            session, hub, caller.body_id, officer, [event], now=utcnow(), request_id=request_id,
            client_id=caller.client_id,
        )
        return 201, {**events.recorded_view(recorded.events[0]), "subscriptions_notified": recorded.notified}

    payload = {**body.model_dump(mode="json"), "officer": officer}
    return run_write(hub, caller, idempotency_key, request, payload, work)


@router.get("/events", summary="The pull feed: events for the caller's subscriptions after a cursor")
def event_feed(
    hub: HubDep,
    caller: CallerDep,
    after: Annotated[int | None, Query(ge=0, le=2**62, description="Cursor: events after this sequence; "
                                       "acknowledges everything up to it")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    subscription: Annotated[str | None, Query(max_length=64)] = None,
) -> dict:
    with hub.transaction() as session:
        return events.feed(session, caller.body_id, after=after, limit=limit, subscription_id=subscription,
                           now=utcnow())


# ------------------------------------------------------------------ subscriptions


@router.post("/events/subscriptions", status_code=201, summary="Subscribe to event kinds (webhook or pull feed)")
def subscribe(
    hub: HubDep,
    caller: CallerDep,
    officer: OfficerDep,
    request_id: RequestIdDep,
    body: SubscriptionIn,
    request: Request,
    idempotency_key: IdempotencyKeyDep = None,
):
    def work(session):
        subscription = events.create_subscription(
            session, hub, caller.body_id, officer, kinds=body.kinds, url=body.url, agreement_id=body.agreement,
            fields=body.fields, now=utcnow(), request_id=request_id,
        )
        view = events.subscription_view(session, subscription, with_health=False)
        if subscription.url:
            view["signing_secret"] = signing_secret(
                hub.settings.secret_key.get_secret_value(), subscription.id, subscription.secret_version
            )
            view["note"] = "Verify each webhook's Accord-Signature with this secret; it is shown once."
        return 201, view

    def without_secret(view: dict) -> dict:
        if "signing_secret" not in view:
            return view
        return {**view, "signing_secret": None,
                "note": "This subscription was created by an earlier request with the same Idempotency-Key; "
                        "its signing secret was shown then and is not repeated."}

    payload = {**body.model_dump(mode="json"), "officer": officer}
    return run_write(hub, caller, idempotency_key, request, payload, work, redact=without_secret)


@router.get("/events/subscriptions", summary="The caller's subscriptions, with delivery health")
def list_subscriptions(hub: HubDep, caller: CallerDep) -> dict:
    with hub.transaction() as session:
        found = events.list_subscriptions(session, _owner(caller))
        return {"subscriptions": [events.subscription_view(session, s) for s in found]}


@router.get("/events/subscriptions/{subscription_id}", summary="One subscription, with delivery health")
def get_subscription(hub: HubDep, caller: CallerDep, subscription_id: SubscriptionId) -> dict:
    with hub.transaction() as session:
        return events.subscription_view(session, events.get_subscription(session, subscription_id, _owner(caller)))


@router.patch("/events/subscriptions/{subscription_id}", summary="Pause or resume a subscription's webhook")
def change_subscription(
    hub: HubDep,
    caller: CallerDep,
    officer: OfficerDep,
    request_id: RequestIdDep,
    subscription_id: SubscriptionId,
    body: SubscriptionChange,
    request: Request,
    idempotency_key: IdempotencyKeyDep = None,
):
    def work(session):
        subscription = events.get_subscription(session, subscription_id, caller.body_id)
        events.set_state(session, subscription, body.state, officer, utcnow(), request_id)
        return 200, events.subscription_view(session, subscription)

    return run_write(hub, caller, idempotency_key, request, {**body.model_dump(), "officer": officer}, work)


@router.delete("/events/subscriptions/{subscription_id}", summary="End a subscription; undelivered events are cancelled")
def end_subscription(
    hub: HubDep,
    caller: CallerDep,
    officer: OfficerDep,
    request_id: RequestIdDep,
    subscription_id: SubscriptionId,
    request: Request,
    idempotency_key: IdempotencyKeyDep = None,
):
    def work(session):
        subscription = events.get_subscription(session, subscription_id, caller.body_id)
        events.end_subscription(session, subscription, officer, utcnow(), request_id)
        return 200, events.subscription_view(session, subscription)

    return run_write(hub, caller, idempotency_key, request, {"officer": officer}, work)


@router.post("/events/subscriptions/{subscription_id}/replay", summary="Send again every event after a cursor")
def replay(
    hub: HubDep,
    caller: CallerDep,
    officer: OfficerDep,
    request_id: RequestIdDep,
    subscription_id: SubscriptionId,
    request: Request,
    from_: Annotated[int, Query(alias="from", ge=0, le=2**62, description="Cursor: replay events after it")] = 0,
    idempotency_key: IdempotencyKeyDep = None,
):
    def work(session):
        subscription = events.get_subscription(session, subscription_id, _owner(caller))
        count = events.replay(session, subscription, from_, officer, utcnow(), request_id)
        return 200, {"subscription": subscription.id, "from": from_, "requeued": count}

    return run_write(hub, caller, idempotency_key, request, {"from": from_, "officer": officer}, work)


@router.get("/events/subscriptions/{subscription_id}/dead-letters", summary="Events the webhook gave up on")
def dead_letters(
    hub: HubDep, caller: CallerDep, subscription_id: SubscriptionId, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> dict:
    with hub.transaction() as session:
        subscription = events.get_subscription(session, subscription_id, _owner(caller))
        return {"subscription": subscription.id, "dead_letters": events.dead_letters(session, subscription, limit)}


@router.post(
    "/events/subscriptions/{subscription_id}/dead-letters/requeue", summary="Send dead letters again (all or some)"
)
def requeue_dead_letters(
    hub: HubDep,
    caller: CallerDep,
    officer: OfficerDep,
    request_id: RequestIdDep,
    subscription_id: SubscriptionId,
    request: Request,
    body: Requeue | None = None,
    idempotency_key: IdempotencyKeyDep = None,
):
    chosen = body.events if body else None

    def work(session):
        subscription = events.get_subscription(session, subscription_id, _owner(caller))
        count = events.requeue_dead(session, subscription, officer, utcnow(), request_id, chosen)
        return 200, {"subscription": subscription.id, "requeued": count}

    return run_write(hub, caller, idempotency_key, request, {"events": chosen, "officer": officer}, work)


# ------------------------------------------------------------------ deceased check


@router.post("/deceased-checks", summary="Is this person recorded as deceased? Only true or false")
def deceased_check(
    hub: HubDep,
    caller: CallerDep,
    officer: OfficerDep,
    request_id: RequestIdDep,
    body: PersonIn,
    request: Request,
    idempotency_key: IdempotencyKeyDep = None,
):
    person = events.PersonDetails(body.first_name, body.surname, body.date_of_birth, body.postcode, body.nino,
                                  body.middle_name)
    access = events.deceased_request(hub, caller.body_id, officer, person)
    # Match only if the policy would allow it (the comparison stays inside the hub either way);
    # the decision that counts, and is recorded, is taken again in the write below.
    with hub.transaction() as session:
        allowed = decide(SqlPolicyContext(session, hub.framework), access, utcnow()).allowed
        found = events.recorded_as_dead(session, hub, person) if allowed else None

    def work(session):
        decision, record = request_access(
            session, hub.framework, access, now=utcnow(), request_id=request_id, client_id=caller.client_id
        )
        meta: dict[str, Any] = {"decision_id": record.id, "agreement_id": decision.agreement_id,
                                "decided_at": decision.decided_at.isoformat(), "request_id": request_id}
        if not decision.allowed:
            return 403, {"type": "about:blank", "title": TITLES[403], "status": 403,
                         "detail": f"{caller.body_id} may not check whether people are deceased",
                         "instance": request.url.path, "problems": list(decision.reasons), **meta}
        deceased = found if found is not None else events.recorded_as_dead(session, hub, person)
        return 200, {"deceased": bool(deceased), **meta}

    payload = {**body.model_dump(mode="json"), "officer": officer}
    return _as_problem(run_write(hub, caller, idempotency_key, request, payload, work))
