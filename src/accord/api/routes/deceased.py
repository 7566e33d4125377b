"""The deceased check: is this person recorded as deceased? Only true or false.

A face only: what the check may read and what it answers are decided in
accord.services.deceased (through the governed path). See docs/events.md.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, StringConstraints, field_validator

from accord.api.deps import ActorDep, HubDep, IdempotencyKeyDep
from accord.api.replies import respond
from accord.clock import utcnow
from accord.services import deceased

router = APIRouter(prefix="/v1", tags=["deceased"])

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class PersonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

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


@router.post("/deceased-checks", summary="Is this person recorded as deceased? Only true or false")
def deceased_check(hub: HubDep, actor: ActorDep, body: PersonIn, request: Request,
                   idempotency_key: IdempotencyKeyDep = None):
    person = deceased.PersonDetails(body.first_name, body.surname, body.date_of_birth, body.postcode, body.nino,
                                    body.middle_name)
    return respond(request, deceased.check(hub, actor, person, key=idempotency_key))
