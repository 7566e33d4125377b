"""Pages: a council officer finds the households in their area facing multiple disadvantages.

How access is protected: Accord has no staff single sign-on, so an officer signs
in with their council's API client id and secret (the same credentials as
``POST /oauth/token``) and their own name. The page obtains a bearer token with
that grant and keeps it, with the name, in a signed cookie (itsdangerous, key
derived from the hub's secret for this use only; HttpOnly, SameSite=Strict,
Secure over HTTPS, scoped to /disadvantages) that lives no longer than the
token. Each request resolves the token exactly as the API does, so a revoked or
rotated client is refused at once; signing out revokes the token, so a copied
cookie stops working too. Every form carries a CSRF token (the signed
double-submit cookie of accord.web.csrf, here scoped to /disadvantages). The
results page is sent with ``Cache-Control: no-store`` and the households are
not kept by Accord: reloading does not show them again.

A face only: everything else is accord.services.disadvantages, exactly as the
API and the CLI use it, with the same decisions recorded.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Cookie, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from accord.clock import utcnow
from accord.errors import AccordError, Unauthorised
from accord.privacy import labels
from accord.privacy.pseudonymise import derive_key
from accord.registry.agreements import list_agreements, parties
from accord.registry.credentials import Caller, issue_token, resolve_token, revoke_token
from accord.runtime import Hub
from accord.services import disadvantages
from accord.services.unit_of_work import Actor
from accord.web import csrf
from accord.web.forms import PAGE, error_list

router = APIRouter(include_in_schema=False)

PATH = "/disadvantages"
SESSION_COOKIE = "accord_disadvantages"
CSRF_COOKIE = "accord_disadvantages_csrf"
NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
FormText = Annotated[str, Form(max_length=1000)]


# ------------------------------------------------------------------ session


def _hub(request: Request) -> Hub:
    return request.app.state.hub


def _serializer(hub: Hub) -> URLSafeTimedSerializer:
    key = derive_key(hub.settings.secret_key.get_secret_value(), labels.WEB_SESSIONS["disadvantages"])
    return URLSafeTimedSerializer(key, salt="accord.web.disadvantages.session")


def _signed_in(request: Request) -> tuple[Caller, str, str] | None:
    """(caller, officer, token) when the cookie holds a token the API would still accept."""
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    hub = _hub(request)
    try:
        data = _serializer(hub).loads(raw, max_age=hub.settings.token_ttl_seconds)
        token, officer = str(data["t"]), str(data["o"])
    except (BadSignature, KeyError, TypeError, ValueError):
        return None
    try:
        with hub.transaction() as session:
            caller = resolve_token(session, token, utcnow())
    except Unauthorised:
        return None
    return caller, officer, token


def _nonce(request: Request) -> str:
    existing = request.cookies.get(CSRF_COOKIE)
    return existing if csrf.CsrfGuard.usable(existing) else csrf.CsrfGuard.new_nonce()


def _render(request: Request, template: str, *, status: int = 200, **context: object) -> HTMLResponse:
    nonce = _nonce(request)
    response = request.app.state.pages.render(
        f"disadvantages/{template}", status=status, headers=NO_STORE, current="disadvantages",
        csrf_field=csrf.FIELD, csrf_token=request.app.state.csrf.token_for(nonce), **context,
    )
    if request.cookies.get(CSRF_COOKIE) != nonce:
        response.set_cookie(CSRF_COOKIE, nonce, path=PATH, httponly=True, samesite="strict",
                            secure=request.url.scheme == "https")
    return response


def _form_trusted(request: Request, token: str, cookie: str | None) -> bool:
    return request.app.state.csrf.accepts(cookie, token)


def _expired(request: Request) -> HTMLResponse:
    return _render(request, "expired.html", status=403, title="Your form was not sent")


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


# ------------------------------------------------------------------ views


def _agreements(hub: Hub, body_id: str) -> list[dict]:
    """The body's multiple_disadvantages agreements as a recipient, for the select."""
    with hub.transaction() as session:
        return [
            {"value": a.id, "text": f"{a.name} ({a.status})"}
            for a in list_agreements(session, body=body_id, gateway=disadvantages.PURPOSE.gateway)
            if a.objective == disadvantages.PURPOSE.objective and body_id in parties(a, "recipient")
        ]


def _factor_titles(hub: Hub) -> dict[str, str]:
    factors, _least = disadvantages.objective_factors(hub.framework)
    return {name: factor.title for name, factor in factors.items()}


def _form(request: Request, signed: tuple[Caller, str, str], *, values: dict | None = None,
          errors: dict[str, str] | None = None, status: int = 200) -> HTMLResponse:
    caller, officer, _token = signed
    hub = _hub(request)
    errors = errors or {}
    factors, least = disadvantages.objective_factors(hub.framework)
    return _render(
        request, "identify.html", status=status, title="Find households facing multiple disadvantages",
        officer=officer, body_id=caller.body_id, agreements=_agreements(hub, caller.body_id),
        factors=factors, least=least, values=values or {}, errors=errors, error_list=error_list(errors),
    )


@router.get(PATH, response_class=HTMLResponse)
def start(request: Request) -> HTMLResponse:
    signed = _signed_in(request)
    if signed is None:
        return _render(request, "sign_in.html", title="Sign in to find households", values={}, errors={},
                       error_list=[])
    return _form(request, signed)


@router.post(f"{PATH}/sign-in", response_class=HTMLResponse)
def sign_in(
    request: Request,
    client_id: FormText = "",
    client_secret: FormText = "",
    officer: FormText = "",
    csrf_token: FormText = "",
    csrf_cookie: Annotated[str | None, Cookie(alias=CSRF_COOKIE)] = None,
) -> Response:
    if not _form_trusted(request, csrf_token, csrf_cookie):
        return _expired(request)
    hub = _hub(request)
    name = officer.strip()
    errors: dict[str, str] = {}
    if not client_id.strip():
        errors["client_id"] = "Enter your council's API client id"
    if not client_secret:
        errors["client_secret"] = "Enter your council's API client secret"
    if not name:
        errors["officer"] = "Enter your name"
    elif len(name) > 200 or not name.isprintable():
        errors["officer"] = "Name must be 200 printable characters or fewer"
    if not errors:
        try:
            with hub.transaction() as session:
                token, _client = issue_token(session, client_id.strip()[:64], client_secret, utcnow(),
                                             hub.settings.token_ttl_seconds)
        except AccordError:
            errors["client_id"] = "The client id and secret do not match an active API client"
    if errors:
        return _render(request, "sign_in.html", status=400, title="Sign in to find households", errors=errors,
                       error_list=error_list(errors), values={"client_id": client_id, "officer": officer})
    response = RedirectResponse(PATH, status_code=303)
    response.set_cookie(
        SESSION_COOKIE, _serializer(hub).dumps({"t": token, "o": name}), path=PATH,
        max_age=hub.settings.token_ttl_seconds, httponly=True, samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post(f"{PATH}/identify", response_class=HTMLResponse)
def identify(
    request: Request,
    agreement: FormText = "",
    min_factors: FormText = "",
    csrf_token: FormText = "",
    csrf_cookie: Annotated[str | None, Cookie(alias=CSRF_COOKIE)] = None,
) -> Response:
    if not _form_trusted(request, csrf_token, csrf_cookie):
        return _expired(request)
    signed = _signed_in(request)
    if signed is None:
        return RedirectResponse(PATH, status_code=303)
    caller, officer, _token = signed
    hub = _hub(request)
    factors, least = disadvantages.objective_factors(hub.framework)
    values = {"agreement": agreement, "min_factors": min_factors}
    errors: dict[str, str] = {}
    if agreement not in {item["value"] for item in _agreements(hub, caller.body_id)}:
        errors["agreement"] = "Select the agreement you are asking under"
    minimum = None
    if min_factors.strip():
        if not min_factors.strip().isdigit() or not least <= int(min_factors.strip()) <= len(factors):
            errors["min_factors"] = f"Number of factors must be a whole number from {least} to {len(factors)}"
        else:
            minimum = int(min_factors.strip())
    if errors:
        return _form(request, signed, values=values, errors=errors, status=400)
    request_id = getattr(request.state, "request_id", None) or f"web-{uuid.uuid4().hex[:16]}"
    try:
        actor = Actor(caller.body_id, officer, request_id, caller.client_id, caller.is_admin)
        reply = disadvantages.identify(hub, actor, agreement, min_factors=minimum)
    except AccordError as problem:
        errors = {PAGE: _sentence(str(problem))}
        return _form(request, signed, values=values, errors=errors, status=problem.status if problem.status < 500
                     else 409)
    if not reply.ok:
        return _render(request, "refused.html", status=403, title="The request was refused", result=reply.body,
                       officer=officer)
    titles = _factor_titles(hub)
    answer = reply.body
    return _render(request, "results.html", title="Households facing multiple disadvantages", result=answer,
                   answer=answer, titles=titles, considered=[titles[n] for n in answer["factors_considered"]],
                   officer=officer, body_id=caller.body_id)


@router.post(f"{PATH}/sign-out", response_class=HTMLResponse)
def sign_out(
    request: Request,
    csrf_token: FormText = "",
    csrf_cookie: Annotated[str | None, Cookie(alias=CSRF_COOKIE)] = None,
) -> Response:
    if not _form_trusted(request, csrf_token, csrf_cookie):
        return _expired(request)
    signed = _signed_in(request)
    if signed is not None:
        with _hub(request).transaction() as session:  # a copy of the cookie no longer works either
            revoke_token(session, signed[2], utcnow())
    response = RedirectResponse(PATH, status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=PATH)
    return response
