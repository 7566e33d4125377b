"""The policy's view of storage: candidate agreements and their usage today."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from accord.audit.log import AUDIT_INDEPENDENT
from accord.framework import Framework
from accord.policy.catalogue import Catalogue
from accord.policy.model import AgreementTerms
from accord.storage.models import Agreement, AgreementField, AgreementParty, AgreementUsage, Dataset

# Every agreement naming the body as a recipient of the dataset, with the dataset's fields it
# discloses, in one statement built once: one row per (agreement, field), in field order.
# It runs on every decision, so it is a Core statement over the tables (plain tuples: no ORM
# entities, identity map or lazy loads). The session autoflushes before Core statements too
# (SQLAlchemy 2.1), so an agreement changed earlier in the same transaction is seen.
_A, _F, _P = Agreement.__table__, AgreementField.__table__, AgreementParty.__table__
_CANDIDATES = (
    select(
        _A.c.id,
        _A.c.gateway,
        _A.c.objective,
        _A.c.status,
        _A.c.start_date,
        _A.c.end_date,
        _A.c.on_excess_fields,
        _A.c.max_records_per_request,
        _A.c.max_requests_per_day,
        _A.c.retention,
        _A.c.embargo,
        _F.c.field_name,
    )
    .select_from(_A.join(_F, _F.c.agreement_id == _A.c.id))
    .where(
        _F.c.dataset_id == bindparam("dataset_id"),
        _A.c.id.in_(select(_P.c.agreement_id).where(_P.c.body_id == bindparam("body_id"), _P.c.role == "recipient")),
    )
    .order_by(_A.c.id, _F.c.position, _F.c.field_name)
    .execution_options(**{AUDIT_INDEPENDENT: True})  # reads no audit table: pending entries wait
)


_HOLDER = select(Dataset.__table__.c.body_id).where(Dataset.__table__.c.id == bindparam("dataset_id")).execution_options(
    **{AUDIT_INDEPENDENT: True})


_U = AgreementUsage.__table__
_USAGE = select(_U.c.used).where(
    _U.c.agreement_id == bindparam("agreement_id"), _U.c.body_id == bindparam("body_id"), _U.c.day == bindparam("day")
).execution_options(**{AUDIT_INDEPENDENT: True})


class SqlPolicyContext:
    """Reads agreements in the caller's session, so a decision sees exactly what its transaction sees.

    Candidates are read once per context: ``decide``, the embargo of a refusal and the
    re-check when a decision is recorded ask for the same list. ``services.access``
    keeps one context per transaction.
    """

    def __init__(self, session: Session, framework: Framework, catalogue: Catalogue) -> None:
        self.session = session
        self.framework = framework
        self.catalogue = catalogue
        self._candidates: dict[tuple[str, str], list[AgreementTerms]] = {}
        self._holders: dict[str, str | None] = {}

    def holder_of(self, dataset_id: str) -> str | None:
        if dataset_id not in self._holders:
            self._holders[dataset_id] = self.session.execute(_HOLDER, {"dataset_id": dataset_id}).scalar()
        return self._holders[dataset_id]

    def candidate_agreements(self, body_id: str, dataset_id: str) -> list[AgreementTerms]:
        key = (body_id, dataset_id)
        found = self._candidates.get(key)
        if found is None:
            found = self._candidates[key] = self._read_candidates(body_id, dataset_id)
        return list(found)

    def _read_candidates(self, body_id: str, dataset_id: str) -> list[AgreementTerms]:
        rows = self.session.execute(_CANDIDATES, {"body_id": body_id, "dataset_id": dataset_id}).all()
        terms: dict[str, tuple] = {}  # agreement id -> its columns, in order
        fields: dict[str, list[str]] = {}
        for *columns, field_name in rows:
            agreement_id = columns[0]
            if agreement_id not in terms:
                terms[agreement_id] = columns
                fields[agreement_id] = []
            fields[agreement_id].append(field_name)
        gateways = self.framework.gateways
        result = []
        for agreement_id, columns in terms.items():
            (_, gateway, objective, status, start, end, on_excess, max_records, max_requests, retention,
             embargo) = columns
            result.append(
                AgreementTerms(
                    id=agreement_id,
                    gateway=gateway,
                    objective=objective,
                    status=status,
                    start_date=start,
                    end_date=end,
                    fields=tuple(fields[agreement_id]),
                    on_excess_fields=on_excess,
                    max_records_per_request=max_records,
                    max_requests_per_day=max_requests,
                    retention=retention,
                    embargo=embargo,
                    dpv_purpose=self.framework.purpose_iri(gateway, objective) if gateway in gateways else None,
                )
            )
        # Active agreements first, so a live agreement is found before a suspended one.
        return sorted(result, key=lambda t: (t.status != "active", t.id))

    def allowed_requests_since(self, agreement_id: str, body_id: str, since: datetime) -> int:
        # The usage counter that services.access claims with each allowed request under a
        # limit: one primary-key read (never the identity map's copy, which a claim in this
        # transaction may have left behind), and the same number that enforces the limit.
        used = self.session.execute(_USAGE, {"agreement_id": agreement_id, "body_id": body_id,
                                             "day": since.astimezone(UTC).date()}).scalar()
        return int(used or 0)
