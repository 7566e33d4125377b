"""The daily request limit holds under concurrent writers, in one process or several.

Two hubs on one database stand for two server processes; twenty requests, each
already allowed by ``ask``, race to be recorded against a limit of three. Exactly
three are allowed, and every one of the twenty is recorded.
"""

from __future__ import annotations

import threading

from accord_testing import seed_register
from sqlalchemy import func, select, update

from accord.clock import utcnow
from accord.framework import Purpose
from accord.policy import AccessRequest
from accord.runtime import Hub
from accord.services.access import ask, record
from accord.storage.models import Agreement, DecisionRecord

AGREEMENT = "supporting-families-northshire"


def test_concurrent_requests_never_exceed_the_daily_limit(hub: Hub) -> None:
    now = utcnow()
    seed_register(hub, now=now)
    with hub.transaction() as session:
        session.execute(update(Agreement).where(Agreement.id == AGREEMENT).values(max_requests_per_day=3))
    other = Hub.open(hub.settings, upgrade=False)  # a second process on the same database
    request = AccessRequest(
        body_id="northshire-council",
        officer="officer",
        action="dataset.read",
        dataset_id="dwp-benefits",
        purpose=Purpose.parse("public_service_delivery:multiple_disadvantages"),
        fields=("surname",),
    )
    outcomes: list[tuple[bool, tuple[str, ...]]] = []  # (allowed, reasons), one append per request
    errors: list[BaseException] = []
    asked = threading.Barrier(20)

    def one(n: int) -> None:
        target = hub if n % 2 else other
        try:
            # Every request is asked before any is recorded, so each is allowed by ask (nothing used yet):
            # only record's atomic re-judgement can hold the limit.
            with target.transaction() as session:
                answer = ask(session, request)
            assert answer.allowed
            asked.wait(timeout=60)
            with target.transaction() as session:
                recorded = record(session, answer, request_id=f"race-{n}")
            outcomes.append((recorded.allowed, recorded.decision.reasons))
        except BaseException as exc:  # noqa: BLE001 - reported below
            asked.abort()  # the others stop waiting for this one
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    other.close()
    assert not errors, errors[:3]
    assert sorted(allowed for allowed, _ in outcomes) == [False] * 17 + [True] * 3
    # The refusals are the decision point's own limits rule, judged again when recorded.
    used_up = f"agreement '{AGREEMENT}' allows 3 requests a day; all are used"
    assert all(used_up in reasons for allowed, reasons in outcomes if not allowed)
    with hub.transaction() as session:
        recorded = session.scalar(select(func.count()).select_from(DecisionRecord))
        allowed = session.scalar(select(func.count()).select_from(DecisionRecord).where(DecisionRecord.allowed))
    assert (recorded, allowed) == (20, 3)
