"""`accord officers`: the people who act for a body, each with one or more roles.

The hub operator adds an officer with the subject their identity provider gives them
(``sub``), their name and their roles; they then sign in to the pages, and may take an API
token there. ``--officer SUBJECT`` on other commands names one of them.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from accord.cli.common import answer_of, console, open_hub, operator, print_json
from accord.registry.roles import ROLES
from accord.services import officers

app = typer.Typer(help="Officers: the people who act for a body, with their roles.", no_args_is_help=True)


@app.command("add")
def add(
    body: Annotated[str, typer.Argument(help="The body the officer acts for, e.g. northshire-council")],
    subject: Annotated[str, typer.Option("--subject", help="The subject (sub) the officers' identity provider gives them")],
    name: Annotated[str, typer.Option("--name", help="The officer's name, as shown and recorded")],
    role: Annotated[list[str], typer.Option("--role", help="A role (repeat for more): " + ", ".join(ROLES))],
    as_json: Annotated[bool, typer.Option("--json", help="Print the officer as JSON")] = False,
) -> None:
    """Register an officer at a body."""
    hub = open_hub()
    added = answer_of(officers.add(hub, operator(hub, None), body, subject, name, role))
    if as_json:
        print_json(added)
        return
    console.print(f"added officer {added['id']}: {added['name']} at {added['body_id']} "
                  f"({', '.join(added['roles'])})", highlight=False)


@app.command("list")
def list_(
    body: Annotated[str | None, typer.Argument(help="Only this body's officers")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the officers as JSON")] = False,
) -> None:
    """List officers, active and deactivated."""
    found = officers.list_(open_hub(), body)
    if as_json:
        print_json(found)
        return
    table = Table("id", "body", "subject", "name", "roles", "active")
    for item in found:
        table.add_row(item["id"], item["body_id"], item["subject"], item["name"], ", ".join(item["roles"]),
                      "yes" if item["active"] else f"no (since {item['deactivated_at'][:10]})")
    console.print(table)


@app.command("remove")
def remove(officer_id: Annotated[str, typer.Argument(help="The officer's id (accord officers list)")]) -> None:
    """Deactivate an officer: they can no longer sign in, and their sessions and API tokens end at once.
    The record stays, so the audit log's names still resolve."""
    hub = open_hub()
    gone = answer_of(officers.deactivate(hub, operator(hub, None), officer_id))
    console.print(f"deactivated officer {gone['id']} ({gone['name']} at {gone['body_id']})", highlight=False)
