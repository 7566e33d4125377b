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


def officer_name(given: str | None) -> str:
    """The officer acting, as recorded: as given, or the login name of whoever runs the command."""
    if given and given.strip():
        return given.strip()[:200]
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown user"
    return f"{user} (accord CLI)"


def acting(body: str, officer: str | None) -> Actor:
    """The body a command acts for, and its officer: commands act on the hub directly, as the API's callers do."""
    return Actor(body_id=body, officer=officer_name(officer), request_id=f"cli-{uuid.uuid4().hex}")


def acting_for(hub: Hub, body: str, officer: str | None) -> Actor:
    """As ``acting``, for a command that asks for an access: an unknown ``--body`` is bad input (exit 2),
    not a refusal to record in the audit log."""
    from accord.registry.bodies import get_body

    with hub.transaction() as session:
        get_body(session, body)
    return acting(body, officer)


def operator(officer: str | None) -> Actor:
    """The hub operator at the command line: may manage any body's subscriptions and jobs, reads no records."""
    return Actor(body_id="", officer=officer_name(officer), request_id=f"cli-{uuid.uuid4().hex}", is_admin=True)


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
