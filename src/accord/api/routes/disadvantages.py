"""Multiple disadvantages (Troubled Families): households meeting two or more factors.

A council posts the agreement it asks under; the answer lists its own household
references (UPRN, council-tax account references) with the names of the factors
met. A refusal is a 403 problem that says it was recorded (``decision_ids``,
``reasons``). An Idempotency-Key makes a retry harmless, but the reply kept for it
does not list the households (the hub does not keep them): a replay says what was
decided and how many were found. The answer is marked ``Cache-Control: no-store``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from accord.api.deps import ActorDep, HubDep, IdempotencyKeyDep
from accord.api.problems import PROBLEM
from accord.api.replies import respond
from accord.services import disadvantages

router = APIRouter(prefix="/v1", tags=["disadvantages"])

Name = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.:-]{0,63}$")]
NO_STORE = {"Cache-Control": "no-store"}


class IdentifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agreement: Name = Field(description="The council's multiple_disadvantages agreement, e.g. supporting-families-northshire")
    min_factors: Annotated[int, Field(ge=1, le=100)] | None = Field(
        None, description="Factors a household must meet; at least the objective's minimum (2), the default"
    )


class HouseholdReference(BaseModel):
    uprn: str | None = Field(None, description="The property's UPRN, as on the council's own household list")
    account_refs: list[str] | None = Field(None, description="The council's own council-tax account references")


class IdentifiedHousehold(BaseModel):
    reference: HouseholdReference
    factors: list[str] = Field(description="Names of the factors met (see factors_considered); never a value")


class IdentifyResponse(BaseModel):
    allowed: bool
    reasons: list[str]
    agreement_id: str | None
    request_id: str
    decision_ids: list[int] = Field(description="One recorded decision per dataset read")
    area: str = Field(description="The council whose household list bounds the answer")
    min_factors: int
    factors_considered: list[str] = Field(description="Factors whose indicators the permitted data holds")
    sources: list[str] = Field(description="Datasets read: the council's own and those the agreement discloses")
    count: int = Field(description="Households found (a replay keeps the count, not the households)")
    households: list[IdentifiedHousehold]
    obligations: dict
    replayed_without_households: bool | None = Field(
        None, description="Present (true) only on a replay of an Idempotency-Key: the households are not kept "
                          "by the hub, so the list is empty; ask again without the key for a new, recorded answer")
    note: str | None = Field(None, description="Present only on a replay: why the households are not listed")


@router.post(
    "/households/multiple-disadvantages",
    response_model=IdentifyResponse,
    response_model_exclude_none=True,
    summary="Households in the council's area meeting two or more of the objective's factors",
    responses={
        403: {"description": "Refused (recorded): not a recipient, no such agreement, not active, over a limit",
              "content": {PROBLEM: {}}},
        409: {"description": "A source has no records loaded, or the council has no household list",
              "content": {PROBLEM: {}}},
    },
)
def identify_households(hub: HubDep, actor: ActorDep, body: IdentifyRequest, request: Request,
                        idempotency_key: IdempotencyKeyDep = None) -> JSONResponse:
    reply = disadvantages.identify(hub, actor, body.agreement, min_factors=body.min_factors, key=idempotency_key)
    return respond(request, reply, headers=NO_STORE)
