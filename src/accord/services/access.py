"""Ask the decision point, and record the decision in the same transaction.

Every purpose service goes through ``request_access``: no access without a
record, no record without an access. The decision is kept twice, for two
readers: the decisions table (the policy's usage ledger, for volume limits)
and the tamper-evident audit log (evidence for citizens and auditors). Both
are written in the caller's session, which commits them with the access.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import isodate
from sqlalchemy.orm import Session

from accord.audit.log import AuditRecord, append
from accord.framework import Framework
from accord.policy import AccessRequest, Decision, decide
from accord.policy.context import SqlPolicyContext
from accord.storage.models import DecisionRecord


def embargo_end(decision: Decision, now: datetime) -> datetime | None:
    duration = decision.obligations.get("embargo") if decision.allowed else None
    if not duration:
        return None
    parsed = isodate.parse_duration(duration)
    return now + (parsed if isinstance(parsed, timedelta) else parsed.totimedelta(start=now))


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
    gateway = request.gateway if request.gateway in framework.gateways else None
    append(
        session,
        AuditRecord(
            kind="access.decision",
            occurred_at=now,
            outcome="allow" if decision.allowed else "deny",
            body_id=request.body_id,
            actor=request.officer,
            purpose=request.purpose,
            purpose_iri=decision.obligations.get("dpv_purpose")
            or (framework.purpose_iri(gateway, request.objective) if gateway else None),
            agreement_id=decision.agreement_id,
            action=request.action,
            dataset_id=request.dataset_id,
            subjects=request.subjects,
            fields=decision.permitted_fields if decision.allowed else tuple(request.fields),
            records=request.records,
            reasons=decision.reasons,
            request_id=request_id,
            embargo_until=embargo_end(decision, now),
            details={"fields_requested": list(request.fields), "removed_fields": list(decision.removed_fields)},
        ),
    )
    session.flush()
    return decision, record
