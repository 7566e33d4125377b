"""`accord throttle`: the counters behind sign-in lockouts and comment limits."""

from __future__ import annotations

import typer

from accord.cli.common import console, open_hub
from accord.services import throttle

app = typer.Typer(help="Throttling of failed sign-ins and anonymous comments.", no_args_is_help=True)


@app.command("reset")
def reset() -> None:
    """Forget every throttle counter: lockouts and comment limits start again (every server process at once)."""
    hub = open_hub()
    try:
        forgotten = throttle.reset(hub)
    finally:
        hub.close()
    console.print(f"{forgotten} throttle counter{'s' if forgotten != 1 else ''} reset")
