"""Officers sign in to the pages as people: the development identity provider offers the registered
officers; the session is held on the server and the cookie carries no token; refusals are GOV.UK pages;
an officer takes an API token of their own, which acts for their body only."""

from __future__ import annotations

import hashlib
import re

import pytest
from accord_testing import add_officer, sign_in_officer
from sqlalchemy import delete, func, select
from web_support import Site

from accord.config import load_settings
from accord.errors import ConfigurationError
from accord.storage.models import DecisionRecord, Token
from accord.storage.tables.officers import OfficerSession, OfficerToken

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _csrf(html: str) -> str:
    return _CSRF.search(html).group(1)


def test_the_development_provider_offers_the_registered_officers(sqlite_site: Site) -> None:
    add_officer(sqlite_site.hub, "northshire-council", "oidc|pat", "data_sharing_officer", "auditor", name="Pat Jones")
    page = sqlite_site.client.get("/officer/sign-in")
    assert page.status_code == 200 and "development identity provider" in page.text
    assert "Pat Jones, Northshire" in page.text and "data sharing officer, auditor" in page.text


def test_signing_in_holds_the_session_on_the_server_and_the_cookie_carries_no_token(sqlite_site: Site) -> None:
    client, hub = sqlite_site.client, sqlite_site.hub
    officer = add_officer(hub, "northshire-council", "oidc|pat", name="Pat Jones")
    response = sign_in_officer(client, officer)
    assert response.status_code == 303 and response.headers["location"] == "/officer"
    cookies = [c for c in response.headers.get_list("set-cookie") if c.startswith("accord_officer=")]
    assert cookies and all("HttpOnly" in c and "SameSite=lax" in c for c in cookies)
    value = client.cookies.get("accord_officer", path="/officer")

    home = client.get("/officer")
    assert "Signed in as Pat Jones (northshire-council)" in home.text and f"officer:{officer['id']}" in home.text
    # The cookie is a random session id: the table holds only its hash, and it is no bearer token.
    with hub.transaction() as session:
        (row,) = session.scalars(select(OfficerSession))
        assert row.id_hash == hashlib.sha256(value.encode()).hexdigest() and row.officer_id == officer["id"]
        hashed = hashlib.sha256(value.encode()).hexdigest()
        assert session.get(Token, hashed) is None and session.get(OfficerToken, hashed) is None
    assert client.get("/v1/agreements", headers={"Authorization": f"Bearer {value}"}).status_code == 401

    # Deleting the server's row ends the session, whatever the browser still holds.
    with hub.transaction() as session:
        session.execute(delete(OfficerSession))
    assert "Sign in as an officer" in client.get("/officer").text


def test_signing_out_ends_the_session_on_the_server(sqlite_site: Site) -> None:
    client, hub = sqlite_site.client, sqlite_site.hub
    sign_in_officer(client, add_officer(hub, "northshire-council"))
    copied = client.cookies.get("accord_officer", path="/officer")
    home = client.get("/officer")
    assert client.post("/officer/sign-out", data={"csrf_token": _csrf(home.text)},
                       follow_redirects=False).status_code == 303
    client.cookies.set("accord_officer", copied, path="/officer")
    assert "Sign in as an officer" in client.get("/officer").text

    # Retention removes the ended session's row (and tokens past their expiry), as it does citizens'.
    from datetime import timedelta

    from accord.clock import utcnow
    from accord.services import retention

    officer = add_officer(hub, "northshire-council", "oidc|live", name="Still Signed In")
    sign_in_officer(client, officer)
    with hub.transaction() as session:
        assert session.scalar(select(func.count()).select_from(OfficerSession)) == 2
        assert retention.run(session, utcnow())["officer sessions"] == 1  # the ended one; the live one stays
    with hub.transaction() as session:
        assert retention.run(session, utcnow() + timedelta(days=2))["officer sessions"] == 1  # expired by then


def test_a_deactivated_officer_is_refused_and_their_session_ends(sqlite_site: Site) -> None:
    from accord.services import officers
    from accord.services.unit_of_work import Actor

    client, hub = sqlite_site.client, sqlite_site.hub
    add_officer(hub, "dwp", "oidc|still-here", name="Still Here")  # so the sign-in page still has its form
    officer = add_officer(hub, "northshire-council", "oidc|gone", name="Gone Away")
    sign_in_officer(client, officer)
    assert "Signed in as Gone Away" in client.get("/officer").text
    assert officers.deactivate(hub, Actor("", "operator:test", "r", is_admin=True), officer["id"]).ok
    assert "Sign in as an officer" in client.get("/officer").text  # the live session ended at once

    refused = sign_in_officer(client, officer)  # a form chosen before the officer was deactivated
    assert refused.status_code == 403 and "You cannot sign in" in refused.text
    assert "deactivated" in refused.text and "govuk-heading-l" in refused.text


def test_the_api_token_from_the_page_acts_for_the_officers_body_only(sqlite_site: Site) -> None:
    client, hub = sqlite_site.client, sqlite_site.hub
    officer = add_officer(hub, "northshire-council", "oidc|pat", name="Pat Jones")
    sign_in_officer(client, officer)
    home = client.get("/officer")
    shown = client.post("/officer/api-token", data={"csrf_token": _csrf(home.text)})
    assert shown.status_code == 200 and shown.headers["cache-control"] == "no-store"
    token = re.search(r'id="token"><code>([^<]+)</code>', shown.text).group(1)
    with hub.transaction() as session:
        assert session.get(OfficerToken, hashlib.sha256(token.encode()).hexdigest()).officer_id == officer["id"]

    asked = {"action": "dataset.read", "dataset": "dwp-benefits", "fields": ["nino", "postcode"],
             "purpose": "public_service_delivery:multiple_disadvantages"}
    response = client.post("/v1/decisions", json=asked, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    with hub.transaction() as session:
        (row,) = session.scalars(select(DecisionRecord))
    assert (row.body_id, row.officer) == ("northshire-council", f"officer:{officer['id']} (Pat Jones)")
    other = client.post("/v1/datasets", headers={"Authorization": f"Bearer {token}"}, json={
        "id": "dwp-more", "body_id": "dwp", "name": "x", "description": "x",
        "fields": [{"name": "a", "category": "attribute"}]})
    assert other.status_code == 403


def test_a_forged_sign_in_form_and_a_stranger_are_refused(sqlite_site: Site) -> None:
    client = sqlite_site.client
    add_officer(sqlite_site.hub, "dwp", "oidc|someone")
    forged = client.post("/officer/sign-in", data={"officer": "ofc-x", "csrf_token": "forged"})
    assert forged.status_code == 403 and "Your sign-in was not sent" in forged.text
    page = client.get("/officer/sign-in")
    unknown = client.post("/officer/sign-in", data={"officer": "ofc-nobody", "csrf_token": _csrf(page.text)})
    assert unknown.status_code == 400 and "Select the officer" in unknown.text
    assert client.cookies.get("accord_officer", path="/officer") is None


def test_production_refuses_the_officers_development_identity_provider(tmp_path) -> None:  # noqa: ANN001
    citizens = {"identity_provider": "oidc", "oidc_issuer": "https://id.example", "oidc_client_id": "c"}
    with pytest.raises(ConfigurationError, match="OFFICER_IDENTITY_PROVIDER"):
        load_settings(environment="production", secret_key="s" * 40, data_dir=tmp_path, **citizens)
    with pytest.raises(ConfigurationError, match="OFFICER_OIDC_ISSUER"):
        load_settings(officer_identity_provider="oidc", data_dir=tmp_path)
    settings = load_settings(environment="production", secret_key="s" * 40, data_dir=tmp_path, **citizens,
                             officer_identity_provider="oidc", officer_oidc_issuer="https://staff.example",
                             officer_oidc_client_id="accord-officers")
    assert settings.officer_identity_provider == "oidc"


def test_without_a_session_the_officer_pages_show_nothing_and_issue_nothing(sqlite_site: Site) -> None:
    client, hub = sqlite_site.client, sqlite_site.hub
    add_officer(hub, "dwp", "oidc|someone")
    start = client.get("/officer")
    assert "Sign in as an officer" in start.text and "Get an API token" not in start.text
    page = client.get("/officer/sign-in")
    taken = client.post("/officer/api-token", data={"csrf_token": _csrf(page.text)}, follow_redirects=False)
    assert taken.status_code == 303 and taken.headers["location"].startswith("/officer/sign-in")
    client.cookies.set("accord_officer", "not-a-session", path="/officer")
    assert "Sign in as an officer" in client.get("/officer").text
    with hub.transaction() as session:
        assert session.scalars(select(OfficerToken)).all() == []


def test_repeated_failed_sign_ins_lock_the_account_and_the_address_out(sqlite_site: Site, monkeypatch) -> None:
    from accord.services import officers, throttle
    from accord.services.unit_of_work import Actor

    client, hub = sqlite_site.client, sqlite_site.hub
    monkeypatch.setattr(hub, "settings", hub.settings.model_copy(
        update={"throttle_signin_failures_per_account": 3, "throttle_signin_failures_per_address": 5}))
    active = add_officer(hub, "northshire-council", "oidc|active", name="Still Here")
    gone = add_officer(hub, "northshire-council", "oidc|gone", name="Gone Away")
    assert officers.deactivate(hub, Actor("", "operator:test", "r", is_admin=True), gone["id"]).ok
    for _ in range(3):
        assert sign_in_officer(client, gone).status_code == 403
    locked = sign_in_officer(client, gone)
    assert locked.status_code == 429 and "too many failed sign-in attempts" in locked.text.lower()
    assert 0 < int(locked.headers["retry-after"]) <= hub.settings.throttle_failure_window_seconds

    # The same address fails twice more on another account, and then even a registered officer waits.
    other = add_officer(hub, "northshire-council", "oidc|other", name="Other Gone")
    assert officers.deactivate(hub, Actor("", "operator:test", "r", is_admin=True), other["id"]).ok
    assert [sign_in_officer(client, other).status_code for _ in range(2)] == [403, 403]
    assert sign_in_officer(client, active).status_code == 429

    throttle.reset(hub)  # accord throttle reset: the operator lifts the lockout
    assert sign_in_officer(client, active).status_code == 303
