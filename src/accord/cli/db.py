"""`accord db`: the schema."""

from __future__ import annotations

import typer

from accord.cli.common import console, open_hub

app = typer.Typer(help="Database schema.", no_args_is_help=True)


@app.command("upgrade")
def upgrade() -> None:
    """Apply any pending migrations (also done on every start)."""
    hub = open_hub()
    console.print(f"schema up to date at {hub.engine.url.render_as_string(hide_password=True)}")
