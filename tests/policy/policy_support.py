"""Shared pieces for the policy tests: an in-memory PolicyContext, the request
matrix's dimensions, an independent oracle for what decide() should say, and
helpers that put a real agreement into a given state in a hub's database.

Named ``policy_support`` (not ``conftest``) so it cannot shadow the shared
tests/conftest.py module for other directories.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta

from accord_testing import confirm_all

from accord.demo.seed import example_agreements, seed_registry
from accord.framework import Purpose
from accord.policy.model import AccessRequest, AgreementTerms
from accord.services.access import catalogue
from accord.registry import agreements, lifecycle
from accord.registry.specs import AgreementSpec

# Same instant as tests/conftest.py NOW; repeated here rather than imported
# because ``from conftest import`` resolves to whichever conftest.py pytest
# loaded last when several directories have one.
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
TODAY = NOW.date()

DATASET = "dwp-benefits"
AGREEMENT_ID = "sf-test"
AGREED_FIELDS = ("nino", "surname", "date_of_birth", "postcode", "benefit_type")
GATEWAY = "public_service_delivery"
OBJECTIVE = "multiple_disadvantages"

# ---------------------------------------------------------------- dimensions

BODIES = {
    "recipient": "northshire-council",
    "discloser": "dwp",
    "non_party": "hmrc",
    "unknown": "no-such-body",
}

# state -> (stored status, start date, end date)
STATES = {
    "draft": ("draft", date(2026, 1, 1), date(2027, 12, 31)),
    "consultation": ("consultation", date(2026, 1, 1), date(2027, 12, 31)),
    "active": ("active", date(2026, 1, 1), date(2027, 12, 31)),
    "suspended": ("suspended", date(2026, 1, 1), date(2027, 12, 31)),
    "revoked": ("revoked", date(2026, 1, 1), date(2027, 12, 31)),
    "expired_by_date": ("expired", date(2025, 1, 1), date(2025, 12, 31)),
    "not_yet_started": ("active", date(2027, 1, 1), date(2027, 12, 31)),
    "active_but_ended": ("active", date(2025, 1, 1), TODAY - timedelta(days=1)),
}

PURPOSES = {
    "gateway": GATEWAY,
    "gateway_objective": f"{GATEWAY}:{OBJECTIVE}",
    "wrong_gateway": "fraud",
    "wrong_objective": f"{GATEWAY}:fuel_poverty",
}

EXTRA = ("first_name", "disability_indicator")  # real dwp-benefits fields the agreement does not name

# fields case -> (requested fields, agreement's on_excess_fields)
FIELDS = {
    "subset": (("surname", "postcode"), "minimise"),
    "exact": (tuple(reversed(AGREED_FIELDS)), "minimise"),
    "superset_minimise": (("nino", "first_name", "surname", "disability_indicator"), "minimise"),
    "superset_deny": (("nino", "first_name", "surname", "disability_indicator"), "deny"),
    "none_permitted": (EXTRA, "minimise"),
}


@dataclass(frozen=True)
class Expected:
    allowed: bool
    cause: str  # a phrase the (first relevant) reason must contain
    permitted: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    agreement_id: str | None = None


def expected_outcome(body: str, state: str, purpose: str, fields_case: str) -> Expected:
    """What decide() must say, worked out from the rules as the issue states them."""
    body_id = BODIES[body]
    if body != "recipient":
        return Expected(False, f"no agreement names '{body_id}' as a recipient of dataset '{DATASET}'")
    if purpose == "wrong_gateway":
        return Expected(False, f"is under the {GATEWAY} gateway, not fraud", agreement_id=AGREEMENT_ID)
    if purpose == "wrong_objective":
        return Expected(
            False, f"is for objective {OBJECTIVE}, not fuel_poverty", agreement_id=AGREEMENT_ID
        )
    status, start, end = STATES[state]
    if status != "active":
        return Expected(False, f"'{AGREEMENT_ID}' is {status}, not active", agreement_id=AGREEMENT_ID)
    if TODAY < start:
        return Expected(False, f"starts on {start.isoformat()}", agreement_id=AGREEMENT_ID)
    if TODAY > end:
        return Expected(False, f"ended on {end.isoformat()}", agreement_id=AGREEMENT_ID)
    requested, on_excess = FIELDS[fields_case]
    permitted = tuple(f for f in requested if f in AGREED_FIELDS)
    removed = tuple(f for f in requested if f not in AGREED_FIELDS)
    if removed and on_excess == "deny":
        return Expected(False, f"fields not in agreement '{AGREEMENT_ID}': {', '.join(removed)}", agreement_id=AGREEMENT_ID)
    if not permitted:
        return Expected(False, "none of the requested fields is disclosed", agreement_id=AGREEMENT_ID)
    return Expected(True, f"permitted under agreement '{AGREEMENT_ID}'", permitted, removed, AGREEMENT_ID)


def request_for(body: str, purpose: str, fields_case: str, **changes: object) -> AccessRequest:
    request = AccessRequest(
        body_id=BODIES[body],
        officer="officer@example",
        action="dataset.read",
        dataset_id=DATASET,
        purpose=Purpose.parse(PURPOSES[purpose]),
        fields=FIELDS[fields_case][0],
    )
    return replace(request, **changes) if changes else request


# ---------------------------------------------------------------- fake context


def terms(
    agreement_id: str = AGREEMENT_ID,
    *,
    gateway: str = GATEWAY,
    objective: str | None = OBJECTIVE,
    status: str = "active",
    start_date: date = date(2026, 1, 1),
    end_date: date = date(2027, 12, 31),
    fields: tuple[str, ...] = AGREED_FIELDS,
    on_excess_fields: str = "minimise",
    max_records_per_request: int | None = None,
    max_requests_per_day: int | None = None,
) -> AgreementTerms:
    return AgreementTerms(
        id=agreement_id,
        gateway=gateway,
        objective=objective,
        status=status,
        start_date=start_date,
        end_date=end_date,
        fields=fields,
        on_excess_fields=on_excess_fields,
        max_records_per_request=max_records_per_request,
        max_requests_per_day=max_requests_per_day,
        retention="P1Y",
        dpv_purpose="https://w3id.org/dpv#ImprovePublicServices",
    )


@dataclass
class FakeAgreement:
    terms: AgreementTerms
    recipients: tuple[str, ...] = ("northshire-council",)
    disclosers: tuple[str, ...] = ("dwp",)
    dataset: str = DATASET


@dataclass
class FakeContext:
    """PolicyContext in memory: agreements, and the allowed decisions so far."""

    agreements: list[FakeAgreement]
    allowed_at: list[tuple[str, str, datetime]] = field(default_factory=list)  # (agreement, body, when)
    usage_queries: list[tuple[str, str, datetime]] = field(default_factory=list)
    reverse: bool = False  # hand candidates back in the opposite order
    catalogue: object = field(default_factory=catalogue)  # the actions the purposes register

    def holder_of(self, dataset_id: str) -> str | None:
        return next((a.disclosers[0] for a in self.agreements if a.dataset == dataset_id), None)

    def candidate_agreements(self, body_id: str, dataset_id: str) -> list[AgreementTerms]:
        found = [a.terms for a in self.agreements if body_id in a.recipients and a.dataset == dataset_id]
        return list(reversed(found)) if self.reverse else found

    def allowed_requests_since(self, agreement_id: str, body_id: str, since: datetime) -> int:
        self.usage_queries.append((agreement_id, body_id, since))
        return sum(1 for a, b, when in self.allowed_at if a == agreement_id and b == body_id and when >= since)


def context_in_state(state: str, fields_case: str = "exact") -> FakeContext:
    status, start, end = STATES[state]
    on_excess = FIELDS[fields_case][1]
    return FakeContext(
        [FakeAgreement(terms(status=status, start_date=start, end_date=end, on_excess_fields=on_excess))]
    )


# ---------------------------------------------------------------- real database


def base_spec(**changes: object) -> AgreementSpec:
    """The demo's Supporting Families agreement (dwp -> northshire-council), renamed."""
    spec = dict(next(s for _, s in example_agreements() if s.id == "supporting-families-northshire").model_dump())
    spec.update(id=AGREEMENT_ID, limits={"max_records_per_request": None, "max_requests_per_day": None})
    spec.update(changes)
    return AgreementSpec.model_validate(spec)


def _at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 9, 0, tzinfo=UTC)


def agreement_in_state(session, framework, state: str, *, on_excess_fields: str = "minimise", **changes):  # noqa: ANN001, ANN201
    """Store the test agreement and drive it, through the lifecycle, to ``state`` as at NOW."""
    status, start, end = STATES[state]
    review = start + (end - start) / 2
    spec = base_spec(start_date=start, end_date=end, review_date=review, on_excess_fields=on_excess_fields, **changes)
    if status in ("draft", "consultation"):
        agreement = agreements.create_draft(session, framework, spec, "tester", NOW)
        if status == "consultation":
            confirm_all(session, agreement, NOW)
            lifecycle.transition(session, framework, agreement, "consultation", actor="tester", now=NOW)
        return agreement
    # Live agreements: consult and go live before whichever comes first, NOW or the end date.
    live_from = min(_at(start), NOW) if end >= TODAY else _at(start)
    agreement = agreements.create_draft(session, framework, spec, "tester", live_from - timedelta(weeks=9))
    confirm_all(session, agreement, live_from - timedelta(weeks=9))
    lifecycle.transition(session, framework, agreement, "consultation", actor="tester", now=live_from - timedelta(weeks=9))
    lifecycle.transition(session, framework, agreement, "active", actor="tester", now=live_from)
    if status == "suspended":
        lifecycle.transition(session, framework, agreement, "suspended", actor="tester", now=NOW, reason="audit finding")
    elif status == "revoked":
        lifecycle.transition(session, framework, agreement, "revoked", actor="tester", now=NOW, reason="no longer needed")
    elif status == "expired":
        lifecycle.transition(session, framework, agreement, "expired", actor="tester", now=NOW)
    assert agreement.status == status
    return agreement


def seeded_with(hub, state: str, **kwargs: object) -> None:  # noqa: ANN001
    with hub.transaction() as session:
        seed_registry(session, hub.framework, NOW - timedelta(days=800))
        agreement_in_state(session, hub.framework, state, **kwargs)
