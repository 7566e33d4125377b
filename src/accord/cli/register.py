"""`accord register export`: the public register as JSON or CSV."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from accord.cli.common import console, open_hub
from accord.clock import utcnow
from accord.errors import InvalidInput
from accord.registry.register import register_entries, to_csv

app = typer.Typer(help="The public register of agreements.", no_args_is_help=True)


@app.command("export")
def export(
    format_: Annotated[str, typer.Option("--format", help="json or csv")] = "json",
    out: Annotated[Path | None, typer.Option(help="File to write; standard output if omitted")] = None,
    body: Annotated[str | None, typer.Option(help="Only agreements this body is party to")] = None,
    gateway: Annotated[str | None, typer.Option(help="Only this gateway")] = None,
    status: Annotated[str | None, typer.Option(help="Only this status")] = None,
) -> None:
    """Export the published register (drafts are never published)."""
    if format_ not in ("json", "csv"):
        raise InvalidInput(f"--format must be json or csv, not '{format_}'")
    hub = open_hub()
    with hub.transaction() as session:
        entries = register_entries(session, hub.framework, utcnow().date(), body=body, gateway=gateway, status=status)
    if format_ == "json":
        text = json.dumps({"framework": hub.framework.id, "count": len(entries), "agreements": entries}, indent=2)
    else:
        text = to_csv(entries)
    if out is None:
        typer.echo(text, nl=not text.endswith("\n"))
        return
    if out.parent and not out.parent.is_dir():
        raise InvalidInput(f"{out.parent}: no such directory")
    # Write to a temporary file first so a failure never leaves a half-written export.
    try:
        fd, tmp = tempfile.mkstemp(dir=out.parent or Path("."), prefix=f".{out.name}.")
    except OSError as exc:
        raise InvalidInput(f"{out}: cannot write in {out.parent} ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.replace(tmp, out)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, IsADirectoryError):
            raise InvalidInput(f"{out}: is a directory; give a file name") from None
        raise
    console.print(f"wrote {len(entries)} agreements to {out}")
