"""`accord share-codes`: redeem a driver's share code as a body would script it; the operator's view.

The operator's listing never shows a code: the hub keeps only keyed hashes of them.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Annotated

import typer
from rich.table import Table

from accord.cli.common import OFFICER_HELP, acting_for, console, open_hub
from accord.services import sharecodes

app = typer.Typer(help="Driving licence share codes: redeem one, list them, prune old attempts.", no_args_is_help=True)


@app.command("redeem")
def redeem(
    code: Annotated[str, typer.Argument(help="The driver's 8-character share code")],
    licence_suffix: Annotated[
        str, typer.Option("--licence-suffix", help="The last 8 characters of the driver's licence number")
    ],
    body: Annotated[str, typer.Option("--body", help="The registered body redeeming the code, e.g. swiftwheels-hire")],
    officer: Annotated[
        str | None, typer.Option("--officer", help=OFFICER_HELP + " (shown to the driver)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON")] = False,
) -> None:
    """Show the driving licence information a driver shared; a refusal exits 2 with the reason."""
    hub = open_hub()
    acting = acting_for(hub, body, officer)  # an unknown body or officer is bad input, not an anonymous redeemer
    redeemer = sharecodes.Redeemer.body(body, acting.officer)
    found = sharecodes.redeem(hub, code, licence_suffix, redeemer, request_id=f"cli-{uuid.uuid4().hex}")
    if as_json:
        typer.echo(json.dumps(found.as_dict(), indent=2))
        return
    console.print(f"Shared by the driver for: {found.purpose}", highlight=False)
    for name, value in found.shared.items():
        console.print(f"  {sharecodes.FIELD_LABELS.get(name, name)}: {_plain(value)}", highlight=False)
    console.print(f"Consent record: {found.consent_id}", highlight=False)


def _plain(value: object) -> str:
    if value is None:
        return "not recorded"
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value)


@app.command("list")
def list_codes(
    status: Annotated[
        str | None, typer.Option("--status", help="Only codes in this state: active, expired, used or withdrawn")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=100_000, help="At most this many, newest first")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON")] = False,
) -> None:
    """List share codes for the hub operator: reference, dates, state, uses, wrong guesses (no codes)."""
    rows = sharecodes.operator_list(open_hub(), state=status, limit=limit)
    if as_json:
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    table = Table("reference", "created", "ends", "status", "use", "uses", "wrong guesses (24 h)", "items")
    for row in rows:
        table.add_row(
            row["id"],
            f"{row['created_at']:%Y-%m-%d %H:%M} UTC",
            f"{row['expires_at']:%Y-%m-%d %H:%M} UTC",
            row["status"],
            "multiple" if row["multiple_use"] else "single",
            str(row["uses"]),
            str(row["wrong_guesses_24h"]),
            ", ".join(row["items"]),
        )
    console.print(table)
    console.print(f"{len(rows)} share code{'s' if len(rows) != 1 else ''}")


@app.command("prune-attempts")
def prune_attempts(
    days: Annotated[int, typer.Option("--days", min=1, max=3650, help="Keep attempts from the last this many days")] = 30,
) -> None:
    """Delete redemption attempts older than --days (the audit log keeps every redemption of a real code)."""
    removed = sharecodes.prune_attempts(open_hub(), timedelta(days=days))
    console.print(f"deleted {removed} attempt{'s' if removed != 1 else ''} older than {days} days")
