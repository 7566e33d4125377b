"""The policy's view of storage: candidate agreements and their usage today."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from accord.framework import Framework
from accord.policy.model import AgreementTerms
from accord.storage.models import Agreement, AgreementField, AgreementParty, AgreementUsage

# Every agreement naming the body as a recipient of the dataset, with the dataset's fields it
# discloses, in one statement built once: one row per (agreement, field), in field order.
# It runs on every decision, so it loads no ORM entities (no identity map, no lazy loads), and
# it selects ORM attributes so the session still autoflushes before it (an agreement changed
# earlier in the same transaction is seen as changed).
_CANDIDATES = (
    select(
        Agreement.id,
        Agreement.gateway,
        Agreement.objective,
        Agreement.status,
        Agreement.start_date,
        Agreement.end_date,
        Agreement.on_excess_fields,
        Agreement.max_records_per_request,
        Agreement.max_requests_per_day,
        Agreement.retention,
        Agreement.embargo,
        AgreementField.field_name,
    )
    .join(AgreementField, AgreementField.agreement_id == Agreement.id)
    .where(
        AgreementField.dataset_id == bindparam("dataset_id"),
        Agreement.id.in_(
            select(AgreementParty.agreement_id).where(
                AgreementParty.body_id == bindparam("body_id"), AgreementParty.role == "recipient"
            )
        ),
    )
    .order_by(Agreement.id, AgreementField.position, AgreementField.field_name)
)


class SqlPolicyContext:
    """Reads agreements in the caller's session, so a decision sees exactly what its transaction sees.

    Candidates are read once per context (one request): ``decide`` and the embargo of a
    refusal in ``services.access`` ask for the same list.
    """

    def __init__(self, session: Session, framework: Framework) -> None:
        self.session = session
        self.framework = framework
        self._candidates: dict[tuple[str, str], list[AgreementTerms]] = {}

    def candidate_agreements(self, body_id: str, dataset_id: str) -> list[AgreementTerms]:
        key = (body_id, dataset_id)
        found = self._candidates.get(key)
        if found is None:
            found = self._candidates[key] = self._read_candidates(body_id, dataset_id)
        return list(found)

    def _read_candidates(self, body_id: str, dataset_id: str) -> list[AgreementTerms]:
        rows = self.session.execute(_CANDIDATES, {"body_id": body_id, "dataset_id": dataset_id}).all()
        grouped: dict[str, tuple] = {}
        fields: dict[str, list[str]] = {}
        for row in rows:
            if row.id not in grouped:
                grouped[row.id] = row
                fields[row.id] = []
            fields[row.id].append(row.field_name)
        result = []
        for agreement_id, row in grouped.items():
            gateway_known = row.gateway in self.framework.gateways
            result.append(
                AgreementTerms(
                    id=agreement_id,
                    gateway=row.gateway,
                    objective=row.objective,
                    status=row.status,
                    start_date=row.start_date,
                    end_date=row.end_date,
                    fields=tuple(fields[agreement_id]),
                    on_excess_fields=row.on_excess_fields,
                    max_records_per_request=row.max_records_per_request,
                    max_requests_per_day=row.max_requests_per_day,
                    retention=row.retention,
                    embargo=row.embargo,
                    dpv_purpose=self.framework.purpose_iri(row.gateway, row.objective) if gateway_known else None,
                )
            )
        # Active agreements first, so a live agreement is found before a suspended one.
        return sorted(result, key=lambda t: (t.status != "active", t.id))

    def allowed_requests_since(self, agreement_id: str, body_id: str, since: datetime) -> int:
        # The usage counter that services.access claims with each allowed request under a
        # limit: one primary-key read, and the same number that enforces the limit.
        usage = self.session.get(AgreementUsage, (agreement_id, body_id, since.astimezone(UTC).date()))
        return usage.used if usage is not None else 0
