"""Pages: a citizen shares chosen driving licence items with a code; a third party checks a code.

The citizen's pages live under /citizen, inside the citizen session (its cookie is scoped there),
and use that session's form token against forged posts, as the sign-in and sign-out forms do.
The check page is for anyone holding a code (a hire company's desk), so it is anonymous: it asks
for the organisation's name (shown to the driver as given, not verified), protects its form with
the signed double-submit cookie of the comment form, and has the strictest guess limit, per
client address. Every rule is in accord.services.sharecodes; these views only ask and show.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Cookie, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from accord.api.addresses import client_address
from accord.api.problems import problem
from accord.clock import utcnow
from accord.errors import InvalidInput, NotFound
from accord.runtime import Hub
from accord.services import sharecodes
from accord.web import csrf
from accord.web.citizen import _form_token, _form_token_ok, _signed_in  # the citizen session's own helpers
from accord.web.forms import PAGE, error_list
from accord.web.present import long_date

router = APIRouter(include_in_schema=False)

HOME = "/citizen/share-codes"
CHECK = "/check-driving-licence"
CHECK_COOKIE = "accord_check_csrf"
MAX_ORGANISATION = 150
NO_STORE = {"Cache-Control": "no-store"}
STATUS_TAGS = {
    "active": ("Active", "govuk-tag--green"),
    "used": ("Used", "govuk-tag--grey"),
    "expired": ("Expired", "govuk-tag--grey"),
    "withdrawn": ("Withdrawn", "govuk-tag--red"),
}


def _hub(request: Request) -> Hub:
    return request.app.state.hub


def _render(request: Request, template: str, *, status: int = 200, current: str = "citizen",
            headers: dict | None = None, **context: object) -> HTMLResponse:
    return request.app.state.pages.render(
        f"sharecodes/{template}", status=status, current=current, headers=headers, **context
    )


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


# ------------------------------------------------------------------ the citizen's codes


@router.get(HOME, response_class=HTMLResponse)
def my_codes(request: Request, withdrawn: str | None = None) -> Response:
    person = _signed_in(request)
    if person is None:
        return RedirectResponse("/citizen/sign-in", status_code=303)
    codes = sharecodes.my_codes(_hub(request), tuple(person["keys"]))
    return _render(
        request,
        "index.html",
        title="Share your driving licence information",
        person=person,
        codes=codes,
        tags=STATUS_TAGS,
        withdrawn=any(c["id"] == withdrawn for c in codes),
        form_token=_form_token(request),
    )


@dataclass(frozen=True)
class ShareForm:
    licence_number: str = ""
    postcode: str = ""
    purpose: str = ""
    items: tuple[str, ...] = ()
    use: str = "single"
    days: str = ""

    def errors(self, offered: set[str], longest: int) -> dict[str, str]:
        """Field errors in page order, in GOV.UK words; the service checks everything again."""
        errors = {}
        try:
            sharecodes.normalise_licence(self.licence_number)
        except InvalidInput:
            errors["licence_number"] = (
                "Enter your driving licence number" if not self.licence_number.strip()
                else "Driving licence number must be 16 letters and numbers, as on your photocard"
            )
        if not self.postcode.strip():
            errors["postcode"] = "Enter the postcode on your driving licence"
        if self.purpose not in sharecodes.PURPOSES:
            errors["purpose"] = "Select why you are sharing your driving licence information"
        if not self.items:
            errors["items"] = "Select the information you want to share"
        elif not set(self.items) <= offered:
            errors["items"] = "Select only information from the list"
        if self.use not in ("single", "multiple"):
            errors["use"] = "Select whether the code can be used once or more than once"
        if self.days.strip():
            if not self.days.strip().isdigit() or not 1 <= int(self.days) <= longest:
                errors["days"] = f"Number of days must be a whole number from 1 to {longest}"
        return errors


def _offered(hub: Hub) -> list[sharecodes.Item]:
    try:
        return sharecodes.available_items(hub)
    except NotFound:
        return []


def _new_page(request: Request, form: ShareForm, errors: dict[str, str], status: int = 200) -> HTMLResponse:
    hub = _hub(request)
    offered = _offered(hub)
    return _render(
        request,
        "new.html",
        status=status,
        title="Create a share code",
        form=form,
        errors=errors,
        error_list=error_list(errors),
        offered=offered,
        purposes=list(sharecodes.PURPOSES.values()),
        default_days=sharecodes.validity_days(hub, None),
        longest=hub.settings.share_code_max_days,
        form_token=_form_token(request),
    )


@router.get(f"{HOME}/new", response_class=HTMLResponse)
def new_code(request: Request) -> Response:
    if _signed_in(request) is None:
        return RedirectResponse("/citizen/sign-in", status_code=303)
    return _new_page(request, ShareForm(), {})


Text = Annotated[str, Form(max_length=200)]


@router.post(f"{HOME}/new", response_class=HTMLResponse)
def create_code(
    request: Request,
    licence_number: Text = "",
    postcode: Text = "",
    purpose: Text = "",
    items: Annotated[list[str] | None, Form(max_length=20)] = None,
    use: Text = "single",
    days: Text = "",
    form_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    person = _signed_in(request)
    if person is None:
        return RedirectResponse("/citizen/sign-in", status_code=303)
    if not _form_token_ok(request, form_token):
        return _expired(request, "Your share code was not created", f"{HOME}/new")
    hub = _hub(request)
    form = ShareForm(licence_number, postcode, purpose, tuple(i[:64] for i in items or ()), use, days)
    offered = _offered(hub)
    if not offered:
        return _new_page(request, form, {PAGE: "Driving licence information cannot be shared at the moment"}, 503)
    errors = form.errors({item.name for item in offered}, hub.settings.share_code_max_days)
    if errors:
        return _new_page(request, form, errors, 400)
    try:
        made = sharecodes.create(
            hub,
            person["key"],  # the verified identifier's key: a licence is matched through it, not the name
            licence_number=form.licence_number,
            postcode=form.postcode,
            purpose=form.purpose,
            items=list(form.items),
            multiple_use=form.use == "multiple",
            days=int(form.days) if form.days.strip() else None,
        )
    except InvalidInput as refused:
        field = "licence_number" if "licence" in refused.detail else PAGE
        return _new_page(request, form, {field: _sentence(refused.detail)}, 400)
    except NotFound as refused:
        return _new_page(request, form, {PAGE: _sentence(refused.detail)}, 503)
    # Shown once, never stored: the page must not be cached or kept in history.
    return _render(request, "created.html", title="Your share code", made=made, headers=NO_STORE)


@router.post(f"{HOME}/{{share_code_id}}/withdraw", response_class=HTMLResponse)
def withdraw_code(
    request: Request, share_code_id: str, form_token: Annotated[str, Form(max_length=100)] = ""
) -> Response:
    person = _signed_in(request)
    if person is None:
        return RedirectResponse("/citizen/sign-in", status_code=303)
    if not _form_token_ok(request, form_token):
        return _expired(request, "Your share code was not withdrawn", HOME)
    try:
        sharecodes.withdraw(_hub(request), tuple(person["keys"]), share_code_id)
    except NotFound:
        return request.app.state.pages.render("not_found.html", status=404, title="Page not found", current="citizen")
    return RedirectResponse(f"{HOME}?withdrawn={share_code_id}", status_code=303)


@router.get(f"{HOME}/{{share_code_id}}/receipt.json", response_model=None)
def consent_receipt(request: Request, share_code_id: str) -> Response:
    person = _signed_in(request)
    if person is None:
        return problem(request, 401, "sign in at /citizen/sign-in to download your consent receipts")
    try:
        found = sharecodes.receipt(_hub(request), tuple(person["keys"]), share_code_id)
    except NotFound as missing:
        return problem(request, 404, missing.detail)
    name = re.sub(r"[^A-Za-z0-9_-]", "", found["receipt_header"]["receipt_id"])
    return JSONResponse(found, headers={"Content-Disposition": f'attachment; filename="consent-receipt-{name}.json"'})


def _expired(request: Request, title: str, back: str) -> HTMLResponse:
    return request.app.state.pages.render("citizen_expired.html", status=403, title=title, back=back, current="citizen")


# ------------------------------------------------------------------ the third party's check


def _nonce(request: Request) -> str:
    existing = request.cookies.get(CHECK_COOKIE)
    return existing if csrf.CsrfGuard.usable(existing) else csrf.CsrfGuard.new_nonce()


def _check_page(
    request: Request, *, nonce: str, values: dict | None = None, errors: dict[str, str] | None = None,
    status: int = 200, headers: dict | None = None,
) -> HTMLResponse:
    errors = errors or {}
    response = _render(
        request,
        "check.html",
        status=status,
        current="check",
        headers=headers,
        title="Check someone's driving licence information",
        values=values or {},
        errors=errors,
        error_list=error_list(errors),
        csrf_field=csrf.FIELD,
        csrf_token=request.app.state.csrf.token_for(nonce),
    )
    if request.cookies.get(CHECK_COOKIE) != nonce:
        response.set_cookie(CHECK_COOKIE, nonce, path=CHECK, httponly=True, samesite="strict",
                            secure=request.url.scheme == "https")
    return response


@router.get(CHECK, response_class=HTMLResponse)
def check_form(request: Request) -> HTMLResponse:
    return _check_page(request, nonce=_nonce(request))


@router.post(CHECK, response_class=HTMLResponse)
def check_code(
    request: Request,
    organisation: Text = "",
    code: Text = "",
    licence_suffix: Text = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    csrf_cookie: Annotated[str | None, Cookie(alias=CHECK_COOKIE)] = None,
) -> HTMLResponse:
    if not request.app.state.csrf.accepts(csrf_cookie, csrf_token):
        return _render(request, "check_expired.html", status=403, current="check", title="Your check was not sent")
    values = {"organisation": organisation, "code": code, "licence_suffix": licence_suffix}
    errors = {}
    if not organisation.strip():
        errors["organisation"] = "Enter the name of your organisation"
    elif len(organisation) > MAX_ORGANISATION:
        errors["organisation"] = f"Organisation name must be {MAX_ORGANISATION} characters or fewer"
    if not code.strip():
        errors["code"] = "Enter the share code"
    try:
        sharecodes.normalise_suffix(licence_suffix)
    except InvalidInput:
        errors["licence_suffix"] = (
            "Enter the last 8 characters of the driving licence number" if not licence_suffix.strip()
            else "Licence characters must be the last 8 letters and numbers of the driving licence number"
        )
    if errors:
        return _check_page(request, nonce=csrf_cookie or "", values=values, errors=errors, status=400)
    hub = _hub(request)
    address = client_address(request, hub.settings)
    redeemer = sharecodes.Redeemer.checker(hub, address, organisation)
    try:
        found = sharecodes.redeem(hub, code, licence_suffix, redeemer, request_id=request.state.request_id)
    except sharecodes.TooManyAttempts as refused:
        return _check_page(request, nonce=csrf_cookie or "", values=values, errors={PAGE: _sentence(refused.detail)},
                           status=429, headers={"Retry-After": str(refused.retry_after)})
    except sharecodes.ShareCodeUnusable as refused:
        return _check_page(request, nonce=csrf_cookie or "", values=values, errors={PAGE: _sentence(refused.detail)},
                           status=410)
    except NotFound as refused:
        return _check_page(request, nonce=csrf_cookie or "", values=values, errors={PAGE: _sentence(refused.detail)},
                           status=404)
    rows = [{"key": {"text": sharecodes.FIELD_LABELS.get(name, name)}, "value": {"text": _shown(name, value)}}
            for name, value in found.shared.items()]
    return _render(request, "checked.html", current="check", headers=NO_STORE,
                   title="Driving licence information", found=found, rows=rows)


def _shown(name: str, value: object) -> str:
    if value is None:
        return "Not recorded"
    if name == "licence_status":
        return {"valid": "Valid", "expired": "Expired"}.get(str(value), str(value))
    if isinstance(value, list):
        return ", ".join(value) or "None"
    if name in ("licence_valid_from", "licence_valid_to", "date_of_birth"):
        return long_date(str(value))
    return str(value)
