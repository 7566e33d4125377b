"""Support for the events tests: a seeded hub with API clients, valid payloads, extra agreements, receivers.

The hub holds the example register (GRO's gro-deaths disclosed to DWP under the active
``gro-deaths-to-dwp``, which names registration_id, first_name, surname, date_of_birth
and date_of_death, not the postcode). ``add_council_agreement`` adds an active agreement
disclosing only surname and date_of_death to Northshire, for a second, narrower subscriber.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from accord_testing import ApiClient, add_agreement, confirm_all, seed_register

from accord.clock import utcnow
from accord.demo.events import LoopbackReceiver
from accord.registry import agreements, lifecycle
from accord.runtime import Hub
from accord.services.events import Dispatcher

BODIES = {"dwp": "dwp", "gro": "gro", "council": "northshire-council", "hmrc": "hmrc", "admin": "accord-hub"}
DEATH_FIELDS = ["registration_id", "first_name", "surname", "date_of_birth", "date_of_death", "postcode"]
DWP_FIELDS = ["registration_id", "first_name", "surname", "date_of_birth", "date_of_death"]
EVENT_KEYS = {"id", "sequence", "kind", "registered_at", "recorded_at", "recorded_by", "data"}
WEBHOOK_KEYS = EVENT_KEYS | {"subscription", "agreement"}


def death(n: int = 1, **changes: Any) -> dict:
    """A valid POST /v1/events body for a (synthetic) death; ``n`` varies the registration."""
    data = {
        "registration_id": f"D{n:06d}",
        "first_name": "Margaret",
        "surname": "Holloway",
        "date_of_birth": "1941-03-17",
        "date_of_death": "2026-11-18",
        "postcode": "NE1 4ST",
    }
    data.update(changes.pop("data", {}))
    body = {"kind": "death", "registered_at": "2026-11-20T10:00:00Z", "data": data}
    body.update(changes)
    return body


def add_council_agreement(hub: Hub) -> None:
    add_agreement(hub, {
        "id": "gro-deaths-to-northshire",
        "name": "Deaths to Northshire to stop council tax letters",
        "gateway": "civil_registration",
        "purpose": "Stop council tax letters to people who have died.",
        "benefits": "Bereaved families are not sent letters addressed to the deceased.",
        "disclosers": ["gro"],
        "recipients": ["northshire-council"],
        "data": [{"dataset": "gro-deaths", "fields": ["surname", "date_of_death"]}],
        "sharing_method": "Event notifications through the Accord hub.",
        "retention": "P1Y",
        "start_date": "2026-01-01",
        "end_date": "2028-12-31",
        "contact": "revenues@northshire.example",
        "areas": ["England"],
    })


def transition(hub: Hub, agreement_id: str, to: str, reason: str = "test") -> None:
    with hub.transaction() as session:
        agreement = agreements.get_agreement(session, agreement_id)
        if to == "consultation":
            confirm_all(session, agreement, utcnow())
        lifecycle.transition(session, hub.framework, agreement, to, actor="accord-hub", now=utcnow(), reason=reason)


@dataclass
class EventsApi(ApiClient):
    """The shared in-process client with the events tests' short body names, acting by default as an officer."""

    aliases: dict[str, str] = field(default_factory=lambda: dict(BODIES))
    officer: str | None = "test officer"

    def record(self, body: dict | None = None, who: str = "gro", **headers: str):  # noqa: ANN201
        return self.client.post("/v1/events", json=body or death(), headers=self.auth(who, **headers))

    def recorded(self, n: int = 1, **changes: Any) -> dict:
        response = self.record(death(n, **changes))
        assert response.status_code == 201, response.text
        return response.json()

    def subscribe(self, who: str = "dwp", **body: Any) -> dict:
        body.setdefault("kinds", ["death"])
        response = self.client.post("/v1/events/subscriptions", json=body, headers=self.auth(who))
        assert response.status_code == 201, response.text
        return response.json()

    def feed(self, who: str = "dwp", **params: Any):  # noqa: ANN201
        return self.client.get("/v1/events", params=params, headers=self.auth(who, officer=None))



def seeded_api(hub: Hub) -> EventsApi:
    seed_register(hub)
    return EventsApi.for_hub(hub)


class FlakyReceiver(LoopbackReceiver):
    """Fails the first ``fail_first`` calls (or every call while ``down``), then behaves."""

    def __init__(self, *args: Any, fail_first: int = 0, down: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fail_first = fail_first
        self.down = down

    def handle(self, method: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        if method == "POST" and (self.down or self.fail_first > 0):
            self.fail_first -= 1
            self.stats.calls += 1
            self.stats.failed += 1
            return 503, b""
        return super().handle(method, headers, body)


def fast_dispatcher(hub: Hub, **overrides: Any) -> Dispatcher:
    """A dispatcher whose back-off is milliseconds, so retries happen within a test."""
    settings = {"retry_base": 0.01, "retry_max": 0.05, "timeout": 5, "lease": 5}
    settings.update(overrides)
    return Dispatcher.for_hub(hub, **settings)


def deliver_until(dispatcher: Dispatcher, done: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, "deliveries did not finish in time"
        if dispatcher.deliver_due().claimed == 0:
            time.sleep(0.02)
