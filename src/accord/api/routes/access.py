"""Data requests: every one decided by the policy and recorded, allowed or denied."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from accord.api.deps import CallerDep, HubDep, IdempotencyKeyDep, OfficerDep, RequestIdDep
from accord.api.idempotency import run_write
from accord.clock import utcnow
from accord.policy import ACTIONS, AccessRequest
from accord.services.access import request_access

router = APIRouter(prefix="/v1", tags=["access"])

Name = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.:-]{0,127}$")]


class Subject(BaseModel):
    model_config = ConfigDict(extra="forbid")

    nino: Annotated[str, StringConstraints(min_length=9, max_length=13)] = Field(
        description="National Insurance number"
    )


class DecisionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Name = Field(description="An action from GET /v1/actions, e.g. dataset.read")
    dataset: Name = Field(description="The dataset to act on")
    purpose: Name = Field(description="The gateway, optionally with objective: public_service_delivery:fuel_poverty")
    fields: Annotated[list[Annotated[str, StringConstraints(max_length=64)]], Field(min_length=1, max_length=500)]
    records: Annotated[int, Field(ge=1, le=100_000_000)] = 1
    agreement: Name | None = None
    subjects: Annotated[list[Subject], Field(max_length=10_000)] = Field(
        default_factory=list,
        description="The people the request is about; logged only as pseudonymous person keys",
    )


class DecisionResponse(BaseModel):
    allowed: bool
    decision: str
    reasons: list[str]
    action: str
    purpose: str
    agreement_id: str | None
    permitted_fields: list[str]
    removed_fields: list[str]
    obligations: dict
    decided_at: str
    request_id: str
    decision_id: int


@router.get("/actions", summary="The catalogue of actions a body may request")
def actions(caller: CallerDep) -> list[dict]:
    return [
        {"name": a.name, "description": a.description, "result": a.result, "gateways": a.gateways}
        for a in ACTIONS.values()
    ]


@router.post(
    "/decisions",
    response_model=DecisionResponse,
    summary="Ask to act on a dataset for a purpose; the decision is recorded either way",
)
def decide(
    hub: HubDep,
    caller: CallerDep,
    officer: OfficerDep,
    request_id: RequestIdDep,
    body: DecisionRequest,
    request: Request,
    idempotency_key: IdempotencyKeyDep = None,
):
    access = AccessRequest(
        body_id=caller.body_id,
        officer=officer,
        action=body.action,
        dataset_id=body.dataset,
        purpose=body.purpose,
        fields=tuple(body.fields),
        records=body.records,
        agreement_id=body.agreement,
        subjects=tuple(hub.person_key("nino", s.nino) for s in body.subjects),
    )

    def work(session):
        decision, record = request_access(
            session, hub.framework, access, now=utcnow(), request_id=request_id, client_id=caller.client_id
        )
        return 200, {**decision.as_dict(), "request_id": request_id, "decision_id": record.id}

    payload = {**body.model_dump(), "officer": officer}
    return run_write(hub, caller, idempotency_key, request, payload, work)
