"""Share codes: a third party redeems a citizen's code to see the driving licence items they chose.

Redeemers are registered bodies with a bearer token (a hire company registers as a
``consent_recipient``), so the citizen's "who used my data" page can name them; anonymous checks
are for the web page only, under a stricter limit. A redemption retried with the same
Idempotency-Key is not acted on twice: the retry is told the code was redeemed by the earlier
request, without the licence information (keeping it for replays would keep the shared personal
data on the hub); a retry without a key finds a single-use code used, and the driver makes a new one.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from accord.api.deps import ActorDep, HubDep, IdempotencyKeyDep
from accord.api.problems import PROBLEM, problem
from accord.api.replies import respond
from accord.services import sharecodes
from accord.services.unit_of_work import Reply, once

router = APIRouter(prefix="/v1", tags=["sharecodes"])

_PROBLEM_CONTENT = {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}


class RedeemRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Annotated[str, StringConstraints(min_length=1, max_length=20)] = Field(
        description="The driver's 8-character share code; spaces, dashes and lower case are accepted"
    )
    licence_suffix: Annotated[str, StringConstraints(min_length=1, max_length=20)] = Field(
        description="The last 8 characters of the driver's licence number (the second factor)"
    )


class RedeemResponse(BaseModel):
    consent_id: str = Field(description="The consent record the information was shared under; quote it in your records")
    purpose: str = Field(description="Why the driver shared it, in their words")
    items: list[str] = Field(description="The items the driver chose to share")
    driving_licence: dict[str, Any] | None = Field(
        description="Only the chosen items' fields: licence_status, licence_valid_from, licence_valid_to, "
        "penalty_points, entitlements, name, date_of_birth, address (null where DVLA holds no value); null in "
        "a replay of an earlier redemption (Idempotency-Key), which the hub does not keep"
    )
    checked_at: str
    code_expires_at: str
    multiple_use: bool
    request_id: str
    note: str | None = Field(None, description="Only in a replay: what happened to the information")


@router.post(
    "/share-codes/redeem",
    response_model=RedeemResponse,
    summary="See the driving licence information a driver shared with a share code",
    responses={
        410: {"description": "The code was withdrawn, has expired or was already used", "content": _PROBLEM_CONTENT},
        429: {
            "description": "Too many wrong guesses from this body, or with this code",
            "content": _PROBLEM_CONTENT,
            "headers": {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}},
        },
    },
)
def redeem(hub: HubDep, actor: ActorDep, body: RedeemRequest, request: Request,
           idempotency_key: IdempotencyKeyDep = None):
    redeemer = sharecodes.Redeemer.body(actor.body_id, actor.officer)

    def act() -> Reply:
        redemption = sharecodes.redeem(hub, body.code, body.licence_suffix, redeemer, request_id=actor.request_id)
        return Reply(200, {**redemption.as_dict(), "request_id": actor.request_id})

    def kept(answer: dict) -> dict:  # the licence information is shown once, never kept
        return {**answer, "driving_licence": None,
                "note": "This code was redeemed by an earlier request with the same Idempotency-Key; the driving "
                        "licence information was shown then and is not kept by the hub."}

    try:
        reply = once(hub, actor, operation="sharecodes.redeem", payload={**body.model_dump(), "officer": actor.officer},
                     key=idempotency_key, act=act, redact=kept)
    except sharecodes.TooManyAttempts as refused:
        return problem(request, 429, refused.detail, headers={"Retry-After": str(refused.retry_after)})
    except sharecodes.ShareCodeUnusable as refused:
        return _gone(request, refused.detail)
    return respond(request, reply)


def _gone(request: Request, detail: str) -> JSONResponse:
    """410 with its own title (the shared problem titles stop at the statuses every route uses)."""
    response = problem(request, 410, detail)
    body = json.loads(response.body)
    body["title"] = sharecodes.ShareCodeUnusable.title
    return JSONResponse(body, status_code=410, media_type=PROBLEM)
