"""No server file path appears in any error (issue 13, item 6): API problems, pages and job errors.

Each test provokes an error whose message used to quote a path (an upload's temporary file under the
data directory, a DuckDB message quoting it) or that a library could make quote one, and checks the
answer names no server directory.
"""

from __future__ import annotations

import sys
import tempfile

import pytest
from api_support import Api

from accord.errors import InvalidInput


def assert_no_server_path(text: str, api: Api) -> None:
    data_dir = api.hub.settings.data_dir
    for fragment in (str(data_dir), str(data_dir.resolve()), data_dir.name, ".upload-", tempfile.gettempdir() + "/",
                     sys.prefix, "site-packages"):
        assert fragment not in text, f"{fragment!r} in {text!r}"


@pytest.mark.parametrize(
    ("content_type", "body", "says"),
    [
        ("text/csv", b"a,b\n1,2\n", "missing column"),
        ("text/csv", b"\xff\xfe,\x00\n1\n", "cannot be read"),
        ("application/vnd.apache.parquet", b"PAR1 not really parquet PAR1", "cannot be read"),
    ],
)
def test_a_bad_upload_names_the_records_not_a_server_file(
    sqlite_api: Api, content_type: str, body: bytes, says: str
) -> None:
    response = sqlite_api.client.put("/v1/datasets/gro-deaths/records", content=body,
                                     headers={**sqlite_api.auth("admin"), "Content-Type": content_type})
    problem = sqlite_api.problem(response, 422, says)
    assert problem["detail"].startswith("the records: ")
    assert_no_server_path(response.text, sqlite_api)


def test_a_bad_customer_list_names_no_server_file(sqlite_api: Api) -> None:
    response = sqlite_api.client.post(
        "/v1/eligibility/jobs", params={"agreement": "warm-home-discount-2026"}, content=b"PAR1 junk PAR1",
        headers={**sqlite_api.auth("energy", officer="A. Officer"), "Content-Type": "application/vnd.apache.parquet"})
    assert 400 <= response.status_code < 500, response.text
    assert_no_server_path(response.text, sqlite_api)


def test_a_bad_batch_file_names_no_server_file(sqlite_api: Api) -> None:
    response = sqlite_api.client.post(
        "/v1/verifications/batch", data={"agreement": "electoral-registration-verification"},
        files={"file": ("applications.parquet", b"PAR1 junk PAR1", "application/vnd.apache.parquet")},
        headers=sqlite_api.auth("council", officer="A. Officer"))
    assert 400 <= response.status_code < 500, response.text
    assert_no_server_path(response.text, sqlite_api)


def test_the_last_guard_hides_a_path_any_message_quotes(sqlite_api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """A message that quotes a server path anyway (a library's, a future bug) is cleaned before it leaves."""
    from accord.api.routes import register as register_routes
    from accord.web import views

    leaked = sqlite_api.hub.settings.data_dir / "holdings" / "dwp-benefits.parquet"

    def broken(*args: object, **kwargs: object) -> None:
        raise InvalidInput(f"{leaked}: cannot be read (IO Error: '{tempfile.gettempdir()}/x.parquet')",
                           [f"see {sys.prefix}/lib/x.py"])

    monkeypatch.setattr(register_routes, "register_entries", broken)
    monkeypatch.setattr(views, "register_entries", broken)
    response = sqlite_api.client.get("/register/agreements.json")
    problem = sqlite_api.problem(response, 422, "cannot be read", "(a file on the server)")
    assert problem["problems"] == ["see (a file on the server)"]
    assert_no_server_path(response.text, sqlite_api)
    page = sqlite_api.client.get("/register", params={"status": "active"})
    assert page.status_code == 400 and "(a file on the server): cannot be read" in page.text
    assert_no_server_path(page.text, sqlite_api)
