"""Pages: Fuel-poverty eligibility (Warm Home Discount) jobs: an eligible / not matched flag per account.

One page: a job's status and progress, for the supplier's officers, at the
address the API gives the submitting body (``links.status_page``). Officers have
no browser sign-in, so the address carries a keyed hash of the job id
(``accord.services.jobs.status_key``); the page shows state, progress and
counts, never results (those need the body's API token). A wrong or missing key
is answered like an unknown job.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup, escape

from accord.clock import utcnow
from accord.services import jobs

router = APIRouter(include_in_schema=False)

NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
REFRESH_SECONDS = 5
STATE_TAGS = {
    "queued": ("Waiting to start", "govuk-tag--grey"),
    "running": ("In progress", "govuk-tag--light-blue"),
    "succeeded": ("Completed", "govuk-tag--green"),
    "failed": ("Failed", "govuk-tag--red"),
    "cancelled": ("Cancelled", "govuk-tag--yellow"),
}


def _steps(view: dict) -> list[dict]:
    """The job as a GOV.UK task list: checked, matched, results released."""
    state, progress = view["state"], view["progress"]

    def status(done: bool, active: bool = False, failed: bool = False) -> dict:
        if failed:
            return {"tag": {"text": "Stopped", "classes": "govuk-tag--red"}}
        if done:
            return {"text": "Completed"}
        if active:
            return {"tag": {"text": "In progress", "classes": "govuk-tag--light-blue"}}
        return {"tag": {"text": "Not yet started", "classes": "govuk-tag--grey"}}

    stopped = state in ("failed", "cancelled")
    matched_all = progress["done"] >= progress["total"] and progress["total"] > 0
    return [
        {"title": {"text": "Customer list checked and policy allowed the check"}, "status": status(True)},
        {
            "title": {"text": f"Customers matched ({progress['done']:,} of {progress['total']:,})"},
            "hint": {"text": f"{progress['chunks_done']} of {progress['chunks']} parts done"},
            "status": status(matched_all, state == "running", stopped and not matched_all),
        },
        {"title": {"text": "Results released"}, "status": status(state == "succeeded", False, stopped)},
    ]


@router.get("/eligibility/jobs/{job_id}", response_class=HTMLResponse)
def job_status(request: Request, job_id: str, key: Annotated[str, Query(max_length=64)] = "") -> HTMLResponse:
    hub = request.app.state.hub
    pages = request.app.state.pages
    job = jobs.job_by_status_key(hub, job_id, key)
    if job is None:
        return pages.render("not_found.html", status=404, title="Page not found", headers=NO_STORE)
    view = jobs.view(job, utcnow())
    label, classes = STATE_TAGS.get(view["state"], (view["state"], ""))
    headers = dict(NO_STORE)
    if view["state"] in ("queued", "running"):
        headers["Refresh"] = str(REFRESH_SECONDS)
    progress = view["progress"]
    percent = int(100 * progress["done"] / progress["total"]) if progress["total"] else 0
    return pages.render(
        "eligibility/job.html",
        title="Warm Home Discount eligibility check",
        headers=headers,
        view=view,
        state_label=label,
        state_classes=classes,
        percent=percent,
        steps=_steps(view),
        refresh=REFRESH_SECONDS if "Refresh" in headers else None,
        agreement_link=Markup('<a class="govuk-link" href="/register/agreements/{0}">{1}</a>').format(
            quote(view["agreement_id"], safe=""), escape(view["agreement_id"])),
    )
