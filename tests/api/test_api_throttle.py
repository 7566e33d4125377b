"""Throttling (issue 13, item 5): failed token requests lock out, anonymous comments are rate-limited.

The counters are in the database (``throttle_counters``), so every test here runs on SQLite and
PostgreSQL; tests/integration/test_throttle_processes.py shows the limits hold across two server
processes. Limits are lowered per test by patching the hub's settings.
"""

from __future__ import annotations

import base64
import threading

import pytest
from api_support import Api
from starlette.requests import Request

from accord.api.addresses import client_address
from accord.config import load_settings
from accord.runtime import Hub
from accord.services import throttle

COMMENTS = "/register/agreements/debt-pilot-northshire/comments"


def _limits(monkeypatch: pytest.MonkeyPatch, hub: Hub, **limits: int) -> None:
    monkeypatch.setattr(hub, "settings", hub.settings.model_copy(update=limits))


def _token(api: Api, client_id: str, secret: str, **headers: str):  # noqa: ANN202
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    return api.client.post("/oauth/token", data=form, headers=headers)


def test_a_client_id_is_locked_out_after_n_failures_even_for_the_right_secret(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    _limits(monkeypatch, api.hub, throttle_token_failures_per_client=3)
    issued = api.secret("council")
    for _ in range(3):
        api.problem(_token(api, issued.client_id, "wrong"), 401)
    locked = _token(api, issued.client_id, issued.client_secret)
    body = api.problem(locked, 429, "try again in")
    assert 0 < int(locked.headers["retry-after"]) <= api.hub.settings.throttle_failure_window_seconds
    assert "access_token" not in locked.text

    # An unknown client id gets exactly the same answers: nothing says whether an id exists.
    for _ in range(3):
        api.problem(_token(api, "no-such-client.000000", "wrong"), 401)
    unknown = api.problem(_token(api, "no-such-client.000000", "anything"), 429)
    assert unknown["detail"] == body["detail"] and unknown["title"] == body["title"]

    # Another client from the same address is not locked out by the first one's failures...
    other = api.secret("dwp")
    assert _token(api, other.client_id, other.client_secret).status_code == 200
    # ...and once the operator resets the counters, the right secret works again.
    throttle.reset(api.hub)
    assert _token(api, issued.client_id, issued.client_secret).status_code == 200


def test_basic_credentials_count_alike(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    _limits(monkeypatch, api.hub, throttle_token_failures_per_client=2)
    issued = api.secret("council")
    wrong = "Basic " + base64.b64encode(f"{issued.client_id}:wrong".encode()).decode()
    for _ in range(2):
        api.problem(api.client.post("/oauth/token", data={"grant_type": "client_credentials"},
                                    headers={"Authorization": wrong}), 401)
    api.problem(_token(api, issued.client_id, issued.client_secret), 429)


def test_a_success_forgets_the_clients_failures(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    _limits(monkeypatch, api.hub, throttle_token_failures_per_client=3)
    issued = api.secret("council")
    for _ in range(2):
        api.problem(_token(api, issued.client_id, "wrong"), 401)
    assert _token(api, issued.client_id, issued.client_secret).status_code == 200
    for _ in range(2):
        api.problem(_token(api, issued.client_id, "wrong"), 401)
    assert _token(api, issued.client_id, issued.client_secret).status_code == 200


def test_an_address_is_locked_out_after_n_failures_whatever_the_client_id(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    _limits(monkeypatch, api.hub, throttle_token_failures_per_address=4)
    for n in range(4):
        api.problem(_token(api, f"guess-{n}", "wrong"), 401)
    issued = api.secret("council")
    api.problem(_token(api, issued.client_id, issued.client_secret), 429)
    # A forwarded-for header from an untrusted peer changes nothing: it is not believed.
    api.problem(_token(api, issued.client_id, issued.client_secret, **{"X-Forwarded-For": "192.0.2.9"}), 429)


def test_comments_are_rate_limited_per_address(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    _limits(monkeypatch, api.hub, throttle_comments_per_address=2)
    comment = {"author": "A Resident", "comment": "Publish the DPIA."}
    for _ in range(2):
        assert api.client.post(COMMENTS, json=comment).status_code == 201
    refused = api.client.post(COMMENTS, json=comment, headers={"X-Forwarded-For": "198.51.100.7"})
    api.problem(refused, 429, "too many comments")
    assert int(refused.headers["retry-after"]) > 0


def test_failures_counted_from_many_threads_at_once_are_all_counted(hub: Hub) -> None:
    """One atomic upsert per failure: concurrent failures are never lost (SQLite and PostgreSQL)."""
    threads, each = 8, 5
    barrier = threading.Barrier(threads)

    def fail() -> None:
        barrier.wait()
        for _ in range(each):
            throttle.failed(hub, "token", {"client": "busy-client"})

    workers = [threading.Thread(target=fail) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    from sqlalchemy import text

    with hub.engine.connect() as connection:
        counted = connection.execute(text("SELECT attempts FROM throttle_counters WHERE scope = 'token.client'")).all()
    assert counted == [(threads * each,)]
    with pytest.raises(throttle.TooManyRequests):
        throttle.check(hub, "token", {"client": "busy-client"})
    throttle.check(hub, "token", {"client": "another-client"})  # other keys are untouched
    assert throttle.reset(hub) == 1
    throttle.check(hub, "token", {"client": "busy-client"})


def test_stored_keys_are_keyed_hashes_never_the_address(hub: Hub) -> None:
    throttle.failed(hub, "signin", {"account": "officer-7", "address": "203.0.113.5"})
    from sqlalchemy import text

    with hub.engine.connect() as connection:
        rows = connection.execute(text("SELECT scope, key FROM throttle_counters ORDER BY scope")).all()
    assert [scope for scope, _ in rows] == ["signin.account", "signin.address"]
    assert all("203.0.113.5" not in key and "officer-7" not in key for _, key in rows)


# ------------------------------------------------------------------ the client's address


def _request(peer: str, headers: dict[str, str]) -> Request:
    raw = [(name.lower().encode(), value.encode()) for name, value in headers.items()]
    return Request({"type": "http", "method": "GET", "path": "/", "headers": raw, "client": (peer, 40000)})


@pytest.mark.parametrize(
    ("trusted", "peer", "headers", "expected"),
    [
        ("", "203.0.113.5", {"X-Forwarded-For": "192.0.2.1"}, "203.0.113.5"),  # no proxy named: never believed
        ("10.0.0.0/8", "203.0.113.5", {"X-Forwarded-For": "192.0.2.1"}, "203.0.113.5"),  # not from a named proxy
        ("10.0.0.0/8", "10.1.2.3", {"X-Forwarded-For": "192.0.2.1"}, "192.0.2.1"),
        ("10.0.0.0/8", "10.1.2.3", {"X-Forwarded-For": "198.51.100.1, 192.0.2.1, 10.9.9.9"}, "192.0.2.1"),
        ("10.0.0.0/8", "10.1.2.3", {"Forwarded": 'for=192.0.2.60;proto=https, for="[2001:db8::1]:4711"'}, "2001:db8::1"),
        ("10.0.0.0/8", "10.1.2.3", {"Forwarded": "for=192.0.2.43", "X-Forwarded-For": "198.51.100.1"}, "192.0.2.43"),
        ("10.0.0.0/8", "10.1.2.3", {"X-Forwarded-For": "not-an-address"}, "10.1.2.3"),
        ("10.0.0.0/8", "10.1.2.3", {}, "10.1.2.3"),
        ("10.1.2.3, 2001:db8::/32", "2001:db8::5", {"X-Forwarded-For": "192.0.2.1"}, "192.0.2.1"),
    ],
)
def test_forwarded_for_is_believed_only_from_named_proxies(
    trusted: str, peer: str, headers: dict[str, str], expected: str
) -> None:
    settings = load_settings(trusted_proxies=trusted, environment="test")
    assert client_address(_request(peer, headers), settings) == expected


def test_a_trusted_proxy_that_is_not_an_address_is_a_configuration_error() -> None:
    from accord.errors import ConfigurationError

    with pytest.raises(ConfigurationError) as refused:
        load_settings(trusted_proxies="10.0.0.0/8, proxy.example", environment="test")
    assert "ACCORD_TRUSTED_PROXIES" in str(refused.value) and "proxy.example" in str(refused.value)
