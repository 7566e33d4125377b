"""X-Request-Id: echoed when valid, replaced when not, on every response including errors."""

from __future__ import annotations

import pytest
from api_support import Api


@pytest.mark.parametrize("given", ["abc-123", "trace:1.2_3", "a" * 128])
def test_a_valid_request_id_is_echoed(sqlite_api: Api, given: str) -> None:
    for response in (
        sqlite_api.client.get("/health", headers={"X-Request-Id": given}),
        sqlite_api.client.get("/v1/bodies", headers={"X-Request-Id": given}),  # a 401
        sqlite_api.client.get("/nowhere", headers={"X-Request-Id": given}),  # a 404
    ):
        assert response.headers["x-request-id"] == given
    assert sqlite_api.client.get("/v1/bodies", headers={"X-Request-Id": given}).json()["request_id"] == given


@pytest.mark.parametrize("given", ["", "a" * 129, "white space", "quote\"d", "new\\nline", "é"])
def test_an_invalid_request_id_is_replaced(sqlite_api: Api, given: str) -> None:
    response = sqlite_api.client.get("/v1/bodies", headers={"X-Request-Id": given.encode()})
    generated = response.headers["x-request-id"]
    assert generated != given
    assert len(generated) == 32 and all(c in "0123456789abcdef" for c in generated)
    assert response.json()["request_id"] == generated


def test_every_response_gets_its_own_id(sqlite_api: Api) -> None:
    ids = {sqlite_api.client.get("/health").headers["x-request-id"] for _ in range(5)}
    assert len(ids) == 5


def test_refusals_before_the_app_runs_carry_the_request_id(sqlite_api: Api) -> None:
    """413 on Content-Length, and the NUL guard, answer in the middleware: still with the id."""
    limit = sqlite_api.hub.settings.max_body_bytes
    too_big = sqlite_api.client.post(
        "/register/agreements/x/comments",
        content=b"{" + b" " * limit + b"}",
        headers={"Content-Type": "application/json", "X-Request-Id": "big-1"},
    )
    assert too_big.status_code == 413 and too_big.headers["x-request-id"] == "big-1"
    nul = sqlite_api.client.get("/register/agreements.json?status=%00", headers={"X-Request-Id": "nul-1"})
    assert nul.status_code == 400 and nul.headers["x-request-id"] == "nul-1"
    assert nul.json()["request_id"] == "nul-1"
