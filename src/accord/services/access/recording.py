"""record(): write the decision and its audit entry in the caller's transaction.

No access without a record, no record without an access. The decision is kept
twice, for two readers: the decisions table (its id is quoted back to the body,
and event deliveries point at it; ``GET /v1/decisions/{id}`` reads it) and the
tamper-evident audit log (evidence for citizens and auditors). Both are written
in the caller's session and commit with the access.

Rules that consume something are judged again here, atomically, because two
requests asked at the same moment could both have been allowed by ``ask``:

- a daily request limit is claimed with one conditional UPDATE of the usage
  counter; if the claim fails, the decision point is asked again, and its own
  limits rule writes the refusal (no denial is built outside ``decide``);
- a request that turns out to be about more people than it said (subjects
  are often known only after matching) is decided again with the true count.
  A bulk action (training, linking, encoding) covers a whole holding by its
  nature: its records are what the body brought (its file, its applications),
  and the holding's people are recorded by count and commitment.

A grant that fails its re-check is recorded as the refusal it became, and the
caller must not answer with anything it matched.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from accord.audit.log import AUDIT_INDEPENDENT, AuditRecord, append
from accord.durations import to_timedelta
from accord.errors import Conflict
from accord.framework import Framework
from accord.policy import AccessRequest, Decision
from accord.policy.context import SqlPolicyContext
from accord.policy.decide import decide
from accord.services.access.answers import Grant, Recorded, Refusal
from accord.services.access.asking import policy_context
from accord.storage.models import AgreementUsage, DecisionRecord
from accord.storage.upsert import insert_if_absent

# One prebuilt statement per decision: a Core insert costs a fraction of an ORM flush, and
# nothing reads the row back through the session in the same request.
_INSERT_DECISION = (
    insert(DecisionRecord.__table__)
    .returning(DecisionRecord.__table__.c.id)
    .execution_options(**{AUDIT_INDEPENDENT: True})
)
_CLAIM_ATTEMPTS = 3


def record(
    session: Session,
    answer: Grant | Refusal,
    outcome: Mapping[str, Any] | None = None,
    subjects: Iterable[str] = (),
    *,
    request_id: str,
    client_id: str | None = None,
    claimed: bool = False,
) -> Recorded:
    """Record ``answer`` (re-judging a grant's quotas atomically), with the people it was about.

    ``claimed``: the grant is another use within one access whose first decision, recorded in
    this transaction, already took the day's place (linking that also trains a model): it is
    not counted against the daily limit again.

    ``subjects`` are pseudonymous person keys as the hub resolved them (never what the
    requester typed); ``outcome`` is a small summary for the audit entry (counts, a grade),
    never personal data. A bulk action's entry records the count and a hash commitment
    to the keys instead of the keys.
    """
    context = policy_context(session)
    subjects = tuple(dict.fromkeys((*answer.request.subjects, *subjects)))
    request = answer.request
    decision = answer.decision
    if isinstance(answer, Grant):
        request, decision = _recheck(session, context, answer, subjects, claimed)
    return _write(session, context.framework, context, request, decision, answer.now, outcome, subjects, request_id,
                  client_id, answer if decision.allowed and isinstance(answer, Grant) else None)


def _recheck(session: Session, context: SqlPolicyContext, grant: Grant, subjects: tuple[str, ...],
             claimed: bool) -> tuple[AccessRequest, Decision]:
    request, decision, now = grant.request, grant.decision, grant.now

    def again(request: AccessRequest) -> Decision:
        # Judged again under the agreement that granted it, never another: the grant's answer
        # was built from that agreement's terms, so the record must be too.
        return decide(context, replace(request, agreement_id=grant.decision.agreement_id or request.agreement_id), now)

    if len(subjects) > request.records and not action_is_bulk(context, request):
        request = replace(request, records=len(subjects), subjects=subjects)
        decision = again(request)
    if claimed:
        return request, decision
    for _ in range(_CLAIM_ATTEMPTS):
        if not decision.allowed or _claim_daily_request(session, decision, request.body_id, now):
            return request, decision
        decision = again(request)  # reads the usage afresh: its limits rule refuses
    raise Conflict("the agreement's daily limit is being claimed by many requests at once; try again")


def _claim_daily_request(session: Session, decision: Decision, body_id: str, now: datetime) -> bool:
    """Count this allowed request against its agreement's daily limit, atomically.

    The policy's own count is a pre-check; this conditional UPDATE is the authority,
    so concurrent requests (threads or processes) can never together pass the limit.
    """
    if decision.daily_limit is None:
        return True
    key = {"agreement_id": decision.agreement_id, "body_id": body_id, "day": now.astimezone(UTC).date()}
    insert_if_absent(session, AgreementUsage.__table__, {**key, "used": 0})
    claimed = session.execute(
        update(AgreementUsage.__table__)
        .where(*(AgreementUsage.__table__.c[column] == value for column, value in key.items()))
        .where(AgreementUsage.__table__.c.used < decision.daily_limit)
        .values(used=AgreementUsage.__table__.c.used + 1)
    )
    return claimed.rowcount == 1


def action_is_bulk(context: SqlPolicyContext, request: AccessRequest) -> bool:
    action = context.catalogue.get(request.action)
    return action is not None and action.bulk


def commitment(subjects: Iterable[str]) -> str:
    """A hash commitment to a set of person keys: SHA-256 of the sorted keys, one per line.

    An auditor given the list can check it against the entry; the entry itself
    stays small however many people a bulk action covered.
    """
    return hashlib.sha256("\n".join(sorted(set(subjects))).encode()).hexdigest()


def embargo_end(context: SqlPolicyContext, framework: Framework, request: AccessRequest, decision: Decision,
                now: datetime) -> datetime | None:
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


def _write(session: Session, framework: Framework, context: SqlPolicyContext, request: AccessRequest,
           decision: Decision, now: datetime, outcome: Mapping[str, Any] | None, subjects: tuple[str, ...],
           request_id: str, client_id: str | None, grant: Grant | None) -> Recorded:
    bulk = action_is_bulk(context, request)
    records = request.records if bulk else max(request.records, len(subjects))
    values = {
        "decided_at": now,
        "request_id": request_id,
        "body_id": request.body_id,
        "client_id": client_id,
        "officer": request.officer,
        "action": request.action,
        "dataset_id": request.dataset_id,
        "purpose": str(request.purpose),
        "agreement_id": decision.agreement_id,
        "allowed": decision.allowed,
        "reasons": list(decision.reasons),
        "fields_requested": list(request.fields),
        "fields_permitted": list(decision.permitted_fields),
        "records": records,
        "obligations": decision.obligations,
    }
    decision_id = session.execute(_INSERT_DECISION, values).scalar_one()
    details: dict[str, Any] = {"fields_requested": list(request.fields),
                               "removed_fields": list(decision.removed_fields)}
    if outcome:
        details["outcome"] = dict(outcome)
    named = subjects
    if bulk:
        details["subjects"] = {"count": len(subjects), "sha256": commitment(subjects)}
        named = ()
    append(session, _audit_record(context, framework, request, decision, now, kind="access.decision",
                                  subjects=named, records=records, request_id=request_id, details=details,
                                  fields=decision.permitted_fields if decision.allowed else tuple(request.fields)))
    # The record is written before the caller's next statement that might read the audit
    # tables, or at commit (audit.log's hooks), so a group-commit batch writes its records
    # together.
    session.flush()
    return Recorded(decision_id, decision, request_id, grant)


def name_subjects(session: Session, grant: Grant, subjects: Iterable[str], *, decision_id: int | None,
                  outcome: Mapping[str, Any] | None = None, request_id: str) -> None:
    """Name the people a recorded access turned out to be about, once they are known (a job's matches).

    The access itself was decided and recorded when the records were read
    (``decision_id``); this entry, in the caller's transaction, carries the same
    body, purpose, agreement and fields, so each person sees it on "who used my data".
    """
    named = tuple(dict.fromkeys(subjects))
    if not named:
        return
    context = policy_context(session)
    append(session, _audit_record(
        context, context.framework, grant.request, grant.decision, grant.now,
        kind="access.subjects", subjects=named, fields=grant.decision.permitted_fields, records=len(named),
        request_id=request_id, details={"decision_id": decision_id, **({"outcome": dict(outcome)} if outcome else {})},
    ))


def _audit_record(context: SqlPolicyContext, framework: Framework, request: AccessRequest, decision: Decision,
                  now: datetime, *, kind: str, subjects: tuple[str, ...], fields: tuple[str, ...], records: int,
                  request_id: str, details: dict[str, Any]) -> AuditRecord:
    """The audit entry of an access: who, for what purpose, under which agreement, about whom."""
    gateway = request.gateway if request.gateway in framework.gateways else None
    return AuditRecord(
        kind=kind, occurred_at=now, outcome="allow" if decision.allowed else "deny", body_id=request.body_id,
        actor=request.officer, purpose=str(request.purpose),
        purpose_iri=decision.obligations.get("dpv_purpose")
        or (framework.purpose_iri(gateway, request.objective) if gateway else None),
        agreement_id=decision.agreement_id, action=request.action, dataset_id=request.dataset_id, subjects=subjects,
        fields=fields, records=records, reasons=decision.reasons, request_id=request_id,
        embargo_until=embargo_end(context, framework, request, decision, now), details=details,
    )


def read_decision(session: Session, decision_id: int, body_id: str | None) -> dict | None:
    """A recorded decision as its body (or the hub operator, ``body_id`` None) may read it again."""
    row = session.execute(select(DecisionRecord.__table__).where(DecisionRecord.__table__.c.id == decision_id)).first()
    if row is None or (body_id is not None and row.body_id != body_id):
        return None
    return {
        "decision_id": row.id, "decision": "allow" if row.allowed else "deny", "allowed": row.allowed,
        "decided_at": row.decided_at.isoformat(), "request_id": row.request_id, "body": row.body_id,
        "officer": row.officer, "action": row.action, "dataset": row.dataset_id, "purpose": row.purpose,
        "agreement_id": row.agreement_id, "reasons": list(row.reasons), "fields_requested": list(row.fields_requested),
        "fields_permitted": list(row.fields_permitted), "records": row.records, "obligations": row.obligations,
    }
