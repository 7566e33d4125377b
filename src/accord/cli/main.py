"""The `accord` command: one Typer app with a sub-app per command group.

Bad input prints one line naming what is wrong and exits 2; any other failure
exits 1 with a one-line message (set ACCORD_DEBUG=1 for the traceback).
"""

from __future__ import annotations

import os
import sys
import warnings

import typer
from rich.markup import escape

from accord.cli import (
    agreements,
    audit,
    bodies,
    datasets,
    db,
    demo,
    jobs,
    officers,
    register,
    retention,
    serve,
    synth,
    throttle,
    witness,
)
from accord.cli.common import err
from accord.errors import AccordError, ConfigurationError
from accord.services.purposes import purposes, resolve

app = typer.Typer(
    name="accord",
    help="Accord: a governed hub for sharing personal data between public bodies (DEA 2017 Part 5).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("serve")(serve.serve)
app.command("demo")(demo.demo)
app.command("synth")(synth.synth)
app.add_typer(db.app, name="db")
app.add_typer(bodies.app, name="bodies")
app.add_typer(officers.app, name="officers")
app.add_typer(datasets.app, name="datasets")
app.add_typer(agreements.app, name="agreements")
app.add_typer(register.app, name="register")
app.add_typer(audit.app, name="audit")
app.add_typer(retention.app, name="retention")
app.add_typer(jobs.app, name="jobs")
app.add_typer(witness.app, name="witness")
app.add_typer(throttle.app, name="throttle")
# Each purpose's commands, as its package registers them (accord.services.purposes): a group's
# module is imported here, its heavy work when the command runs.
for _name, _path in purposes().cli_groups:
    app.add_typer(resolve(_path), name=_name)
for _name, _path in purposes().cli_commands:
    app.command(_name)(resolve(_path))


def run() -> None:
    # A notice from a dependency about its own future, not something a user can act on.
    warnings.filterwarnings("ignore", message=".*httpx.*deprecated.*")
    try:
        app(standalone_mode=True)
    except (AccordError, ConfigurationError) as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as exc:  # noqa: BLE001 - last resort: one line, not a traceback
        if os.environ.get("ACCORD_DEBUG") == "1":
            raise
        err.print(f"[red]failed:[/red] {type(exc).__name__}: {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(1)


if __name__ == "__main__":
    run()
