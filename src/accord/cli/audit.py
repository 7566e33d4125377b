"""`accord audit`: checkpoints, proofs and verification of the tamper-evident log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from accord.cli.common import console, err, open_hub
from accord.errors import InvalidInput
from accord.services import audit

app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)


@app.command("checkpoint")
def checkpoint(
    out: Annotated[Path | None, typer.Option(help="Also save the signed note to this file")] = None,
) -> None:
    """Integrate pending entries and sign a checkpoint of the whole log."""
    hub = open_hub()
    made = audit.checkpoint_now(hub)
    if out is not None:
        out.write_text(made["note"], encoding="utf-8")
    typer.echo(made["note"], nl=False)
    for sent in audit.publish_checkpoint(hub):
        if sent.outcome == "refused":
            err.print(f"[red]ALARM[/red]: witness {sent.witness} refused it: {sent.detail}", highlight=False)
        elif sent.outcome == "unreachable":
            err.print(f"witness {sent.witness} could not be reached; the server will send it again", highlight=False)
        elif sent.outcome == "cosigned":
            err.print(f"witness {sent.witness} cosigned it", highlight=False)


@app.command("verify")
def verify(
    checkpoint_files: Annotated[
        list[Path] | None,
        typer.Option("--checkpoint", help="A signed checkpoint saved earlier (repeatable)"),
    ] = None,
) -> None:
    """Recompute the log from storage and check it against every signed checkpoint."""
    notes = []
    for path in checkpoint_files or []:
        try:
            notes.append(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise InvalidInput(f"{path}: cannot be read ({exc.strerror})") from None
    hub = open_hub()
    report = audit.verify_log(hub, notes)
    for warning in report.warnings:
        err.print(f"warning: {warning}", highlight=False)
    if report.ok:
        console.print(
            f"audit log verified: {report.tree_size} leaves, {report.checkpoints_checked} signed checkpoints match"
            + (f" ({report.cosigned_checked} cosigned by witnesses)" if report.cosigned_checked else "")
        )
        return
    where = f"first bad leaf: {report.first_bad_leaf}"
    if report.first_bad_entry is not None:
        where += f", entry {report.first_bad_entry}"
    err.print(f"[red]audit log FAILED verification[/red] ({where})")
    for problem in report.problems:
        err.print(f"  - {problem}", highlight=False)
    raise typer.Exit(1)


@app.command("prove-inclusion")
def prove_inclusion(
    leaf_index: Annotated[int, typer.Argument(help="Leaf index")],
    size: Annotated[int | None, typer.Option(help="Tree size (default: the whole log)")] = None,
) -> None:
    """Print an RFC 6962 inclusion proof for a leaf, as JSON."""
    typer.echo(json.dumps(audit.inclusion(open_hub(), leaf_index, size), indent=2))


@app.command("prove-consistency")
def prove_consistency(
    first: Annotated[int, typer.Argument(help="The earlier tree size")],
    second: Annotated[int | None, typer.Argument(help="The later tree size (default: the whole log)")] = None,
) -> None:
    """Print an RFC 6962 consistency proof between two tree sizes, as JSON."""
    typer.echo(json.dumps(audit.consistency(open_hub(), first, second), indent=2))


@app.command("show")
def show(leaf_index: Annotated[int, typer.Argument(help="Leaf index")]) -> None:
    """Print one entry's logged payload."""
    typer.echo(audit.entry(open_hub(), leaf_index)["payload"])


@app.command("public-key")
def public_key() -> None:
    """Print the checkpoint signing key (verifier key and PEM)."""
    info = audit.public_key(open_hub())
    typer.echo(info["verifier_key"])
    typer.echo(info["public_key_pem"], nl=False)
