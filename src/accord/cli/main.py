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

from accord.cli import agreements, audit, bodies, datasets, db, demo, register, retention, serve, synth
from accord.cli.common import err
from accord.errors import AccordError, ConfigurationError

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
app.add_typer(datasets.app, name="datasets")
app.add_typer(agreements.app, name="agreements")
app.add_typer(register.app, name="register")
app.add_typer(audit.app, name="audit")
app.add_typer(retention.app, name="retention")
# Linkage and the purpose services: each adds its own import and registration line below.
from accord.cli import events as events_cli  # noqa: E402
app.add_typer(events_cli.app, name="events")
from accord.cli import sharecodes as sharecodes_cli  # noqa: E402
app.add_typer(sharecodes_cli.app, name="share-codes")
from accord.cli import eligibility as eligibility_cli  # noqa: E402
app.add_typer(eligibility_cli.app, name="eligibility")
from accord.cli import jobs as jobs_cli  # noqa: E402
app.add_typer(jobs_cli.app, name="jobs")
from accord.cli import link as link_cli  # noqa: E402
app.add_typer(link_cli.app, name="link")
from accord.cli import encode as encode_cli  # noqa: E402
app.command("encode")(encode_cli.encode)
from accord.cli import verification as verification_cli  # noqa: E402
app.add_typer(verification_cli.app, name="verification")
from accord.cli import disadvantages as disadvantages_cli  # noqa: E402
app.add_typer(disadvantages_cli.app, name="disadvantages")


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
