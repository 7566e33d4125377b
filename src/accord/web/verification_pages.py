"""Pages: an officer checks one applicant and sees the grade (never the record).

An officer signs in as a person (accord.web.officer_sign_in: OpenID Connect, or
the development identity provider; a server-side session whose cookie carries
only a random id). Every request reads the session afresh, so signing out or
deactivating the officer ends it at once; a check is made for the officer's own
body only, needs a role holding ``body.act``, and is recorded with the officer's
name. Every form carries a CSRF token: the signed double-submit cookie of the
consultation form (accord.web.csrf), here scoped to /verification.

A face only: validation wording is GOV.UK's, and everything else is
accord.services.verification, exactly as the API and the CLI use it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Cookie, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from accord.errors import InvalidInput, NotFound
from accord.registry import roles
from accord.registry.agreements import list_agreements, parties
from accord.runtime import Hub
from accord.services import verification
from accord.services.officers import OfficerIdentity
from accord.web import csrf, officer_sign_in
from accord.web.forms import PAGE, error_list

router = APIRouter(include_in_schema=False)

PATH = "/verification"
CSRF_COOKIE = "accord_verification_csrf"
_DIGITS = re.compile(r"^\d{1,4}$")

FormText = Annotated[str, Form(max_length=1000)]


# ------------------------------------------------------------------ helpers


def _hub(request: Request) -> Hub:
    return request.app.state.hub


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


def _render_form(request: Request, officer: OfficerIdentity, *, nonce: str, form: CheckForm | None = None,
                 errors: dict[str, str] | None = None, status: int = 200) -> HTMLResponse:
    errors = errors or {}
    return _render(
        request, "verification/check.html", nonce=nonce, status=status, title="Check an applicant's details",
        officer=officer.name, body_id=officer.body_id, agreements=_agreements(_hub(request), officer.body_id),
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
    officer = officer_sign_in.signed_in(request)
    if officer is None:
        return _render(request, "verification/sign_in.html", nonce=_nonce(request), title="Sign in to check applicants")
    if officer_sign_in.lacks(officer, roles.ACT):
        return officer_sign_in.refused_page(request, officer, roles.ACT, "verification")
    return _render_form(request, officer, nonce=_nonce(request))


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
    officer = officer_sign_in.signed_in(request)
    if officer is None:
        return RedirectResponse(PATH, status_code=303)
    if officer_sign_in.lacks(officer, roles.ACT):
        return officer_sign_in.refused_page(request, officer, roles.ACT, "verification")
    hub = _hub(request)
    form = CheckForm(agreement, reference, first_name, middle_name, surname, dob_day, dob_month, dob_year,
                     postcode, address, nino)
    known = {item["value"] for item in _agreements(hub, officer.body_id)}
    errors = form.errors(known)
    if not errors:
        actor = officer_sign_in.actor_for(officer)
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
                title="Check result" if reply.ok else "Check refused", officer=officer.name,
                answer=reply.body, allowed=reply.ok, reference=form.reference.strip(),
                labels=verification.FIELD_LABELS,
            )
    return _render_form(request, officer, nonce=csrf_cookie or _nonce(request), form=form, errors=errors, status=400)


@router.post(f"{PATH}/sign-out", response_class=HTMLResponse)
def sign_out(
    request: Request,
    csrf_token: FormText = "",
    csrf_cookie: Annotated[str | None, Cookie(alias=CSRF_COOKIE)] = None,
) -> Response:
    if not _csrf_ok(request, csrf_token, csrf_cookie):
        return _expired(request)
    officer_sign_in.end(request)  # on the server: a copy of the cookie no longer works either
    response = RedirectResponse(PATH, status_code=303)
    officer_sign_in.forget(response)
    return response
