"""Agreements: drafting, the parties' confirmations, lifecycle transitions, and the parties' view (drafts included)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from accord.api.deps import ActingDep, ActorDep, CallerDep, HubDep, IdempotencyKeyDep, visible_agreement
from accord.api.replies import respond
from accord.api.replies import write as run_write
from accord.clock import utcnow
from accord.errors import Forbidden
from accord.registry import agreements, confirmations, lifecycle
from accord.registry.specs import AgreementSpec
from accord.services.unit_of_work import run

router = APIRouter(prefix="/v1", tags=["agreements"])


class TransitionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: Annotated[str, Field(description="The new status: " + ", ".join(lifecycle.STATUSES), max_length=16)]
    reason: Annotated[str, Field(max_length=2000)] = ""


@router.get("/agreements", summary="Agreements the caller is party to (all, for the hub operator)")
def list_agreements(
    hub: HubDep, caller: CallerDep, gateway: str | None = None, status: str | None = None
) -> list[dict]:
    today = utcnow().date()
    with hub.transaction() as session:
        found = agreements.list_agreements(
            session, body=None if caller.is_admin else caller.body_id, gateway=gateway, status=status
        )
        return [agreements.register_entry(a, hub.framework, today) for a in found]


@router.post("/agreements", status_code=201, summary="Draft an agreement; refused with reasons if invalid")
def create_agreement(
    hub: HubDep,
    caller: ActingDep,
    spec: AgreementSpec,
    request: Request,
    idempotency_key: IdempotencyKeyDep = None,
):
    if not caller.is_admin and caller.body_id not in set(spec.disclosers) | set(spec.recipients):
        raise Forbidden("a body may draft only agreements it is party to")

    def work(session):
        now = utcnow()
        agreement = agreements.create_draft(
            session, hub.framework, spec, caller.body_id, now, hub.settings.consultation_weeks,
            proposer=caller.body_id,  # a party proposing it consents by proposing (the operator is no party)
            recorded_by=caller.label,
        )
        return 201, agreements.register_entry(agreement, hub.framework, now.date())

    return run_write(hub, caller, idempotency_key, request, spec.model_dump(mode="json"), work)


@router.get("/agreements/{agreement_id}", summary="One agreement")
def get_agreement(hub: HubDep, caller: CallerDep, agreement_id: str) -> dict:
    with hub.transaction() as session:
        agreement = agreements.get_agreement(session, agreement_id)
        visible_agreement(caller, agreement)
        return agreements.register_entry(agreement, hub.framework, utcnow().date())


@router.post("/agreements/{agreement_id}/transitions", summary="Move an agreement through its lifecycle")
def transition(
    hub: HubDep,
    caller: ActingDep,
    agreement_id: str,
    body: TransitionRequest,
    request: Request,
    idempotency_key: IdempotencyKeyDep = None,
):
    def work(session):
        now = utcnow()
        agreement = agreements.get_agreement(session, agreement_id)
        visible_agreement(caller, agreement)
        lifecycle.may_move(agreement, body.to, caller.body_id, is_operator=caller.is_admin)
        lifecycle.transition(
            session, hub.framework, agreement, body.to, actor=caller.label, now=now, reason=body.reason
        )
        return 200, agreements.register_entry(agreement, hub.framework, now.date())

    return run_write(
        hub, caller, idempotency_key, request, {"id": agreement_id, **body.model_dump()}, work
    )


@router.post(
    "/agreements/{agreement_id}/confirmations",
    status_code=201,
    summary="Confirm a draft as a body named in it (every named party confirms before consultation)",
    responses={200: {"description": "The body had already confirmed the draft; nothing changed"}},
)
def confirm(
    hub: HubDep,
    actor: ActorDep,
    agreement_id: str,
    request: Request,
    idempotency_key: IdempotencyKeyDep = None,
):
    def work(session, _):
        now = utcnow()
        agreement = agreements.get_agreement(session, agreement_id)
        visible_agreement(actor, agreement)
        _, new = confirmations.confirm(session, agreement, actor.body_id, actor=actor.officer, now=now)
        return (201 if new else 200), agreements.register_entry(agreement, hub.framework, now.date())

    reply = run(hub, actor, operation=f"POST {request.url.path}", payload={"id": agreement_id, "officer": actor.officer},
                key=idempotency_key, write=work)
    return respond(request, reply)
