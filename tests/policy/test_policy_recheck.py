"""A grant judged again when it is recorded stays under the agreement that granted it.

The body holds two agreements for the dataset. The one ``ask`` chose allows one record
a request; the request turns out to be about two people, so ``record`` judges it again.
It must be refused under that agreement, not allowed under the other one: the answer
the caller built came from the first agreement's terms.
"""

from __future__ import annotations

from accord_testing import add_agreement, example_spec, seed_register

from accord.framework import Purpose
from accord.policy import AccessRequest
from accord.runtime import Hub
from accord.services.access import Grant, ask, record

OTHER = "supporting-families-northshire"  # the demo's: no per-request limit
SMALL = "a-supporting-families-one-at-a-time"  # sorts first, so ask chooses it


def test_a_regrant_is_judged_under_the_agreement_that_granted_it(hub: Hub) -> None:
    seed_register(hub)
    add_agreement(hub, example_spec(OTHER, id=SMALL, limits={"max_records_per_request": 1}))
    request = AccessRequest(body_id="northshire-council", officer="officer", action="dataset.read",
                            dataset_id="dwp-benefits",
                            purpose=Purpose.parse("public_service_delivery:multiple_disadvantages"),
                            fields=("surname",), records=1)
    with hub.transaction() as session:
        answer = ask(session, request)
        assert isinstance(answer, Grant) and answer.decision.agreement_id == SMALL
        recorded = record(session, answer, subjects=["person-1", "person-2"], request_id="recheck")
    assert not recorded.allowed
    assert recorded.decision.agreement_id == SMALL
    assert any("1" in reason for reason in recorded.decision.reasons), recorded.decision.reasons
