"""OAuth2 client-credentials grant: client id and secret in, short-lived bearer token out."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import APIRouter, Form, Header, Request
from pydantic import BaseModel

from accord.api.addresses import client_address
from accord.api.deps import HubDep
from accord.api.problems import PROBLEM
from accord.clock import utcnow
from accord.errors import InvalidInput, Unauthorised
from accord.registry.credentials import issue_token
from accord.services import throttle

router = APIRouter(tags=["authentication"])


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "Bearer"
    expires_in: int
    scope: str


def _basic(authorization: str | None) -> tuple[str, str] | None:
    if not authorization or not authorization.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthorised("the Basic authorization header is not valid") from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise Unauthorised("the Basic authorization header is not valid")
    return client_id, secret


@router.post(
    "/oauth/token",
    response_model=TokenResponse,
    summary="Get a bearer token (client credentials)",
    responses={429: {"description": "Too many failed attempts for this client id or from this address: wait for "
                                    "Retry-After seconds (a right secret is refused until then too)",
                     "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}}},
)
def token(
    request: Request,
    hub: HubDep,
    grant_type: Annotated[str, Form(max_length=64)],
    client_id: Annotated[str | None, Form(max_length=200)] = None,
    client_secret: Annotated[str | None, Form(max_length=200)] = None,
    authorization: Annotated[str | None, Header()] = None,
) -> TokenResponse:
    if grant_type != "client_credentials":
        raise InvalidInput("grant_type must be client_credentials")
    keys = {"address": client_address(request, hub.settings)}
    try:
        basic = _basic(authorization)
        if basic:
            client_id, client_secret = basic
        if not client_id or not client_secret:
            raise Unauthorised("give client_id and client_secret, in the form or as HTTP Basic credentials")
        # Locked out or not, known or not, a client id is answered alike: the check comes first.
        keys["client"] = client_id
        throttle.check(hub, "token", keys)
        ttl = hub.settings.token_ttl_seconds
        with hub.transaction() as session:
            access_token, client = issue_token(session, client_id, client_secret, utcnow(), ttl)
    except Unauthorised:
        throttle.failed(hub, "token", keys)
        raise
    throttle.succeeded(hub, "token", {"client": client_id})
    return TokenResponse(access_token=access_token, expires_in=ttl, scope=" ".join(client.scopes))
