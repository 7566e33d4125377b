"""The daily request limit holds under concurrent writers, in one process or several.

Two hubs on one database stand for two server processes; twenty requests race
against a limit of three. Exactly three are allowed, and every one of the twenty
is recorded.
"""

from __future__ import annotations

import threading

from sqlalchemy import func, select, update

from accord.clock import utcnow
from accord.demo.seed import seed_agreements, seed_registry
from accord.policy import AccessRequest
from accord.runtime import Hub
from accord.services.access import request_access
from accord.storage.models import Agreement, DecisionRecord

AGREEMENT = "supporting-families-northshire"


def test_concurrent_requests_never_exceed_the_daily_limit(hub: Hub) -> None:
    now = utcnow()
    with hub.transaction() as session:
        seed_registry(session, hub.framework, now)
        seed_agreements(session, hub.framework, now)
        session.execute(update(Agreement).where(Agreement.id == AGREEMENT).values(max_requests_per_day=3))
    other = Hub.open(hub.settings, upgrade=False)  # a second process on the same database
    request = AccessRequest(
        body_id="northshire-council",
        officer="officer",
        action="dataset.read",
        dataset_id="dwp-benefits",
        purpose="public_service_delivery:multiple_disadvantages",
        fields=("surname",),
    )
    outcomes: list[bool] = []
    errors: list[BaseException] = []
    start = threading.Barrier(20)

    def one(n: int) -> None:
        target = hub if n % 2 else other
        try:
            start.wait()
            with target.transaction() as session:
                decision, _ = request_access(
                    session, target.framework, request, now=utcnow(), request_id=f"race-{n}"
                )
            outcomes.append(decision.allowed)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    other.close()
    assert not errors, errors[:3]
    assert sorted(outcomes) == [False] * 17 + [True] * 3
    with hub.transaction() as session:
        recorded = session.scalar(select(func.count()).select_from(DecisionRecord))
        allowed = session.scalar(select(func.count()).select_from(DecisionRecord).where(DecisionRecord.allowed))
    assert (recorded, allowed) == (20, 3)
