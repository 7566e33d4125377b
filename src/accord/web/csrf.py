"""Cross-site request forgery protection for the public comment form.

Choice: a *signed double-submit cookie* (OWASP's recommended stateless
pattern). Commenters are anonymous, so there is no server-side session to hold
a synchroniser token. Instead:

* the page that shows the form sets a random nonce in a cookie
  (HttpOnly, SameSite=Strict, scoped to /register, Secure over HTTPS), and
* puts HMAC(server secret, nonce) in a hidden form field.

A post is accepted only when the field matches the HMAC of the cookie it came
with. Another site can make a browser send the form, but it cannot read our
cookie or compute the HMAC, and with SameSite=Strict the browser does not even
attach the cookie to a cross-site post. Signing (rather than copying the nonce
into the form) means a cookie planted by a sibling sub-domain or a plain-HTTP
man in the middle is useless without the server secret.

Checking only the Origin header was rejected: some proxies and privacy tools
strip it, and behind a load balancer the Host the app sees may not be the one
the browser used, so honest comments would be refused.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

COOKIE = "accord_csrf"
FIELD = "csrf_token"
COOKIE_PATH = "/register"
_NONCE = re.compile(r"^[A-Za-z0-9_-]{32,64}$")


class CsrfGuard:
    def __init__(self, secret: str) -> None:
        # A key of its own, so a form token can never stand in for any other keyed hash the hub makes.
        self._key = hmac.new(secret.encode(), b"accord.web.csrf.v1", hashlib.sha256).digest()

    @staticmethod
    def new_nonce() -> str:
        return secrets.token_urlsafe(32)

    @staticmethod
    def usable(nonce: str | None) -> bool:
        return bool(nonce and _NONCE.match(nonce))

    def token_for(self, nonce: str) -> str:
        return hmac.new(self._key, nonce.encode(), hashlib.sha256).hexdigest()

    def accepts(self, nonce: str | None, token: str | None) -> bool:
        if not self.usable(nonce) or not token:
            return False
        return hmac.compare_digest(self.token_for(nonce), token)  # type: ignore[arg-type]
