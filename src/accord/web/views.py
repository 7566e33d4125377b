"""The public pages: a start page, the register of agreements, one agreement, consultation comments.

A face only: every rule (what is published, who may comment and when) lives in
accord.registry; these views read the published register entry, show it with
the GOV.UK Design System and turn domain errors into GOV.UK error pages. The
pages are not part of the API contract, so they stay out of the OpenAPI document.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Cookie, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from accord.api.addresses import client_address
from accord.clock import utcnow
from accord.errors import Conflict, InvalidInput
from accord.files import server_paths
from accord.registry import agreements, lifecycle
from accord.registry.bodies import list_bodies
from accord.registry.datasets import dataset_names
from accord.registry.register import register_entries
from accord.runtime import Hub
from accord.services import throttle
from accord.services.purposes import purposes, resolve
from accord.web import citizen, csrf, officer_sign_in, present, rendering
from accord.web.forms import MAX_COMMENT, PAGE, CommentForm, RegisterFilters, error_list

router = APIRouter(include_in_schema=False)


def install(app: FastAPI) -> None:
    """Add the pages and the GOV.UK assets to the app; called once by create_app."""
    app.state.pages = rendering.Pages(rendering.environment(), hidden=server_paths(app.state.hub.settings.data_dir))
    app.state.csrf = csrf.CsrfGuard(app.state.hub.settings.secret_key.get_secret_value())
    app.include_router(router)
    officer_sign_in.install(app)  # before the citizens' session middleware, so that it runs inside it
    citizen.install(app)
    for path in purposes().pages:  # each purpose's pages, as its package registers them
        app.include_router(resolve(path))
    rendering.mount_static(app)
    rendering.mount_assets(app)


# ------------------------------------------------------------------ helpers


def _hub(request: Request) -> Hub:
    return request.app.state.hub


def _pages(request: Request) -> rendering.Pages:
    return request.app.state.pages


def _guard(request: Request) -> csrf.CsrfGuard:
    return request.app.state.csrf


def agreement_url(agreement_id: str) -> str:
    return f"/register/agreements/{quote(agreement_id, safe='')}"


def _not_found(request: Request) -> HTMLResponse:
    return _pages(request).render("not_found.html", status=404, title="Page not found")


def _body_names(session: Session) -> dict[str, str]:
    return {body.id: body.name for body in list_bodies(session)}


def _published(session: Session, agreement_id: str):  # noqa: ANN202 - an Agreement, or None
    """The agreement if the public may see it: drafts are as absent as unknown ids (``find_visible``)."""
    return agreements.find_visible(session, agreement_id, None)


# ------------------------------------------------------------------ start page


@router.get("/", response_class=HTMLResponse)
def start(request: Request) -> HTMLResponse:
    hub = _hub(request)
    with hub.transaction() as session:
        entries = register_entries(session, hub.framework, utcnow().date())
    consulting = [e for e in entries if e["status"] == "consultation"]
    return _pages(request).render(
        "start.html",
        title="The register of data-sharing agreements",
        current="start",
        framework=hub.framework,
        published=len(entries),
        consulting=consulting,
        agreement_url=agreement_url,
    )


# ------------------------------------------------------------------ the register


@router.get("/register/agreements", response_class=RedirectResponse)
def register_index() -> RedirectResponse:
    """People trim URLs: the list of agreements lives at /register."""
    return RedirectResponse("/register", status_code=308)


@router.get("/register", response_class=HTMLResponse)
def register(
    request: Request, body: str | None = None, gateway: str | None = None, status: str | None = None
) -> HTMLResponse:
    hub = _hub(request)
    filters = RegisterFilters.from_query(body, gateway, status)
    with hub.transaction() as session:
        names = _body_names(session)
        errors = filters.errors(set(names), set(hub.framework.gateways))
        entries: list[dict] = []
        if not errors:
            try:
                entries = register_entries(session, hub.framework, utcnow().date(), **filters.query())
            except InvalidInput as refused:  # the domain stays the authority on what may be filtered
                errors = {PAGE: _sentence(refused.detail)}
    return _pages(request).render(
        "register.html",
        status=400 if errors else 200,
        title="Register of data-sharing agreements",
        current="register",
        filters=filters,
        errors=errors,
        error_list=error_list(errors),
        entries=entries,
        body_names=names,
        selects=_filter_selects(hub, names, filters, errors),
        downloads=_downloads(filters),
        agreement_url=agreement_url,
    )


def _filter_selects(hub: Hub, names: dict[str, str], filters: RegisterFilters, errors: dict[str, str]) -> list[dict]:
    """govukSelect parameters for the three filters, options from the framework and registry."""
    gateway_options = [(name, gw.title) for name, gw in hub.framework.gateways.items()]
    body_options = sorted(names.items(), key=lambda item: item[1].lower())
    status_options = [(s, present.status_label(s)) for s in agreements.PUBLIC_STATUSES]
    specs = [
        ("body", "Public body", "All bodies", body_options),
        ("gateway", "Legal gateway", "All gateways", gateway_options),
        ("status", "Status", "All statuses", status_options),
    ]
    return [
        {
            "id": name,
            "name": name,
            "label": {"text": label},
            "classes": "govuk-!-width-full",
            "value": getattr(filters, name),
            "items": [{"value": "", "text": everything}] + [{"value": v, "text": t} for v, t in options],
            "errorMessage": {"text": errors[name]} if name in errors else None,
        }
        for name, label, everything, options in specs
    ]


def _downloads(filters: RegisterFilters) -> dict[str, str]:
    query = urlencode(filters.query())
    suffix = f"?{query}" if query else ""
    return {"json": f"/register/agreements.json{suffix}", "csv": f"/register/agreements.csv{suffix}"}


# ------------------------------------------------------------------ one agreement


def _agreement_view(session: Session, hub: Hub, agreement) -> dict:  # noqa: ANN001 - an Agreement
    """Everything the agreement page shows, read inside one transaction."""
    now = utcnow()
    entry = agreements.register_entry(agreement, hub.framework, now.date())
    dataset_ids = [item["dataset"] for item in entry["data_disclosed"]]
    datasets = dataset_names(session, dataset_ids)
    names = present.Names(bodies=_body_names(session), datasets=datasets)
    closes = agreement.consultation_closes_at
    return {
        "entry": entry,
        "sections": present.agreement_sections(entry, hub.framework, names),
        "history_rows": present.history_rows(entry),
        "consultation_open": agreement.status == "consultation" and (closes is None or now < closes),
        "comment_url": f"{agreement_url(agreement.id)}/comment",
        "json_url": f"{agreement_url(agreement.id)}.json",
    }


def _render_agreement(
    request: Request,
    view: dict,
    *,
    nonce: str,
    form: CommentForm | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    errors = errors or {}
    response = _pages(request).render(
        "agreement.html",
        status=status,
        title=view["entry"]["name"],
        current="register",
        form=form or CommentForm(),
        errors=errors,
        error_list=error_list(errors),
        csrf_field=csrf.FIELD,
        csrf_token=_guard(request).token_for(nonce),
        max_comment=MAX_COMMENT,
        **view,
    )
    _set_csrf_cookie(request, response, nonce)
    return response


def _set_csrf_cookie(request: Request, response: Response, nonce: str) -> None:
    """(Re)issue the form's cookie; see accord.web.csrf for why this pattern."""
    if request.cookies.get(csrf.COOKIE) == nonce:
        return
    response.set_cookie(
        csrf.COOKIE,
        nonce,
        path=csrf.COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def _nonce(request: Request) -> str:
    existing = request.cookies.get(csrf.COOKIE)
    return existing if csrf.CsrfGuard.usable(existing) else csrf.CsrfGuard.new_nonce()


@router.get("/register/agreements/{agreement_id}", response_class=HTMLResponse)
def agreement_page(request: Request, agreement_id: str) -> HTMLResponse:
    hub = _hub(request)
    with hub.transaction() as session:
        agreement = _published(session, agreement_id)
        view = _agreement_view(session, hub, agreement) if agreement else None
    if view is None:
        return _not_found(request)
    return _render_agreement(request, view, nonce=_nonce(request))


# ------------------------------------------------------------------ consultation comments

FormText = Annotated[str, Form()]


@router.post("/register/agreements/{agreement_id}/comment", response_class=HTMLResponse)
def post_comment(
    request: Request,
    agreement_id: str,
    author: FormText = "",
    organisation: FormText = "",
    comment: FormText = "",
    csrf_token: FormText = "",
    csrf_cookie: Annotated[str | None, Cookie(alias=csrf.COOKIE)] = None,
) -> Response:
    if not _guard(request).accepts(csrf_cookie, csrf_token):
        return _refused(request, agreement_id)
    hub = _hub(request)
    form = CommentForm(author=author, organisation=organisation, comment=comment)
    errors, status = form.errors(), 400
    headers: dict[str, str] = {}
    if not errors:
        try:
            throttle.hit(hub, "comments", {"address": client_address(request, hub.settings)})
            stored = _store_comment(hub, agreement_id, form)
        except throttle.TooManyRequests as refused:
            errors, status = {PAGE: _sentence(refused.detail)}, 429
            headers["Retry-After"] = str(refused.retry_after)
        except InvalidInput as refused:
            errors = {"comment": _sentence("; ".join(refused.problems) or refused.detail)}
        except Conflict as refused:
            errors, status = {PAGE: _sentence(refused.detail)}, 409
        else:
            if not stored:
                return _not_found(request)
            return RedirectResponse(f"{agreement_url(agreement_id)}/comment/sent", status_code=303)
    with hub.transaction() as session:
        agreement = _published(session, agreement_id)
        view = _agreement_view(session, hub, agreement) if agreement else None
    if view is None:
        return _not_found(request)
    response = _render_agreement(request, view, nonce=csrf_cookie or "", form=form, errors=errors, status=status)
    response.headers.update(headers)
    return response


def _store_comment(hub: Hub, agreement_id: str, form: CommentForm) -> bool:
    """Store the comment in its own transaction (False if there is no such published agreement).

    The domain may still refuse it (consultation closed, a limit it enforces);
    that raises, the transaction rolls back and the caller shows the reason.
    """
    with hub.transaction() as session:
        agreement = _published(session, agreement_id)
        if agreement is None:
            return False
        lifecycle.add_comment(
            session,
            agreement,
            author=form.author,
            organisation=form.organisation,
            comment=form.comment,
            now=utcnow(),
        )
        return True


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _refused(request: Request, agreement_id: str) -> HTMLResponse:
    """A post without a valid form token: nothing is stored, and the person can simply try again."""
    return _pages(request).render(
        "form_expired.html",
        status=403,
        title="Your comment was not sent",
        current="register",
        agreement_url=agreement_url(agreement_id),
    )


@router.get("/register/agreements/{agreement_id}/comment/sent", response_class=HTMLResponse)
def comment_sent(request: Request, agreement_id: str) -> HTMLResponse:
    hub = _hub(request)
    with hub.transaction() as session:
        agreement = _published(session, agreement_id)
        entry = agreements.register_entry(agreement, hub.framework, utcnow().date()) if agreement else None
    if entry is None:
        return _not_found(request)
    return _pages(request).render(
        "comment_sent.html",
        title="Comment sent",
        current="register",
        entry=entry,
        agreement_url=agreement_url(agreement_id),
    )
