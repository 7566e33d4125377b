"""Ask the decision point, and record the decision in the same transaction.

Every purpose service goes through ``request_access``: no access without a
record, no record without an access. The decision is kept twice, for two
readers: the decisions table (the policy's usage ledger, for volume limits)
and the tamper-evident audit log (evidence for citizens and auditors). Both
are written in the caller's session, which commits them with the access.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import insert, update
from sqlalchemy.orm import Session

from accord.audit.log import AUDIT_INDEPENDENT, AuditRecord, append
from accord.durations import to_timedelta
from accord.framework import Framework
from accord.policy import AccessRequest, Decision, decide
from accord.policy.context import SqlPolicyContext
from accord.storage.models import AgreementUsage, DecisionRecord
from accord.storage.upsert import insert_if_absent


# One prebuilt statement per decision: a Core insert costs a fraction of an ORM flush, and
# nothing reads the row back through the session in the same request.
_INSERT_DECISION = (
    insert(DecisionRecord.__table__)
    .returning(DecisionRecord.__table__.c.id)
    .execution_options(**{AUDIT_INDEPENDENT: True})
)


@dataclass(frozen=True)
class RecordedDecision:
    """The decisions-table row just written (``id`` is its primary key), as plain values."""

    id: int
    decided_at: datetime
    request_id: str
    body_id: str
    client_id: str | None
    officer: str
    action: str
    dataset_id: str | None
    purpose: str
    agreement_id: str | None
    allowed: bool
    reasons: list[str]
    fields_requested: list[str]
    fields_permitted: list[str]
    records: int
    obligations: dict


def embargo_end(
    context: SqlPolicyContext, framework: Framework, request: AccessRequest, decision: Decision, now: datetime
) -> datetime | None:
    """When the citizen may see this entry (None: at once).

    An allowed access carries its agreement's embargo. A refused one, under a gateway
    that allows embargoes, carries the longest embargo of the body's agreements for
    that gateway: otherwise a refusal would show the person what the hidden allowed
    accesses are about.
    """
    if decision.allowed:
        duration = decision.obligations.get("embargo")
        return now + to_timedelta(duration, now) if duration else None
    gateway = framework.gateway(request.gateway)
    if gateway is None or not gateway.embargo_allowed:
        return None
    ends = [
        now + to_timedelta(terms.embargo, now)
        for terms in context.candidate_agreements(request.body_id, request.dataset_id)
        if terms.gateway == request.gateway and terms.embargo
    ]
    return max(ends, default=None)


def claim_daily_request(session: Session, decision: Decision, body_id: str, now: datetime) -> bool:
    """Count this allowed request against its agreement's daily limit, atomically.

    The policy's own count is a pre-check; this conditional UPDATE is the authority,
    so concurrent requests (threads or processes) can never together pass the limit.
    """
    if not decision.allowed or decision.daily_limit is None:
        return True
    key = {"agreement_id": decision.agreement_id, "body_id": body_id, "day": now.astimezone(UTC).date()}
    insert_if_absent(session, AgreementUsage.__table__, {**key, "used": 0})
    claimed = session.execute(
        update(AgreementUsage)
        .where(*(getattr(AgreementUsage, column) == value for column, value in key.items()))
        .where(AgreementUsage.used < decision.daily_limit)
        .values(used=AgreementUsage.used + 1)
    )
    return claimed.rowcount == 1


@dataclass(frozen=True)
class ProposedDecision:
    """The decision point's answer before it is recorded (``decide_access``), with what it read."""

    request: AccessRequest
    decision: Decision
    context: SqlPolicyContext
    now: datetime


def decide_access(session: Session, framework: Framework, request: AccessRequest, *, now: datetime) -> ProposedDecision:
    """Ask the decision point: reads only. Nothing is recorded until ``record_access``.

    Split from the recording so a group-commit batch can do its reads before it takes
    the write lock (storage/group_commit.py); the daily-limit claim, the authority on
    limits, is made when the decision is recorded.
    """
    context = SqlPolicyContext(session, framework)
    return ProposedDecision(request, decide(context, request, now), context, now)


def request_access(
    session: Session,
    framework: Framework,
    request: AccessRequest,
    *,
    now: datetime,
    request_id: str,
    client_id: str | None = None,
) -> tuple[Decision, RecordedDecision]:
    """Decide and record, in the caller's transaction."""
    proposed = decide_access(session, framework, request, now=now)
    return record_access(session, framework, proposed, request_id=request_id, client_id=client_id)


def record_access(
    session: Session,
    framework: Framework,
    proposed: ProposedDecision,
    *,
    request_id: str,
    client_id: str | None = None,
) -> tuple[Decision, RecordedDecision]:
    """Claim the daily limit, then write the decision row and its audit record."""
    request, decision, context, now = proposed.request, proposed.decision, proposed.context, proposed.now
    if not claim_daily_request(session, decision, request.body_id, now):
        decision = Decision(
            False,
            (f"agreement '{decision.agreement_id}' allows {decision.daily_limit} requests a day; all are used",),
            request.action,
            request.purpose,
            now,
            decision.agreement_id,
        )
    values = {
        "decided_at": now,
        "request_id": request_id,
        "body_id": request.body_id,
        "client_id": client_id,
        "officer": request.officer,
        "action": request.action,
        "dataset_id": request.dataset_id,
        "purpose": request.purpose,
        "agreement_id": decision.agreement_id,
        "allowed": decision.allowed,
        "reasons": list(decision.reasons),
        "fields_requested": list(request.fields),
        "fields_permitted": list(decision.permitted_fields),
        "records": request.records,
        "obligations": decision.obligations,
    }
    record = RecordedDecision(session.execute(_INSERT_DECISION, values).scalar_one(), **values)
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
            embargo_until=embargo_end(context, framework, request, decision, now),
            details={"fields_requested": list(request.fields), "removed_fields": list(decision.removed_fields)},
        ),
    )
    # The record is written before the caller's next statement that might read the audit
    # tables, or at commit (audit.log's hooks), so a group-commit batch writes its records
    # together.
    session.flush()
    return decision, record
