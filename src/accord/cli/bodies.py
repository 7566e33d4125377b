"""`accord bodies`: public bodies and their API clients."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from accord.cli.common import console, open_hub, parse_as
from accord.clock import utcnow
from accord.registry import bodies, credentials
from accord.registry.specs import BodySpec

app = typer.Typer(help="Public bodies and their API client credentials.", no_args_is_help=True)


@app.command("add")
def add(
    body_id: Annotated[str, typer.Argument(help="Identifier, e.g. northshire-council")],
    name: Annotated[str, typer.Option(help="Full name of the body")],
    body_type: Annotated[str, typer.Option("--type", help="Body type from the framework, e.g. local_authority")],
) -> None:
    """Register a public body."""
    spec = parse_as(BodySpec, {"id": body_id, "name": name, "body_type": body_type}, "the body")
    hub = open_hub()
    with hub.transaction() as session:
        bodies.add_body(session, hub.framework, spec, utcnow())
    console.print(f"registered {body_id} ({body_type})")


@app.command("list")
def list_() -> None:
    """List registered bodies."""
    hub = open_hub()
    table = Table("id", "name", "type", "datasets")
    with hub.transaction() as session:
        for body in bodies.list_bodies(session):
            table.add_row(body.id, body.name, body.body_type, ", ".join(d.id for d in body.datasets))
    console.print(table)


@app.command("credentials")
def create_credentials(body_id: Annotated[str, typer.Argument(help="The body the client acts for")]) -> None:
    """Create an API client for a body; the secret is shown once."""
    hub = open_hub()
    with hub.transaction() as session:
        issued = credentials.create_client(session, body_id, utcnow(), label="created with the CLI")
    console.print(f"client_id:     {issued.client_id}")
    console.print(f"client_secret: {issued.client_secret}")
    console.print("The secret is shown once; Accord stores only its hash.")


@app.command("rotate")
def rotate(client_id: Annotated[str, typer.Argument()]) -> None:
    """Replace a client's secret; its existing tokens stop working."""
    hub = open_hub()
    with hub.transaction() as session:
        issued = credentials.rotate_client(session, client_id, utcnow())
    console.print(f"client_id:     {issued.client_id}")
    console.print(f"client_secret: {issued.client_secret}")


@app.command("revoke")
def revoke(client_id: Annotated[str, typer.Argument()]) -> None:
    """Revoke a client and every token it holds."""
    hub = open_hub()
    with hub.transaction() as session:
        credentials.revoke_client(session, client_id, utcnow())
    console.print(f"revoked {client_id}")
