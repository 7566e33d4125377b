"""The agreement lifecycle: transitions, consultation timing, reasons, re-validation,
history, expiry, effective status and consultation comments."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import pytest
from sqlalchemy import select, update

from accord.errors import Conflict, InvalidInput
from accord.registry import agreements, lifecycle
from accord.storage.models import Agreement, AgreementEvent, Body, ConsultationComment
from accord_testing import confirm_all
from registry_support import (
    AFTER_END,
    DRAFTED,
    FRAMEWORK,
    LIVE,
    NOW,
    SUSPENDED,
    drafted,
    seed,
    spec,
)

# The lifecycle as the design and the module docstring draw it (written out, not read from TRANSITIONS).
ALLOWED = {
    "draft": {"consultation"},
    "consultation": {"draft", "active"},
    "active": {"suspended", "revoked", "expired"},
    "suspended": {"active", "revoked", "expired"},
    "expired": set(),
    "revoked": set(),
}
PAIRS = list(itertools.product(ALLOWED, ALLOWED))


def _when(start: str, to: str):  # noqa: ANN202
    """A moment at which the time rules allow ``start -> to``."""
    if to == "expired":
        return AFTER_END
    if start == "draft":
        return DRAFTED + timedelta(days=1)
    return SUSPENDED + timedelta(weeks=1)


def test_the_lifecycle_table_is_the_documented_one() -> None:
    assert lifecycle.TRANSITIONS == ALLOWED
    assert lifecycle.NEEDS_REASON == {"suspended", "revoked"}


@pytest.mark.parametrize(("start", "to"), [p for p in PAIRS if p[1] in ALLOWED[p[0]]])
def test_every_allowed_transition_works(session, start: str, to: str) -> None:  # noqa: ANN001
    agreement = drafted(session, FRAMEWORK, status=start)
    if start == "draft":
        confirm_all(session, agreement, DRAFTED)
    events_before = len(agreement.history)
    when = _when(start, to)
    lifecycle.transition(session, FRAMEWORK, agreement, to, actor="admin", now=when, reason="because")
    assert agreement.status == to
    assert agreement.updated_at == when
    assert len(agreement.history) == events_before + 1
    last = agreement.history[-1]
    assert (last.from_status, last.to_status, last.actor, last.at, last.reason) == (start, to, "admin", when, "because")


@pytest.mark.parametrize(("start", "to"), [p for p in PAIRS if p[1] not in ALLOWED[p[0]]])
def test_every_disallowed_transition_is_a_conflict_naming_the_allowed_ones(session, start: str, to: str) -> None:  # noqa: ANN001, E501
    agreement = drafted(session, FRAMEWORK, status=start)
    events_before = len(agreement.history)
    with pytest.raises(Conflict) as refused:
        lifecycle.transition(session, FRAMEWORK, agreement, to, actor="admin", now=_when(start, to), reason="r")
    message = str(refused.value)
    assert f"is {start} and cannot become {to}" in message
    if ALLOWED[start]:
        assert f"(allowed: {', '.join(sorted(ALLOWED[start]))})" in message
    else:
        assert "(allowed: none: it is final)" in message
    assert agreement.status == start
    assert len(agreement.history) == events_before


def test_an_unknown_status_is_invalid_input(session) -> None:  # noqa: ANN001
    agreement = drafted(session, FRAMEWORK)
    with pytest.raises(InvalidInput, match="'published' is not an agreement status"):
        lifecycle.transition(session, FRAMEWORK, agreement, "published", actor="admin", now=NOW)


# ---------------------------------------------------------------- consultation


def test_consultation_runs_eight_weeks_by_default(session) -> None:  # noqa: ANN001
    framework = FRAMEWORK
    agreement = drafted(session, framework, status="consultation")
    assert agreement.consultation_opens_at == DRAFTED
    assert agreement.consultation_closes_at == DRAFTED + timedelta(weeks=8)
    with pytest.raises(Conflict, match="in public consultation until 2026-03-02; it cannot go live"):
        lifecycle.transition(session, framework, agreement, "active", actor="a", now=LIVE - timedelta(seconds=1))
    assert agreement.status == "consultation"
    lifecycle.transition(session, framework, agreement, "active", actor="a", now=LIVE)
    assert agreement.status == "active"


def test_consultation_weeks_on_the_spec_sets_the_period(session) -> None:  # noqa: ANN001
    framework = FRAMEWORK
    agreement = agreements.create_draft(session, framework, spec("gro-deaths-to-dwp", consultation_weeks=2), "a", DRAFTED)
    confirm_all(session, agreement, DRAFTED)
    lifecycle.transition(session, framework, agreement, "consultation", actor="a", now=DRAFTED)
    assert agreement.consultation_closes_at == DRAFTED + timedelta(weeks=2)
    with pytest.raises(Conflict):
        lifecycle.transition(session, framework, agreement, "active", actor="a", now=DRAFTED + timedelta(days=13))
    lifecycle.transition(session, framework, agreement, "active", actor="a", now=DRAFTED + timedelta(weeks=2))
    assert agreement.status == "active"


def test_the_hub_default_consultation_period_applies_when_the_spec_names_none(session) -> None:  # noqa: ANN001
    agreement = agreements.create_draft(
        session, FRAMEWORK, spec("gro-deaths-to-dwp"), "a", DRAFTED, default_consultation_weeks=12
    )
    assert agreement.consultation_weeks == 12


def test_back_to_draft_and_reconsulting_restarts_the_clock(session) -> None:  # noqa: ANN001
    framework = FRAMEWORK
    agreement = drafted(session, framework, status="consultation")
    lifecycle.transition(session, framework, agreement, "draft", actor="a", now=DRAFTED + timedelta(weeks=1))
    reopened = DRAFTED + timedelta(weeks=3)
    lifecycle.transition(session, framework, agreement, "consultation", actor="a", now=reopened)
    assert agreement.consultation_closes_at == reopened + timedelta(weeks=8)
    with pytest.raises(Conflict):
        lifecycle.transition(session, framework, agreement, "active", actor="a", now=LIVE)


def test_an_agreement_past_its_end_date_cannot_go_live(session) -> None:  # noqa: ANN001
    agreement = drafted(session, FRAMEWORK, status="consultation")
    with pytest.raises(Conflict, match="ended on 2027-12-31; it cannot go live"):
        lifecycle.transition(session, FRAMEWORK, agreement, "active", actor="a", now=AFTER_END)
    assert agreement.status == "consultation"


def test_an_agreement_cannot_be_expired_before_its_end_date(session) -> None:  # noqa: ANN001
    agreement = drafted(session, FRAMEWORK, status="active")
    with pytest.raises(Conflict, match="runs until 2027-12-31; it has not expired"):
        lifecycle.transition(session, FRAMEWORK, agreement, "expired", actor="a", now=NOW)
    assert agreement.status == "active"


# ---------------------------------------------------------------- reasons


@pytest.mark.parametrize(("start", "to"), [("active", "suspended"), ("active", "revoked"), ("suspended", "revoked")])
@pytest.mark.parametrize("reason", ["", "   \n\t"])
def test_a_reason_is_required_to_suspend_or_revoke(session, start: str, to: str, reason: str) -> None:  # noqa: ANN001, E501
    agreement = drafted(session, FRAMEWORK, status=start)
    with pytest.raises(InvalidInput, match=f"a reason is required to make an agreement {to}"):
        lifecycle.transition(session, FRAMEWORK, agreement, to, actor="a", now=NOW, reason=reason)
    assert agreement.status == start


def test_the_reason_is_kept_trimmed(session) -> None:  # noqa: ANN001
    agreement = drafted(session, FRAMEWORK, status="active")
    lifecycle.transition(session, FRAMEWORK, agreement, "suspended", actor="a", now=NOW, reason="  breach \n")
    assert agreement.history[-1].reason == "breach"


# ---------------------------------------------------------------- re-validation


def test_going_live_revalidates_against_the_registry_as_it_is(session) -> None:  # noqa: ANN001
    framework = FRAMEWORK
    agreement = drafted(session, framework, status="consultation")
    session.execute(update(Body).where(Body.id == "northshire-council").values(body_type="energy_supplier"))
    session.expire_all()
    with pytest.raises(InvalidInput) as refused:
        lifecycle.transition(session, framework, agreement, "active", actor="a", now=LIVE)
    assert refused.value.detail == "agreement 'sf-test' is no longer valid"
    assert refused.value.problems == [
        "recipients: 'northshire-council' is an energy_supplier, which may not be a recipient under gateway "
        "'public_service_delivery', objective 'multiple_disadvantages'"
    ]
    assert agreement.status == "consultation"
    assert [e.to_status for e in agreement.history] == ["draft", "consultation"]


def test_going_to_consultation_revalidates(session) -> None:  # noqa: ANN001
    framework = FRAMEWORK
    agreement = drafted(session, framework)
    session.execute(update(Body).where(Body.id == "dwp").values(body_type="research_body"))
    session.expire_all()
    with pytest.raises(InvalidInput, match="no longer valid") as refused:
        lifecycle.transition(session, framework, agreement, "consultation", actor="a", now=DRAFTED)
    assert any("'dwp' is a research_body" in p for p in refused.value.problems)
    assert agreement.status == "draft"
    assert agreement.consultation_opens_at is None


def test_reinstating_a_suspended_agreement_revalidates(session) -> None:  # noqa: ANN001
    framework = FRAMEWORK
    agreement = drafted(session, framework, status="suspended")
    session.execute(update(Body).where(Body.id == "northshire-council").values(body_type="water_company"))
    session.expire_all()
    with pytest.raises(InvalidInput):
        lifecycle.transition(session, framework, agreement, "active", actor="a", now=NOW)
    assert agreement.status == "suspended"


def test_suspending_does_not_need_a_valid_agreement(session) -> None:  # noqa: ANN001
    # A body that is no longer lawful is exactly why one suspends; that must not be blocked.
    framework = FRAMEWORK
    agreement = drafted(session, framework, status="active")
    session.execute(update(Body).where(Body.id == "northshire-council").values(body_type="energy_supplier"))
    session.expire_all()
    lifecycle.transition(session, framework, agreement, "suspended", actor="a", now=NOW, reason="type changed")
    assert agreement.status == "suspended"


# ---------------------------------------------------------------- history, stored


def test_history_is_appended_and_stored(hub) -> None:  # noqa: ANN001
    seed(hub)
    steps = [
        ("consultation", DRAFTED, ""),
        ("active", LIVE, ""),
        ("suspended", SUSPENDED, "data breach at recipient"),
        ("active", SUSPENDED + timedelta(days=3), "breach remedied"),
        ("revoked", SUSPENDED + timedelta(days=9), "programme closed"),
    ]
    with hub.transaction() as session:
        agreement = drafted(session, hub.framework)
        confirm_all(session, agreement, DRAFTED)
    for to, when, reason in steps:
        with hub.transaction() as session:
            agreement = agreements.get_agreement(session, "sf-test")
            lifecycle.transition(session, hub.framework, agreement, to, actor="admin@hub", now=when, reason=reason)
    with hub.transaction() as session:
        events = list(session.scalars(select(AgreementEvent).order_by(AgreementEvent.id)))
        stored = session.get(Agreement, "sf-test")
        assert stored.status == "revoked"
        assert stored.updated_at == steps[-1][1]
    assert [(e.from_status, e.to_status) for e in events] == [
        (None, "draft"),
        ("draft", "consultation"),
        ("consultation", "active"),
        ("active", "suspended"),
        ("suspended", "active"),
        ("active", "revoked"),
    ]
    assert [e.at for e in events] == [DRAFTED] + [when for _, when, _ in steps]
    assert [e.reason for e in events][3:] == ["data breach at recipient", "breach remedied", "programme closed"]
    assert all(e.at.utcoffset() == timedelta(0) for e in events)


# ---------------------------------------------------------------- expiry and effective status


@pytest.mark.parametrize(
    ("status", "today", "expected"),
    [
        ("active", date(2027, 12, 31), "active"),
        ("active", date(2028, 1, 1), "expired"),
        ("suspended", date(2027, 12, 31), "suspended"),
        ("suspended", date(2028, 1, 1), "expired"),
        ("draft", date(2028, 1, 1), "draft"),
        ("consultation", date(2028, 1, 1), "consultation"),
        ("revoked", date(2028, 1, 1), "revoked"),
        ("expired", date(2028, 1, 2), "expired"),
    ],
)
def test_effective_status(session, status: str, today: date, expected: str) -> None:  # noqa: ANN001
    agreement = drafted(session, FRAMEWORK, status=status)
    assert agreements.effective_status(agreement, today) == expected
    assert agreement.status == status  # reading never changes the stored status


# ---------------------------------------------------------------- comments


def _comment(session, agreement, when, **changes):  # noqa: ANN001, ANN202
    values = {"author": "A. Citizen", "organisation": "Privacy Group", "comment": "Please publish the DPIA."}
    values.update(changes)
    return lifecycle.add_comment(session, agreement, now=when, **values)


def test_comments_are_accepted_while_consultation_is_open(hub) -> None:  # noqa: ANN001
    seed(hub)
    with hub.transaction() as session:
        agreement = drafted(session, hub.framework, status="consultation")
        entry = _comment(session, agreement, DRAFTED + timedelta(days=1), author="  A. Citizen ", comment=" Fine. \n")
        _comment(session, agreement, LIVE - timedelta(seconds=1), organisation="")
    with hub.transaction() as session:
        stored = list(session.scalars(select(ConsultationComment).order_by(ConsultationComment.id)))
    assert [(c.author, c.comment) for c in stored] == [("A. Citizen", "Fine."), ("A. Citizen", "Please publish the DPIA.")]
    assert stored[0].id == entry.id and stored[0].created_at == DRAFTED + timedelta(days=1)
    assert stored[1].organisation == ""


@pytest.mark.parametrize("status", ["draft", "active", "suspended", "revoked", "expired"])
def test_comments_are_refused_outside_consultation(session, status: str) -> None:  # noqa: ANN001
    agreement = drafted(session, FRAMEWORK, status=status)
    with pytest.raises(Conflict, match="'sf-test' is not in public consultation"):
        _comment(session, agreement, DRAFTED + timedelta(days=1))
    assert agreement.comments == []


def test_comments_are_refused_once_the_consultation_closes(session) -> None:  # noqa: ANN001
    agreement = drafted(session, FRAMEWORK, status="consultation")
    with pytest.raises(Conflict, match="closed on 2026-03-02"):
        _comment(session, agreement, LIVE)
    assert agreement.comments == []


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"author": "  "}, "author: enter your name"),
        ({"comment": " \n "}, "comment: enter your comment"),
        ({"comment": "x" * 10_001}, "comment: must be 10,000 characters or fewer"),
        ({"author": "x" * 201}, "author: must be 200 characters or fewer"),
        ({"organisation": "x" * 201}, "organisation: must be 200 characters or fewer"),
    ],
)
def test_comments_are_validated(session, changes: dict, problem: str) -> None:  # noqa: ANN001
    agreement = drafted(session, FRAMEWORK, status="consultation")
    with pytest.raises(InvalidInput) as refused:
        _comment(session, agreement, DRAFTED + timedelta(days=1), **changes)
    assert refused.value.problems == [problem]
    assert agreement.comments == []


def test_a_comment_of_exactly_the_limits_is_accepted(session) -> None:  # noqa: ANN001
    agreement = drafted(session, FRAMEWORK, status="consultation")
    _comment(session, agreement, DRAFTED + timedelta(days=1), author="a" * 200, organisation="o" * 200, comment="c" * 10_000)
    assert len(agreement.comments) == 1

