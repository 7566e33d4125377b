"""Ask the decision point, and record the decision in the same transaction.

Every purpose service goes through ``request_access``: no access without a
record, no record without an access. The caller commits the session once the
access itself has been done, so both land or neither does.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from accord.framework import Framework
from accord.policy import AccessRequest, Decision, decide
from accord.policy.context import SqlPolicyContext
from accord.storage.models import DecisionRecord


def request_access(
    session: Session,
    framework: Framework,
    request: AccessRequest,
    *,
    now: datetime,
    request_id: str,
    client_id: str | None = None,
) -> tuple[Decision, DecisionRecord]:
    decision = decide(SqlPolicyContext(session, framework), request, now)
    record = DecisionRecord(
        decided_at=now,
        request_id=request_id,
        body_id=request.body_id,
        client_id=client_id,
        officer=request.officer,
        action=request.action,
        dataset_id=request.dataset_id,
        purpose=request.purpose,
        agreement_id=decision.agreement_id,
        allowed=decision.allowed,
        reasons=list(decision.reasons),
        fields_requested=list(request.fields),
        fields_permitted=list(decision.permitted_fields),
        records=request.records,
        obligations=decision.obligations,
    )
    session.add(record)
    session.flush()
    return decision, record
