"""Officers sign in to the pages as people: OpenID Connect, or the development identity provider.

The one place officers sign in, for every officers' page (``/officer``, ``/verification``,
``/disadvantages``):

* **Who.** The officers' identity provider (``ACCORD_OFFICER_IDENTITY_PROVIDER=oidc``: Authlib,
  with discovery, PKCE, state, nonce and ID-token checks) vouches for a subject (``sub``),
  which must be a registered, active officer's (``accord officers add``). In development, the
  built-in development identity provider offers the registered officers to choose from; it is
  refused in production by the settings, as the citizens' one is. Every refusal is a GOV.UK
  page, and comes through ``services.officers.sign_in``.
* **The session** is held on the server (``officer_sessions``). The cookie carries only a random
  session id: HttpOnly, SameSite=Lax (it must come back from the provider's redirect), Secure in
  production, and set only for the officers' pages' paths. Each request reads the session, and
  the officer, afresh: signing out or deactivating the officer ends it at once, even for a copy
  of the cookie. The cookie never carries a bearer token.
* **API access.** A signed-in officer may take a short-lived API token of their own, shown once.

The OIDC round trip keeps its state and nonce in a short-lived signed cookie scoped to
``/officer`` (Starlette's session middleware, on a copy of the request scope so that it never
touches the citizens' session).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from authlib.integrations.starlette_client import OAuth, OAuthError
from fastapi import APIRouter, Cookie, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from joserfc.errors import JoseError
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from accord.api.addresses import client_address
from accord.api.problems import problem
from accord.clock import utcnow
from accord.privacy import labels
from accord.privacy.pseudonymise import derive_key
from accord.registry import roles
from accord.runtime import Hub
from accord.services import officers, throttle
from accord.services.officers import OfficerIdentity, SignInRefused
from accord.services.unit_of_work import Actor
from accord.web import csrf

router = APIRouter(include_in_schema=False)

PREFIX = "/officer"
COOKIE = "accord_officer"
PAGES = (PREFIX, "/verification", "/disadvantages")  # the paths the session cookie is sent to, and no others
CSRF_COOKIE = "accord_officer_csrf"
FLOW_COOKIE = "accord_officer_oidc"
OIDC_CLIENT = "officer_idp"
NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
FormText = Annotated[str, Form(max_length=200)]


class _FlowSession:
    """Starlette's signed-cookie session for the OIDC round trip, on ``/officer/`` paths only."""

    def __init__(self, app: ASGIApp, **options: object) -> None:
        self.app = app
        self.sessions = SessionMiddleware(app, **options)  # type: ignore[arg-type]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(PREFIX + "/"):
            await self.sessions(dict(scope), receive, send)  # a copy: the citizens' session is left alone
        else:
            await self.app(scope, receive, send)


def install(app: FastAPI) -> None:
    settings = app.state.hub.settings
    if settings.officer_identity_provider == "oidc":
        oauth = OAuth()
        oauth.register(
            name=OIDC_CLIENT,
            server_metadata_url=settings.officer_oidc_issuer.rstrip("/") + "/.well-known/openid-configuration",
            client_id=settings.officer_oidc_client_id,
            client_secret=(settings.officer_oidc_client_secret.get_secret_value()
                           if settings.officer_oidc_client_secret else None),
            client_kwargs={"scope": settings.officer_oidc_scopes, "code_challenge_method": "S256"},
        )
        app.state.officer_oidc = oauth
        key = derive_key(settings.secret_key.get_secret_value(), labels.WEB_SESSIONS["officer"]).hex()
        app.add_middleware(_FlowSession, secret_key=key, session_cookie=FLOW_COOKIE, max_age=600, path=PREFIX,
                           same_site="lax", https_only=settings.environment == "production")
    app.include_router(router)


# ------------------------------------------------------------------ what the other pages use


def signed_in(request: Request) -> OfficerIdentity | None:
    """The officer whose live session the cookie names, read afresh from the database."""
    session_id = request.cookies.get(COOKIE)
    if not session_id or len(session_id) > 100:
        return None
    return officers.session_officer(_hub(request), session_id, utcnow())


def sign_in_redirect(area: str) -> RedirectResponse:
    return RedirectResponse(f"{PREFIX}/sign-in?next={area}", status_code=303)


def lacks(officer: OfficerIdentity, right: str) -> bool:
    return not roles.may(officer.roles, right)


def refused_page(request: Request, officer: OfficerIdentity, right: str, current: str) -> HTMLResponse:
    """The GOV.UK page for an officer whose roles do not hold the right a page needs."""
    return _render(request, "officer/not_permitted.html", status=403, title="You cannot use this service",
                   current=current, officer=officer, right=right, holders=roles.holders(right))


def actor_for(officer: OfficerIdentity, request_id: str | None = None) -> Actor:
    """The officer acting from a page: for their own body only, named as the audit log names people."""
    return Actor(body_id=officer.body_id, officer=officer.label, request_id=request_id or f"web-{uuid.uuid4().hex}",
                 is_admin=officer.hub_operator and roles.may(officer.roles, roles.ACT), officer_id=officer.id)


def _settle(request: Request, response: Response, officer: OfficerIdentity) -> Response:
    """Start the server-side session and hand its id to the browser, for the officers' pages only."""
    session_id = officers.start_session(_hub(request), officer, utcnow())
    minutes = _hub(request).settings.officer_session_minutes
    for path in PAGES:
        response.set_cookie(COOKIE, session_id, path=path, max_age=minutes * 60, httponly=True, samesite="lax",
                            secure=_secure(request))
    return response


def _secure(request: Request) -> bool:
    return _hub(request).settings.environment == "production" or request.url.scheme == "https"


# ------------------------------------------------------------------ helpers


def _hub(request: Request) -> Hub:
    return request.app.state.hub


def _nonce(request: Request) -> str:
    existing = request.cookies.get(CSRF_COOKIE)
    return existing if csrf.CsrfGuard.usable(existing) else csrf.CsrfGuard.new_nonce()


def _render(request: Request, template: str, *, status: int = 200, current: str = "officer",
            **context: object) -> HTMLResponse:
    nonce = _nonce(request)
    response = request.app.state.pages.render(
        template, status=status, headers=NO_STORE, current=current, csrf_field=csrf.FIELD,
        csrf_token=request.app.state.csrf.token_for(nonce), **context)
    if request.cookies.get(CSRF_COOKIE) != nonce:
        response.set_cookie(CSRF_COOKIE, nonce, path=PREFIX, httponly=True, samesite="strict",
                            secure=_secure(request))
    return response


def _form_trusted(request: Request, token: str, cookie: str | None) -> bool:
    return request.app.state.csrf.accepts(cookie, token)


def _next(value: str | None) -> str:
    """Where to go after signing in: one of the officers' pages, never another site."""
    return value if value in PAGES else PREFIX


def _refused(request: Request, refusal: SignInRefused | throttle.TooManyRequests) -> HTMLResponse:
    if isinstance(refusal, throttle.TooManyRequests):  # locked out after repeated failures
        response = _render(request, "officer/refused.html", status=429, title="You cannot sign in yet",
                           reason=refusal.detail[:1].upper() + refusal.detail[1:] + ".")
        response.headers["Retry-After"] = str(refusal.retry_after)
        return response
    return _render(request, "officer/refused.html", status=403, title="You cannot sign in", reason=refusal.detail)


def _address(request: Request) -> str:
    return client_address(request, _hub(request).settings)


# ------------------------------------------------------------------ pages


@router.get(PREFIX, response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    officer = signed_in(request)
    if officer is None:
        return _render(request, "officer/start.html", title="Sign in as an officer")
    return _render(request, "officer/home.html", title="Your officer account", officer=officer,
                   role_names=[roles.ROLES[r] for r in officer.roles if r in roles.ROLES])


@router.get(f"{PREFIX}/sign-in", response_class=HTMLResponse)
async def sign_in(request: Request, next: Annotated[str | None, Query(max_length=100)] = None) -> Response:  # noqa: A002
    hub = _hub(request)
    if hub.settings.officer_identity_provider == "oidc":
        request.session["next"] = _next(next)
        redirect_uri = str(request.url_for("officer_oidc_callback"))
        return await request.app.state.officer_oidc.create_client(OIDC_CLIENT).authorize_redirect(request, redirect_uri)
    return _choose(request, _next(next))


def _choose(request: Request, next_page: str, error: str = "", status: int = 200) -> HTMLResponse:
    return _render(request, "officer/sign_in.html", status=status, title="Sign in (development identity provider)",
                   officers=officers.demo_officers(_hub(request)), next_page=next_page, error=error)


@router.post(f"{PREFIX}/sign-in", response_class=HTMLResponse)
def development_sign_in(
    request: Request,
    officer: FormText = "",
    then: Annotated[str, Form(alias="next", max_length=100)] = "",
    csrf_token: FormText = "",
    csrf_cookie: Annotated[str | None, Cookie(alias=CSRF_COOKIE)] = None,
) -> Response:
    hub = _hub(request)
    if hub.settings.officer_identity_provider != "development":
        return problem(request, 404, f"there is nothing at {request.url.path}")
    if not _form_trusted(request, csrf_token, csrf_cookie):
        return _render(request, "officer/expired.html", status=403, title="Your sign-in was not sent")
    next_page = _next(then)
    # Any registered officer, deactivated ones too: a stale form's choice is refused by sign_in, with a reason.
    subject = next((o["subject"] for o in officers.list_(hub) if o["id"] == officer), None)
    if subject is None:
        return _choose(request, next_page, "Select the officer you want to sign in as", 400)
    try:
        identity = officers.sign_in(hub, subject, address=_address(request))
    except (SignInRefused, throttle.TooManyRequests) as refusal:
        return _refused(request, refusal)
    return _settle(request, RedirectResponse(next_page, status_code=303), identity)


@router.get(f"{PREFIX}/callback", name="officer_oidc_callback", response_class=HTMLResponse)
async def oidc_callback(request: Request) -> Response:
    hub = _hub(request)
    if hub.settings.officer_identity_provider != "oidc":
        return problem(request, 404, f"there is nothing at {request.url.path}")
    try:
        token = await request.app.state.officer_oidc.create_client(OIDC_CLIENT).authorize_access_token(request)
    except OAuthError as exc:
        return _refused(request, officers.refuse(
            hub, f"Sign-in did not complete: {exc.description or exc.error}.", address=_address(request)))
    except JoseError as exc:  # the ID token failed a check: signature, issuer, audience, expiry or nonce
        return _refused(request, officers.refuse(
            hub, f"Sign-in did not complete: the identity token was not valid ({exc.error}).",
            address=_address(request)))
    subject = (token.get("userinfo") or {}).get("sub")
    try:
        identity = officers.sign_in(hub, subject if isinstance(subject, str) else "", address=_address(request))
    except (SignInRefused, throttle.TooManyRequests) as refusal:
        return _refused(request, refusal)
    next_page = _next(request.session.pop("next", None))
    return _settle(request, RedirectResponse(next_page, status_code=303), identity)


@router.post(f"{PREFIX}/sign-out", response_class=HTMLResponse)
def sign_out(
    request: Request,
    csrf_token: FormText = "",
    csrf_cookie: Annotated[str | None, Cookie(alias=CSRF_COOKIE)] = None,
) -> Response:
    if not _form_trusted(request, csrf_token, csrf_cookie):
        return _render(request, "officer/expired.html", status=403, title="You were not signed out")
    end(request)
    response = RedirectResponse(PREFIX, status_code=303)
    forget(response)
    return response


def end(request: Request) -> None:
    """End the session on the server: a copy of the cookie signs no one in."""
    session_id = request.cookies.get(COOKIE)
    if session_id and len(session_id) <= 100:
        officers.end_session(_hub(request), session_id, utcnow())


def forget(response: Response) -> None:
    for path in PAGES:
        response.delete_cookie(COOKIE, path=path)


@router.post(f"{PREFIX}/api-token", response_class=HTMLResponse)
def api_token(
    request: Request,
    csrf_token: FormText = "",
    csrf_cookie: Annotated[str | None, Cookie(alias=CSRF_COOKIE)] = None,
) -> Response:
    if not _form_trusted(request, csrf_token, csrf_cookie):
        return _render(request, "officer/expired.html", status=403, title="Your request was not sent")
    officer = signed_in(request)
    if officer is None:
        return sign_in_redirect(PREFIX)
    token = officers.issue_api_token(_hub(request), officer, utcnow())
    return _render(request, "officer/api_token.html", title="Your API token", officer=officer, token=token,
                   minutes=_hub(request).settings.officer_token_ttl_seconds // 60)
