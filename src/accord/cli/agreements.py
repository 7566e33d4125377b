"""`accord agreements`: draft from a file, record the parties' confirmations, move through the lifecycle, list, show."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from accord.cli.common import acting_for, console, open_hub, operator_label, parse_as, print_json
from accord.clock import utcnow
from accord.errors import InvalidInput
from accord.files import read_structured
from accord.registry import agreements, confirmations, lifecycle
from accord.registry.specs import AgreementSpec

app = typer.Typer(help="Data-sharing agreements and their lifecycle.", no_args_is_help=True)


@app.command("create")
def create(
    path: Annotated[Path, typer.Argument(help="YAML or JSON file with the agreement")],
    actor: Annotated[str | None, typer.Option(help="Who is drafting it (recorded in the history; "
                                                   "default operator:<login>)")] = None,
) -> None:
    """Draft an agreement from a file; refused with every reason if invalid."""
    spec = parse_as(AgreementSpec, read_structured(path), str(path))
    hub = open_hub()
    try:
        with hub.transaction() as session:
            agreement = agreements.create_draft(
                session, hub.framework, spec, actor or operator_label(), utcnow(), hub.settings.consultation_weeks
            )
    except InvalidInput as refused:
        raise InvalidInput(f"{path}: {refused.detail}", refused.problems) from None
    console.print(f"drafted agreement {agreement.id}: {agreement.name}")


@app.command("confirm")
def confirm(
    agreement_id: Annotated[str, typer.Argument()],
    body: Annotated[str, typer.Option("--body", help="The party named in the draft that confirms it")],
    officer: Annotated[
        str | None, typer.Option("--officer", help="Who confirms for the body (recorded with the confirmation)")
    ] = None,
) -> None:
    """Record that a party named in a draft confirms it; every named party confirms before consultation."""
    hub = open_hub()
    actor = acting_for(hub, body, officer)  # an unknown --body is bad input
    with hub.transaction() as session:
        agreement = agreements.get_agreement(session, agreement_id)
        _, new = confirmations.confirm(session, agreement, actor.body_id, actor=actor.officer, now=utcnow())
        waiting = confirmations.still_to_confirm(agreement)
    console.print(f"{agreement_id}: {body} {'confirms' if new else 'had already confirmed'} the draft", highlight=False)
    console.print(f"still to confirm: {', '.join(waiting)}" if waiting
                  else "every party has confirmed: it can go to consultation", highlight=False)


@app.command("advance")
def advance(
    agreement_id: Annotated[str, typer.Argument()],
    to: Annotated[str, typer.Option(help="New status: " + ", ".join(lifecycle.STATUSES))],
    reason: Annotated[str, typer.Option(help="Why (required to suspend or revoke)")] = "",
    actor: Annotated[str | None, typer.Option(help="Who is acting (recorded in the history; "
                                                   "default operator:<login>)")] = None,
) -> None:
    """Move an agreement to its next status."""
    hub = open_hub()
    with hub.transaction() as session:
        agreement = agreements.get_agreement(session, agreement_id)
        before = agreement.status
        lifecycle.transition(session, hub.framework, agreement, to, actor=actor or operator_label(), now=utcnow(),
                             reason=reason)
        closes = agreement.consultation_closes_at
    console.print(f"{agreement_id}: {before} -> {to}")
    if to == "consultation" and closes:
        console.print(f"public consultation open until {closes.date().isoformat()}")


@app.command("list")
def list_(
    status: Annotated[str | None, typer.Option(help="Only agreements with this status")] = None,
    gateway: Annotated[str | None, typer.Option(help="Only agreements under this gateway")] = None,
    body: Annotated[str | None, typer.Option(help="Only agreements this body is party to")] = None,
) -> None:
    """List agreements, drafts included."""
    hub = open_hub()
    today = utcnow().date()
    table = Table("id", "status", "gateway", "objective", "name", "end date")
    with hub.transaction() as session:
        for a in agreements.list_agreements(session, body=body, gateway=gateway, status=status):
            table.add_row(
                a.id, agreements.effective_status(a, today), a.gateway, a.objective or "", a.name, str(a.end_date)
            )
    console.print(table)


@app.command("show")
def show(agreement_id: Annotated[str, typer.Argument()]) -> None:
    """Show one agreement as the register publishes it, with its history."""
    hub = open_hub()
    with hub.transaction() as session:
        entry = agreements.register_entry(agreements.get_agreement(session, agreement_id), hub.framework, utcnow().date())
    print_json(entry)
