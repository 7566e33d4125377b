"""SqlPolicyContext reads agreements with a prebuilt Core statement: it must still see
exactly what its transaction sees (unflushed ORM changes included) and what other
transactions committed before it, so a suspension takes effect on the next request."""

from __future__ import annotations

from accord.services.access import catalogue

from datetime import timedelta

from accord.policy.context import SqlPolicyContext
from accord.registry import lifecycle
from accord_testing import decide_and_record
from accord.storage.models import Agreement, AgreementField
from policy_support import AGREED_FIELDS, AGREEMENT_ID, DATASET, NOW, request_for, seeded_with


def test_an_unflushed_change_in_the_same_transaction_is_seen(hub) -> None:  # noqa: ANN001
    seeded_with(hub, "active")
    with hub.transaction() as session:
        agreement = session.get(Agreement, AGREEMENT_ID)
        agreement.status = "suspended"  # pending in the session, not yet flushed
        [terms] = SqlPolicyContext(session, hub.framework, catalogue()).candidate_agreements("northshire-council", DATASET)
        assert terms.status == "suspended"
        session.rollback()


def test_a_committed_suspension_refuses_the_next_request(hub) -> None:  # noqa: ANN001
    seeded_with(hub, "active")
    request = request_for("recipient", "gateway", "exact")
    with hub.transaction() as session:
        assert decide_and_record(session, request, now=NOW, request_id="before")[0].allowed
    with hub.transaction() as session:
        agreement = session.get(Agreement, AGREEMENT_ID)
        lifecycle.transition(session, hub.framework, agreement, "suspended", actor="tester", now=NOW, reason="finding")
    with hub.transaction() as session:
        decision, record = decide_and_record(session, request, now=NOW + timedelta(seconds=1),
                                          request_id="after")
    assert not decision.allowed
    assert any("suspended" in reason for reason in decision.reasons), decision.reasons
    assert record.decision_id is not None and record.allowed is False


def test_fields_come_in_the_agreements_order_and_only_for_the_dataset(hub) -> None:  # noqa: ANN001
    seeded_with(hub, "active")
    with hub.transaction() as session:
        context = SqlPolicyContext(session, hub.framework, catalogue())
        [terms] = context.candidate_agreements("northshire-council", DATASET)
        assert terms.fields == AGREED_FIELDS
        stored = session.query(AgreementField).filter_by(agreement_id=AGREEMENT_ID).order_by(AgreementField.position)
        assert terms.fields == tuple(f.field_name for f in stored if f.dataset_id == DATASET)
        # The list handed back is the caller's own: changing it does not change the next answer.
        context.candidate_agreements("northshire-council", DATASET).clear()
        assert len(context.candidate_agreements("northshire-council", DATASET)) == 1
