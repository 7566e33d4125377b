"""A service's reply as an HTTP response: JSON, or a problem document (RFC 9457) for a refusal."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from accord.api.problems import PROBLEM, TITLES
from accord.registry.credentials import Caller
from accord.runtime import Hub
from accord.services.unit_of_work import Actor, Reply, run


def respond(request: Request, reply: Reply, headers: dict[str, str] | None = None) -> JSONResponse:
    """200/201 as the body; 4xx as a problem document carrying the service's own members (a recorded
    refusal's decision id and reasons); a replayed reply says so in ``Idempotent-Replayed``."""
    headers = dict(headers or {})
    if reply.replayed:
        headers["Idempotent-Replayed"] = "true"
    if reply.ok:
        return JSONResponse(reply.body, status_code=reply.status, headers=headers or None)
    body = {
        "type": "about:blank",
        "title": TITLES.get(reply.status, "Error"),
        "status": reply.status,
        "instance": request.url.path,
        **reply.body,
    }
    if "reasons" in reply.body:
        body.setdefault("problems", list(reply.body["reasons"]))
    return JSONResponse(body, status_code=reply.status, media_type=PROBLEM, headers=headers or None)


def write(hub: Hub, caller: Caller, key: str | None, request: Request, payload: object,
          work: Callable[[Session], tuple[int, dict]], redact: Callable[[dict], dict] | None = None) -> JSONResponse:
    """A registry write (a body, a dataset, an agreement) through the services' unit of work, answered as HTTP."""
    actor = Actor(caller.body_id, caller.label, request.state.request_id, caller.client_id, caller.is_admin,
                  officer_id=caller.officer.id if caller.officer else None)
    reply = run(hub, actor, operation=f"{request.method} {request.url.path}", payload=payload, key=key,
                write=lambda session, _: work(session), redact=redact)
    return respond(request, reply)
