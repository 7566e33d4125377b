"""The public register of agreements (no authentication), and public consultation comments."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from accord.api.addresses import client_address
from accord.api.deps import HubDep, IdempotencyKeyDep
from accord.api.problems import PROBLEM
from accord.api.replies import respond
from accord.clock import utcnow
from accord.errors import NotFound
from accord.registry import agreements, lifecycle
from accord.registry.register import register_entries, to_csv
from accord.services import throttle
from accord.services.unit_of_work import Actor, run

router = APIRouter(tags=["public register"])

# Members of the public commenting share one namespace of idempotency keys.
PUBLIC = Actor(body_id="", officer="", request_id="", client_id="public:consultation")

Filter = Annotated[str | None, Query(max_length=64)]


@router.get("/register/agreements.json", summary="The register of agreements as JSON")
def register_json(hub: HubDep, body: Filter = None, gateway: Filter = None, status: Filter = None) -> dict:
    with hub.transaction() as session:
        entries = register_entries(session, hub.framework, utcnow().date(), body=body, gateway=gateway, status=status)
    return {"framework": hub.framework.id, "count": len(entries), "agreements": entries}


@router.get(
    "/register/agreements.csv",
    summary="The register of agreements as CSV",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def register_csv(hub: HubDep, body: Filter = None, gateway: Filter = None, status: Filter = None) -> Response:
    with hub.transaction() as session:
        entries = register_entries(session, hub.framework, utcnow().date(), body=body, gateway=gateway, status=status)
    return Response(
        to_csv(entries),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="accord-register.csv"'},
    )


@router.get("/register/agreements/{agreement_id}.json", summary="One published agreement")
def register_agreement(hub: HubDep, agreement_id: str) -> dict:
    with hub.transaction() as session:
        agreement = agreements.get_agreement(session, agreement_id)
        if agreement.status not in agreements.PUBLIC_STATUSES:
            raise NotFound(f"no agreement '{agreement_id}' exists")  # as for an unknown id: drafts are private
        return agreements.register_entry(agreement, hub.framework, utcnow().date())


class CommentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    author: Annotated[str, Field(min_length=1, max_length=200)]
    organisation: Annotated[str, Field(max_length=200)] = ""
    comment: Annotated[str, Field(min_length=1, max_length=10_000)]


@router.post(
    "/register/agreements/{agreement_id}/comments",
    status_code=201,
    summary="Comment on an agreement in public consultation",
    responses={429: {"description": "Too many comments from this address: wait for Retry-After seconds",
                     "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}}},
)
def comment(hub: HubDep, agreement_id: str, body: CommentRequest, request: Request,
            idempotency_key: IdempotencyKeyDep = None):
    """Anyone may comment; an ``Idempotency-Key`` (a fresh UUID per comment) makes a retry safe.

    Comments are limited per address (ACCORD_THROTTLE_COMMENTS_PER_ADDRESS): past it, 429 with Retry-After."""
    throttle.hit(hub, "comments", {"address": client_address(request, hub.settings)})
    def work(session, _):  # noqa: ANN001
        agreement = agreements.get_agreement(session, agreement_id)
        if agreement.status not in agreements.PUBLIC_STATUSES:  # a draft is private: do not confirm it exists
            raise NotFound(f"no agreement '{agreement_id}' exists")
        entry = lifecycle.add_comment(
            session, agreement, author=body.author, organisation=body.organisation, comment=body.comment, now=utcnow()
        )
        return 201, {"id": entry.id, "agreement_id": agreement_id, "received_at": entry.created_at.isoformat()}

    reply = run(hub, PUBLIC, operation=f"POST /register/agreements/{agreement_id}/comments",
                payload=body.model_dump(mode="json"), key=idempotency_key, write=work)
    return respond(request, reply)


@router.get("/framework", summary="The legal framework in force: gateways, objectives, body types")
def framework(hub: HubDep) -> dict:
    return hub.framework.model_dump(mode="json")


@router.get("/health", summary="Liveness and database check")
def health(hub: HubDep) -> dict:
    from sqlalchemy import text

    with hub.engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    return {"status": "ok"}
