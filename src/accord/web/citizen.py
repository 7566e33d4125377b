""""Who used my data": citizens sign in and see every logged use of their data.

Sign-in is either the built-in development identity provider (choose one of
the synthetic demo people; refused in production by the settings) or an
OpenID Connect provider (Authlib: discovery, PKCE, state, nonce and ID-token
checks). Either way the session holds only the person's pseudonymous key and
display name, in a signed cookie scoped to /citizen. The page shows only that
person's entries; embargoed ones stay hidden until their embargo ends.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from authlib.integrations.starlette_client import OAuth, OAuthError
from joserfc.errors import JoseError
from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.middleware.sessions import SessionMiddleware

from accord.api.problems import problem
from accord.clock import utcnow
from accord.errors import InvalidInput
from accord.privacy import labels
from accord.privacy.pseudonymise import derive_key
from accord.runtime import Hub
from accord.services import citizens

router = APIRouter(include_in_schema=False)
SESSION_COOKIE = "accord_citizen"
OIDC_CLIENT = "citizen_idp"


def install(app: FastAPI) -> None:
    hub: Hub = app.state.hub
    settings = hub.settings
    key = derive_key(settings.secret_key.get_secret_value(), labels.WEB_SESSIONS["citizen"]).hex()
    app.add_middleware(
        SessionMiddleware,
        secret_key=key,
        session_cookie=SESSION_COOKIE,
        max_age=settings.citizen_session_minutes * 60,
        path="/citizen",
        same_site="lax",
        https_only=settings.environment == "production",
    )
    if settings.identity_provider == "oidc":
        oauth = OAuth()
        oauth.register(
            name=OIDC_CLIENT,
            server_metadata_url=settings.oidc_issuer.rstrip("/") + "/.well-known/openid-configuration",
            client_id=settings.oidc_client_id,
            client_secret=settings.oidc_client_secret.get_secret_value() if settings.oidc_client_secret else None,
            client_kwargs={"scope": settings.oidc_scopes, "code_challenge_method": "S256"},
        )
        app.state.oidc = oauth
    app.include_router(router)


def _hub(request: Request) -> Hub:
    return request.app.state.hub


def _render(request: Request, template: str, status: int = 200, **context: object) -> HTMLResponse:
    return request.app.state.pages.render(template, status=status, current="citizen", **context)


def _signed_in(request: Request) -> dict | None:
    """The signed-in person, if the cookie names a session that has not ended or expired."""
    person = request.session.get("person")
    session_id = request.session.get("sid")
    if not (isinstance(person, dict) and person.get("key") and isinstance(person.get("keys"), list)
            and isinstance(session_id, str)):
        return None
    if not citizens.session_live(_hub(request), session_id, person["key"], utcnow()):
        request.session.clear()
        return None
    return person


def _form_token(request: Request) -> str:
    token = request.session.get("form_token")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["form_token"] = token
    return token


def _form_token_ok(request: Request, given: str) -> bool:
    expected = request.session.get("form_token")
    return bool(expected and given and hmac.compare_digest(expected, given))


@router.get("/citizen", response_class=HTMLResponse)
def my_data(request: Request) -> Response:
    person = _signed_in(request)
    if person is None:
        return _render(request, "citizen_start.html", title="See who has used your data")
    hub = _hub(request)
    entries = citizens.accesses(hub, tuple(person["keys"]), utcnow())
    return _render(
        request,
        "citizen_accesses.html",
        title="Who has used your data",
        person=person,
        entries=entries,
        form_token=_form_token(request),
    )


@router.get("/citizen/accesses.json", response_model=None)
def my_data_json(request: Request) -> Response:
    person = _signed_in(request)
    if person is None:
        return problem(request, 401, "sign in at /citizen/sign-in to see who has used your data")
    entries = citizens.accesses(_hub(request), tuple(person["keys"]), utcnow())
    return JSONResponse({"person": person["name"], "count": len(entries), "accesses": entries})


@router.get("/citizen/sign-in", response_class=HTMLResponse)
async def sign_in(request: Request) -> Response:
    hub = _hub(request)
    if hub.settings.identity_provider == "oidc":
        redirect_uri = str(request.url_for("oidc_callback"))
        return await request.app.state.oidc.create_client(OIDC_CLIENT).authorize_redirect(request, redirect_uri)
    return _render(
        request,
        "citizen_sign_in.html",
        title="Sign in (development identity provider)",
        people=citizens.demo_citizens(_hub(request).settings.data_dir),
        form_token=_form_token(request),
    )


@router.post("/citizen/sign-in", response_class=HTMLResponse)
def development_sign_in(
    request: Request,
    person: Annotated[str, Form(max_length=20)] = "",
    form_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    hub = _hub(request)
    if hub.settings.identity_provider != "development":
        return problem(request, 404, f"there is nothing at {request.url.path}")
    if not _form_token_ok(request, form_token):
        return _render(request, "citizen_expired.html", status=403, title="Your sign-in was not sent", back="/citizen/sign-in")
    chosen = next((p for p in citizens.demo_citizens(_hub(request).settings.data_dir) if p.nino == person), None)
    if chosen is None:
        return _render(
            request,
            "citizen_sign_in.html",
            status=400,
            title="Sign in (development identity provider)",
            people=citizens.demo_citizens(_hub(request).settings.data_dir),
            form_token=_form_token(request),
            error="Select the person you want to sign in as",
        )
    _start_session(request, hub, chosen.keys(hub), chosen.name)
    return RedirectResponse("/citizen", status_code=303)


@router.get("/citizen/callback", name="oidc_callback", response_class=HTMLResponse)
async def oidc_callback(request: Request) -> Response:
    hub = _hub(request)
    if hub.settings.identity_provider != "oidc":
        return problem(request, 404, f"there is nothing at {request.url.path}")
    try:
        token = await request.app.state.oidc.create_client(OIDC_CLIENT).authorize_access_token(request)
    except OAuthError as exc:
        return problem(request, 401, f"sign-in did not complete: {exc.description or exc.error}")
    except JoseError as exc:  # the ID token failed a check: signature, issuer, audience, expiry or nonce
        return problem(request, 401, f"sign-in did not complete: the identity token was not valid ({exc.error})")
    claims = token.get("userinfo") or {}
    identifier = claims.get(hub.settings.oidc_identifier_claim)
    if not isinstance(identifier, str) or not identifier:
        return problem(
            request, 403, f"the identity provider did not share '{hub.settings.oidc_identifier_claim}', "
            "so your records cannot be found"
        )
    try:
        key = hub.person_key(hub.settings.oidc_identifier_scheme, identifier)
    except InvalidInput as exc:
        return problem(request, 403, f"the identity provider's identifier was not usable: {exc.detail}")
    # The person's name and date of birth, where the provider verified and shared them, find the
    # records of bodies that hold no National Insurance number (services.subjects).
    named = citizens.identity_keys(hub, first_name=claims.get("given_name"), surname=claims.get("family_name"),
                                   dob=claims.get("birthdate"))
    keys = tuple(dict.fromkeys((key, *named)))
    _start_session(request, hub, keys, str(claims.get("name") or claims.get("given_name") or "you"))
    return RedirectResponse("/citizen", status_code=303)


def _start_session(request: Request, hub: Hub, keys: tuple[str, ...], name: str) -> None:
    request.session.clear()
    request.session["sid"] = citizens.start_session(hub, keys[0], utcnow())
    request.session["person"] = {"key": keys[0], "keys": list(keys), "name": name[:200]}
    request.session["form_token"] = secrets.token_urlsafe(32)


@router.post("/citizen/sign-out", response_class=HTMLResponse)
def sign_out(request: Request, form_token: Annotated[str, Form(max_length=100)] = "") -> Response:
    if _signed_in(request) and not _form_token_ok(request, form_token):
        return _render(request, "citizen_expired.html", status=403, title="You were not signed out", back="/citizen")
    session_id = request.session.get("sid")
    if isinstance(session_id, str):
        citizens.end_session(_hub(request), session_id, utcnow())
    request.session.clear()
    return RedirectResponse("/citizen", status_code=303)
