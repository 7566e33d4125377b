"""`accord witness`: run a witness that cosigns a hub's audit checkpoints (a separate process, its own key)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from accord.errors import InvalidInput
from accord.witness import WitnessError, WitnessStore, make_app

app = typer.Typer(help="A witness for audit logs: cosigns each checkpoint that extends the last it saw.",
                  no_args_is_help=True)

Dir = Annotated[Path, typer.Option("--dir", help="The witness's directory (its key and state)")]


def _store(directory: Path) -> WitnessStore:
    try:
        return WitnessStore(directory)
    except WitnessError as exc:
        raise InvalidInput(str(exc)) from None


@app.command("init")
def init(
    directory: Dir,
    name: Annotated[str, typer.Option(help="The witness's name, e.g. witness.example.org/w1")],
    log: Annotated[list[str] | None, typer.Option(help="A log's verifier key to witness "
                                                        "(`accord audit public-key`; repeatable)")] = None,
) -> None:
    """Make the witness's own Ed25519 key and state (kept if they exist), and trust the logs given."""
    try:
        store = WitnessStore.init(directory, name)
        for key in log or []:
            store.trust(key)
    except WitnessError as exc:
        raise InvalidInput(str(exc)) from None
    typer.echo(store.verifier_key)


@app.command("trust")
def trust(directory: Dir, log: Annotated[str, typer.Argument(help="The log's verifier key")]) -> None:
    """Witness one more log: checkpoints signed by this key (its name is the log's origin)."""
    try:
        origin = _store(directory).trust(log)
    except WitnessError as exc:
        raise InvalidInput(str(exc)) from None
    typer.echo(f"witnessing {origin}")


@app.command("serve")
def serve(
    directory: Dir,
    port: Annotated[int, typer.Option(help="Port to listen on")] = 7380,
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
) -> None:
    """Serve the tlog-witness HTTP interface (POST /add-checkpoint, GET /latest?origin=...)."""
    import uvicorn

    if not 0 <= port <= 65535:
        raise InvalidInput(f"--port must be between 0 and 65535, not {port}")
    store = _store(directory)
    typer.echo(f"witness {store.name} on http://{host}:{port}/")
    uvicorn.run(make_app(directory), host=host, port=port, log_level="warning")


@app.command("show")
def show(directory: Dir) -> None:
    """Print the witness's key and, for each log it witnesses, the latest size and root it cosigned."""
    store = _store(directory)
    typer.echo(store.verifier_key)
    for log in store.logs():
        root = log.root.hex() if log.root else "-"
        typer.echo(f"{log.origin}\tsize {log.size}\troot {root}")
    for origin, status, reason in store.refusals():
        typer.echo(f"refused {origin} ({status}): {reason}")
