"""What every command shares: settings, the hub, reading input files, printing."""

from __future__ import annotations

import getpass
import json
import uuid
from typing import Any, NoReturn, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.markup import escape

from accord.config import load_settings
from accord.errors import InvalidInput
from accord.registry import roles
from accord.registry.officers import OfficerIdentity
from accord.runtime import Hub
from accord.services.unit_of_work import Actor, Reply

M = TypeVar("M", bound=BaseModel)

console = Console()
err = Console(stderr=True)


def open_hub() -> Hub:
    return Hub.open(load_settings())


def parse_as(model: type[M], data: Any, source: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"]) or "(top level)"
            problems.append(f"{where}: {error['msg']}")
        raise InvalidInput(f"{source} is not valid", problems) from None


def print_json(data: Any) -> None:
    console.print_json(json.dumps(data, default=str))


def operator_label() -> str:
    """Who runs a command without ``--officer``: the hub operator at the console, by login name."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"operator:{user}"[:200]


def _officer(hub: Hub, body: str | None, subject: str, right: str = roles.ACT) -> OfficerIdentity:
    """A registered, active officer with this subject (at ``body``, or else at the hub operator's body), whose
    roles hold ``right``; anything else is bad input (exit 2)."""
    from accord.registry import officers

    with hub.transaction() as session:
        if body is None:
            found = officers.active_by_subject(session, subject.strip())
            if found is None:
                raise InvalidInput(f"no active officer with subject '{subject}' is registered (see accord officers list)")
            body = found.body_id
        identity = officers.find_officer(session, body, subject.strip())
    if not roles.may(identity.roles, right):
        raise InvalidInput(f"officer '{subject}' at '{identity.body_id}' has the roles {', '.join(identity.roles)}, "
                           f"which do not include the right '{right}' (held by: {', '.join(roles.holders(right))})")
    return identity


def acting(hub: Hub, body: str, officer: str | None, right: str = roles.ACT) -> Actor:
    """The body a command acts for, and who acts: the registered officer ``--officer`` names (by subject, checked:
    unknown or without the right is bad input, exit 2), or else the hub operator at the console."""
    request_id = f"cli-{uuid.uuid4().hex}"
    if officer and officer.strip():
        identity = _officer(hub, body, officer, right)
        return Actor(body_id=body, officer=identity.label, request_id=request_id, officer_id=identity.id)
    return Actor(body_id=body, officer=operator_label(), request_id=request_id)


def acting_for(hub: Hub, body: str, officer: str | None) -> Actor:
    """As ``acting``, for a command that asks for an access: an unknown ``--body`` is bad input (exit 2),
    not a refusal to record in the audit log."""
    from accord.registry.bodies import get_body

    with hub.transaction() as session:
        get_body(session, body)
    return acting(hub, body, officer)


def operator(hub: Hub, officer: str | None) -> Actor:
    """The hub operator at the command line: may manage any body's subscriptions and jobs, reads no records.
    ``--officer`` names one of the hub operator's own registered officers."""
    request_id = f"cli-{uuid.uuid4().hex}"
    if officer and officer.strip():
        identity = _officer(hub, None, officer)
        if not identity.hub_operator:
            raise InvalidInput(f"officer '{officer}' is an officer of '{identity.body_id}', not of the hub operator")
        return Actor(body_id="", officer=identity.label, request_id=request_id, is_admin=True, officer_id=identity.id)
    return Actor(body_id="", officer=operator_label(), request_id=request_id, is_admin=True)


OFFICER_HELP = ("The registered officer acting, by subject (accord officers list); checked. "
                "Without it, you act as the hub operator at the console (recorded as operator:<login>)")


def answer_of(reply: Reply) -> dict:
    """A service's answer: its body, or, for a recorded refusal, the reasons and exit 1."""
    if not reply.ok:
        refused(reply)
    return reply.body


def refused(reply: Reply) -> NoReturn:
    """A recorded refusal: its reasons on stderr, exit 1 (the request was valid; the answer is no)."""
    ids = reply.body.get("decision_ids") or ([reply.body["decision_id"]] if "decision_id" in reply.body else [])
    named = ", ".join(str(i) for i in ids)
    where = (f"decision{'s' if len(ids) > 1 else ''} {named}, recorded in the audit log" if ids
             else "recorded in the audit log")
    err.print(f"[red]refused[/red] ({where}):", highlight=False)
    for reason in reply.body.get("reasons") or [reply.body.get("detail", "")]:
        err.print(f"  - {escape(str(reason))}", highlight=False)
    raise typer.Exit(1)
