"""Webhook addresses in production (SSRF): no loopback, link-local, private, multicast, unspecified, reserved
or carrier-grade NAT address, however it is spelt, checked when a subscription is made and again at the
address each delivery really connects to (so a name that changes its answer cannot slip through)."""

from __future__ import annotations

import ipaddress
import ssl

import httpcore
import pytest
from events_support import EventsApi, FlakyReceiver, fast_dispatcher
from sqlalchemy import func, select

from accord.errors import InvalidInput
from accord.services.events import PinnedTransport, addresses, check_webhook_url
from accord.storage.tables.events import EventDelivery, EventSubscription

REFUSED = {
    "https://2130706433/hook": "means 127.0.0.1, which is a loopback address",
    "https://127.1/hook": "means 127.0.0.1, which is a loopback address",
    "https://0x7f000001/hook": "means 127.0.0.1, which is a loopback address",
    "https://localhost./hook": "'localhost.' is this machine",
    "https://hooks.localhost/hook": "is this machine",
    "https://[::1]/hook": "'::1' is a loopback address",
    "https://[::ffff:127.0.0.1]/hook": "'::ffff:127.0.0.1' is a loopback address",
    "https://[::ffff:10.0.0.1]/hook": "is a private address",
    "https://169.254.169.254/latest/meta-data": "'169.254.169.254' is a link-local address",
    "https://[fe80::1]/hook": "is a link-local address",
    "https://10.0.0.1/hook": "'10.0.0.1' is a private address",
    "https://192.168.1.20/hook": "is a private address",
    "https://[fd12:3456::1]/hook": "is a private address",
    "https://0.0.0.0/hook": "'0.0.0.0' is an unspecified address",
    "https://[::]/hook": "is an unspecified address",
    "https://224.0.0.251/hook": "is a multicast address",
    "https://[ff02::1]/hook": "is a multicast address",
    "https://100.64.0.1/hook": "is a carrier-grade NAT address",
    "https://240.0.0.1/hook": "address",  # reserved (Python counts it private too)
    "https://[64:ff9b::7f00:1]/hook": "is a loopback address",  # NAT64 of 127.0.0.1
}
PUBLIC = ipaddress.ip_address("93.184.216.34")


def _production(api: EventsApi, monkeypatch: pytest.MonkeyPatch) -> EventsApi:
    monkeypatch.setattr(api.hub, "settings", api.hub.settings.model_copy(update={"environment": "production"}))
    return api


def _answers(monkeypatch: pytest.MonkeyPatch, table: dict[str, list[str]]) -> list[str]:
    """Make the resolver answer from ``table`` (no network); returns the names it was asked, in order."""
    asked: list[str] = []

    def resolve(host: str, port: int) -> list:
        asked.append(host)
        return [ipaddress.ip_address(a) for a in table.get(host, [])]

    monkeypatch.setattr(addresses, "resolve", resolve)
    return asked


def _subscriptions(api: EventsApi) -> int:
    with api.hub.transaction() as session:
        return session.scalar(select(func.count()).select_from(EventSubscription))


@pytest.mark.parametrize(("url", "why"), REFUSED.items(), ids=list(REFUSED))
def test_a_non_public_address_is_refused_in_production_however_it_is_spelt(
    sqlite_api: EventsApi, monkeypatch: pytest.MonkeyPatch, url: str, why: str
) -> None:
    api = _production(sqlite_api, monkeypatch)
    _answers(monkeypatch, {"localhost.": ["127.0.0.1"]})  # never asked: localhost is refused unresolved
    api.auth("dwp")
    before = api.counts()
    response = api.client.post("/v1/events/subscriptions", json={"kinds": ["death"], "url": url},
                               headers=api.auth("dwp"))
    api.problem(response, 422, "url host", why, "public address")
    assert api.counts() == before
    # development and test keep loopback and the rest (the demo and the tests deliver to 127.0.0.1)
    assert check_webhook_url(url, production=False)


def test_a_name_is_judged_by_every_address_it_resolves_to(sqlite_api: EventsApi, monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    api = _production(sqlite_api, monkeypatch)
    _answers(monkeypatch, {"internal.dwp.example": ["10.20.30.40"],
                           "mixed.dwp.example": [str(PUBLIC), "127.0.0.1"],
                           "hooks.dwp.example": [str(PUBLIC), "2606:2800:220:1:248:1893:25c8:1946"]})
    for host, why in (("internal.dwp.example", "resolves to 10.20.30.40, which is a private address"),
                      ("mixed.dwp.example", "resolves to 127.0.0.1, which is a loopback address"),
                      ("nowhere.dwp.example", "could not be resolved")):
        response = api.client.post("/v1/events/subscriptions", json={"kinds": ["death"], "url": f"https://{host}/"},
                                   headers=api.auth("dwp"))
        api.problem(response, 422, host, why)
    assert _subscriptions(api) == 0
    made = api.subscribe(url="https://hooks.dwp.example/deaths")
    assert made["url"] == "https://hooks.dwp.example/deaths"


def test_the_rule_is_one_function_over_ipaddress() -> None:
    judge = addresses.refusal
    assert judge(ipaddress.ip_address("127.0.0.1")) == "a loopback address"
    assert judge(ipaddress.ip_address("::ffff:169.254.169.254")) == "a link-local address"
    assert judge(ipaddress.ip_address("2002:0a00:0001::1")) == "a private address"  # 6to4 of 10.0.0.1
    assert judge(ipaddress.ip_address("100.127.255.255")) == "a carrier-grade NAT address"
    assert judge(PUBLIC) is None
    assert judge(ipaddress.ip_address("2606:4700:4700::1111")) is None


def test_a_name_that_turns_private_after_the_check_is_refused_at_delivery(
    sqlite_api: EventsApi, receiver: FlakyReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: the name resolved to a public address when the subscription was made; at delivery
    it resolves to loopback (where a receiver is listening). The connection is never made."""
    api = _production(sqlite_api, monkeypatch)
    table = {"hooks.dwp.example": [str(PUBLIC)]}
    _answers(monkeypatch, table)
    subscription = api.subscribe(url=f"https://hooks.dwp.example:{receiver.port}/deaths")
    receiver.secrets[subscription["id"]] = subscription["signing_secret"]
    api.recorded()
    table["hooks.dwp.example"] = ["127.0.0.1"]  # the rebinding
    connected: list[str] = []
    real_connect = httpcore.SyncBackend.connect_tcp

    def spy(self, host, port, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        connected.append(host)
        return real_connect(self, host, port, *args, **kwargs)

    monkeypatch.setattr(httpcore.SyncBackend, "connect_tcp", spy)
    stats = fast_dispatcher(api.hub, max_attempts=1).deliver_due()
    assert stats.delivered == 0 and stats.dead == 1
    assert connected == [] and receiver.stats.calls == 0
    with api.hub.transaction() as session:
        (delivery,) = session.scalars(select(EventDelivery))
    assert "refused before connecting" in delivery.last_error
    assert "hooks.dwp.example' resolves to 127.0.0.1, which is a loopback address" in delivery.last_error


def test_a_delivery_connects_to_the_address_it_checked(
    sqlite_api: EventsApi, receiver: FlakyReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The name is resolved once per connection, by the dispatcher, and the socket goes to that address
    (outside production loopback is allowed, so the check passes and the call arrives)."""
    asked = _answers(monkeypatch, {"hooks.dwp.test": ["127.0.0.1"]})
    connected: list[str] = []
    real_connect = httpcore.SyncBackend.connect_tcp

    def spy(self, host, port, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        connected.append(host)
        return real_connect(self, host, port, *args, **kwargs)

    monkeypatch.setattr(httpcore.SyncBackend, "connect_tcp", spy)
    subscription = sqlite_api.subscribe(url=f"http://hooks.dwp.test:{receiver.port}/deaths")
    receiver.secrets[subscription["id"]] = subscription["signing_secret"]
    sqlite_api.recorded()
    assert fast_dispatcher(sqlite_api.hub).deliver_due().delivered == 1
    assert receiver.stats.calls == 1
    assert asked == ["hooks.dwp.test"] and connected == ["127.0.0.1"]


def test_the_pinned_transport_still_verifies_certificates_against_the_name() -> None:
    import httpx

    transport = PinnedTransport(production=True, limits=httpx.Limits(max_connections=2))
    context = transport._pool._ssl_context  # noqa: SLF001 - what the connections wrap their sockets with
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname is True
    assert isinstance(transport._pool._network_backend, addresses.PinnedBackend)  # noqa: SLF001


def test_outside_production_the_literal_forms_stay_allowed() -> None:
    for url in REFUSED:
        assert check_webhook_url(url, production=False)
    with pytest.raises(InvalidInput, match="https"):
        check_webhook_url("http://93.184.216.34/hook", production=True)
