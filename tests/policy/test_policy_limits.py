"""Volume and frequency limits, in memory: records per request, allowed requests per day."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from accord.policy.decide import decide
from policy_support import AGREEMENT_ID, NOW, FakeAgreement, FakeContext, request_for, terms

MIDNIGHT = datetime(2026, 11, 22, 0, 0, tzinfo=UTC)


def _context(**limits: int | None) -> FakeContext:
    return FakeContext([FakeAgreement(terms(**limits), recipients=("northshire-council", "southshire-council"))])


@pytest.mark.parametrize(("records", "allowed"), [(1, True), (999, True), (1000, True), (1001, False)])
def test_max_records_per_request(records: int, allowed: bool) -> None:
    request = replace(request_for("recipient", "gateway", "exact"), records=records)
    decision = decide(_context(max_records_per_request=1000), request, NOW)
    assert decision.allowed is allowed
    if not allowed:
        assert decision.reasons == (f"1001 records exceeds agreement '{AGREEMENT_ID}' limit of 1000 per request",)
        assert decision.permitted_fields == ()


@pytest.mark.parametrize("records", [0, -5])
def test_a_request_must_cover_at_least_one_record(records: int) -> None:
    request = replace(request_for("recipient", "gateway", "exact"), records=records)
    decision = decide(_context(), request, NOW)
    assert not decision.allowed
    assert "a request must cover at least one record" in decision.reasons


def test_no_limits_means_no_volume_objection() -> None:
    request = replace(request_for("recipient", "gateway", "exact"), records=50_000_000)
    assert decide(_context(), request, NOW).allowed


@pytest.mark.parametrize(("used", "allowed"), [(0, True), (2, True), (3, False), (7, False)])
def test_max_requests_per_day(used: int, allowed: bool) -> None:
    context = _context(max_requests_per_day=3)
    context.allowed_at = [(AGREEMENT_ID, "northshire-council", NOW - timedelta(minutes=i + 1)) for i in range(used)]
    decision = decide(context, request_for("recipient", "gateway", "exact"), NOW)
    assert decision.allowed is allowed
    if not allowed:
        assert decision.reasons == (f"agreement '{AGREEMENT_ID}' allows 3 requests a day; all are used",)


def test_daily_count_is_for_this_agreement_and_body_since_midnight_utc() -> None:
    context = _context(max_requests_per_day=1)
    context.allowed_at = [
        (AGREEMENT_ID, "northshire-council", MIDNIGHT - timedelta(seconds=1)),  # yesterday
        (AGREEMENT_ID, "southshire-council", NOW - timedelta(hours=1)),  # another body
        ("other-agreement", "northshire-council", NOW - timedelta(hours=1)),  # another agreement
    ]
    decision = decide(context, request_for("recipient", "gateway", "exact"), NOW)
    assert decision.allowed, decision.reasons
    assert context.usage_queries == [(AGREEMENT_ID, "northshire-council", MIDNIGHT)]

    context.allowed_at.append((AGREEMENT_ID, "northshire-council", MIDNIGHT))  # the first second of today
    assert not decide(context, request_for("recipient", "gateway", "exact"), NOW).allowed


def test_day_boundary_is_midnight_utc_even_when_now_carries_another_offset() -> None:
    # 00:30 on 22 November in UTC+01:00 is 23:30 UTC on 21 November: the UTC day began on the 21st.
    now = datetime(2026, 11, 22, 0, 30, tzinfo=timezone(timedelta(hours=1)))
    context = _context(max_requests_per_day=1)
    context.allowed_at = [(AGREEMENT_ID, "northshire-council", datetime(2026, 11, 21, 23, 10, tzinfo=UTC))]
    decision = decide(context, request_for("recipient", "gateway", "exact"), now)
    assert context.usage_queries[0][2] == datetime(2026, 11, 21, 0, 0, tzinfo=UTC)
    assert not decision.allowed


def test_volume_is_checked_only_after_status_and_fields() -> None:
    # A suspended agreement is denied for its status; usage is never even counted.
    context = FakeContext([FakeAgreement(terms(status="suspended", max_requests_per_day=1))])
    decision = decide(context, request_for("recipient", "gateway", "exact"), NOW)
    assert decision.reasons == (f"agreement '{AGREEMENT_ID}' is suspended, not active",)
    assert context.usage_queries == []
