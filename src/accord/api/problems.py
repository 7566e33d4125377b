"""Every error as application/problem+json (RFC 9457), with a human sentence.

Malformed input is a 4xx, never a 500; an unexpected error is a 500 that says
nothing about internals and carries the request id for support.
"""

from __future__ import annotations

import logging
import re

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from accord.errors import AccordError
from accord.files import server_paths, without_server_paths

PROBLEM = "application/problem+json"
log = logging.getLogger("accord.api")

TITLES = {
    400: "Bad request",
    401: "Unauthorised",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    410: "Gone",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Invalid input",
    429: "Too many requests",
    500: "Internal server error",
}


def problem(
    request: Request, status: int, detail: str, *, problems: list[str] | None = None, headers: dict | None = None
) -> JSONResponse:
    hidden = _server_paths(request)
    body: dict = {
        "type": "about:blank",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": without_server_paths(detail, hidden),
        "instance": request.url.path,
    }
    if problems:
        body["problems"] = [without_server_paths(each, hidden) for each in problems]
    request_id = getattr(request.state, "request_id", None)
    if request_id:
        body["request_id"] = request_id
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _server_paths(request: Request) -> re.Pattern[str]:
    """The pattern of the server's own paths (the last guard: no error names a server file)."""
    app = request.scope.get("app")
    hub = getattr(app.state, "hub", None) if app is not None else None
    if hub is None:
        return server_paths()
    return hub.cache("server_paths", lambda: server_paths(hub.settings.data_dir))


def _location(loc: tuple) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    return ".".join(parts) if parts else "body"


def install(app: FastAPI) -> None:
    @app.exception_handler(AccordError)
    async def _accord_error(request: Request, exc: AccordError) -> JSONResponse:
        headers = {"WWW-Authenticate": 'Bearer realm="accord"'} if exc.status == 401 else {}
        retry_after = getattr(exc, "retry_after", None)  # a throttled caller is told when to come back
        if retry_after is not None:
            headers["Retry-After"] = str(int(retry_after))
        return problem(request, exc.status, exc.detail, problems=exc.problems, headers=headers or None)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for error in exc.errors():
            if error.get("type") == "json_invalid":
                return problem(request, 400, "the request body is not valid JSON")
            problems.append(f"{_location(tuple(error.get('loc', ())))}: {error.get('msg', 'invalid')}")
        return problem(request, 422, "the request is not valid", problems=problems)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else TITLES.get(exc.status_code, "Error")
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"there is nothing at {request.url.path}"
        if exc.status_code == 405 and detail == "Method Not Allowed":
            detail = f"{request.method} is not allowed on {request.url.path}"
        return problem(request, exc.status_code, detail, headers=getattr(exc, "headers", None))

    @app.exception_handler(DataError)
    async def _unstorable(request: Request, exc: DataError) -> JSONResponse:
        # The database refused a value the request supplied (e.g. a NUL character on
        # PostgreSQL). The transaction was rolled back: nothing was stored.
        return problem(request, 422, "a value in the request cannot be stored (check for control characters)")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(request, 500, "something went wrong on our side; the request was not completed")
