"""The policy's view of storage: candidate agreements and their usage today."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from accord.framework import Framework
from accord.policy.model import AgreementTerms
from accord.storage.models import Agreement, AgreementField, AgreementParty, AgreementUsage


class SqlPolicyContext:
    def __init__(self, session: Session, framework: Framework) -> None:
        self.session = session
        self.framework = framework

    def candidate_agreements(self, body_id: str, dataset_id: str) -> list[AgreementTerms]:
        recipient_of = select(AgreementParty.agreement_id).where(
            AgreementParty.body_id == body_id, AgreementParty.role == "recipient"
        )
        discloses = select(AgreementField.agreement_id).where(AgreementField.dataset_id == dataset_id)
        agreements = self.session.scalars(
            select(Agreement)
            .where(Agreement.id.in_(recipient_of), Agreement.id.in_(discloses))
            .order_by(Agreement.id)
        )
        result = []
        for agreement in agreements:
            fields = tuple(f.field_name for f in agreement.data if f.dataset_id == dataset_id)
            gateway_known = agreement.gateway in self.framework.gateways
            result.append(
                AgreementTerms(
                    id=agreement.id,
                    gateway=agreement.gateway,
                    objective=agreement.objective,
                    status=agreement.status,
                    start_date=agreement.start_date,
                    end_date=agreement.end_date,
                    fields=fields,
                    on_excess_fields=agreement.on_excess_fields,
                    max_records_per_request=agreement.max_records_per_request,
                    max_requests_per_day=agreement.max_requests_per_day,
                    retention=agreement.retention,
                    embargo=agreement.embargo,
                    dpv_purpose=self.framework.purpose_iri(agreement.gateway, agreement.objective)
                    if gateway_known
                    else None,
                )
            )
        # Active agreements first, so a live agreement is found before a suspended one.
        return sorted(result, key=lambda t: (t.status != "active", t.id))

    def allowed_requests_since(self, agreement_id: str, body_id: str, since: datetime) -> int:
        # The usage counter that services.access claims with each allowed request under a
        # limit: one primary-key read, and the same number that enforces the limit.
        usage = self.session.get(AgreementUsage, (agreement_id, body_id, since.astimezone(UTC).date()))
        return usage.used if usage is not None else 0
