"""Pages: an officer checks one applicant and sees the grade (never the record).

Signing in reuses the API's credentials, because Accord has no staff single
sign-on. The officer gives their body's API client id and secret and their own
name. The page obtains a bearer token with the same OAuth grant that
``POST /oauth/token`` uses, and keeps it in a signed cookie (itsdangerous;
HttpOnly, SameSite=Strict, scoped to /verification) that expires with the
token. Every request resolves the token as the API does, so a revoked or
rotated client is refused at once, and signing out revokes the token. Every
form carries a CSRF token: the signed double-submit cookie of the consultation
form (accord.web.csrf), here scoped to /verification.

A face only: validation wording is GOV.UK's, and everything else is
accord.services.verification, exactly as the API and the CLI use it.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Cookie, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from accord.clock import utcnow
from accord.errors import AccordError, InvalidInput, NotFound, Unauthorised
from accord.privacy import labels
from accord.privacy.pseudonymise import derive_key
from accord.registry.agreements import list_agreements, parties
from accord.registry.credentials import Caller, issue_token, resolve_token, revoke_token
from accord.runtime import Hub
from accord.services import verification
from accord.services.unit_of_work import Actor
from accord.web import csrf
from accord.web.forms import PAGE, error_list

router = APIRouter(include_in_schema=False)

PATH = "/verification"
SESSION_COOKIE = "accord_verification"
CSRF_COOKIE = "accord_verification_csrf"
_SALT = "accord.web.verification.session"
_DIGITS = re.compile(r"^\d{1,4}$")

FormText = Annotated[str, Form(max_length=1000)]


# ------------------------------------------------------------------ helpers


def _hub(request: Request) -> Hub:
    return request.app.state.hub


def _serializer(hub: Hub) -> URLSafeTimedSerializer:
    key = derive_key(hub.settings.secret_key.get_secret_value(), labels.WEB_SESSIONS["verification"])
    return URLSafeTimedSerializer(key, salt=_SALT)


def _signed_in(request: Request) -> tuple[Caller, str, str] | None:
    """(caller, officer, token) if the cookie holds a token the API would still accept."""
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


def _render(request: Request, template: str, *, nonce: str, status: int = 200, **context: object) -> HTMLResponse:
    response = request.app.state.pages.render(
        template, status=status, current="verification", csrf_field=csrf.FIELD,
        csrf_token=request.app.state.csrf.token_for(nonce), **context,
    )
    if request.cookies.get(CSRF_COOKIE) != nonce:
        response.set_cookie(CSRF_COOKIE, nonce, path=PATH, httponly=True, samesite="strict",
                            secure=request.url.scheme == "https")
    return response


def _csrf_ok(request: Request, token: str, cookie: str | None) -> bool:
    return request.app.state.csrf.accepts(cookie, token)


def _expired(request: Request) -> HTMLResponse:
    return _render(request, "verification/expired.html", nonce=_nonce(request), status=403,
                   title="Your form was not sent")


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _agreements(hub: Hub, body_id: str) -> list[dict]:
    """The agreements the body receives data under, for the form's select."""
    with hub.transaction() as session:
        found = list_agreements(session, body=body_id)
        return [
            {"value": a.id, "text": f"{a.name} ({a.status})"}
            for a in found
            if body_id in parties(a, "recipient")
        ]


# ------------------------------------------------------------------ the form


@dataclass(frozen=True)
class CheckForm:
    agreement: str = ""
    reference: str = ""
    first_name: str = ""
    middle_name: str = ""
    surname: str = ""
    dob_day: str = ""
    dob_month: str = ""
    dob_year: str = ""
    postcode: str = ""
    address: str = ""
    nino: str = ""

    def dob(self) -> str | None:
        parts = (self.dob_day.strip(), self.dob_month.strip(), self.dob_year.strip())
        if not all(_DIGITS.match(p) for p in parts) or len(parts[2]) != 4:
            return None
        try:
            return date(int(parts[2]), int(parts[1]), int(parts[0])).isoformat()
        except ValueError:
            return None

    def errors(self, agreements: set[str]) -> dict[str, str]:
        """GOV.UK-worded errors, in page order; the service checks the rest (valid postcode, NINO)."""
        errors = {}
        if self.agreement not in agreements:
            errors["agreement"] = "Select the agreement you are checking under"
        if len(self.reference) > 100:
            errors["reference"] = "Reference must be 100 characters or fewer"
        for name, label in (("first_name", "first name"), ("middle_name", "middle name"), ("surname", "surname")):
            value = getattr(self, name)
            if name != "middle_name" and not value.strip():
                errors[name] = f"Enter the applicant's {label}"
            elif len(value) > 200:
                errors[name] = f"{label.capitalize()} must be 200 characters or fewer"
        if not any((self.dob_day.strip(), self.dob_month.strip(), self.dob_year.strip())):
            errors["dob"] = "Enter the applicant's date of birth"
        elif self.dob() is None:
            errors["dob"] = "Date of birth must be a real date, like 27 3 1961"
        if not self.postcode.strip():
            errors["postcode"] = "Enter the applicant's postcode"
        for name, label in (("postcode", "Postcode"), ("address", "Address"), ("nino", "National Insurance number")):
            if len(getattr(self, name)) > 200:
                errors[name] = f"{label} must be 200 characters or fewer"
        return errors

    def details(self) -> dict[str, str]:
        values = {"first_name": self.first_name, "middle_name": self.middle_name, "surname": self.surname,
                  "dob": self.dob() or "", "postcode": self.postcode, "address": self.address, "nino": self.nino}
        return {name: value.strip() for name, value in values.items() if value.strip()}


_SERVICE_FIELD = re.compile(r"^applicant\.(\w+): (.*)$")


def _service_errors(problem: InvalidInput) -> dict[str, str]:
    """The service's per-field problems ("applicant.postcode: ...") as form errors."""
    errors = {}
    for text in problem.problems:
        match = _SERVICE_FIELD.match(text)
        if match and match[1] in verification.APPLICANT_FIELDS:
            errors[match[1]] = _sentence(match[2])
        else:
            errors[PAGE] = _sentence(text)
    return errors or {PAGE: _sentence(problem.detail)}


def _render_form(request: Request, signed: tuple[Caller, str, str], *, nonce: str, form: CheckForm | None = None,
                 errors: dict[str, str] | None = None, status: int = 200) -> HTMLResponse:
    caller, officer, _token = signed
    errors = errors or {}
    return _render(
        request, "verification/check.html", nonce=nonce, status=status, title="Check an applicant's details",
        officer=officer, body_id=caller.body_id, agreements=_agreements(_hub(request), caller.body_id),
        form=form or CheckForm(), errors=errors, error_list=_error_list(errors),
    )


def _error_list(errors: dict[str, str]) -> list[dict[str, str]]:
    """As forms.error_list, but a date's error links to its first box (the GOV.UK pattern)."""
    items = error_list(errors)
    for item in items:
        if item.get("href") == "#dob":
            item["href"] = "#dob-day"
    return items


# ------------------------------------------------------------------ pages


@router.get(PATH, response_class=HTMLResponse)
def start(request: Request) -> HTMLResponse:
    signed = _signed_in(request)
    if signed is None:
        return _render(request, "verification/sign_in.html", nonce=_nonce(request),
                       title="Sign in to check applicants", errors={}, error_list=[], values={})
    return _render_form(request, signed, nonce=_nonce(request))


@router.post(f"{PATH}/sign-in", response_class=HTMLResponse)
def sign_in(
    request: Request,
    client_id: FormText = "",
    client_secret: FormText = "",
    officer: FormText = "",
    csrf_token: FormText = "",
    csrf_cookie: Annotated[str | None, Cookie(alias=CSRF_COOKIE)] = None,
) -> Response:
    if not _csrf_ok(request, csrf_token, csrf_cookie):
        return _expired(request)
    hub = _hub(request)
    errors: dict[str, str] = {}
    if not client_id.strip():
        errors["client_id"] = "Enter your organisation's API client id"
    if not client_secret:
        errors["client_secret"] = "Enter your organisation's API client secret"
    if not officer.strip():
        errors["officer"] = "Enter your name"
    elif len(officer.strip()) > 200 or not officer.strip().isprintable():
        errors["officer"] = "Name must be 200 printable characters or fewer"
    if not errors:
        try:
            with hub.transaction() as session:
                token, _client = issue_token(session, client_id.strip()[:64], client_secret, utcnow(),
                                             hub.settings.token_ttl_seconds)
        except (Unauthorised, AccordError):
            errors["client_id"] = "The client id and secret do not match an active API client"
    if errors:
        return _render(request, "verification/sign_in.html", nonce=csrf_cookie or _nonce(request), status=400,
                       title="Sign in to check applicants", errors=errors, error_list=error_list(errors),
                       values={"client_id": client_id, "officer": officer})
    response = RedirectResponse(PATH, status_code=303)
    response.set_cookie(
        SESSION_COOKIE, _serializer(hub).dumps({"t": token, "o": officer.strip()}), path=PATH,
        max_age=hub.settings.token_ttl_seconds, httponly=True, samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post(f"{PATH}/check", response_class=HTMLResponse)
def check(
    request: Request,
    agreement: FormText = "",
    reference: FormText = "",
    first_name: FormText = "",
    middle_name: FormText = "",
    surname: FormText = "",
    dob_day: Annotated[str, Form(alias="dob-day", max_length=10)] = "",
    dob_month: Annotated[str, Form(alias="dob-month", max_length=10)] = "",
    dob_year: Annotated[str, Form(alias="dob-year", max_length=10)] = "",
    postcode: FormText = "",
    address: FormText = "",
    nino: FormText = "",
    csrf_token: FormText = "",
    csrf_cookie: Annotated[str | None, Cookie(alias=CSRF_COOKIE)] = None,
) -> Response:
    if not _csrf_ok(request, csrf_token, csrf_cookie):
        return _expired(request)
    signed = _signed_in(request)
    if signed is None:
        return RedirectResponse(PATH, status_code=303)
    caller, officer, _token = signed
    hub = _hub(request)
    form = CheckForm(agreement, reference, first_name, middle_name, surname, dob_day, dob_month, dob_year,
                     postcode, address, nino)
    known = {item["value"] for item in _agreements(hub, caller.body_id)}
    errors = form.errors(known)
    if not errors:
        actor = Actor(caller.body_id, officer, f"web-{uuid.uuid4().hex}", caller.client_id, caller.is_admin)
        check_request = verification.CheckRequest(
            form.agreement, ((form.reference.strip() or None, form.details()),), single=True)
        try:
            reply = verification.check(hub, actor, check_request)
        except InvalidInput as refused:
            errors = _service_errors(refused)
        except NotFound as missing:
            errors = {PAGE: _sentence(missing.detail)}
        else:
            return _render(
                request, "verification/result.html", nonce=csrf_cookie or _nonce(request),
                title="Check result" if reply.ok else "Check refused", officer=officer,
                answer=reply.body, allowed=reply.ok, reference=form.reference.strip(),
                labels=verification.FIELD_LABELS,
            )
    return _render_form(request, signed, nonce=csrf_cookie or _nonce(request), form=form, errors=errors, status=400)


@router.post(f"{PATH}/sign-out", response_class=HTMLResponse)
def sign_out(
    request: Request,
    csrf_token: FormText = "",
    csrf_cookie: Annotated[str | None, Cookie(alias=CSRF_COOKIE)] = None,
) -> Response:
    if not _csrf_ok(request, csrf_token, csrf_cookie):
        return _expired(request)
    signed = _signed_in(request)
    if signed is not None:
        with _hub(request).transaction() as session:  # a copy of the cookie no longer works either
            revoke_token(session, signed[2], utcnow())
    response = RedirectResponse(PATH, status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=PATH)
    return response
