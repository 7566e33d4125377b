"""Dependencies injected into routes: the hub, the authenticated caller, request context.

Routes never re-implement authentication or permission checks: they declare
``CallerDep`` (any authenticated body: a system or a verified officer), ``ActingDep``
(one who may act for the body: a system, or an officer whose roles hold ``body.act``),
``AdminDep`` (the hub operator), ``ActorDep`` / ``ReaderDep`` (the same, as services take them).

Who acted is the token's: a system's client, or the verified officer an officer's token
was issued to. The ``X-Accord-Officer`` header of earlier versions is no longer identity: it
is ignored if sent, and never recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from accord.clock import utcnow
from accord.errors import Forbidden, NotFound, Unauthorised
from accord.registry import agreements, roles
from accord.registry.credentials import Caller, resolve_token
from accord.runtime import Hub
from accord.services.unit_of_work import Actor

_bearer = HTTPBearer(auto_error=False, description="A bearer token from POST /oauth/token")


# Dependencies that do no I/O are ``async``: FastAPI runs a plain ``def`` dependency in the
# thread pool, and each such hand-off costs more than the dependency itself.


async def get_hub(request: Request) -> Hub:
    return request.app.state.hub


HubDep = Annotated[Hub, Depends(get_hub)]


NEEDS_TOKEN = "this endpoint needs a bearer token: get one from POST /oauth/token"
_RESOLVED = "accord.caller"  # (token, Caller) the request-size guard resolved before reading the body


def _resolve(hub: Hub, token: str) -> Caller:
    # A bare connection, not a Session: one read, nothing to flush or commit.
    with hub.engine.connect() as connection:
        return resolve_token(connection, token, utcnow())


async def caller_for(hub: Hub, token: str) -> Caller:
    """The caller a bearer token stands for, read afresh (a revoked token fails at once).

    On SQLite the read is a lookup in a local file that WAL never makes wait for a
    writer, and costs less than handing it to the thread pool and back, so it runs
    here; on PostgreSQL it is a network round trip and goes to the thread pool.
    """
    if hub.engine.dialect.name == "sqlite":
        return _resolve(hub, token)
    return await run_in_threadpool(_resolve, hub, token)


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer`` header (Unauthorised without one)."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorised(NEEDS_TOKEN)
    return token.strip()


async def authenticated(
    request: Request, hub: HubDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Caller:
    """The caller, read afresh on every request; once only when the body-size guard already read it."""
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise Unauthorised(NEEDS_TOKEN)
    resolved = request.scope.get("state", {}).get(_RESOLVED)
    if resolved is not None and resolved[0] == credentials.credentials:
        return resolved[1]
    return await caller_for(hub, credentials.credentials)


def remember_caller(scope: dict, token: str, caller: Caller) -> None:
    scope.setdefault("state", {})[_RESOLVED] = (token, caller)


CallerDep = Annotated[Caller, Depends(authenticated)]


def require(caller: Caller, right: str) -> Caller:
    """The one place a person's roles are checked against the rights table (``registry.roles``)."""
    if not caller.may(right):
        raise Forbidden(f"your roles ({', '.join(caller.officer.roles)}) do not include the right '{right}' "
                        f"this needs (held by: {', '.join(roles.holders(right))})")
    return caller


def needing(right: str):  # noqa: ANN201 - a FastAPI dependency
    """A dependency: the caller, if they hold ``right`` (403 otherwise). New purposes name their own right."""

    async def dependency(caller: CallerDep) -> Caller:
        return require(caller, right)

    return dependency


ActingDep = Annotated[Caller, Depends(needing(roles.ACT))]


async def admin(caller: CallerDep) -> Caller:
    if not caller.is_admin:
        raise Forbidden("only the hub operator may do this")
    return require(caller, roles.ACT)


AdminDep = Annotated[Caller, Depends(admin)]


async def request_id(request: Request) -> str:
    return request.state.request_id


RequestIdDep = Annotated[str, Depends(request_id)]


IdempotencyKeyDep = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Optional; a retried write with the same key returns the first response instead of acting twice.",
        max_length=200,
    ),
]


def visible_agreement(caller: Caller, agreement) -> None:  # noqa: ANN001
    """Only parties (and the hub operator) act on an agreement through the API.

    A published agreement is on the public register anyway, so a non-party is told
    it may not act (403); another body's draft is private, so a non-party sees no
    difference between it and no agreement at all (404).
    """
    if caller.is_admin or caller.body_id in {p.body_id for p in agreement.parties}:
        return
    if not agreements.visible_to(agreement, caller.body_id):  # another body's draft
        raise NotFound(f"no agreement '{agreement.id}' exists")
    raise Forbidden("only a party to this agreement or the hub operator may do this")


def actor_of(caller: Caller, request_id: str) -> Actor:
    """The body and the person or system acting, as every service entry point takes them."""
    return Actor(body_id=caller.body_id, officer=caller.label, request_id=request_id, client_id=caller.client_id,
                 is_admin=caller.is_admin, officer_id=caller.officer.id if caller.officer else None)


async def actor(caller: ActingDep, request_id: RequestIdDep) -> Actor:
    """One who may act for the body (``body.act``)."""
    return actor_of(caller, request_id)


ActorDep = Annotated[Actor, Depends(actor)]


# ------------------------------------------------------------------ uploads


@dataclass(frozen=True)
class Upload:
    """A request body the request-size guard streamed to a file under the data directory.

    The file is deleted when the response has been sent; a route that keeps it moves it first (``path.replace``).
    """

    path: Path
    size: int
    sha256: str
    content_type: str

    def suffix(self, kinds: dict[str, str]) -> str | None:
        """``kinds[content type]`` (parameters ignored), or None for a type not in ``kinds``."""
        return kinds.get(self.content_type.split(";", 1)[0].strip().lower())


UPLOADED = "accord.upload"  # the Upload, in the request's state


def _upload_route(limit_setting: str, what: str):  # noqa: ANN202 - a dependency
    """A dependency that marks its route as an upload route: the guard reads which setting limits it.

    Depending on it makes the route authenticated and gives it the body as a file. The marker is
    the one place a route says it takes an upload; there is no list of upload paths.
    """

    async def uploaded(request: Request, caller: CallerDep) -> Upload:
        upload = request.scope.get("state", {}).get(UPLOADED)
        if upload is None:
            raise InvalidInput(f"send {what} as the request body")
        return upload

    uploaded.limit_setting = limit_setting  # type: ignore[attr-defined]
    return uploaded


UploadDep = Annotated[Upload, Depends(_upload_route("max_upload_bytes", "the file"))]
BatchDep = Annotated[Upload, Depends(_upload_route("max_batch_bytes", "the batch"))]


def upload_limit_setting(call: object) -> str | None:
    """The setting that limits a route's body, if ``call`` is an upload marker."""
    return getattr(call, "limit_setting", None)


async def reader(caller: Annotated[Caller, Depends(needing(roles.READ))], request_id: RequestIdDep) -> Actor:
    """One who may read back what the body was recorded doing (``body.read``: auditors too)."""
    return actor_of(caller, request_id)


ReaderDep = Annotated[Actor, Depends(reader)]
