"""The audit log: public checkpoint, key and proofs; entries and new checkpoints for the operator."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from accord.api.deps import AdminDep, HubDep, IdempotencyKeyDep
from accord.api.replies import respond
from accord.services import audit
from accord.services.unit_of_work import Actor, Reply, once

public = APIRouter(prefix="/audit", tags=["audit log (public)"])
private = APIRouter(prefix="/v1/audit", tags=["audit log"])

Size = Annotated[int | None, Query(ge=1, le=2**62, description="Tree size; the integrated log's size if omitted")]


@public.get("/checkpoint", summary="The latest signed checkpoint (C2SP signed note)")
def checkpoint(hub: HubDep) -> dict:
    return audit.latest_checkpoint(hub)


@public.get("/public-key", summary="The key that signs checkpoints")
def public_key(hub: HubDep) -> dict:
    return audit.public_key(hub)


@public.get("/proofs/inclusion", summary="Inclusion proof for a leaf (RFC 6962)")
def inclusion(
    hub: HubDep, leaf_index: Annotated[int, Query(ge=0, le=2**62)], tree_size: Size = None
) -> dict:
    return audit.inclusion(hub, leaf_index, tree_size)


@public.get("/proofs/consistency", summary="Consistency proof between two tree sizes (RFC 6962)")
def consistency(hub: HubDep, first: Annotated[int, Query(ge=1, le=2**62)], second: Size = None) -> dict:
    return audit.consistency(hub, first, second)


@private.get("/entries/{leaf_index}", summary="One audit entry's payload (hub operator)")
def entry(hub: HubDep, caller: AdminDep, leaf_index: int) -> dict:
    return audit.entry(hub, leaf_index)


@private.post("/checkpoints", status_code=201, summary="Integrate pending entries and sign a checkpoint now")
def new_checkpoint(hub: HubDep, caller: AdminDep, request: Request, idempotency_key: IdempotencyKeyDep = None):
    actor = Actor(caller.body_id, caller.label, request.state.request_id, caller.client_id, caller.is_admin)
    reply = once(hub, actor, operation="audit.checkpoint", payload=None, key=idempotency_key,
                 act=lambda: Reply(201, audit.checkpoint_now(hub)))
    return respond(request, reply)


@private.get("/verify", summary="Recompute the log and check it against every signed and witnessed checkpoint")
def verify(hub: HubDep, caller: AdminDep) -> dict:
    return audit.report_view(audit.verify_log(hub))
