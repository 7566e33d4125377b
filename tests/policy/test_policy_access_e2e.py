"""request_access end to end, on SQLite and PostgreSQL: the real SqlPolicyContext,
agreements driven to each state through the lifecycle, and a DecisionRecord
written for every decision, allowed or denied."""

from __future__ import annotations

from accord.framework import Purpose

from accord.services.access import catalogue

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from accord.policy import AccessRequest
from accord.registry import bodies
from accord.registry.specs import BodySpec
from accord_testing import decide_and_record
from accord.storage.models import DecisionRecord
from policy_support import (
    AGREED_FIELDS,
    AGREEMENT_ID,
    BODIES,
    DATASET,
    FIELDS,
    NOW,
    PURPOSES,
    STATES,
    expected_outcome,
    request_for,
    seeded_with,
)

# A smaller cut of the matrix: every state for a well-formed request, then each
# other dimension varied on an active agreement.
E2E_CASES = (
    [("recipient", state, "gateway_objective", "exact") for state in STATES]
    + [(body, "active", "gateway", "subset") for body in ("discloser", "non_party", "unknown")]
    + [("recipient", "active", purpose, "subset") for purpose in ("gateway", "wrong_gateway", "wrong_objective")]
    + [("recipient", "active", "gateway", f) for f in ("superset_minimise", "superset_deny", "none_permitted")]
)


def _rows(hub) -> list[DecisionRecord]:  # noqa: ANN001
    with hub.transaction() as session:
        return list(session.scalars(select(DecisionRecord).order_by(DecisionRecord.id)))


@pytest.mark.parametrize(("body", "state", "purpose", "fields_case"), E2E_CASES)
def test_request_access_decides_and_records(hub, body: str, state: str, purpose: str, fields_case: str) -> None:  # noqa: ANN001
    seeded_with(hub, state, on_excess_fields=FIELDS[fields_case][1])
    request = request_for(body, purpose, fields_case, records=3)
    expected = expected_outcome(body, state, purpose, fields_case)

    with hub.transaction() as session:
        decision, record = decide_and_record(session, request, now=NOW, request_id="req-1", client_id="client-1"
        )
        assert record.decision_id is not None  # flushed in the caller's transaction

    assert decision.allowed is expected.allowed, decision.reasons
    assert any(expected.cause in r for r in decision.reasons), (expected.cause, decision.reasons)
    assert decision.agreement_id == expected.agreement_id
    assert decision.permitted_fields == expected.permitted

    [row] = _rows(hub)
    assert row.allowed is expected.allowed
    assert row.body_id == BODIES[body]
    assert row.officer == "officer@example"
    assert row.action == "dataset.read"
    assert row.dataset_id == DATASET
    assert row.purpose == PURPOSES[purpose]
    assert row.agreement_id == expected.agreement_id
    assert row.request_id == "req-1"
    assert row.client_id == "client-1"
    assert row.records == 3
    assert row.reasons == list(decision.reasons)
    assert row.fields_requested == list(FIELDS[fields_case][0])
    assert row.fields_permitted == list(expected.permitted)
    assert row.decided_at == NOW
    assert row.decided_at.tzinfo is not None and row.decided_at.utcoffset() == timedelta(0)
    if expected.allowed:
        assert row.obligations["retention"] == "P1Y"
        assert row.obligations["dpv_purpose"] == "https://w3id.org/dpv#ImprovePublicServices"
    else:
        assert row.obligations == {}


def test_every_decision_in_a_session_is_recorded(hub) -> None:  # noqa: ANN001
    seeded_with(hub, "active")
    requests = [
        request_for("recipient", "gateway", "exact"),
        request_for("recipient", "wrong_gateway", "exact"),
        request_for("non_party", "gateway", "exact"),
        request_for("recipient", "gateway", "none_permitted"),
        request_for("recipient", "gateway", "subset", action="no.such.action"),
        request_for("recipient", "gateway", "superset_minimise"),
    ]
    with hub.transaction() as session:
        outcomes = [
            decide_and_record(session, r, now=NOW + timedelta(seconds=i), request_id=f"req-{i}")[0].allowed
            for i, r in enumerate(requests)
        ]
    assert outcomes == [True, False, False, False, False, True]
    rows = _rows(hub)
    assert [r.request_id for r in rows] == [f"req-{i}" for i in range(len(requests))]
    assert [r.allowed for r in rows] == outcomes
    assert rows[4].reasons == ["'no.such.action' is not an action in the catalogue"]
    assert rows[5].fields_permitted == ["nino", "surname"]


def test_no_record_survives_when_the_access_fails(hub) -> None:  # noqa: ANN001
    seeded_with(hub, "active")
    with pytest.raises(RuntimeError), hub.transaction() as session:
        decision, _ = decide_and_record(session, request_for("recipient", "gateway", "exact"), now=NOW, request_id="req-1"
        )
        assert decision.allowed
        raise RuntimeError("the access itself failed")
    assert _rows(hub) == []


def test_context_lists_only_agreements_naming_the_body_as_recipient(hub) -> None:  # noqa: ANN001
    from accord.policy.context import SqlPolicyContext

    seeded_with(hub, "suspended")
    with hub.transaction() as session:
        context = SqlPolicyContext(session, hub.framework, catalogue())
        [found] = context.candidate_agreements("northshire-council", DATASET)
        assert found.id == AGREEMENT_ID
        assert found.status == "suspended"
        assert found.fields == AGREED_FIELDS
        assert found.dpv_purpose == "https://w3id.org/dpv#ImprovePublicServices"
        assert context.candidate_agreements("dwp", DATASET) == []  # the discloser
        assert context.candidate_agreements("northshire-council", "hmrc-paye") == []


# ---------------------------------------------------------------- daily limits, in the database


def _ask(hub, body: str, at: datetime, records: int = 1) -> bool:  # noqa: ANN001
    request = AccessRequest(
        body_id=body,
        officer="officer@example",
        action="dataset.read",
        dataset_id=DATASET,
        purpose=Purpose.parse("public_service_delivery"),
        fields=("surname",),
        records=records,
    )
    with hub.transaction() as session:
        decision, _ = decide_and_record(session, request, now=at, request_id=f"{body}-{at.isoformat()}")
    return decision.allowed


def test_daily_limit_counts_allowed_decisions_since_midnight_utc_per_body(hub) -> None:  # noqa: ANN001
    midnight = datetime(2026, 11, 22, tzinfo=UTC)
    with hub.transaction() as session:
        bodies.add_body(
            session,
            hub.framework,
            BodySpec(id="southshire-council", name="Southshire Council", body_type="local_authority"),
            NOW,
        )
    seeded_with(
        hub,
        "active",
        recipients=["northshire-council", "southshire-council"],
        limits={"max_records_per_request": 100, "max_requests_per_day": 2},
    )
    north, south = "northshire-council", "southshire-council"

    assert _ask(hub, north, midnight - timedelta(minutes=1))  # yesterday: does not count today
    assert _ask(hub, north, midnight - timedelta(seconds=30))
    assert not _ask(hub, north, midnight + timedelta(hours=1), records=101)  # denied: does not count
    assert _ask(hub, north, midnight)  # 1 of 2 today
    assert _ask(hub, south, midnight + timedelta(hours=2))  # another body's quota
    assert _ask(hub, north, midnight + timedelta(hours=3))  # 2 of 2
    assert not _ask(hub, north, midnight + timedelta(hours=4))  # used up
    assert _ask(hub, south, midnight + timedelta(hours=5))  # south still has one
    assert not _ask(hub, south, midnight + timedelta(hours=6))
    assert _ask(hub, north, midnight + timedelta(days=1))  # a new UTC day

    rows = _rows(hub)
    assert len(rows) == 10
    assert sum(r.allowed for r in rows) == 7
    used_up = [r for r in rows if not r.allowed and r.records == 1]
    assert [r.body_id for r in used_up] == [north, south]
    assert all(r.reasons == [f"agreement '{AGREEMENT_ID}' allows 2 requests a day; all are used"] for r in used_up)


def test_records_per_request_limit_in_the_database(hub) -> None:  # noqa: ANN001
    seeded_with(hub, "active", limits={"max_records_per_request": 100, "max_requests_per_day": None})
    assert _ask(hub, "northshire-council", NOW, records=100)
    assert not _ask(hub, "northshire-council", NOW, records=101)
    denied = _rows(hub)[-1]
    assert denied.reasons == [f"101 records exceeds agreement '{AGREEMENT_ID}' limit of 100 per request"]
    assert denied.fields_permitted == []
