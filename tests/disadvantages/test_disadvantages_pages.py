"""The council officer's pages: sign in as a registered officer, find households, sign out."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from accord_testing import add_agreement, add_officer, sign_in_officer
from disadvantages_support import AGREEMENT, COUNCIL, demo_spec, prepare
from fastapi.testclient import TestClient
from sqlalchemy import select

from accord.app import create_app
from accord.runtime import Hub
from accord.storage.models import DecisionRecord
from accord.storage.tables.officers import OfficerSession

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _csrf(page) -> str:  # noqa: ANN001
    return _CSRF.search(page.text).group(1)


@pytest.fixture
def site(sqlite_hub: Hub, synth: Path) -> tuple[TestClient, dict, Hub]:
    prepare(sqlite_hub, synth)
    officer = add_officer(sqlite_hub, COUNCIL, "oidc|sam", name="Sam Officer")
    return TestClient(create_app(hub=sqlite_hub), raise_server_exceptions=False), officer, sqlite_hub


def _sign_in(client: TestClient, officer: dict) -> None:
    response = sign_in_officer(client, officer, "/disadvantages")
    assert response.status_code == 303 and response.headers["location"] == "/disadvantages"
    cookies = response.headers.get_list("set-cookie")
    session = [c for c in cookies if c.startswith("accord_officer=")]
    assert {c.split("Path=")[1].split(";")[0] for c in session} == {"/officer", "/verification", "/disadvantages"}
    assert all("HttpOnly" in c and "samesite=lax" in c.lower() for c in session)


def test_signed_out_officers_see_only_the_sign_in_form(site) -> None:  # noqa: ANN001
    client, _officer, hub = site
    page = client.get("/disadvantages")
    assert page.status_code == 200 and "Sign in to find households" in page.text
    assert "Find households" not in page.text and "/officer/sign-in?next=/disadvantages" in page.text
    nonce = client.cookies.get("accord_disadvantages_csrf")  # a well-formed form, from a signed-out browser
    refused = client.post("/disadvantages/identify", data={
        "agreement": AGREEMENT, "csrf_token": client.app.state.csrf.token_for(nonce)}, follow_redirects=False)
    assert refused.status_code == 303  # back to sign in; nothing looked up
    with hub.transaction() as session:
        assert list(session.scalars(select(DecisionRecord))) == []


def test_an_officer_of_another_body_sees_only_their_own_agreements(site) -> None:  # noqa: ANN001
    client, _officer, hub = site
    _sign_in(client, add_officer(hub, "dwp", name="Dee Dwp"))
    form = client.get("/disadvantages")
    assert "Signed in as Dee Dwp (dwp)" in form.text and f'value="{AGREEMENT}"' not in form.text
    refused = client.post("/disadvantages/identify", data={"agreement": AGREEMENT, "csrf_token": _csrf(form)})
    assert refused.status_code == 400 and "Select the agreement you are asking under" in refused.text
    with hub.transaction() as session:
        assert list(session.scalars(select(DecisionRecord))) == []


def test_an_officer_finds_households_and_the_request_is_recorded(site) -> None:  # noqa: ANN001
    client, officer, hub = site
    _sign_in(client, officer)
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
    assert len(decisions) == 6 and {d.officer for d in decisions} == {f"officer:{officer['id']} (Sam Officer)"}
    assert all(d.allowed for d in decisions) and len({d.request_id for d in decisions}) == 1
    assert {d.client_id for d in decisions} == {None}


def test_form_errors_and_refusals(site) -> None:  # noqa: ANN001
    client, officer, hub = site
    _sign_in(client, officer)
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
    client, officer, hub = site
    _sign_in(client, officer)
    response = client.post("/disadvantages/identify", data={"agreement": AGREEMENT, "csrf_token": "forged"})
    assert response.status_code == 403 and "Your form was not sent" in response.text
    with hub.transaction() as session:
        assert list(session.scalars(select(DecisionRecord))) == []


def test_signing_out_ends_the_session_on_the_server(site) -> None:  # noqa: ANN001
    client, officer, hub = site
    _sign_in(client, officer)
    cookie = client.cookies.get("accord_officer", path="/disadvantages")
    form = client.get("/disadvantages")
    response = client.post("/disadvantages/sign-out", data={"csrf_token": _csrf(form)}, follow_redirects=False)
    assert response.status_code == 303
    with hub.transaction() as session:
        (row,) = session.scalars(select(OfficerSession))
    assert row.ended_at is not None
    client.cookies.set("accord_officer", cookie, path="/disadvantages")  # a copy of the old cookie
    assert "Sign in to find households" in client.get("/disadvantages").text
