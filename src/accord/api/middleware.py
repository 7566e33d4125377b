"""Request ids and the request-body size limit, applied before any route runs."""

from __future__ import annotations

import re
import uuid

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from accord.api.problems import problem

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


UPLOAD_TYPES = frozenset(
    {"text/csv", "application/vnd.apache.parquet", "application/octet-stream", "multipart/form-data"}
)


class RequestLimits:
    """Assigns X-Request-Id and refuses bodies over the limit with 413 problem+json.

    File uploads (CSV, Parquet, multipart) have their own, larger limit; every other body the small one.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int, max_upload_bytes: int | None = None) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max(max_upload_bytes or max_body_bytes, max_body_bytes)

    def _limit(self, request: Request) -> int:
        kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        return self.max_upload_bytes if kind in UPLOAD_TYPES else self.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        given = request.headers.get("x-request-id", "")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        received = 0
        too_large = False
        limit = self._limit(request)

        async def limited_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    too_large = True
                    raise _BodyTooLarge
            return message

        async def send_with_id(message: Message) -> None:
            if too_large:  # the app answered a body cut off at the limit: answer 413 instead
                raise _BodyTooLarge
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        raw_target = scope.get("raw_path", b"") + b"?" + scope.get("query_string", b"")
        if b"%00" in raw_target or b"\x00" in raw_target or "\x00" in scope.get("path", ""):
            await problem(request, 400, "the address contains a NUL character")(scope, receive, send_with_id)
            return

        declared = request.headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                await problem(request, 400, "the Content-Length header is not a number")(scope, receive, send_with_id)
                return
            if int(declared) > limit:
                await self._too_large(request, limit, scope, receive, send_with_id)
                return

        try:
            await self.app(scope, limited_receive, send_with_id)
        except _BodyTooLarge:
            too_large = False
            await self._too_large(request, limit, scope, receive, send_with_id)

    async def _too_large(self, request: Request, limit: int, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem(request, 413, f"the request body is larger than {limit} bytes")
        await response(scope, receive, send)


class _BodyTooLarge(Exception):
    pass
