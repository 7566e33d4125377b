"""The parties' consent to a draft: every named party but its proposer confirms it before consultation;
a change to its terms clears the confirmations; only its proposer (or the operator) withdraws it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from accord.errors import Conflict, Forbidden, InvalidInput
from accord.registry import agreements, confirmations, lifecycle
from accord.storage.models import AgreementConfirmation
from registry_support import DRAFTED, FRAMEWORK, drafted, seed, spec

# supporting-families-northshire: dwp discloses to northshire-council.
PARTIES = ["dwp", "northshire-council"]


def test_a_draft_goes_to_consultation_only_once_every_named_party_has_confirmed(session) -> None:  # noqa: ANN001
    agreement = drafted(session, FRAMEWORK)  # drafted by the hub operator: no proposer, so both parties confirm
    assert agreement.proposer_id is None
    assert confirmations.still_to_confirm(agreement) == PARTIES
    with pytest.raises(Conflict, match="still to confirm: dwp, northshire-council$"):
        lifecycle.transition(session, FRAMEWORK, agreement, "consultation", actor="a", now=DRAFTED)
    confirmations.confirm(session, agreement, "dwp", actor="J Smith, DWP data protection", now=DRAFTED)
    with pytest.raises(Conflict, match="still to confirm: northshire-council$"):
        lifecycle.transition(session, FRAMEWORK, agreement, "consultation", actor="a", now=DRAFTED)
    assert agreement.status == "draft" and agreement.consultation_opens_at is None
    confirmations.confirm(session, agreement, "northshire-council", actor="A Jones", now=DRAFTED)
    lifecycle.transition(session, FRAMEWORK, agreement, "consultation", actor="a", now=DRAFTED)
    assert agreement.status == "consultation"
    shown = agreements.register_entry(agreement, FRAMEWORK, DRAFTED.date())["confirmations"]
    assert shown == {
        "proposer": None,
        "confirmed": [{"body_id": "dwp", "at": DRAFTED.isoformat()},
                      {"body_id": "northshire-council", "at": DRAFTED.isoformat()}],
        "still_to_confirm": [],
    }


def test_the_proposer_consents_by_proposing_and_the_others_confirm(session) -> None:  # noqa: ANN001
    agreement = agreements.create_draft(session, FRAMEWORK, spec("supporting-families-northshire", id="sf-proposed"),
                                        "northshire-council", DRAFTED, proposer="northshire-council")
    assert agreement.proposer_id == "northshire-council"
    assert confirmations.still_to_confirm(agreement) == ["dwp"]
    with pytest.raises(Conflict, match="northshire-council proposed agreement 'sf-proposed'"):
        confirmations.confirm(session, agreement, "northshire-council", actor="x", now=DRAFTED)
    confirmations.confirm(session, agreement, "dwp", actor="x", now=DRAFTED)
    lifecycle.transition(session, FRAMEWORK, agreement, "consultation", actor="a", now=DRAFTED)
    assert agreement.status == "consultation"


def test_a_proposer_that_is_not_named_proposes_nothing(session) -> None:  # noqa: ANN001
    agreement = agreements.create_draft(session, FRAMEWORK, spec("supporting-families-northshire", id="sf-op"),
                                        "accord-hub", DRAFTED, proposer="accord-hub")
    assert agreement.proposer_id is None
    assert confirmations.still_to_confirm(agreement) == PARTIES


def test_only_a_named_party_confirms_and_only_a_draft(session) -> None:  # noqa: ANN001
    agreement = drafted(session, FRAMEWORK)
    with pytest.raises(Forbidden, match="only a body named in agreement 'sf-test' may confirm it, and hmrc is not"):
        confirmations.confirm(session, agreement, "hmrc", actor="x", now=DRAFTED)
    with pytest.raises(InvalidInput, match="named in 1 to 200"):
        confirmations.confirm(session, agreement, "dwp", actor="", now=DRAFTED)
    first, new = confirmations.confirm(session, agreement, "dwp", actor="x", now=DRAFTED)
    again, renewed = confirmations.confirm(session, agreement, "dwp", actor="y", now=DRAFTED + timedelta(days=1))
    assert new and not renewed and again is first and first.confirmed_at == DRAFTED  # the first one stands
    assert len(agreement.confirmations) == 1
    published = drafted(session, FRAMEWORK, spec("supporting-families-northshire", id="sf-published"), "consultation")
    with pytest.raises(Conflict, match="'sf-published' is consultation: only a draft is confirmed"):
        confirmations.confirm(session, published, "dwp", actor="x", now=DRAFTED)


def test_a_change_to_the_terms_clears_the_confirmations(session) -> None:  # noqa: ANN001
    agreement = drafted(session, FRAMEWORK)
    for party in PARTIES:
        confirmations.confirm(session, agreement, party, actor="x", now=DRAFTED)
    assert confirmations.still_to_confirm(agreement) == []
    assert confirmations.reset(agreement) == PARTIES
    session.flush()
    assert confirmations.still_to_confirm(agreement) == PARTIES
    assert session.scalars(select(AgreementConfirmation).where(AgreementConfirmation.agreement_id == "sf-test")).all() == []
    with pytest.raises(Conflict, match="still to confirm: dwp, northshire-council"):
        lifecycle.transition(session, FRAMEWORK, agreement, "consultation", actor="a", now=DRAFTED)


def test_withdrawing_back_to_draft_keeps_the_confirmations_of_unchanged_terms(session) -> None:  # noqa: ANN001
    agreement = drafted(session, FRAMEWORK, status="consultation")
    lifecycle.transition(session, FRAMEWORK, agreement, "draft", actor="a", now=DRAFTED + timedelta(days=1))
    lifecycle.transition(session, FRAMEWORK, agreement, "consultation", actor="a", now=DRAFTED + timedelta(days=2))
    assert agreement.status == "consultation"


def test_only_the_proposer_or_the_operator_withdraws_and_only_the_operator_decides(session) -> None:  # noqa: ANN001
    agreement = agreements.create_draft(session, FRAMEWORK, spec("supporting-families-northshire", id="sf-w"),
                                        "dwp", DRAFTED, proposer="dwp")
    with pytest.raises(Forbidden, match="only the body that proposed agreement 'sf-w' or the hub operator may withdraw"):
        lifecycle.may_move(agreement, "draft", "northshire-council", is_operator=False)
    lifecycle.may_move(agreement, "draft", "dwp", is_operator=False)
    lifecycle.may_move(agreement, "draft", "accord-hub", is_operator=True)
    lifecycle.may_move(agreement, "consultation", "northshire-council", is_operator=False)
    for decision in ("active", "suspended", "revoked"):
        with pytest.raises(Forbidden, match=f"only the hub operator may make an agreement {decision}"):
            lifecycle.may_move(agreement, decision, "dwp", is_operator=False)
    operators_draft = drafted(session, FRAMEWORK)  # no proposer: only the operator withdraws it
    for party in PARTIES:
        with pytest.raises(Forbidden):
            lifecycle.may_move(operators_draft, "draft", party, is_operator=False)


def test_confirmations_are_stored(hub) -> None:  # noqa: ANN001
    seed(hub)
    with hub.transaction() as session:
        drafted(session, hub.framework)
    with hub.transaction() as session:
        confirmations.confirm(session, agreements.get_agreement(session, "sf-test"), "dwp", actor="J Smith", now=DRAFTED)
    with hub.transaction() as session:
        stored = session.scalars(select(AgreementConfirmation)).all()
        assert [(c.agreement_id, c.body_id, c.actor, c.confirmed_at) for c in stored] == [
            ("sf-test", "dwp", "J Smith", DRAFTED)
        ]
        assert confirmations.still_to_confirm(agreements.get_agreement(session, "sf-test")) == ["northshire-council"]
