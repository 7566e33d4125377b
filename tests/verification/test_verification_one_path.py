"""The same check made through the API, the command line and the page takes one code path.

Each face only parses its input and shows the answer: all three call the one
service entry point (``accord.services.verification.service.check``), which is
spied on here, and each check is decided and recorded the same way.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from accord.cli.main import app as cli
from accord.services.verification import service
from accord.storage.models import DecisionRecord
from test_verification_pages import _form, _sign_in
from verification_support import AGREEMENT, ERO, Client, Person


@pytest.fixture
def spied(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    real = service.check

    def check(hub, actor, request, *, key=None):  # noqa: ANN001, ANN202
        calls.append(actor.request_id)
        return real(hub, actor, request, key=key)

    monkeypatch.setattr(service, "check", check)
    return calls


def test_api_command_line_and_page_call_the_one_entry_point(sqlite_api: Client, people: list[Person],
                                                             spied: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    person = people[0]
    api = sqlite_api.verify(person.details())
    assert api.status_code == 200 and api.json()["grade"] == "match"

    settings = sqlite_api.hub.settings
    monkeypatch.setenv("ACCORD_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("ACCORD_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("ACCORD_ENVIRONMENT", settings.environment)
    monkeypatch.setenv("ACCORD_SECRET_KEY", settings.secret_key.get_secret_value())
    done = CliRunner().invoke(cli, ["verification", "check", "--agreement", AGREEMENT, "--body", ERO,
                                    "--first-name", person.first_name, "--surname", person.surname,
                                    "--dob", person.dob.isoformat(), "--postcode", person.postcode, "--json"])
    assert done.exit_code == 0, done.output
    assert '"grade": "match"' in done.output

    page = sqlite_api.http.post("/verification/check", data=_form(person, _sign_in(sqlite_api)))
    assert page.status_code == 200 and "The details match" in page.text

    assert len(spied) == 3
    assert [rid[:4] for rid in spied[1:]] == ["cli-", "web-"]
    with sqlite_api.hub.transaction() as session:
        recorded = session.scalars(select(DecisionRecord.request_id).where(DecisionRecord.action == "identity.verify"))
        assert set(spied) == set(recorded)
