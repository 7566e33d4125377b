"""Signed webhooks: signatures a receiver can check, retries, dead letters, replay, leases, restarts."""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import timedelta

import pytest
from events_support import (
    DWP_FIELDS, WEBHOOK_KEYS, EventsApi, FlakyReceiver, deliver_until, fast_dispatcher, transition,
)
from sqlalchemy import select

from accord.clock import utcnow
from accord.registry import agreements
from accord.services.events import DeliveryPolicy, DeliveryWorker, signature, signing_secret, verify_signature
from accord.storage.tables.events import EventDelivery


def _deliveries(api: EventsApi) -> list[EventDelivery]:
    with api.hub.transaction() as session:
        return list(session.scalars(select(EventDelivery).order_by(EventDelivery.event_sequence)))


def _webhook(api: EventsApi, receiver: FlakyReceiver, who: str = "dwp", **body) -> dict:  # noqa: ANN003
    subscription = api.subscribe(who, url=receiver.url(f"/{who}"), **body)
    receiver.secrets[subscription["id"]] = subscription["signing_secret"]
    return subscription


def test_a_delivered_event_is_signed_minimised_and_verifiable(api: EventsApi, receiver: FlakyReceiver) -> None:
    subscription = _webhook(api, receiver)
    recorded = api.recorded()
    stats = fast_dispatcher(api.hub).deliver_due()
    assert stats.delivered == 1 and receiver.stats.bad_signatures == 0
    body = receiver.bodies[recorded["id"]]
    assert set(body) == WEBHOOK_KEYS
    assert list(body["data"]) == DWP_FIELDS  # the postcode GRO recorded is not disclosed to DWP
    assert body["subscription"] == subscription["id"] and body["agreement"] == "gro-deaths-to-dwp"
    [delivery] = _deliveries(api)
    assert delivery.state == "delivered" and delivery.attempts == 1 and delivery.last_status == 204

    # The secret is derived, not stored: recomputing it gives what the body was shown.
    secret = subscription["signing_secret"]
    assert secret == signing_secret(api.hub.settings.secret_key.get_secret_value(), subscription["id"], 1)
    assert secret not in str(subscription["id"])


def test_signatures_verify_as_the_guide_says() -> None:
    secret, body, now = "whsec_test", b'{"id":"e1"}', int(time.time())
    header = signature(secret, now, body)
    t, v1 = (part.split("=", 1)[1] for part in header.split(","))
    assert int(t) == now
    assert v1 == hmac.new(secret.encode(), f"{now}.".encode() + body, hashlib.sha256).hexdigest()
    assert verify_signature(secret, header, body)
    assert not verify_signature(secret, header, body + b" ")  # tampered body
    assert not verify_signature("whsec_other", header, body)  # wrong secret
    assert not verify_signature(secret, signature(secret, now - 301, body), body)  # too old
    assert not verify_signature(secret, "v1=abc", body) and not verify_signature(secret, "", body)


def test_a_failed_call_is_retried_then_succeeds(api: EventsApi, receiver: FlakyReceiver) -> None:
    _webhook(api, receiver)
    receiver.fail_first = 2
    recorded = api.recorded()
    dispatcher = fast_dispatcher(api.hub)
    deliver_until(dispatcher, lambda: _deliveries(api)[0].state == "delivered")
    [delivery] = _deliveries(api)
    assert delivery.attempts == 3 and delivery.last_error is None
    assert receiver.stats.failed == 2 and receiver.stats.received and recorded["id"] in receiver.bodies


def test_back_off_doubles_with_jitter_and_is_capped() -> None:
    policy = DeliveryPolicy(max_attempts=10, retry_base=10, retry_max=60, lease=60, timeout=5, concurrency=1)
    for attempt, ceiling in ((1, 10), (2, 20), (3, 40), (4, 60), (9, 60)):
        delays = [policy.backoff(attempt) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 100  # jittered, so retries from many events spread out


def test_after_the_maximum_attempts_an_event_is_a_dead_letter_and_can_be_requeued(
    api: EventsApi, receiver: FlakyReceiver
) -> None:
    subscription = _webhook(api, receiver)
    receiver.down = True
    recorded = api.recorded()
    dispatcher = fast_dispatcher(api.hub, max_attempts=3)
    deliver_until(dispatcher, lambda: _deliveries(api)[0].state == "dead")
    [delivery] = _deliveries(api)
    assert delivery.attempts == 3 and delivery.last_status == 503 and receiver.stats.calls == 3
    dead = api.client.get(f"/v1/events/subscriptions/{subscription['id']}/dead-letters", headers=api.auth("dwp"))
    assert dead.status_code == 200
    [letter] = dead.json()["dead_letters"]
    assert letter["event_id"] == recorded["id"] and letter["attempts"] == 3 and letter["last_status"] == 503
    health = api.client.get(f"/v1/events/subscriptions/{subscription['id']}", headers=api.auth("dwp")).json()
    assert health["deliveries"]["dead"] == 1 and "503" in health["deliveries"]["last_failure"]["error"]

    receiver.down = False
    requeued = api.client.post(f"/v1/events/subscriptions/{subscription['id']}/dead-letters/requeue",
                               headers=api.auth("dwp"))
    assert requeued.status_code == 200 and requeued.json()["requeued"] == 1
    deliver_until(dispatcher, lambda: _deliveries(api)[0].state == "delivered")
    assert recorded["id"] in receiver.bodies


def test_replay_sends_again_from_a_cursor(api: EventsApi, receiver: FlakyReceiver) -> None:
    subscription = _webhook(api, receiver)
    ids = [api.recorded(n)["id"] for n in range(5)]
    fast_dispatcher(api.hub).deliver_due()
    assert receiver.stats.accepted == 5
    response = api.client.post(f"/v1/events/subscriptions/{subscription['id']}/replay", params={"from": 2},
                               headers=api.auth("dwp"))
    assert response.status_code == 200 and response.json()["requeued"] == 3
    fast_dispatcher(api.hub).deliver_due()
    assert receiver.stats.accepted == 8 and receiver.stats.duplicates == 3
    assert receiver.stats.received[subscription["id"]] == set(ids)  # de-duplicated: exactly the set


def test_a_claim_never_acknowledged_is_retried_after_its_lease(api: EventsApi, receiver: FlakyReceiver) -> None:
    _webhook(api, receiver)
    api.recorded()
    crashed = fast_dispatcher(api.hub, lease=30)
    assert len(crashed.claim()) == 1  # claimed, then the process "dies" before sending
    assert fast_dispatcher(api.hub).claim() == []  # held by the lease
    later = fast_dispatcher(api.hub)
    later.clock = lambda: utcnow() + timedelta(seconds=31)
    claimed = later.claim()
    assert len(claimed) == 1 and claimed[0].attempt == 2


def test_suspended_agreement_holds_and_revoked_cancels(api: EventsApi, receiver: FlakyReceiver) -> None:
    _webhook(api, receiver)
    api.recorded(1)
    transition(api.hub, "gro-deaths-to-dwp", "suspended")
    stats = fast_dispatcher(api.hub).deliver_due()
    assert stats.held == 1 and receiver.stats.calls == 0
    [delivery] = _deliveries(api)
    assert delivery.state == "pending" and delivery.attempts == 0 and "suspended" in delivery.last_error
    assert delivery.last_error == f"held: {_why_not_in_force(api, 'gro-deaths-to-dwp')}"  # the registry's words
    transition(api.hub, "gro-deaths-to-dwp", "revoked")
    later = fast_dispatcher(api.hub)
    later.clock = lambda: utcnow() + timedelta(hours=2)
    assert later.deliver_due().cancelled == 1
    [delivery] = _deliveries(api)
    assert delivery.state == "cancelled" and receiver.stats.calls == 0
    assert "revoked" in delivery.last_error
    assert delivery.last_error == f"cancelled: {_why_not_in_force(api, 'gro-deaths-to-dwp')}"


def _why_not_in_force(api: EventsApi, agreement_id: str) -> str:
    with api.hub.transaction() as session:
        why = agreements.not_in_force(agreements.get_agreement(session, agreement_id), utcnow().date())
    assert why is not None
    return why


def test_paused_subscription_waits_and_ended_cancels(api: EventsApi, receiver: FlakyReceiver) -> None:
    subscription = _webhook(api, receiver)
    api.recorded(1)
    path = f"/v1/events/subscriptions/{subscription['id']}"
    assert api.client.patch(path, json={"state": "paused"}, headers=api.auth("dwp")).status_code == 200
    assert fast_dispatcher(api.hub).deliver_due().claimed == 0
    assert api.client.patch(path, json={"state": "active"}, headers=api.auth("dwp")).status_code == 200
    assert fast_dispatcher(api.hub).deliver_due().delivered == 1
    api.recorded(2)
    ended = api.client.delete(path, headers=api.auth("dwp"))
    assert ended.status_code == 200 and ended.json()["state"] == "ended"
    assert [d.state for d in _deliveries(api)] == ["delivered", "cancelled"]
    assert fast_dispatcher(api.hub).deliver_due().claimed == 0
    api.problem(api.client.post(f"{path}/replay", headers=api.auth("dwp")), 409, "ended")


def test_restarting_the_dispatcher_loses_nothing(api: EventsApi) -> None:
    """A receiver failing 30% of calls at random; the dispatcher is stopped mid-run, one batch is
    claimed and abandoned (a crash), and a new dispatcher finishes: every event arrives at least
    once, and the receiver de-duplicates to exactly the recorded set."""
    with FlakyReceiver(fail_rate=0.3, seed=7) as receiver:
        subscriptions = [_webhook(api, receiver), _webhook(api, receiver)]
        recorded = {api.recorded(n)["id"] for n in range(40)}
        first = DeliveryWorker(api.hub, poll=0.02, retry_base=0.01, retry_max=0.05, lease=1, concurrency=4)
        first.start()
        deadline = time.monotonic() + 20
        while receiver.stats.accepted < 20 and time.monotonic() < deadline:
            time.sleep(0.01)
        first.stop()
        assert 0 < receiver.stats.accepted, "the first dispatcher delivered nothing"
        assert any(d.state == "pending" for d in _deliveries(api)), "stopped too late to test a restart"
        fast_dispatcher(api.hub, lease=1).claim(5)  # a crash between claim and send
        second = DeliveryWorker(api.hub, poll=0.02, retry_base=0.01, retry_max=0.05, lease=1, concurrency=4)
        second.start()
        deadline = time.monotonic() + 60
        while any(d.state != "delivered" for d in _deliveries(api)):
            assert time.monotonic() < deadline, "not everything was delivered after the restart"
            time.sleep(0.05)
        second.stop()
    assert receiver.stats.failed > 0 and receiver.stats.bad_signatures == 0
    for subscription in subscriptions:
        assert receiver.stats.received[subscription["id"]] == recorded


@pytest.mark.parametrize("url", ["ftp://example.org/hook", "not a url at all", "http://user:pw@example.org/hook",
                                 "http:///nohost"])
def test_a_bad_webhook_url_is_refused(sqlite_api: EventsApi, url: str) -> None:
    response = sqlite_api.client.post("/v1/events/subscriptions", json={"kinds": ["death"], "url": url},
                                      headers=sqlite_api.auth("dwp"))
    sqlite_api.problem(response, 422, "url")


@pytest.mark.parametrize("url", ["http://hooks.dwp.example/deaths", "https://10.1.2.3/deaths",
                                 "https://127.0.0.1:8443/deaths", "https://[::1]/deaths", "https://localhost/deaths"])
def test_production_webhooks_are_https_to_public_addresses(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import ipaddress

    from accord.errors import InvalidInput
    from accord.services.events import addresses, check_webhook_url

    monkeypatch.setattr(addresses, "resolve", lambda host, port: [ipaddress.ip_address("93.184.216.34")])
    assert check_webhook_url(url, production=False)
    with pytest.raises(InvalidInput, match="url must|url host"):
        check_webhook_url(url, production=True)
    assert check_webhook_url("https://hooks.dwp.example/deaths", production=True)


def test_concurrent_dispatchers_never_claim_the_same_delivery(api: EventsApi) -> None:
    import threading

    api.subscribe(url="http://127.0.0.1:9/hook")
    api.subscribe(url="http://127.0.0.1:9/other")
    for n in range(30):
        api.recorded(n)
    claimed: list[int] = []
    errors: list[Exception] = []
    lock = threading.Lock()

    def work() -> None:
        dispatcher = fast_dispatcher(api.hub, lease=60)
        try:
            while batch := dispatcher.claim(7):
                with lock:
                    claimed.extend(item.delivery_id for item in batch)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(claimed) == len(set(claimed)) == 60
