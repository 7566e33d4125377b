"""`accord serve`: run the API and the public pages with uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn
from fastapi import FastAPI
from sqlalchemy.engine import make_url

from accord.app import create_app
from accord.cli import serve_workers
from accord.cli.common import console, err
from accord.config import load_settings
from accord.errors import InvalidInput
from accord.runtime import Hub


def app_from_environment() -> FastAPI:
    """The app as each worker process builds it (``--workers`` above 1): settings from the environment."""
    return create_app(load_settings())


def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (default ACCORD_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default ACCORD_PORT)")] = None,
    workers: Annotated[int, typer.Option(help="Server processes sharing the port, each with its own socket (one per core)")] = 1,
) -> None:
    """Serve the API, the public register and the docs."""
    if not 1 <= workers <= 64:
        raise InvalidInput(f"--workers must be between 1 and 64, not {workers}")
    settings = load_settings()
    host = host or settings.host
    port = settings.port if port is None else port
    if port == 0 and workers > 1:
        raise InvalidInput("--port 0 (any free port) needs --workers 1: each worker would listen on a different port")
    console.print(f"Accord on http://{host}:{port}/  (register: /register, API docs: /docs)")
    if workers == 1:
        app = create_app(settings)
        serve_workers.tune_gc_for_serving()
        uvicorn.run(app, host=host, port=port, log_level="warning")
        return
    balanced = serve_workers.balances_connections()
    if balanced:  # a port in use is bad input, said before anything else happens
        try:
            serve_workers.listening_socket(host, port).close()
        except OSError as exc:
            raise InvalidInput(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    # Each worker is a process of its own with its own hub (engine, group-commit writer, audit
    # worker); the schema is brought up to date once here, before they start.
    Hub.open(settings).close()
    if make_url(settings.resolved_database_url).get_backend_name() == "sqlite":
        err.print(
            "Note: on SQLite the worker processes take turns to write (one writer at a time); "
            "they share the rest of the work. Use PostgreSQL (ACCORD_DATABASE_URL) for more than one machine."
        )
    if balanced:
        serve_workers.Supervisor(host, port, workers).run()
        return
    uvicorn.run(
        "accord.cli.serve:app_from_environment", factory=True, host=host, port=port, workers=workers,
        log_level="warning",
    )
