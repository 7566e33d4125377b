""""Who used my data": development sign-in, only the person's own entries, embargo, sign-out."""

from __future__ import annotations

from accord.framework import Purpose

import re
from datetime import timedelta

import pytest
from web_support import Site

from accord.audit.log import AuditRecord, append
from accord.clock import utcnow
from accord.config import load_settings
from accord.errors import ConfigurationError
from accord.policy import AccessRequest
from accord_testing import decide_and_record

JORDAN, SAM, PRIYA = "JE123456A", "SS654321B", "PP112233C"
_TOKEN = re.compile(r'name="form_token" value="([^"]+)"')


def _token(html: str) -> str:
    found = _TOKEN.search(html)
    assert found, "the page has no form token"
    return found.group(1)


def _sign_in(site: Site, nino: str) -> None:
    page = site.client.get("/citizen/sign-in")
    assert page.status_code == 200
    response = site.client.post(
        "/citizen/sign-in", data={"person": nino, "form_token": _token(page.text)}, follow_redirects=False
    )
    assert response.status_code == 303 and response.headers["location"] == "/citizen"


def _decide(site: Site, body: str, purpose: str, fields: list[str], ninos: list[str], action="dataset.read") -> None:
    hub = site.hub
    request = AccessRequest(
        body_id=body,
        officer=f"case officer at {body}",
        action=action,
        dataset_id="dwp-benefits",
        purpose=Purpose.parse(purpose),
        fields=tuple(fields),
        subjects=tuple(hub.person_key("nino", n) for n in ninos),
    )
    with hub.transaction() as session:
        decide_and_record(session, request, now=utcnow(), request_id=f"req-{body}-{len(ninos)}")


@pytest.fixture
def logged(site: Site) -> Site:
    """Jordan and Sam in a Supporting Families request; Priya refused; a fraud lead about Jordan under embargo."""
    _decide(site, "northshire-council", "public_service_delivery:multiple_disadvantages",
            ["nino", "surname", "disability_indicator"], [JORDAN, SAM])
    _decide(site, "brightwatt-energy", "public_service_delivery:fuel_poverty",
            ["pension_credit_guarantee", "disability_indicator"], [PRIYA], action="eligibility.check")
    _decide(site, "northshire-council", "fraud", ["surname", "postcode"], [JORDAN], action="records.match")
    return site


def test_signed_out_visitors_get_the_start_page_and_no_data(logged: Site) -> None:
    page = logged.client.get("/citizen")
    assert page.status_code == 200
    assert "Sign in to see your record" in page.text
    assert "Northshire" not in page.text
    api = logged.client.get("/citizen/accesses.json")
    assert api.status_code == 401
    assert api.headers["content-type"] == "application/problem+json"


def test_a_person_sees_their_own_accesses_with_who_why_and_what(logged: Site) -> None:
    _sign_in(logged, SAM)
    page = logged.client.get("/citizen")
    assert page.status_code == 200
    assert "Signed in as Sam Sample" in page.text
    assert "Northshire County Council (fictional)" in page.text
    assert "case officer at northshire-council" in page.text
    assert "Identifying and supporting individuals or households who face multiple disadvantages" in page.text
    assert 'href="/register/agreements/supporting-families-northshire"' in page.text
    # only the fields actually shared: the special-category field was minimised away
    assert "National Insurance number, surname" in page.text and "disability indicator" not in page.text
    data = logged.client.get("/citizen/accesses.json").json()
    assert data["count"] == 1
    [entry] = data["accesses"]
    assert entry["body_id"] == "northshire-council" and entry["shared"] is True
    assert entry["fields"] == ["nino", "surname"]


def test_refused_requests_are_shown_as_refused(logged: Site) -> None:
    _sign_in(logged, PRIYA)
    data = logged.client.get("/citizen/accesses.json").json()
    assert [(e["body_id"], e["outcome"]) for e in data["accesses"]] == [("brightwatt-energy", "deny")]
    assert "Nothing was shared" in logged.client.get("/citizen").text


def test_nobody_sees_anyone_elses_entries_and_embargoed_leads_stay_hidden(logged: Site) -> None:
    _sign_in(logged, JORDAN)
    data = logged.client.get("/citizen/accesses.json").json()
    # Jordan is in the Supporting Families request and the fraud lead; the lead is under a 3-month embargo
    assert [e["purpose"] for e in data["accesses"]] == ["public_service_delivery:multiple_disadvantages"]
    page = logged.client.get("/citizen").text
    assert "Fraud" not in page and "Brightwatt" not in page


def test_an_entry_appears_once_its_embargo_has_ended(logged: Site) -> None:
    hub = logged.hub
    past = utcnow() - timedelta(days=200)
    with hub.transaction() as session:
        append(session, AuditRecord(
            kind="access.decision", occurred_at=past, outcome="allow", body_id="northshire-council",
            purpose="fraud", agreement_id="spd-fraud-pilot", action="records.match",
            subjects=(hub.person_key("nino", JORDAN),), fields=("surname",),
            embargo_until=past + timedelta(days=90),
        ))
    _sign_in(logged, JORDAN)
    purposes = [e["purpose"] for e in logged.client.get("/citizen/accesses.json").json()["accesses"]]
    assert purposes == ["public_service_delivery:multiple_disadvantages", "fraud"]


def test_sign_in_needs_a_choice_and_a_genuine_form(logged: Site) -> None:
    page = logged.client.get("/citizen/sign-in")
    missing = logged.client.post("/citizen/sign-in", data={"person": "", "form_token": _token(page.text)})
    assert missing.status_code == 400 and "Select the person" in missing.text
    forged = logged.client.post("/citizen/sign-in", data={"person": JORDAN, "form_token": "not-the-token"})
    assert forged.status_code == 403
    assert logged.client.get("/citizen/accesses.json").status_code == 401


def test_sign_out_ends_the_session(logged: Site) -> None:
    _sign_in(logged, SAM)
    page = logged.client.get("/citizen")
    response = logged.client.post("/citizen/sign-out", data={"form_token": _token(page.text)}, follow_redirects=False)
    assert response.status_code == 303
    assert logged.client.get("/citizen/accesses.json").status_code == 401


def test_the_session_cookie_is_scoped_and_signed(logged: Site) -> None:
    _sign_in(logged, SAM)
    cookie = next(c for c in logged.client.cookies.jar if c.name == "accord_citizen")
    assert cookie.path == "/citizen"
    assert SAM not in cookie.value  # only the pseudonymous key is held, and the cookie is signed
    logged.client.cookies.set("accord_citizen", cookie.value[:-4] + "AAAA", path="/citizen")
    assert logged.client.get("/citizen/accesses.json").status_code == 401


def test_production_refuses_the_development_identity_provider(tmp_path) -> None:  # noqa: ANN001
    with pytest.raises(ConfigurationError, match="IDENTITY_PROVIDER"):
        load_settings(environment="production", secret_key="s" * 40, data_dir=tmp_path)
    with pytest.raises(ConfigurationError, match="OIDC_ISSUER"):
        load_settings(identity_provider="oidc", data_dir=tmp_path)


def test_the_development_provider_offers_the_demos_synthetic_people_when_present(tmp_path) -> None:  # noqa: ANN001
    from accord.services import citizens

    bundled = [p.name for p in citizens.demo_citizens(tmp_path)]
    assert bundled == ["Jordan Example", "Sam Sample", "Priya Placeholder"]
    (tmp_path / citizens.CITIZENS_FILE).write_text('[{"name": "Ada Synth", "nino": "AB123456C"}]')
    assert citizens.demo_citizens(tmp_path) == [citizens.DemoCitizen(name="Ada Synth", nino="AB123456C")]


def test_a_refused_fraud_request_is_embargoed_like_an_allowed_one(logged: Site) -> None:
    # Too many records for the fraud pilot, and a field it does not disclose: both refused.
    _decide(logged, "northshire-council", "fraud", ["surname", "nino"], [SAM] * 1, action="records.match")
    hub = logged.hub
    request = AccessRequest(
        body_id="northshire-council", officer="o", action="records.match", dataset_id="dwp-benefits",
        purpose=Purpose.parse("fraud"), fields=("surname",), records=5000, subjects=(hub.person_key("nino", SAM),),
    )
    with hub.transaction() as session:
        decision, _ = decide_and_record(session, request, now=utcnow(), request_id="too-many")
    assert not decision.allowed
    _sign_in(logged, SAM)
    purposes = [e["purpose"] for e in logged.client.get("/citizen/accesses.json").json()["accesses"]]
    assert "fraud" not in purposes  # neither refusal tips Sam off while the pilot's embargo lasts


def test_signing_out_ends_the_session_even_for_a_copied_cookie(logged: Site) -> None:
    _sign_in(logged, SAM)
    copied = next(c for c in logged.client.cookies.jar if c.name == "accord_citizen").value
    page = logged.client.get("/citizen")
    assert logged.client.post("/citizen/sign-out", data={"form_token": _token(page.text)}).status_code in (200, 303)
    logged.client.cookies.set("accord_citizen", copied, path="/citizen")
    assert logged.client.get("/citizen/accesses.json").status_code == 401
