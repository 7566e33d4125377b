"""`accord serve`: run the API and the public pages with uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn
from fastapi import FastAPI
from sqlalchemy.engine import make_url

from accord.app import create_app
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
    workers: Annotated[int, typer.Option(help="Server processes sharing the port (use more than 1 with PostgreSQL)")] = 1,
) -> None:
    """Serve the API, the public register and the docs."""
    if not 1 <= workers <= 64:
        raise InvalidInput(f"--workers must be between 1 and 64, not {workers}")
    settings = load_settings()
    host = host or settings.host
    port = port or settings.port
    console.print(f"Accord on http://{host}:{port}/  (register: /register, API docs: /docs)")
    if workers == 1:
        uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")
        return
    # Each worker is a process of its own with its own hub (engine, group-commit writer, audit
    # worker); the schema is brought up to date once here, before they start.
    Hub.open(settings).close()
    if make_url(settings.resolved_database_url).get_backend_name() == "sqlite":
        err.print(
            "Note: on SQLite the worker processes take turns to write (one writer at a time), "
            "so more workers add little; use PostgreSQL (ACCORD_DATABASE_URL) to scale out."
        )
    uvicorn.run(
        "accord.cli.serve:app_from_environment", factory=True, host=host, port=port, workers=workers,
        log_level="warning",
    )
