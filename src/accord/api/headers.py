"""Security headers on every response: a Content-Security-Policy without inline script, and friends.

Pages get ``default-src 'self'``: scripts, styles, fonts and images come from the service
only, and no inline script runs but the one GOV.UK's page template carries, allowed by its
hash (GOV.UK Frontend's own guidance). ``frame-ancestors 'none'`` (and ``X-Frame-Options:
DENY`` for older browsers) stops framing; ``form-action`` keeps forms posting to the service
(and to the OpenID Connect provider, when one is configured). JSON gets the same headers,
which cost it nothing.

FastAPI's API documentation pages (/docs, /redoc) load Swagger UI and ReDoc from their CDN and
start them with an inline script, so they get a policy of their own: the CDN is allowed, and the
inline script only by the hash of what the app itself sent (computed per response; nothing a
client sends is in those pages). See docs/adr/0014-edge-hardening.md.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})
DOCS_CDN = "https://cdn.jsdelivr.net"
ALWAYS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def page_policy(script_hashes: tuple[str, ...], form_targets: tuple[str, ...] = ()) -> str:
    return "; ".join([
        "default-src 'self'",
        " ".join(["script-src 'self'", *script_hashes]),
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        " ".join(["form-action 'self'", *form_targets]),
        "frame-ancestors 'none'",
    ])


def docs_policy(script_hashes: list[str]) -> str:
    return "; ".join([
        "default-src 'self'",
        " ".join(["script-src 'self'", DOCS_CDN, *script_hashes]),
        f"style-src 'self' 'unsafe-inline' {DOCS_CDN} https://fonts.googleapis.com",  # Swagger UI and ReDoc style inline
        "font-src 'self' https://fonts.gstatic.com",
        "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly",
        "worker-src 'self' blob:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])


def origin_of(url: str | None) -> tuple[str, ...]:
    """``scheme://host[:port]`` of a URL, for a policy's source list (none for no URL)."""
    if not url:
        return ()
    parts = urlsplit(url)
    return (f"{parts.scheme}://{parts.netloc}",) if parts.scheme in ("http", "https") and parts.netloc else ()


class SecurityHeaders:
    """Adds the headers to every HTTP response that does not set its own."""

    def __init__(self, app: ASGIApp, policy: str, hashes_of: object) -> None:
        self.app = app
        self.headers = {**ALWAYS, "Content-Security-Policy": policy}
        self.hashes_of = hashes_of  # (html text) -> CSP hashes of its inline scripts, for the docs pages

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope.get("path") in DOCS_PATHS:
            await self._docs(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, with_headers)

    async def _docs(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Hold the (small) documentation page until its inline scripts are hashed into its policy."""
        start: Message | None = None
        body = bytearray()

        async def held(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] == "http.response.body":
                body.extend(message.get("body", b""))
                if message.get("more_body", False):
                    return
                assert start is not None
                headers = MutableHeaders(scope=start)
                for name, value in ALWAYS.items():
                    headers.setdefault(name, value)
                headers["Content-Security-Policy"] = docs_policy(self.hashes_of(body.decode("utf-8", "replace")))
                headers["Content-Length"] = str(len(body))
                await send(start)
                await send({"type": "http.response.body", "body": bytes(body)})
                return
            await send(message)

        await self.app(scope, receive, held)
