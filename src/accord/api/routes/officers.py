"""Officers: the people who act for a body, registered by the hub operator."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from accord.api.deps import AdminDep, HubDep, IdempotencyKeyDep, RequestIdDep, actor_of
from accord.api.replies import respond
from accord.registry.roles import ROLES
from accord.services import officers

router = APIRouter(prefix="/v1", tags=["officers"])

BodyId = Annotated[str, Path(max_length=64)]
OfficerId = Annotated[str, Path(max_length=40)]


class OfficerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: Annotated[str, Field(min_length=1, max_length=255,
                                  description="The subject (sub) the officers' identity provider gives this person")]
    name: Annotated[str, Field(min_length=1, max_length=200, description="The officer's name, as shown and recorded")]
    roles: Annotated[list[Annotated[str, Field(max_length=40)]], Field(
        min_length=1, max_length=len(ROLES), description="One or more of: " + ", ".join(ROLES))]


@router.post("/bodies/{body_id}/officers", status_code=201, summary="Register an officer at a body (hub operator)")
def add_officer(hub: HubDep, caller: AdminDep, body_id: BodyId, body: OfficerIn, request: Request,
                request_id: RequestIdDep, idempotency_key: IdempotencyKeyDep = None):
    reply = officers.add(hub, actor_of(caller, request_id), body_id, body.subject, body.name, body.roles,
                         key=idempotency_key)
    return respond(request, reply)


@router.get("/bodies/{body_id}/officers", summary="A body's officers, active and deactivated (hub operator)")
def list_officers(hub: HubDep, caller: AdminDep, body_id: BodyId) -> list[dict]:
    return officers.list_(hub, body_id)


@router.delete("/bodies/{body_id}/officers/{officer_id}",
               summary="Deactivate an officer: their sign-in, sessions and tokens end at once (hub operator)")
def deactivate_officer(hub: HubDep, caller: AdminDep, body_id: BodyId, officer_id: OfficerId, request: Request,
                       request_id: RequestIdDep, idempotency_key: IdempotencyKeyDep = None):
    reply = officers.deactivate(hub, actor_of(caller, request_id), officer_id, body_id=body_id, key=idempotency_key)
    return respond(request, reply)
