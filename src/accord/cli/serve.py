"""`accord serve`: run the API and the public pages with uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn

from accord.app import create_app
from accord.cli.common import console
from accord.config import load_settings


def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (default ACCORD_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default ACCORD_PORT)")] = None,
) -> None:
    """Serve the API, the public register and the docs."""
    settings = load_settings()
    app = create_app(settings)
    host = host or settings.host
    port = port or settings.port
    console.print(f"Accord on http://{host}:{port}/  (register: /register, API docs: /docs)")
    uvicorn.run(app, host=host, port=port, log_level="warning")
