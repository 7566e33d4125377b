"""Bodies, their datasets and their API clients."""

from __future__ import annotations

import tempfile
from pathlib import Path

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from accord.api.deps import ActingDep, ActorDep, AdminDep, CallerDep, HubDep, IdempotencyKeyDep, UploadDep
from accord.api.replies import respond
from accord.api.replies import write as run_write
from accord.clock import utcnow
from accord.errors import Forbidden, InvalidInput
from accord.registry import bodies, credentials, datasets
from accord.registry.specs import BodySpec, DatasetSpec
from accord.services import holdings
from accord.services.unit_of_work import Reply, once

router = APIRouter(prefix="/v1", tags=["registry"])


@router.get("/bodies", summary="List registered bodies")
def list_bodies(hub: HubDep, caller: CallerDep, body_type: str | None = None) -> list[dict]:
    with hub.transaction() as session:
        return [bodies.body_summary(b) for b in bodies.list_bodies(session, body_type)]


@router.post("/bodies", status_code=201, summary="Register a body (hub operator)")
def add_body(
    hub: HubDep, caller: AdminDep, spec: BodySpec, request: Request, idempotency_key: IdempotencyKeyDep = None
):
    def work(session):
        body = bodies.add_body(session, hub.framework, spec, utcnow())
        return 201, bodies.body_summary(body)

    return run_write(hub, caller, idempotency_key, request, spec.model_dump(mode="json"), work)


@router.get("/bodies/{body_id}", summary="One body")
def get_body(hub: HubDep, caller: CallerDep, body_id: str) -> dict:
    with hub.transaction() as session:
        return bodies.body_summary(bodies.get_body(session, body_id))


@router.post("/bodies/{body_id}/clients", status_code=201, summary="Create an API client (hub operator)")
def create_client(
    hub: HubDep, caller: AdminDep, body_id: str, request: Request, idempotency_key: IdempotencyKeyDep = None
):
    def work(session):
        issued = credentials.create_client(session, body_id, utcnow())
        return 201, {
            "client_id": issued.client_id,
            "client_secret": issued.client_secret,
            "body_id": issued.body_id,
            "scopes": list(issued.scopes),
            "note": "The secret is shown once; Accord stores only its hash.",
        }

    def without_secret(body: dict) -> dict:
        return {
            **body,
            "client_secret": None,
            "note": "This client was already created by an earlier request with the same Idempotency-Key. "
            "Its secret was shown once and is not stored; rotate the client to get a new one.",
        }

    return run_write(hub, caller, idempotency_key, request, {"body_id": body_id}, work, redact=without_secret)


def _own_client_or_admin(session, caller, client_id: str) -> None:  # noqa: ANN001
    owned = {c.client_id for c in credentials.list_clients(session, caller.body_id)}
    if not caller.is_admin and client_id not in owned:
        raise Forbidden("only the body that owns a client, or the hub operator, may change it")


@router.post("/clients/{client_id}/rotate", summary="Replace a client's secret; its tokens are revoked")
def rotate_client(hub: HubDep, caller: ActingDep, client_id: str, request: Request,
                  idempotency_key: IdempotencyKeyDep = None):
    def work(session):
        _own_client_or_admin(session, caller, client_id)
        issued = credentials.rotate_client(session, client_id, utcnow())
        return 200, {"client_id": issued.client_id, "client_secret": issued.client_secret, "body_id": issued.body_id}

    def without_secret(body: dict) -> dict:
        return {**body, "client_secret": None,
                "note": "This client was rotated by an earlier request with the same Idempotency-Key. Its new "
                        "secret was shown once and is not stored; rotate it again to get another."}

    return run_write(hub, caller, idempotency_key, request, {"client_id": client_id}, work, redact=without_secret)


@router.post("/clients/{client_id}/revoke", summary="Revoke a client and its tokens")
def revoke_client(hub: HubDep, caller: ActingDep, client_id: str, request: Request,
                  idempotency_key: IdempotencyKeyDep = None):
    def work(session):
        _own_client_or_admin(session, caller, client_id)
        client = credentials.revoke_client(session, client_id, utcnow())
        return 200, {"client_id": client.client_id, "revoked_at": client.revoked_at.isoformat()}

    return run_write(hub, caller, idempotency_key, request, {"client_id": client_id}, work)


@router.get("/datasets", summary="List registered datasets")
def list_datasets(hub: HubDep, caller: CallerDep, body_id: str | None = None) -> list[dict]:
    with hub.transaction() as session:
        return [datasets.dataset_summary(d) for d in datasets.list_datasets(session, body_id)]


@router.post("/datasets", status_code=201, summary="Register a dataset (its holder or the hub operator)")
def add_dataset(
    hub: HubDep, caller: ActingDep, spec: DatasetSpec, request: Request, idempotency_key: IdempotencyKeyDep = None
):
    if not caller.is_admin and spec.body_id != caller.body_id:
        raise Forbidden("a body may register only its own datasets")

    def work(session):
        dataset = datasets.add_dataset(session, hub.framework, spec, utcnow())
        return 201, datasets.dataset_summary(dataset)

    return run_write(hub, caller, idempotency_key, request, spec.model_dump(mode="json"), work)


@router.get("/datasets/{dataset_id}", summary="One dataset and its schema")
def get_dataset(hub: HubDep, caller: CallerDep, dataset_id: str) -> dict:
    with hub.transaction() as session:
        return datasets.dataset_summary(datasets.get_dataset(session, dataset_id))


HOLDING_TYPES = {"text/csv": ".csv", "application/vnd.apache.parquet": ".parquet", "application/octet-stream": ".parquet"}


@router.put(
    "/datasets/{dataset_id}/records",
    summary="Load the body's current records for its dataset (CSV or Parquet body)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {kind: {"schema": {"type": "string", "format": "binary"}} for kind in HOLDING_TYPES},
        }
    },
)
async def load_records(hub: HubDep, reader: ActorDep, dataset_id: str, request: Request, upload: UploadDep,
                       idempotency_key: IdempotencyKeyDep = None):
    """The holding purpose services match against; validated whole before it replaces the previous one.

    Loading the same records again leaves the same holding; an ``Idempotency-Key`` also replays the
    first answer (its row count and load time) to a retry of the same upload."""
    with hub.transaction() as session:
        dataset = datasets.get_dataset(session, dataset_id)
        if not reader.is_admin and dataset.body_id != reader.body_id:
            raise Forbidden("a body may load records only into its own datasets")
    suffix = upload.suffix(HOLDING_TYPES)
    if suffix is None:
        raise InvalidInput("send the records as text/csv or application/vnd.apache.parquet")
    kind = upload.content_type.split(";", 1)[0].strip().lower()
    with tempfile.TemporaryDirectory(dir=hub.settings.data_dir, prefix=".upload-") as scratch:
        named = Path(scratch) / f"upload{suffix}"  # the holding reader knows a file's kind by its suffix
        upload.path.replace(named)  # moved, not copied: the guard deletes it if it is still there

        def load() -> Reply:
            info = holdings.load_holding(hub, dataset_id, named, name="the records")
            return Reply(200, _holding(info))

        reply = await run_in_threadpool(
            once, hub, reader, operation=f"PUT /v1/datasets/{dataset_id}/records",
            payload={"dataset_id": dataset_id, "content_type": kind, "sha256": upload.sha256},
            key=idempotency_key, act=load)
    return respond(request, reply)


def _holding(info) -> dict:  # noqa: ANN001
    return {"dataset_id": info.dataset_id, "rows": info.rows, "fields": info.columns, "sha256": info.sha256,
            "loaded_at": info.loaded_at}


@router.get("/datasets/{dataset_id}/records", summary="When the dataset's records were last loaded (never the records)")
def holding_status(hub: HubDep, caller: CallerDep, dataset_id: str) -> dict:
    with hub.transaction() as session:
        dataset = datasets.get_dataset(session, dataset_id)
        if not caller.is_admin and dataset.body_id != caller.body_id:
            raise Forbidden("only the dataset's body may see its holding")
    return _holding(holdings.holding_info(hub, dataset_id))
