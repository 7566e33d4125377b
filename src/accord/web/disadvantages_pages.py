"""Pages: a council officer finds the households in their area facing multiple disadvantages.

How access is protected: an officer signs in as a person (accord.web.officer_sign_in:
OpenID Connect, or the development identity provider; a server-side session whose
cookie carries only a random id). Each request reads the session afresh, so signing
out or deactivating the officer ends it at once, even for a copied cookie. A request
is made for the officer's own council only, needs a role holding ``body.act``, and
is recorded with the officer's name. Every form carries a CSRF token (the signed
double-submit cookie of accord.web.csrf, here scoped to /disadvantages). The
results page is sent with ``Cache-Control: no-store`` and the households are
not kept by Accord: reloading does not show them again.

A face only: everything else is accord.services.disadvantages, exactly as the
API and the CLI use it, with the same decisions recorded.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Cookie, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from accord.errors import AccordError
from accord.registry import roles
from accord.registry.agreements import list_agreements, parties
from accord.runtime import Hub
from accord.services import disadvantages
from accord.services.officers import OfficerIdentity
from accord.web import csrf, officer_sign_in
from accord.web.forms import PAGE, error_list

router = APIRouter(include_in_schema=False)

PATH = "/disadvantages"
CSRF_COOKIE = "accord_disadvantages_csrf"
NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
FormText = Annotated[str, Form(max_length=1000)]


# ------------------------------------------------------------------ session


def _hub(request: Request) -> Hub:
    return request.app.state.hub


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


def _form(request: Request, officer: OfficerIdentity, *, values: dict | None = None,
          errors: dict[str, str] | None = None, status: int = 200) -> HTMLResponse:
    hub = _hub(request)
    errors = errors or {}
    factors, least = disadvantages.objective_factors(hub.framework)
    return _render(
        request, "identify.html", status=status, title="Find households facing multiple disadvantages",
        officer=officer.name, body_id=officer.body_id, agreements=_agreements(hub, officer.body_id),
        factors=factors, least=least, values=values or {}, errors=errors, error_list=error_list(errors),
    )


@router.get(PATH, response_class=HTMLResponse)
def start(request: Request) -> HTMLResponse:
    officer = officer_sign_in.signed_in(request)
    if officer is None:
        return _render(request, "sign_in.html", title="Sign in to find households")
    if officer_sign_in.lacks(officer, roles.ACT):
        return officer_sign_in.refused_page(request, officer, roles.ACT, "disadvantages")
    return _form(request, officer)


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
    officer = officer_sign_in.signed_in(request)
    if officer is None:
        return RedirectResponse(PATH, status_code=303)
    if officer_sign_in.lacks(officer, roles.ACT):
        return officer_sign_in.refused_page(request, officer, roles.ACT, "disadvantages")
    hub = _hub(request)
    factors, least = disadvantages.objective_factors(hub.framework)
    values = {"agreement": agreement, "min_factors": min_factors}
    errors: dict[str, str] = {}
    if agreement not in {item["value"] for item in _agreements(hub, officer.body_id)}:
        errors["agreement"] = "Select the agreement you are asking under"
    minimum = None
    if min_factors.strip():
        if not min_factors.strip().isdigit() or not least <= int(min_factors.strip()) <= len(factors):
            errors["min_factors"] = f"Number of factors must be a whole number from {least} to {len(factors)}"
        else:
            minimum = int(min_factors.strip())
    if errors:
        return _form(request, officer, values=values, errors=errors, status=400)
    try:
        actor = officer_sign_in.actor_for(officer, getattr(request.state, "request_id", None))
        reply = disadvantages.identify(hub, actor, agreement, min_factors=minimum)
    except AccordError as problem:
        errors = {PAGE: _sentence(str(problem))}
        return _form(request, officer, values=values, errors=errors, status=problem.status if problem.status < 500
                     else 409)
    if not reply.ok:
        return _render(request, "refused.html", status=403, title="The request was refused", result=reply.body,
                       officer=officer.name)
    titles = _factor_titles(hub)
    answer = reply.body
    return _render(request, "results.html", title="Households facing multiple disadvantages", result=answer,
                   answer=answer, titles=titles, considered=[titles[n] for n in answer["factors_considered"]],
                   officer=officer.name, body_id=officer.body_id)


@router.post(f"{PATH}/sign-out", response_class=HTMLResponse)
def sign_out(
    request: Request,
    csrf_token: FormText = "",
    csrf_cookie: Annotated[str | None, Cookie(alias=CSRF_COOKIE)] = None,
) -> Response:
    if not _form_trusted(request, csrf_token, csrf_cookie):
        return _expired(request)
    officer_sign_in.end(request)  # on the server: a copy of the cookie no longer works either
    response = RedirectResponse(PATH, status_code=303)
    officer_sign_in.forget(response)
    return response
