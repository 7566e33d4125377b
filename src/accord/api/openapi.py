"""The OpenAPI document is the contract: declare every error as problem+json.

FastAPI documents only success responses and its own 422 shape. Every Accord
error is an RFC 9457 problem (see problems.py), so the document is completed
in one place: each operation lists the problem statuses it can return, all
with the ``Problem`` schema and the ``application/problem+json`` media type.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from accord.api.problems import PROBLEM, TITLES

PROBLEM_SCHEMA = {
    "title": "Problem",
    "type": "object",
    "description": "An RFC 9457 problem: every Accord error has this shape.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": "Always about:blank: the status says what kind of problem it is"},
        "title": {"type": "string", "description": "The status in words"},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "A sentence saying what is wrong and, where it helps, what to do"},
        "instance": {"type": "string", "description": "The path requested"},
        "problems": {"type": "array", "items": {"type": "string"}, "description": "Each input at fault, named"},
        "request_id": {"type": "string", "description": "Quote this when asking for help"},
    },
}

ALWAYS = (400, 404, 413, 422, 500)
WHEN_AUTHENTICATED = (401, 403)
WHEN_WRITING = (409,)


def _problem(status: int) -> dict:
    return {
        "description": TITLES.get(status, "Error"),
        "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def install(app: FastAPI) -> None:
    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        document = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        schemas["Problem"] = PROBLEM_SCHEMA
        for schemas_name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(schemas_name, None)
        for path_item in document.get("paths", {}).values():
            for method, operation in path_item.items():
                statuses = list(ALWAYS)
                if operation.get("security"):
                    statuses += WHEN_AUTHENTICATED
                if method in ("post", "put", "patch", "delete"):
                    statuses += WHEN_WRITING
                responses = operation.setdefault("responses", {})
                for status in statuses:
                    responses[str(status)] = _problem(status)
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
