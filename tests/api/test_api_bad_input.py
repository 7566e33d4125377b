"""Bad input on every JSON write endpoint: a 4xx problem, never a 500, nothing stored.

Each endpoint in ``WRITE_ENDPOINTS`` is called with a valid body broken one way
at a time; after every refusal the row count of every table is unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from api_support import WRITE_ENDPOINTS, Api, WriteEndpoint

ENDPOINTS = [pytest.param(e, id=e.name) for e in WRITE_ENDPOINTS]


def _headers(api: Api, endpoint: WriteEndpoint, **extra: str) -> dict[str, str]:
    headers = dict(endpoint.headers)
    if endpoint.who:
        headers.update(api.auth(endpoint.who))
    headers.update(extra)
    return headers


def _post_raw(api: Api, endpoint: WriteEndpoint, content, **extra: str):  # noqa: ANN001, ANN202
    headers = _headers(api, endpoint, **{"Content-Type": "application/json", **extra})
    return api.client.post(endpoint.path, content=content, headers=headers)


# The purpose services' write endpoints need a holding, a subscription or a share code before a
# valid call can succeed, so their bad-input tests live in their own suites (named here).
SERVICE_SUITES = {
    "/v1/verifications": "tests/verification/test_verification_bad_input.py",
    "/v1/verifications/batch": "tests/verification/test_verification_bad_input.py",
    "/v1/households/multiple-disadvantages": "tests/disadvantages/test_disadvantages_api.py",
    "/v1/events": "tests/events/test_events_recording.py",
    "/v1/events/subscriptions": "tests/events/test_events_webhooks.py",
    "/v1/events/subscriptions/{subscription_id}": "tests/events/test_events_feed.py",
    "/v1/events/subscriptions/{subscription_id}/dead-letters/requeue": "tests/events/test_events_webhooks.py",
    "/v1/events/subscriptions/{subscription_id}/replay": "tests/events/test_events_webhooks.py",
    "/v1/deceased-checks": "tests/events/test_events_deceased.py",
    "/v1/share-codes/redeem": "tests/sharecodes/test_sharecodes_api.py",
    "/v1/eligibility/jobs": "tests/eligibility/test_eligibility_api.py",
    "/v1/bodies/{body_id}/officers": "tests/api/test_api_officers.py",
}


def test_every_json_write_endpoint_is_covered(sqlite_api: Api) -> None:
    """A new write endpoint must be added to WRITE_ENDPOINTS (and so to these tests), or to
    SERVICE_SUITES with a suite that really calls it."""
    document = sqlite_api.client.get("/openapi.json").json()
    json_writes = {
        path
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in ("post", "put", "patch")
        and "application/json" in operation.get("requestBody", {}).get("content", {})
    }
    templates = {e.path.replace("debt-pilot-northshire", "{agreement_id}") for e in WRITE_ENDPOINTS}
    elsewhere = json_writes - templates
    uncovered = sorted(elsewhere - set(SERVICE_SUITES))
    assert not uncovered, f"JSON write endpoints with no bad-input tests: {uncovered}"
    root = Path(__file__).resolve().parents[2]
    for path in sorted(elsewhere):
        suite = root / SERVICE_SUITES[path]
        assert suite.is_file(), f"{path}: its suite {SERVICE_SUITES[path]} is missing"
        prefix = path.split("{", 1)[0].rstrip("/")
        assert prefix in suite.read_text(encoding="utf-8"), f"{SERVICE_SUITES[path]} never calls {path}"
    assert templates <= json_writes


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_valid_call_succeeds(api: Api, endpoint: WriteEndpoint) -> None:
    """Control: the payloads below fail for the reason given, not because the base is wrong."""
    response = api.client.post(endpoint.path, json=endpoint.payload(), headers=_headers(api, endpoint))
    assert response.status_code in (200, 201), response.text


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_bad_input_is_refused_and_nothing_is_stored(api: Api, endpoint: WriteEndpoint) -> None:
    _headers(api, endpoint)  # tokens first: issuing one is a write
    before = api.counts()
    valid = endpoint.payload()

    for raw in (b'{"id": ', b"{'single': 'quotes'}", b'{"a": 1} trailing', b"\xff\xfe"):
        api.problem(_post_raw(api, endpoint, raw), 400, "not valid JSON")
    api.problem(_post_raw(api, endpoint, b"\xff\xfe\x00"), 400)  # undecodable (UTF-16 BOM): FastAPI's own 400

    field, wrong = endpoint.wrong_type
    response = api.client.post(endpoint.path, json={**valid, field: wrong}, headers=_headers(api, endpoint))
    body = api.problem(response, 422)
    assert any(p.startswith(f"{field}") for p in body["problems"]), body

    missing = {k: v for k, v in valid.items() if k != endpoint.required}
    body = api.problem(api.client.post(endpoint.path, json=missing, headers=_headers(api, endpoint)), 422)
    assert any(p.startswith(endpoint.required) and "required" in p.lower() for p in body["problems"]), body

    extra = {**valid, "surprise": True}
    body = api.problem(api.client.post(endpoint.path, json=extra, headers=_headers(api, endpoint)), 422)
    assert any(p.startswith("surprise") for p in body["problems"]), body

    for not_an_object in ([valid], "text", 7, None):
        response = _post_raw(api, endpoint, json.dumps(not_an_object).encode())
        assert api.problem(response, 422)["problems"], response.text

    api.problem(_post_raw(api, endpoint, b""), 422)

    change, status, says = endpoint.unknown
    if status != 200:
        response = api.client.post(endpoint.path, json={**valid, **change}, headers=_headers(api, endpoint))
        api.problem(response, status, says)
    if endpoint.unknown_path:
        response = api.client.post(endpoint.unknown_path, json=valid, headers=_headers(api, endpoint))
        api.problem(response, 404, "no agreement 'no-such-agreement'")

    assert api.counts() == before


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_oversized_bodies_get_413_and_nothing_is_stored(api: Api, endpoint: WriteEndpoint) -> None:
    limit = api.hub.settings.max_body_bytes
    _headers(api, endpoint)
    before = api.counts()
    oversized = json.dumps({**endpoint.payload(), "padding": "x" * limit}).encode()
    assert len(oversized) > limit

    declared = _post_raw(api, endpoint, oversized)
    api.problem(declared, 413, str(limit))

    def chunks():  # noqa: ANN202 - streamed without Content-Length (Transfer-Encoding: chunked)
        for start in range(0, len(oversized), 64 * 1024):
            yield oversized[start : start + 64 * 1024]

    streamed = _post_raw(api, endpoint, chunks())
    api.problem(streamed, 413, str(limit))
    assert api.counts() == before


def test_a_body_just_under_the_limit_is_read(sqlite_api: Api) -> None:
    """The limit is the limit: a large but allowed body reaches validation (422, not 413)."""
    limit = sqlite_api.hub.settings.max_body_bytes
    payload = {"author": "A Resident", "comment": "x" * (limit - 200)}
    body = json.dumps(payload).encode()
    assert len(body) < limit
    path = "/register/agreements/debt-pilot-northshire/comments"
    response = sqlite_api.client.post(path, content=body, headers={"Content-Type": "application/json"})
    sqlite_api.problem(response, 422, "comment")  # over the 10,000-character field limit


def test_oversized_token_request_gets_413(sqlite_api: Api) -> None:
    limit = sqlite_api.hub.settings.max_body_bytes
    before = sqlite_api.counts()
    form = {"grant_type": "client_credentials", "client_id": "x" * (limit + 10), "client_secret": "y"}
    sqlite_api.problem(sqlite_api.client.post("/oauth/token", data=form), 413)
    assert sqlite_api.counts() == before


def test_query_and_path_parameters_out_of_range_are_4xx(sqlite_api: Api) -> None:
    client = sqlite_api.client
    sqlite_api.problem(client.get("/register/agreements.json", params={"status": "x" * 500}), 422, "status")
    sqlite_api.problem(client.get("/v1/agreements/" + "x" * 300, headers=sqlite_api.auth("admin")), 404)
    sqlite_api.problem(client.get("/no/such/page"), 404, "/no/such/page")
    sqlite_api.problem(client.delete("/v1/bodies", headers=sqlite_api.auth("admin")), 405, "DELETE")


def test_bad_headers_are_4xx(api: Api) -> None:
    headers = api.auth("council")
    before = api.counts()
    long_key = {"Idempotency-Key": "k" * 201}
    body = api.problem(
        api.client.post("/v1/agreements", json={}, headers={**headers, **long_key}), 422, "Idempotency-Key"
    )
    assert body["problems"]
    assert api.counts() == before
