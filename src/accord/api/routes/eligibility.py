"""Fuel-poverty eligibility (Warm Home Discount) jobs: an eligible / not matched flag per account.

A face only: validation, the policy and the job itself are accord.services.eligibility and
accord.services.jobs. Every route acts only on the caller's own jobs: another body's job id
is answered exactly like one that does not exist. See docs/eligibility.md.
"""

from __future__ import annotations

import tempfile
from pathlib import Path as FilePath
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from accord.api.deps import ActingDep, ActorDep, HubDep, IdempotencyKeyDep, ReaderDep, UploadDep
from accord.api.replies import respond
from accord.errors import InvalidInput
from accord.files import parse_mapping
from accord.services import eligibility, jobs
from accord.services.unit_of_work import Reply, once

router = APIRouter(prefix="/v1", tags=["eligibility"])

UPLOAD_TYPES = {"text/csv": "csv", "application/vnd.apache.parquet": "parquet", "application/octet-stream": "parquet"}
JobId = Annotated[str, Path(max_length=40, description="A job id (job-...)")]
PAGE_PREFIX = "/eligibility/jobs"


def _problem(description: str) -> dict:
    return {"description": description,
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}


def _links(hub, job_id: str) -> dict:  # noqa: ANN001
    base = f"/v1/eligibility/jobs/{job_id}"
    return {
        "self": base,
        "cancel": f"{base}/cancel",
        "results": f"{base}/results",
        "status_page": jobs.status_page_path(hub, job_id, PAGE_PREFIX),
    }


def _shown(hub, view: dict) -> dict:  # noqa: ANN001
    return {**view, "links": _links(hub, view["id"])}


@router.post(
    "/eligibility/jobs",
    status_code=202,
    summary="Submit a customer list (CSV or Parquet body) for a Warm Home Discount eligibility job",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {kind: {"schema": {"type": "string", "format": "binary"}} for kind in UPLOAD_TYPES},
        }
    },
    responses={202: {"description": "The job is queued; poll its status, then fetch its results"}},
)
async def submit(
    hub: HubDep,
    actor: ActorDep,
    request: Request,
    upload: UploadDep,
    agreement: Annotated[str, Query(max_length=64, description="The fuel-poverty agreement, e.g. warm-home-discount-2026")],
    reference: Annotated[
        str | None, Query(max_length=200, description="The account reference column (default: account_reference or account_ref)")
    ] = None,
    mapping: Annotated[
        str | None,
        Query(alias="map", max_length=2000, description="Matching fields to columns: first_name=forename,postcode=supply_postcode"),
    ] = None,
    idempotency_key: IdempotencyKeyDep = None,
) -> JSONResponse:
    fmt = upload.suffix(UPLOAD_TYPES)
    if fmt is None:
        raise InvalidInput("send the customer list as the request body, as text/csv or application/vnd.apache.parquet")
    fields = parse_mapping(mapping, "map")
    with tempfile.TemporaryDirectory(dir=hub.settings.data_dir, prefix=".upload-") as scratch:
        named = FilePath(scratch) / f"customers.{fmt}"  # the reader knows a file's kind by its suffix
        upload.path.replace(named)  # moved, not copied: the guard deletes it if it is still there
        reply = await run_in_threadpool(
            eligibility.submit, hub, actor, named, agreement_id=agreement, mapping=fields, reference=reference,
            name="the customer list", key=idempotency_key,
        )
    if not reply.ok:
        return respond(request, reply)
    return respond(request, Reply(reply.status, _shown(hub, reply.body), reply.replayed),
                   headers={"Location": f"/v1/eligibility/jobs/{reply.body['id']}"})


@router.get("/eligibility/jobs", summary="Your body's eligibility jobs, newest first (state and progress only)")
def list_jobs(
    hub: HubDep,
    actor: ReaderDep,
    state: Annotated[str | None, Query(pattern="^(queued|running|succeeded|failed|cancelled)$")] = None,
) -> list[dict]:
    return [_shown(hub, view) for view in eligibility.job_views(hub, actor, state)]


@router.get("/eligibility/jobs/{job_id}", summary="A job's state and progress (only for the body that submitted it)")
def status(hub: HubDep, actor: ReaderDep, job_id: JobId) -> dict:
    return _shown(hub, eligibility.job_view(hub, actor, job_id))


@router.post(
    "/eligibility/jobs/{job_id}/cancel",
    summary="Cancel a job: at once if queued, between chunks if running; partial results are deleted",
    responses={200: {"description": "Cancelled"}, 202: {"description": "It will stop after its current chunk"}},
)
def cancel(hub: HubDep, actor: ActorDep, job_id: JobId, request: Request,
           idempotency_key: IdempotencyKeyDep = None) -> JSONResponse:
    def act() -> Reply:
        view = jobs.cancel(hub, job_id, actor.body_id)
        return Reply(200 if view["state"] == "cancelled" else 202, _shown(hub, view))

    return respond(request, once(hub, actor, operation=f"eligibility.cancel:{job_id}", payload=None,
                                 key=idempotency_key, act=act))


@router.get(
    "/eligibility/jobs/{job_id}/results",
    summary="The results as CSV (account_reference, result) for the submitting body; 410 once past retention",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/csv": {}}, "description": "account_reference,result per account"},
        409: _problem("The job has not succeeded (yet)"),
        410: _problem("The results were deleted: the agreement's retention period has passed"),
    },
)
def results(hub: HubDep, caller: ActingDep, job_id: JobId) -> StreamingResponse:
    path = jobs.result_file(hub, job_id, caller.body_id)
    try:
        handle = path.open("rb")  # opened now: a retention sweep unlinking it mid-download cannot cut it short
    except FileNotFoundError:
        raise jobs.Gone(f"the results of job {job_id} are no longer held") from None

    def stream():  # noqa: ANN202
        with handle:
            while block := handle.read(1 << 16):
                yield block

    return StreamingResponse(
        stream(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{job_id}-results.csv"', "Cache-Control": "no-store"},
    )


@router.put(
    "/eligibility/agreements/{agreement_id}/claimants",
    summary="The discloser's encoding of its claimants (accord encode), to link encoded customer lists with",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {kind: {"schema": {"type": "string", "format": "binary"}}
                        for kind in ("application/vnd.apache.parquet", "application/octet-stream")},
        }
    },
)
async def encoded_claimants(
    hub: HubDep, actor: ActorDep, request: Request, upload: UploadDep, agreement_id: Annotated[str, Path(max_length=64)],
    idempotency_key: IdempotencyKeyDep = None,
) -> JSONResponse:
    if upload.suffix(UPLOAD_TYPES) != "parquet":
        raise InvalidInput("send the encoding as application/vnd.apache.parquet (the output of accord encode)")
    with tempfile.TemporaryDirectory(dir=hub.settings.data_dir, prefix=".upload-") as scratch:
        named = FilePath(scratch) / "claimants.parquet"
        upload.path.replace(named)  # moved, not copied: the guard deletes it if it is still there
        digest = upload.sha256

        def act() -> Reply:
            return Reply(200, eligibility.load_encoded_claimants(hub, agreement_id, actor.body_id, named,
                                                                 "the encoding"))

        reply = await run_in_threadpool(lambda: once(
            hub, actor, operation=f"eligibility.claimants:{agreement_id}", payload={"sha256": digest},
            key=idempotency_key, act=act))
    return respond(request, reply)
