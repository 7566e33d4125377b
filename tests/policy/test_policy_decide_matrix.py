"""decide() over the full matrix body x agreement state x purpose x fields, in memory.

The expected outcome of every cell comes from ``policy_support.expected_outcome``,
written from the issue's rules rather than from the code under test.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from accord.policy.decide import decide
from policy_support import (
    AGREED_FIELDS,
    BODIES,
    FIELDS,
    NOW,
    PURPOSES,
    STATES,
    FakeAgreement,
    FakeContext,
    context_in_state,
    expected_outcome,
    request_for,
    terms,
)

MATRIX = list(itertools.product(BODIES, STATES, PURPOSES, FIELDS))


def test_matrix_covers_every_combination_and_both_outcomes() -> None:
    assert len(MATRIX) == 4 * 8 * 4 * 5
    outcomes = [expected_outcome(*cell).allowed for cell in MATRIX]
    # active x {recipient} x {gateway, gateway:objective} x {subset, exact, superset_minimise}
    assert outcomes.count(True) == 1 * 1 * 2 * 3


@pytest.mark.parametrize(("body", "state", "purpose", "fields_case"), MATRIX)
def test_decision_matrix(body: str, state: str, purpose: str, fields_case: str) -> None:
    context = context_in_state(state, fields_case)
    request = request_for(body, purpose, fields_case)
    expected = expected_outcome(body, state, purpose, fields_case)

    decision = decide(context, request, NOW)

    assert decision.allowed is expected.allowed, decision.reasons
    assert decision.reasons, "every decision carries at least one reason"
    assert any(expected.cause in reason for reason in decision.reasons), (expected.cause, decision.reasons)
    assert decision.agreement_id == expected.agreement_id
    assert decision.action == "dataset.read"
    assert str(decision.purpose) == PURPOSES[purpose]
    assert decision.decided_at == NOW
    if expected.allowed:
        assert decision.permitted_fields == expected.permitted
        assert set(decision.permitted_fields) == set(request.fields) & set(AGREED_FIELDS)
        assert decision.removed_fields == expected.removed
        assert decision.obligations["retention"] == "P1Y"
        assert decision.obligations["dpv_purpose"].startswith("https://w3id.org/dpv#")
        if expected.removed:
            assert any(", ".join(expected.removed) in reason for reason in decision.reasons)
    else:
        assert decision.permitted_fields == ()
        assert decision.obligations == {}
        assert not any(reason.startswith("permitted under") for reason in decision.reasons)


def test_decision_as_dict_is_the_wire_shape() -> None:
    decision = decide(context_in_state("active"), request_for("recipient", "gateway", "superset_minimise"), NOW)
    as_dict = decision.as_dict()
    assert as_dict["decision"] == "allow"
    assert as_dict["permitted_fields"] == ["nino", "surname"]
    assert as_dict["removed_fields"] == ["first_name", "disability_indicator"]
    assert as_dict["decided_at"] == "2026-11-22T12:00:00+00:00"


# ---------------------------------------------------------------- fields, in detail


def test_duplicate_requested_fields_are_permitted_once_in_request_order() -> None:
    request = replace(
        request_for("recipient", "gateway", "exact"), fields=("postcode", "nino", "postcode", "nino")
    )
    decision = decide(context_in_state("active"), request, NOW)
    assert decision.allowed
    assert decision.permitted_fields == ("postcode", "nino")
    assert decision.removed_fields == ()


def test_a_request_naming_no_fields_is_denied() -> None:
    request = replace(request_for("recipient", "gateway", "exact"), fields=())
    decision = decide(context_in_state("active"), request, NOW)
    assert not decision.allowed
    assert decision.reasons == ("the request names no fields",)


def test_none_permitted_under_a_deny_agreement_names_the_fields() -> None:
    context = context_in_state("active", "superset_deny")
    decision = decide(context, request_for("recipient", "gateway", "none_permitted"), NOW)
    assert not decision.allowed
    assert any("first_name, disability_indicator" in r and "denies" in r for r in decision.reasons)


# ---------------------------------------------------------------- dates at the edges


@pytest.mark.parametrize(
    ("start", "end", "allowed"),
    [
        (NOW.date(), date(2027, 1, 1), True),  # first day of the term
        (date(2026, 1, 1), NOW.date(), True),  # last day of the term
        (date(2026, 11, 23), date(2027, 1, 1), False),  # starts tomorrow
        (date(2026, 1, 1), date(2026, 11, 21), False),  # ended yesterday
    ],
)
def test_term_boundaries_are_inclusive(start: date, end: date, allowed: bool) -> None:
    context = FakeContext([FakeAgreement(terms(start_date=start, end_date=end))])
    assert decide(context, request_for("recipient", "gateway", "exact"), NOW).allowed is allowed


# ---------------------------------------------------------------- several agreements


@pytest.mark.parametrize("reverse", [False, True])
def test_an_active_agreement_allows_even_beside_a_suspended_one(reverse: bool) -> None:
    context = FakeContext(
        [
            FakeAgreement(terms("a-suspended", status="suspended")),
            FakeAgreement(terms("b-active", fields=("surname",))),
        ],
        reverse=reverse,
    )
    decision = decide(context, request_for("recipient", "gateway", "subset"), NOW)
    assert decision.allowed
    assert decision.agreement_id == "b-active"
    assert decision.permitted_fields == ("surname",)
    assert decision.removed_fields == ("postcode",)


def test_denial_from_several_agreements_carries_every_reason_and_no_single_agreement() -> None:
    context = FakeContext(
        [
            FakeAgreement(terms("a-suspended", status="suspended")),
            FakeAgreement(terms("b-revoked", status="revoked")),
        ]
    )
    decision = decide(context, request_for("recipient", "gateway", "exact"), NOW)
    assert not decision.allowed
    assert decision.agreement_id is None
    assert any("'a-suspended' is suspended" in r for r in decision.reasons)
    assert any("'b-revoked' is revoked" in r for r in decision.reasons)


def test_reasons_from_agreements_for_other_purposes_are_not_given_when_one_matches() -> None:
    context = FakeContext(
        [
            FakeAgreement(terms("psd-suspended", status="suspended")),
            FakeAgreement(terms("fraud-active", gateway="fraud", objective=None)),
        ]
    )
    decision = decide(context, request_for("recipient", "gateway", "exact"), NOW)
    assert not decision.allowed
    assert decision.reasons == ("agreement 'psd-suspended' is suspended, not active",)


def test_a_request_under_another_agreements_purpose_uses_that_agreement() -> None:
    context = FakeContext(
        [
            FakeAgreement(terms("psd-suspended", status="suspended")),
            FakeAgreement(terms("fraud-active", gateway="fraud", objective=None)),
        ]
    )
    # Under the fraud gateway the minimal answer is a lead, so the action is records.match.
    request = replace(request_for("recipient", "wrong_gateway", "exact"), action="records.match")
    decision = decide(context, request, NOW)
    assert decision.allowed
    assert decision.agreement_id == "fraud-active"
    # Asking for the records themselves under fraud is refused.
    records = decide(context, request_for("recipient", "wrong_gateway", "exact"), NOW)
    assert not records.allowed
    assert "action 'dataset.read' is not permitted under the fraud gateway" in records.reasons


def test_naming_an_agreement_restricts_the_decision_to_it() -> None:
    context = FakeContext([FakeAgreement(terms("first")), FakeAgreement(terms("second", fields=("surname",)))])
    named = decide(context, replace(request_for("recipient", "gateway", "exact"), agreement_id="second"), NOW)
    assert named.allowed and named.agreement_id == "second"
    assert named.permitted_fields == ("surname",)

    unknown = decide(context, replace(request_for("recipient", "gateway", "exact"), agreement_id="third"), NOW)
    assert not unknown.allowed
    assert any("'first' is not the agreement named in the request" in r for r in unknown.reasons)


def test_being_a_recipient_of_another_dataset_does_not_help() -> None:
    context = FakeContext([FakeAgreement(terms(), dataset="hmrc-paye")])
    decision = decide(context, request_for("recipient", "gateway", "exact"), NOW)
    assert not decision.allowed
    assert decision.reasons == (
        "no agreement names 'northshire-council' as a recipient of dataset 'dwp-benefits'",
    )



def test_term_dates_are_read_as_utc_days() -> None:
    # 00:30 on 22 November at UTC+01:00 is still 21 November in UTC: the last day of the term.
    now = datetime(2026, 11, 22, 0, 30, tzinfo=timezone(timedelta(hours=1)))
    context = FakeContext([FakeAgreement(terms(end_date=date(2026, 11, 21)))])
    decision = decide(context, request_for("recipient", "gateway", "exact"), now)
    assert decision.allowed, decision.reasons
    assert decision.decided_at == now == datetime(2026, 11, 21, 23, 30, tzinfo=UTC)
