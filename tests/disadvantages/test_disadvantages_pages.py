"""The council officer's pages: sign in with the council's client credentials, find households, sign out."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from accord_testing import add_agreement
from disadvantages_support import AGREEMENT, COUNCIL, demo_spec, prepare
from fastapi.testclient import TestClient
from sqlalchemy import select

from accord.app import create_app
from accord.clock import utcnow
from accord.registry.credentials import IssuedSecret, create_client
from accord.runtime import Hub
from accord.storage.models import DecisionRecord, Token

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _csrf(page) -> str:  # noqa: ANN001
    return _CSRF.search(page.text).group(1)


@pytest.fixture
def site(sqlite_hub: Hub, synth: Path) -> tuple[TestClient, IssuedSecret, Hub]:
    prepare(sqlite_hub, synth)
    with sqlite_hub.transaction() as session:
        issued = create_client(session, COUNCIL, utcnow(), label="officer pages")
    return TestClient(create_app(hub=sqlite_hub), raise_server_exceptions=False), issued, sqlite_hub


def _sign_in(client: TestClient, issued: IssuedSecret, officer: str = "Sam Officer") -> None:
    page = client.get("/disadvantages")
    response = client.post("/disadvantages/sign-in", data={
        "client_id": issued.client_id, "client_secret": issued.client_secret, "officer": officer,
        "csrf_token": _csrf(page)}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/disadvantages"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert "Path=/disadvantages" in cookie


def test_signed_out_officers_see_only_the_sign_in_form(site) -> None:  # noqa: ANN001
    client, _issued, hub = site
    page = client.get("/disadvantages")
    assert page.status_code == 200 and "Sign in to find households" in page.text
    assert "Find households" not in page.text
    refused = client.post("/disadvantages/identify", data={"agreement": AGREEMENT, "csrf_token": _csrf(page)},
                          follow_redirects=False)
    assert refused.status_code == 303  # back to sign in; nothing looked up
    with hub.transaction() as session:
        assert list(session.scalars(select(DecisionRecord))) == []


def test_wrong_credentials_are_refused_with_a_gov_uk_error(site) -> None:  # noqa: ANN001
    client, issued, _hub = site
    page = client.get("/disadvantages")
    response = client.post("/disadvantages/sign-in", data={
        "client_id": issued.client_id, "client_secret": "wrong", "officer": "", "csrf_token": _csrf(page)})
    assert response.status_code == 400
    assert "There is a problem" in response.text and "Enter your name" in response.text
    assert "set-cookie" not in response.headers or "accord_disadvantages=" not in response.headers["set-cookie"]


def test_an_officer_finds_households_and_the_request_is_recorded(site) -> None:  # noqa: ANN001
    client, issued, hub = site
    _sign_in(client, issued)
    form = client.get("/disadvantages")
    assert "Signed in as Sam Officer (northshire-council)" in form.text
    assert f'value="{AGREEMENT}"' in form.text and "warm-home-discount" not in form.text
    results = client.post("/disadvantages/identify", data={"agreement": AGREEMENT, "csrf_token": _csrf(form)})
    assert results.status_code == 200, results.text
    assert results.headers["cache-control"] == "no-store"
    count = int(re.search(r'id="count">(\d+) households', results.text).group(1))
    rows = re.findall(r'<tr class="govuk-table__row">\s*<td', results.text)
    assert count > 100 and len(rows) == count
    assert "Children who need help" in results.text and "Accord does not keep these results" in results.text
    assert not re.search(r"\b[A-CEGHJ-PR-TW-Z]{2}\d{6}[A-D]\b", results.text)  # no NINO
    with hub.transaction() as session:
        decisions = list(session.scalars(select(DecisionRecord)))
    # one per dataset read: four of other bodies, and the council's own household list and cases
    assert len(decisions) == 6 and {d.officer for d in decisions} == {"Sam Officer"}
    assert all(d.allowed for d in decisions) and len({d.request_id for d in decisions}) == 1
    assert {d.client_id for d in decisions} == {issued.client_id}


def test_form_errors_and_refusals(site) -> None:  # noqa: ANN001
    client, issued, hub = site
    _sign_in(client, issued)
    form = client.get("/disadvantages")
    missing = client.post("/disadvantages/identify", data={"agreement": "", "min_factors": "9",
                                                           "csrf_token": _csrf(form)})
    assert missing.status_code == 400
    assert "Select the agreement you are asking under" in missing.text
    assert "Number of factors must be a whole number from 2 to 7" in missing.text
    with hub.transaction() as session:
        assert list(session.scalars(select(DecisionRecord))) == []

    add_agreement(hub, demo_spec("supporting-families-consulting"), status="consultation")
    form = client.get("/disadvantages")
    assert 'value="supporting-families-consulting"' in form.text
    refused = client.post("/disadvantages/identify", data={"agreement": "supporting-families-consulting",
                                                           "csrf_token": _csrf(form)})
    assert refused.status_code == 403 and "The request was refused" in refused.text
    assert "consultation" in refused.text and 'id="households"' not in refused.text
    with hub.transaction() as session:
        (decision,) = session.scalars(select(DecisionRecord))
    assert not decision.allowed and f"decision {decision.id}" in refused.text


def test_a_form_without_its_csrf_token_does_nothing(site) -> None:  # noqa: ANN001
    client, issued, hub = site
    _sign_in(client, issued)
    response = client.post("/disadvantages/identify", data={"agreement": AGREEMENT, "csrf_token": "forged"})
    assert response.status_code == 403 and "Your form was not sent" in response.text
    with hub.transaction() as session:
        assert list(session.scalars(select(DecisionRecord))) == []


def test_signing_out_revokes_the_token(site) -> None:  # noqa: ANN001
    client, issued, hub = site
    _sign_in(client, issued)
    cookie = client.cookies.get("accord_disadvantages")
    form = client.get("/disadvantages")
    response = client.post("/disadvantages/sign-out", data={"csrf_token": _csrf(form)}, follow_redirects=False)
    assert response.status_code == 303
    with hub.transaction() as session:
        tokens = list(session.scalars(select(Token).where(Token.client_id == issued.client_id)))
    assert tokens and all(t.revoked_at is not None for t in tokens)
    client.cookies.set("accord_disadvantages", cookie, path="/disadvantages")  # a copy of the old cookie
    assert "Sign in to find households" in client.get("/disadvantages").text
