"""Identity verification (electoral-registration style): a grade, never the record.

Both endpoints decide through the policy and record the decision either way. An
allowed check answers with the grade and the names of the fields that agreed,
plus the decision's own metadata; a refused one is a 403 problem whose extra
members say it was recorded (``decision``, ``decision_id``, ``reasons``).
Writes accept an Idempotency-Key, as ``POST /v1/decisions`` does: a retry gets
the first answer (refusals included) and is not checked or recorded twice.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from starlette.datastructures import UploadFile

from accord.api.deps import ActorDep, BatchDep, HubDep, IdempotencyKeyDep, Upload
from accord.api.problems import PROBLEM, TITLES
from accord.api.replies import respond
from accord.errors import InvalidInput
from accord.services import verification
from accord.services.unit_of_work import Reply
from accord.files import parse_mapping

router = APIRouter(prefix="/v1", tags=["verification"])

NAME_PATTERN = r"^[a-z0-9][a-z0-9_.:-]{0,63}$"
_NAME = re.compile(NAME_PATTERN)
Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
Text = Annotated[str, StringConstraints(max_length=200)]
Reference = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")]


class Applicant(BaseModel):
    """An applicant's details as the application gives them; Accord standardises them."""

    model_config = ConfigDict(extra="forbid")

    first_name: Text = Field(description="Given name")
    middle_name: Text | None = Field(None, description="Middle name(s)")
    surname: Text = Field(description="Surname")
    dob: Text = Field(description="Date of birth: YYYY-MM-DD, DD/MM/YYYY or YYYYMMDD")
    postcode: Text = Field(description="UK postcode")
    address: Text | None = Field(None, description="Address (accepted; not compared by the cascade)")
    nino: Text | None = Field(None, description="National Insurance number, if the applicant gave one")


class VerificationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agreement: Name = Field(description="The agreement the check is made under")
    dataset: Name | None = Field(None, description="The source dataset, if the agreement covers several")
    reference: Reference | None = Field(None, description="Your application reference, echoed in the answer")
    applicant: Applicant


class Application(Applicant):
    reference: Reference = Field(description="Your application reference; unique within the batch")


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agreement: Name
    dataset: Name | None = None
    applications: Annotated[list[Application], Field(min_length=1, max_length=verification.MAX_BATCH)]


class VerificationResponse(BaseModel):
    reference: str | None = Field(description="Your reference, as sent")
    grade: str = Field(description="match, partial or no match")
    agreed: list[str] = Field(description="The applicant's fields that agreed with the source record")
    decision: str
    decision_id: int
    request_id: str
    agreement_id: str | None
    decided_at: str


class BatchResult(BaseModel):
    reference: str
    grade: str
    agreed: list[str]


class BatchResponse(BaseModel):
    decision: str
    decision_id: int
    request_id: str
    agreement_id: str | None
    decided_at: str
    count: int
    results: list[BatchResult]


# ------------------------------------------------------------------ one applicant


@router.post(
    "/verifications",
    response_model=VerificationResponse,
    summary="Check one applicant's details against the source body's records: a grade, never the record",
    responses={403: {"description": "Refused (recorded): not a party, no such agreement, or not active"}},
)
def verify_one(
    hub: HubDep,
    actor: ActorDep,
    body: VerificationRequest,
    request: Request,
    idempotency_key: IdempotencyKeyDep = None,
):
    check = verification.CheckRequest(body.agreement, ((body.reference, body.applicant.model_dump(exclude_none=True)),),
                                      dataset_id=body.dataset, single=True)
    return respond(request, verification.check(hub, actor, check, key=idempotency_key))


# ------------------------------------------------------------------ a batch


def _batch_schema() -> dict:
    """The two request forms, written out because the route reads the body itself."""
    application = Application.model_json_schema()
    application.pop("title", None)
    json_form = {
        "type": "object",
        "additionalProperties": False,
        "required": ["agreement", "applications"],
        "properties": {
            "agreement": {"type": "string", "pattern": NAME_PATTERN},
            "dataset": {"type": "string", "pattern": NAME_PATTERN},
            "applications": {"type": "array", "minItems": 1, "maxItems": verification.MAX_BATCH, "items": application},
        },
    }
    file_form = {
        "type": "object",
        "required": ["agreement", "file"],
        "properties": {
            "agreement": {"type": "string"},
            "dataset": {"type": "string"},
            "reference_column": {"type": "string", "description": "Column of application references (default: reference)"},
            "map": {"type": "string", "description": "Column mapping, e.g. dob=birth_date,first_name=forename"},
            "file": {"type": "string", "format": "binary", "description": "CSV or Parquet, one application per row"},
        },
    }
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": json_form}, "multipart/form-data": {"schema": file_form}},
        },
        "responses": {
            "200": {
                "description": "One result per application, in order (CSV when you send Accept: text/csv)",
                "content": {"text/csv": {"schema": {"type": "string"}}},
            },
            "403": {"description": "Refused (recorded)"},
            "415": {
                "description": TITLES[415],
                "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}},
            },
        },
    }


def _validation_error(exc: ValidationError, prefix: tuple = ("body",)) -> RequestValidationError:
    errors = [{**error, "loc": (*prefix, *error.get("loc", ()))} for error in exc.errors()]
    return RequestValidationError(errors)


def _form_text(form: Any, name: str, limit: int = 200) -> str | None:
    value = form.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"form field '{name}' must be text")
    if len(value) > limit or not value.isprintable():
        raise InvalidInput(f"form field '{name}' must be at most {limit} printable characters")
    return value


async def _batch_input(request: Request, batch: Upload) -> tuple[dict, list | bytes, str, dict | None, str | None]:
    """(request facts, applications or file bytes, file name, mapping, reference column) from either form.

    The body is already on disk (at most ACCORD_MAX_BATCH_BYTES); a multipart form is parsed from it."""
    kind = batch.content_type.split(";", 1)[0].strip().lower()
    if kind == "application/json":
        raw = await run_in_threadpool(batch.path.read_bytes)
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise InvalidInput("the request body is not valid JSON") from None
        try:
            batch = BatchRequest.model_validate(data)
        except ValidationError as exc:
            raise _validation_error(exc) from None
        applications = [
            (item.reference, item.model_dump(exclude={"reference"}, exclude_none=True)) for item in batch.applications
        ]
        return {"agreement": batch.agreement, "dataset": batch.dataset}, applications, "", None, None
    if kind == "multipart/form-data":
        try:
            form = await request.form(max_files=1, max_fields=10)
        except Exception:  # noqa: BLE001 - the multipart parser's own errors: malformed input
            raise InvalidInput("the multipart body cannot be read") from None
        agreement = _form_text(form, "agreement", 64)
        if agreement is None:
            raise InvalidInput("the batch is not valid", ["agreement: the form must name the agreement"])
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidInput("the batch is not valid", ["file: attach a CSV or Parquet file of applications"])
        content = await upload.read()
        name = upload.filename or "upload.csv"
        if len(name) > 200 or not name.isprintable():
            name = "upload"
        mapping = parse_mapping(_form_text(form, "map", 1000), source="map")
        facts = {"agreement": agreement, "dataset": _form_text(form, "dataset", 64)}
        return facts, content, name, mapping, _form_text(form, "reference_column")
    raise _UnsupportedMedia(kind)


class _UnsupportedMedia(InvalidInput):
    status = 415
    title = TITLES[415]

    def __init__(self, kind: str) -> None:
        super().__init__(
            f"send the batch as application/json or as a multipart/form-data file upload, not {kind or 'no content type'}"
        )


@router.post(
    "/verifications/batch",
    summary="Check a batch of applications (JSON list or CSV/Parquet upload): one grade per application",
    openapi_extra=_batch_schema(),
    response_model=BatchResponse,
)
async def verify_batch(
    hub: HubDep,
    actor: ActorDep,
    request: Request,
    batch: BatchDep,
    idempotency_key: IdempotencyKeyDep = None,
) -> Response:
    facts, applications, name, mapping, reference_column = await _batch_input(request, batch)
    for field in ("agreement", "dataset"):
        value = facts.get(field)
        if value is not None and not _NAME.match(value):
            raise InvalidInput("the batch is not valid", [f"{field}: not an identifier (lower-case letters, digits, . _ : -)"])

    def run() -> Reply:
        if isinstance(applications, bytes):
            rows = verification.read_applications(applications, name, mapping=mapping, reference_column=reference_column)
            check = verification.CheckRequest(facts["agreement"], tuple(rows), facts.get("dataset"), standardised=True)
        else:
            check = verification.CheckRequest(facts["agreement"], tuple(applications), facts.get("dataset"))
        return verification.check(hub, actor, check, key=idempotency_key)

    reply = await run_in_threadpool(run)
    if reply.ok and "text/csv" in request.headers.get("accept", ""):
        headers = {"Content-Disposition": 'attachment; filename="verification-results.csv"'}
        if reply.replayed:
            headers["Idempotent-Replayed"] = "true"
        csv = verification.results_csv(verification.results_of(reply.body))
        return Response(csv, media_type="text/csv", headers=headers)
    return respond(request, reply)
