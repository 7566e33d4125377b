"""Data requests: every one decided by the policy and recorded, allowed or denied; and read back by id."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from accord.api.deps import ActorDep, CallerDep, HubDep, IdempotencyKeyDep, ReaderDep
from accord.api.replies import respond
from accord.services import decisions

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
    permitted_fields: list[str] = Field(description="Fields the hub may read to answer")
    disclosed_fields: list[str] = Field(description="Fields the answer itself may carry: none for a flag, grade or lead")
    removed_fields: list[str]
    obligations: dict
    decided_at: str
    request_id: str
    decision_id: int


@router.get("/actions", summary="The catalogue of actions a body may request")
def actions(caller: CallerDep) -> list[dict]:
    return decisions.actions()


@router.post(
    "/decisions",
    response_model=DecisionResponse,
    summary="Ask to act on a dataset for a purpose; the decision is recorded either way",
)
def decide(hub: HubDep, actor: ActorDep, body: DecisionRequest, request: Request,
           idempotency_key: IdempotencyKeyDep = None):
    asked = decisions.DecisionAsked(action=body.action, dataset_id=body.dataset, purpose=body.purpose,
                                    fields=tuple(body.fields), records=body.records, agreement_id=body.agreement,
                                    subject_ninos=tuple(s.nino for s in body.subjects))
    return respond(request, decisions.decide(hub, actor, asked, key=idempotency_key))


@router.get("/decisions/{decision_id}", summary="A decision your body was given, as it was recorded")
def recorded_decision(hub: HubDep, actor: ReaderDep,
                      decision_id: Annotated[int, Path(ge=1, le=2**62, description="The decision_id of an answer")]
                      ) -> dict:
    return decisions.recorded(hub, actor, decision_id)
