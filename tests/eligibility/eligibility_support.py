"""Support for the eligibility tests: synthetic data, its truth, a seeded hub and an API client.

The synthetic population (20,000 persons, seed 2026, DWP and energy suppliers' views) is made
once per test session. ``truly_eligible`` is the answer key: a Brightwatt customer is eligible
when the person behind the account (by the synth truth) is in DWP's benefit records with
Pension Credit Guarantee Credit; it never looks at names or postcodes.
"""

from __future__ import annotations

import dataclasses
import csv
import io
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
from accord_testing import ApiClient, add_agreement, narrowed_spec, seed_register
from sqlalchemy import func, select

from accord.linkage.standardise import standardise_nino
from accord.runtime import Hub
from accord.services import eligibility, holdings
from accord.services.subjects import subject_key
from accord.services.unit_of_work import Actor, Reply
from accord.storage.models import AuditEntry, AuditSubject, DecisionRecord
from accord.storage.tables.jobs import Job

AGREEMENT = "warm-home-discount-2026"
SUPPLIER = "brightwatt-energy"
CUSTOMERS = "brightwatt-customers.parquet"
CLAIMANTS = "dwp-benefits.parquet"


def actor(body: str = SUPPLIER, officer: str = "t", request_id: str | None = None) -> Actor:
    """Who submits: a body and its officer, on a call of their own."""
    return Actor(body_id=body, officer=officer, request_id=request_id or f"test-{uuid.uuid4().hex}")


def submit_reply(hub: Hub, source: Path, *, body: str = SUPPLIER, officer: str = "t", agreement: str = AGREEMENT,
                 **options: object) -> Reply:
    """``eligibility.submit`` as a body's officer: the Reply (202 job view, or 403 recorded refusal)."""
    return eligibility.submit(hub, actor(body, officer), source, agreement_id=agreement, **options)


def submit_job(hub: Hub, source: Path, **options: object) -> dict:
    """A submission that must be queued: the job's view."""
    reply = submit_reply(hub, source, **options)
    assert reply.status == 202 and not reply.replayed, (reply.status, reply.body)
    return reply.body


def truly_eligible(synth: Path) -> dict[str, bool]:
    """account_ref -> whether the account holder really receives Pension Credit Guarantee Credit."""
    with duckdb.connect() as connection:
        rows = connection.execute(
            f"""
            WITH qualifying AS (
                SELECT DISTINCT t.person_id FROM read_parquet('{synth / CLAIMANTS}') d
                JOIN read_parquet('{synth / 'truth' / CLAIMANTS}') t USING (record_id)
                WHERE d.pension_credit_guarantee)
            SELECT c.account_ref, q.person_id IS NOT NULL
            FROM read_parquet('{synth / CUSTOMERS}') c
            JOIN read_parquet('{synth / 'truth' / CUSTOMERS}') t USING (record_id)
            LEFT JOIN qualifying q USING (person_id)
            """
        ).fetchall()
    return dict(rows)


def qualifying_ninos(synth: Path) -> set[str]:
    with duckdb.connect() as connection:
        rows = connection.execute(
            f"SELECT DISTINCT nino FROM read_parquet('{synth / CLAIMANTS}') WHERE pension_credit_guarantee "
            "AND nino IS NOT NULL"
        ).fetchall()
    return {nino for (value,) in rows if (nino := standardise_nino(value))}  # typo'd NINOs name nobody


def qualifying_subjects(hub: Hub, synth: Path) -> set[str]:
    """The subject keys of DWP's qualifying claimants: the NINO key for a record with a valid NINO
    (``hub.person_key("nino", nino)``), else the key over given name, surname and date of birth."""
    rows = pq.read_table(synth / CLAIMANTS, columns=["nino", "first_name", "surname", "date_of_birth",
                                                     "pension_credit_guarantee"]).to_pylist()
    keys = set()
    for row in rows:
        if not row["pension_credit_guarantee"]:
            continue
        nino = standardise_nino(row["nino"]) if row["nino"] else None
        key = hub.person_key("nino", nino) if nino else subject_key(
            hub, first_name=row["first_name"], surname=row["surname"], dob=row["date_of_birth"])
        if key:
            keys.add(key)
    return keys


def customers_csv(synth: Path, target: Path, limit: int | None = None) -> Path:
    """The supplier's list as CSV text, as a supplier would export it."""
    with duckdb.connect() as connection:
        connection.execute(
            f"COPY (SELECT * FROM read_parquet('{synth / CUSTOMERS}') {f'LIMIT {limit}' if limit else ''}) "
            f"TO '{target}' (FORMAT csv, HEADER true)"
        )
    return target


def seed(hub: Hub, synth: Path) -> None:
    """The example register, and DWP's benefit records loaded as its holding."""
    seed_register(hub)
    holdings.load_holding(hub, "dwp-benefits", synth / CLAIMANTS)


def activate_agreement_naming(hub: Hub, fields: list[str], agreement_id: str = "whd-narrow") -> str:
    """The Warm Home Discount agreement again, active, naming only ``fields`` of DWP's dataset."""
    return add_agreement(hub, narrowed_spec(AGREEMENT, agreement_id, fields))


@contextmanager
def tuned(hub: Hub, **settings: object) -> Iterator[Hub]:
    """The same database and files, with some settings changed (e.g. a short lease)."""
    # its own group committer (None until used): closing it must not close the shared hub's
    copy = dataclasses.replace(hub, settings=hub.settings.model_copy(update=settings), _group_commit=None)
    try:
        yield copy
    finally:
        if copy._group_commit is not None:
            copy._group_commit.close()


def read_results(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def job_row(hub: Hub, job_id: str) -> Job:
    with hub.transaction() as session:
        job = session.get(Job, job_id)
        session.expunge(job)
        return job


def count(hub: Hub, model) -> int:  # noqa: ANN001
    with hub.transaction() as session:
        return session.scalar(select(func.count()).select_from(model))


def decisions(hub: Hub) -> list[DecisionRecord]:
    with hub.transaction() as session:
        found = list(session.scalars(select(DecisionRecord).order_by(DecisionRecord.id)))
        session.expunge_all()
        return found


def audit_payloads(hub: Hub) -> list[str]:
    with hub.transaction() as session:
        return list(session.scalars(select(AuditEntry.payload).order_by(AuditEntry.id)))


def subjects_of_decision(hub: Hub, request_id: str, kind: str = "access.subjects") -> set[str]:
    """The people a job's audit entries of ``kind`` name (the matched: its ``access.subjects`` entry)."""
    with hub.transaction() as session:
        return set(
            session.scalars(
                select(AuditSubject.person_key)
                .join(AuditEntry, AuditEntry.id == AuditSubject.entry_id)
                .where(AuditEntry.request_id == request_id, AuditEntry.kind == kind)
            )
        )


def entries(hub: Hub, request_id: str) -> list[AuditEntry]:
    """A job's audit entries, oldest first."""
    with hub.transaction() as session:
        found = list(session.scalars(select(AuditEntry).where(AuditEntry.request_id == request_id)
                                     .order_by(AuditEntry.id)))
        session.expunge_all()
        return found


def job_dirs(hub: Hub) -> list[str]:
    root = hub.settings.data_dir / "jobs"
    return sorted(p.name for p in root.iterdir()) if root.is_dir() else []


@dataclasses.dataclass
class Api(ApiClient):
    """The shared in-process client, acting by default as the energy supplier's batch officer."""

    officer: str | None = "test officer"

    def headers(self, body: str = SUPPLIER, **extra: str) -> dict[str, str]:
        return self.auth(body, **extra)

    def submit(self, content: bytes, *, body: str = SUPPLIER, content_type: str = "text/csv",
               agreement: str = AGREEMENT, **params: str):  # noqa: ANN201
        headers = self.headers(body, content_type=content_type)
        if "idempotency_key" in params:
            headers["Idempotency-Key"] = params.pop("idempotency_key")
        return self.client.post("/v1/eligibility/jobs", params={"agreement": agreement, **params},
                                content=content, headers=headers)
