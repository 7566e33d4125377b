"""decide(): the one decision point for every data access.

Deny by default. Evaluation order, stopping at the first rule family that
objects for a given agreement:

1. catalogue  - the action must be in the catalogue the context carries;
2. holder     - the body holding the dataset may have the hub read its own
                records for an action that allows it (``Action.holder_use``);
3. party      - otherwise the body must be a recipient, in some agreement, of
                the dataset;
4. purpose    - that agreement must be under the gateway (and objective) named,
                and be the agreement named in the request, if one is;
5. action     - the action must be permitted under that gateway;
6. status     - the agreement must be in force: active, and today within its term;
7. fields     - requested fields are minimised to those the agreement names
                (or the request is denied, if the agreement says so);
8. limits     - records per request and requests per day.

The first candidate agreement with no objection allows the request; if none
does, the decision is a denial carrying every candidate's reasons. Only
``services.access`` calls this: it records every decision in the audit log,
and judges the quota rules (8) again, atomically, when it records.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Protocol

from accord.policy.catalogue import Action
from accord.policy.model import AccessRequest, AgreementTerms, Decision
from accord.policy.rules import fields, holder, limits, purpose, status


class PolicyContext(Protocol):
    catalogue: Mapping[str, Action]

    def holder_of(self, dataset_id: str) -> str | None:
        """The body holding the dataset (None: no such dataset)."""
        ...

    def candidate_agreements(self, body_id: str, dataset_id: str) -> list[AgreementTerms]: ...

    def allowed_requests_since(self, agreement_id: str, body_id: str, since: datetime) -> int:
        """Allowed requests by the body under the agreement since ``since``, the start of a UTC day."""
        ...


def decide(context: PolicyContext, request: AccessRequest, now: datetime) -> Decision:
    def deny(reasons: list[str], agreement_id: str | None = None) -> Decision:
        return Decision(False, tuple(reasons), request.action, request.purpose, now, agreement_id)

    action = context.catalogue.get(request.action)
    if action is None:
        return deny([f"'{request.action}' is not an action in the catalogue"])
    if not request.fields:
        return deny(["the request names no fields"])

    if action.holder_use and holder.holds(context, request):
        return Decision(True, tuple(holder.reasons(request)), request.action, request.purpose, now, None,
                        tuple(dict.fromkeys(request.fields)), (), {"audit": "recorded in the Accord audit log"})

    candidates = context.candidate_agreements(request.body_id, request.dataset_id)
    if not candidates:
        return deny(
            [f"no agreement names '{request.body_id}' as a recipient of dataset '{request.dataset_id}'"]
        )

    objections: list[str] = []  # from agreements for the purpose asked
    off_purpose: list[str] = []  # from the body's other agreements for this dataset
    utc_now = now.astimezone(UTC)  # terms and daily limits run on UTC days, whatever offset now carries
    today = utc_now.date()
    start_of_day = utc_now.replace(hour=0, minute=0, second=0, microsecond=0)
    for terms in candidates:
        found = purpose.reasons(request, terms)
        if found:
            off_purpose += found
            continue
        if not action.permits(terms.gateway, terms.objective):
            where = f"{terms.gateway} gateway" + (f" ({terms.objective})" if terms.objective else "")
            found = [f"action '{action.name}' is not permitted under the {where}"]
        if not found:
            found = status.reasons(terms, today)
        keep: tuple[str, ...] = ()
        removed: tuple[str, ...] = ()
        if not found:
            keep, removed, found = fields.permitted(request, terms)
        if not found:
            # Usage is looked up only when there is a daily limit to hold it against.
            used = (
                context.allowed_requests_since(terms.id, request.body_id, start_of_day)
                if terms.max_requests_per_day is not None
                else 0
            )
            found = limits.reasons(request, terms, used)
        if found:
            objections += found
            continue
        reasons = [f"permitted under agreement '{terms.id}' ({terms.gateway})"]
        if removed:
            reasons.append(f"fields removed as not in the agreement: {', '.join(removed)}")
        return Decision(
            True,
            tuple(reasons),
            request.action,
            request.purpose,
            now,
            terms.id,
            keep,
            removed,
            {
                "retention": terms.retention,
                "delete_after": terms.retention,
                "onward_disclosure": "prohibited except as the agreement permits",
                "dpv_purpose": terms.dpv_purpose,
                "audit": "recorded in the Accord audit log",
                "embargo": terms.embargo,
            },
            daily_limit=terms.max_requests_per_day,
        )
    reasons = objections or off_purpose
    if request.agreement_id:  # the refusal is about the agreement named, if it is one of the body's, else none
        return deny(reasons, request.agreement_id if any(t.id == request.agreement_id for t in candidates) else None)
    return deny(reasons, candidates[0].id if len(candidates) == 1 else None)
