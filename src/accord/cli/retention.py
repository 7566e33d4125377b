"""`accord retention`: delete personal payloads past their retention period."""

from __future__ import annotations

import typer

from accord.cli.common import console, open_hub
from accord.clock import utcnow
from accord.services import retention

app = typer.Typer(help="Retention of personal payloads (audit leaves are never deleted).", no_args_is_help=True)


@app.command("run")
def run() -> None:
    """Delete expired payloads; each deletion is itself written to the audit log."""
    hub = open_hub()
    with hub.transaction() as session:
        deleted = retention.run(session, utcnow())
    for kind, count in deleted.items():
        console.print(f"{kind}: {count} deleted")
