"""Warm Home Discount eligibility's entry points, the same for the API, the command line and the demo.

``submit`` takes a customer list: intake validates and stages it whole, the
decision point is asked whether the body may run the check (a refusal is
recorded and the staged copy deleted: nothing is kept), and an allowed
submission is queued as a job (``work`` runs it). The rest are the submitting
body's own views of its jobs, and the discloser's encoding of its claimants.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from accord.clock import utcnow
from accord.errors import InvalidInput
from accord.files import sha256_of
from accord.runtime import Hub
from accord.services import jobs
from accord.services.access import Grant, ask, record
from accord.services.eligibility.intake import FORMATS, Staged, stage
from accord.services.eligibility.terms import Terms, access_request, terms_for
from accord.services.eligibility.work import KIND, matching_fields
from accord.services.unit_of_work import Actor, Reply, run


def submit(hub: Hub, actor: Actor, source: Path, *, agreement_id: str, mapping: dict[str, str] | None = None,
           reference: str | None = None, name: str | None = None, chunk_rows: int | None = None,
           key: str | None = None) -> Reply:
    """Validate, decide and queue a job: 202 with the job's view, or 403 with the recorded refusal."""
    fmt = FORMATS.get(source.suffix.lower())
    name = name or str(source)
    if fmt is None:
        raise InvalidInput(f"{name}: expected a .csv or .parquet file")
    if not source.is_file():
        raise InvalidInput(f"{name}: no such file")
    with hub.transaction() as session:
        terms = terms_for(session, agreement_id, actor.body_id)
    staged: list[Staged] = []

    def prepare() -> tuple[Staged, Grant | object]:
        staged.append(stage(hub, source, fmt, mapping=mapping, reference=reference, name=name,
                            agreement_id=agreement_id))
        fields = matching_fields(terms, staged[0].encoded)
        with hub.transaction() as session:
            answer = ask(session, access_request(terms, actor.body_id, actor.officer, staged[0].rows,
                                                 tuple(fields.values())))
        return staged[0], answer

    def write(session: Session, prepared: tuple[Staged, object]) -> tuple[int, dict]:
        ready, answer = prepared
        if not isinstance(answer, Grant):
            recorded = record(session, answer, request_id=actor.request_id, client_id=actor.client_id)
            return 403, recorded.refusal("the eligibility check is refused; the refusal was recorded")
        now = utcnow()
        job = _create_job(session, hub, ready, terms, actor, now, chunk_rows)
        return 202, jobs.view(job, now)

    def payload() -> dict:  # what a key stands for: hashed only when one is sent
        return {"agreement": agreement_id, "reference": reference, "map": mapping, "sha256": sha256_of(source),
                "officer": actor.officer}

    reply = None
    try:
        reply = run(hub, actor, operation="eligibility.submit", payload=payload, key=key, prepare=prepare,
                    write=write)
        return reply
    finally:
        queued = reply is not None and reply.status == 202 and not reply.replayed
        if staged and not queued:  # refused, failed or an idempotent replay: the staged copy is not needed
            jobs.delete_work_files(staged[0].directory)


def _create_job(session: Session, hub: Hub, staged: Staged, terms: Terms, actor: Actor, now, chunk_rows):  # noqa: ANN001, ANN202
    return jobs.create(
        session, job_id=staged.job_id, kind=KIND, agreement_id=terms.agreement_id, body_id=actor.body_id,
        officer=actor.officer, client_id=actor.client_id, request_id=actor.request_id,
        params={"fields": list(staged.fields), "upload_sha256": staged.sha256, "encoded": staged.encoded},
        total=staged.rows, chunk_rows=chunk_rows or hub.settings.job_chunk_rows, now=now,
    )


def job_views(hub: Hub, actor: Actor, state: str | None = None) -> list[dict]:
    """The body's eligibility jobs, newest first: state and progress, never rows."""
    now = utcnow()
    with hub.transaction() as session:
        found = jobs.list_jobs(session, body_id=actor.body_id, state=state)
        return [jobs.view(job, now) for job in found if job.kind == KIND]


def job_view(hub: Hub, actor: Actor, job_id: str) -> dict:
    with hub.transaction() as session:
        return jobs.view(jobs.visible_job(session, job_id, actor.body_id))
