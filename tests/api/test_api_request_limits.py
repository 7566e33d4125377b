"""Request size by route, never by Content-Type (issue 13, item 1).

The app is driven as ASGI with a ``receive`` that counts the body bytes it hands over, so each
test shows how much of a body the server pulled before it answered: a refusal must come before
the body is read, and a body past its route's limit is cut off while it streams.
"""

from __future__ import annotations

import asyncio

import pytest
from api_support import Api

MIB = 1 << 20
CHUNK = b"x" * (64 * 1024)


class Sent:
    """One request's exchange: how many body bytes the app pulled, and its answer."""

    def __init__(self) -> None:
        self.pulled = 0
        self.status: int | None = None
        self.body = b""


def _call(api: Api, method: str, path: str, *, size: int, content_type: str = "text/csv",
          declared: bool = False, headers: dict[str, str] | None = None, payload: bytes | None = None) -> Sent:
    """Send ``size`` bytes (or ``payload``) in 64 KiB chunks, chunked or with a Content-Length."""
    body = payload if payload is not None else None
    total = len(body) if body is not None else size
    raw = [(b"content-type", content_type.encode())]
    raw.append((b"content-length", str(total).encode()) if declared else (b"transfer-encoding", b"chunked"))
    raw += [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "", "headers": raw,
             "client": ("127.0.0.1", 50000), "server": ("testserver", 80)}
    sent = Sent()
    offset = 0

    async def receive() -> dict:
        nonlocal offset
        if offset >= total:
            await asyncio.sleep(0)
            return {"type": "http.disconnect"}
        step = min(len(CHUNK), total - offset)
        chunk = body[offset:offset + step] if body is not None else CHUNK[:step]
        offset += step
        sent.pulled += step
        return {"type": "http.request", "body": chunk, "more_body": offset < total}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            sent.status = message["status"]
        elif message["type"] == "http.response.body":
            sent.body += message.get("body", b"")

    asyncio.run(api.client.app(scope, receive, send))
    return sent


COMMENTS = "/register/agreements/debt-pilot-northshire/comments"


@pytest.mark.parametrize("declared", [False, True], ids=["chunked", "content-length"])
def test_a_csv_body_to_the_comments_endpoint_gets_the_small_limit(sqlite_api: Api, declared: bool) -> None:
    limit = sqlite_api.hub.settings.max_body_bytes
    sent = _call(sqlite_api, "POST", COMMENTS, size=8 * MIB, declared=declared)
    assert sent.status == 413, sent.body
    assert str(limit).encode() in sent.body  # the problem names the limit
    assert sent.pulled <= (0 if declared else limit + len(CHUNK))  # cut off at the limit, or never read


@pytest.mark.parametrize("token", [None, "not-a-token"], ids=["no token", "wrong token"])
def test_a_csv_body_to_decisions_without_a_valid_token_is_401_unread(sqlite_api: Api, token: str | None) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    sent = _call(sqlite_api, "POST", "/v1/decisions", size=8 * MIB, headers=headers)
    assert sent.status == 401, sent.body
    assert sent.pulled == 0


def test_an_authenticated_csv_body_to_decisions_still_gets_the_small_limit(sqlite_api: Api) -> None:
    sent = _call(sqlite_api, "POST", "/v1/decisions", size=8 * MIB, headers=sqlite_api.auth("council", "An Officer"))
    assert sent.status == 413, sent.body
    assert sent.pulled <= sqlite_api.hub.settings.max_body_bytes + len(CHUNK)


@pytest.mark.parametrize("declared", [False, True], ids=["chunked", "content-length"])
def test_an_upload_route_refuses_an_unauthenticated_caller_before_reading(sqlite_api: Api, declared: bool) -> None:
    sent = _call(sqlite_api, "PUT", "/v1/datasets/gro-deaths/records", size=64 * MIB, declared=declared)
    assert sent.status == 401, sent.body
    assert sent.pulled == 0


def _deaths_csv(at_least: int) -> bytes:
    """GRO's death registrations, each with a long unregistered column (dropped on load) to make the size."""
    rows = ["registration_id,first_name,surname,date_of_birth,date_of_death,postcode,notes"]
    notes = "n" * 2000
    for n in range(at_least // 2000 + 1):
        rows.append(f"G{n:07d},Harold,Pemberton,1935-12-01,2026-10-02,LS6 2AB,{notes}")
    return ("\n".join(rows) + "\n").encode()


def test_an_authenticated_upload_over_the_small_limit_streams_to_disk_and_loads(sqlite_api: Api) -> None:
    data_dir = sqlite_api.hub.settings.data_dir
    csv = _deaths_csv(sqlite_api.hub.settings.max_body_bytes + 200_000)
    sent = _call(sqlite_api, "PUT", "/v1/datasets/gro-deaths/records", size=0, payload=csv,
                 headers=sqlite_api.auth("admin"))
    assert sent.status == 200, sent.body
    assert b'"rows":' in sent.body and sent.pulled == len(csv)
    assert not list(data_dir.glob(".upload-*")), "the upload's temporary file was left behind"


def test_an_upload_over_its_own_limit_is_cut_off_while_streaming(sqlite_api: Api, monkeypatch) -> None:  # noqa: ANN001
    hub = sqlite_api.hub
    monkeypatch.setattr(hub, "settings", hub.settings.model_copy(update={"max_upload_bytes": 4 * MIB}))
    sent = _call(sqlite_api, "PUT", "/v1/datasets/gro-deaths/records", size=64 * MIB, headers=sqlite_api.auth("admin"))
    assert sent.status == 413 and str(4 * MIB).encode() in sent.body
    assert sent.pulled <= 4 * MIB + len(CHUNK)
    assert not list(hub.settings.data_dir.glob(".upload-*"))


def test_an_unknown_path_and_a_page_form_read_nothing_past_the_small_limit(sqlite_api: Api) -> None:
    limit = sqlite_api.hub.settings.max_body_bytes
    unknown = _call(sqlite_api, "POST", "/no/such/path", size=8 * MIB)
    assert unknown.status == 404 and unknown.pulled == 0
    form = _call(sqlite_api, "POST", "/register/agreements/debt-pilot-northshire/comment", size=8 * MIB,
                 content_type="application/x-www-form-urlencoded")
    assert form.status == 413 and form.pulled <= limit + len(CHUNK)
