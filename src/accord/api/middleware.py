"""Request ids and the request-body limits, applied before any route runs.

The limit depends on the route, never on the ``Content-Type`` the client sends:

* every route takes at most ``ACCORD_MAX_BODY_BYTES``, counted while the body streams in
  (a ``Content-Length`` over it is refused before anything is read);
* a route that depends on an upload marker (``deps.UploadDep``, ``deps.BatchDep``) takes up to
  the marker's own setting, and only from an authenticated caller: the guard streams the body,
  chunk by chunk, to a file under the data directory and gives the route that file;
* on any route that needs a caller (it depends on ``deps.authenticated``), a request with a
  body is authenticated first, so a missing or wrong token is a 401 before a byte is read.

Routes are found in the app's own route table, with the same matching the router uses.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from accord.api import deps
from accord.api.problems import problem
from accord.errors import Unauthorised

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
REPLAY_CHUNK = 1 << 16
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_TARGETS_KEPT = 4096


@dataclass(frozen=True)
class RouteNeeds:
    """What the guard must do before a route reads its body."""

    caller: bool = False  # the route authenticates its caller
    limit_setting: str = "max_body_bytes"  # the setting that limits its body
    upload: bool = False  # the body is streamed to a file first


def _calls(dependant) -> list:  # noqa: ANN001 - a FastAPI Dependant
    found = []
    for dependency in dependant.dependencies:
        found.append(dependency.call)
        found.extend(_calls(dependency))
    return found


def route_needs(route: BaseRoute) -> RouteNeeds:
    """Read from the route's declared dependencies: authentication, and an upload marker if any."""
    dependant = getattr(route, "dependant", None)
    original = getattr(route, "original_route", route)
    if dependant is None and isinstance(original, APIRoute):
        dependant = original.dependant
    if dependant is None:
        return RouteNeeds()
    calls = _calls(dependant)
    setting = next((deps.upload_limit_setting(c) for c in calls if deps.upload_limit_setting(c)), None)
    caller = any(call is deps.authenticated for call in calls)
    if setting:
        return RouteNeeds(caller=True, limit_setting=setting, upload=True)
    return RouteNeeds(caller=caller)


def _every_route(routes: list[BaseRoute]) -> Iterator[BaseRoute]:
    """The app's routes in the router's order, an included router's as their effective (prefixed) routes."""
    for route in routes:
        contexts = getattr(route, "effective_route_contexts", None)  # FastAPI's included routers
        if contexts is not None:
            yield from contexts()
        else:
            yield route


class RequestLimits:
    """Assigns X-Request-Id, authenticates before reading, and limits every body by its route (413 problem+json)."""

    def __init__(self, app: ASGIApp, routes: list[BaseRoute]) -> None:
        self.app = app
        self.routes = routes  # the app's route table (a live list: routers added later are seen)
        self._needs: dict[int, tuple[BaseRoute, RouteNeeds]] = {}  # by the declared route (held, so ids stay unique)
        self._by_target: dict[tuple[str, str], RouteNeeds] = {}  # the hot paths (/v1/decisions) skip the matching

    def needs(self, scope: Scope) -> RouteNeeds:
        target = (scope["method"], scope.get("root_path", "") + scope["path"])
        known = self._by_target.get(target)
        if known is None:
            if len(self._by_target) >= _TARGETS_KEPT:  # ids in paths make targets many: start again
                self._by_target.clear()
            known = self._by_target[target] = self._match(scope)
        return known

    def _match(self, scope: Scope) -> RouteNeeds:
        for route in _every_route(self.routes):
            match, _ = route.matches(scope)
            if match is Match.FULL:
                declared = getattr(route, "original_route", route)
                known = self._needs.get(id(declared))
                if known is None:
                    known = self._needs[id(declared)] = (declared, route_needs(route))
                return known[1]
        return RouteNeeds()  # no route: nothing will read the body (404, 405)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        given = request.headers.get("x-request-id", "")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
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
        if declared is not None and not declared.isdigit():
            await problem(request, 400, "the Content-Length header is not a number")(scope, receive, send_with_id)
            return
        has_body = (declared is not None and int(declared) > 0) or "transfer-encoding" in request.headers
        if not has_body and scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send_with_id)
            return
        needs = self.needs(scope)
        if not has_body and not needs.upload:  # nothing to read; an upload route still gets its (empty) file
            await self.app(scope, receive, send_with_id)
            return

        hub = scope["app"].state.hub
        if needs.caller:
            refusal = await _authenticate(hub, request, scope)
            if refusal is not None:
                await problem(request, 401, refusal.detail, headers={"WWW-Authenticate": 'Bearer realm="accord"'})(
                    scope, receive, send_with_id)
                return
        limit = int(getattr(hub.settings, needs.limit_setting))
        if declared is not None and int(declared) > limit:
            await _too_large(request, limit, scope, receive, send_with_id)
            return
        if needs.upload:
            await self._upload(hub, request, limit, scope, receive, send_with_id)
        else:
            await self._limited(request, limit, scope, receive, send_with_id)

    async def _limited(self, request: Request, limit: int, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app, counting the body as it reads it: past the limit, the answer is 413."""
        received = 0
        too_large = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    too_large = True
                    raise _BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            if too_large:  # the app answered a body cut off at the limit: answer 413 instead
                raise _BodyTooLarge
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _BodyTooLarge:
            await _too_large(request, limit, scope, receive, send)

    async def _upload(self, hub, request: Request, limit: int, scope: Scope, receive: Receive, send: Send) -> None:  # noqa: ANN001
        """Stream the body to a file under the data directory (never whole in memory), then run the app on it."""
        directory = hub.settings.data_dir
        directory.mkdir(parents=True, exist_ok=True)
        handle = tempfile.NamedTemporaryFile(dir=directory, prefix=".upload-", delete=False)  # noqa: SIM115
        path = Path(handle.name)
        try:
            digest, size = hashlib.sha256(), 0
            with handle:
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > limit:
                        handle.close()
                        await _too_large(request, limit, scope, receive, send)
                        return
                    digest.update(chunk)
                    handle.write(chunk)
                    if not message.get("more_body", False):
                        break
            content_type = request.headers.get("content-type", "")
            scope["state"][deps.UPLOADED] = deps.Upload(path, size, digest.hexdigest(), content_type)
            await self.app(scope, _replay(path), send)
        finally:
            handle.close()
            path.unlink(missing_ok=True)


def _replay(path: Path) -> Receive:
    """A receive() that gives the app the spooled body again, a chunk at a time (for form parsers)."""
    handle = None
    done = False

    async def receive() -> Message:
        nonlocal handle, done
        if done:
            return {"type": "http.disconnect"}
        if handle is None:
            handle = path.open("rb")
        chunk = handle.read(REPLAY_CHUNK)
        more = len(chunk) == REPLAY_CHUNK
        if not more:
            handle.close()
            done = True
        return {"type": "http.request", "body": chunk, "more_body": more}

    return receive


async def _authenticate(hub, request: Request, scope: Scope) -> Unauthorised | None:  # noqa: ANN001
    """Resolve the bearer token as the route will (and leave it for the route); the refusal, if any."""
    try:
        token = deps.bearer_token(request.headers.get("authorization"))
        deps.remember_caller(scope, token, await deps.caller_for(hub, token))
    except Unauthorised as refusal:
        return refusal
    return None


async def _too_large(request: Request, limit: int, scope: Scope, receive: Receive, send: Send) -> None:
    response = problem(request, 413, f"the request body is larger than {limit} bytes, the limit for {request.url.path}")
    await response(scope, receive, send)


class _BodyTooLarge(Exception):
    pass


__all__ = ["RequestLimits", "RouteNeeds", "route_needs"]
