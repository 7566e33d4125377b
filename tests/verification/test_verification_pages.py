"""The officer's page: sign in as a registered officer, check one applicant, see only the grade."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select
from accord_testing import add_officer, sign_in_officer
from verification_support import AGREEMENT, ERO, Client, Person

from accord.clock import utcnow
from accord.registry import agreements, lifecycle
from accord.storage.models import DecisionRecord

OFFICER_NAME = "Pat Jones"


def _token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html)[1]


def _sign_in(api: Client, *roles: str, body: str = ERO) -> str:
    """Signs in as an officer of the Electoral Registration Officer's body; returns the check page."""
    officer = add_officer(api.hub, body, None, *roles, name=OFFICER_NAME)
    response = sign_in_officer(api.http, officer, "/verification")
    assert response.status_code == 303 and response.headers["location"] == "/verification", response.text
    return api.http.get("/verification").text


def _form(person: Person, html: str, **changes: str) -> dict:
    return _form_with(person, changes.pop("csrf_token", None) or _token(html), **changes)


def _form_with(person: Person, csrf_token: str, **changes: str) -> dict:
    data = {"csrf_token": csrf_token, "agreement": AGREEMENT, "reference": "APP-77",
            "first_name": person.first_name, "surname": person.surname, "dob-day": str(person.dob.day),
            "dob-month": str(person.dob.month), "dob-year": str(person.dob.year), "postcode": person.postcode,
            "nino": person.nino}
    data.update(changes)
    return data


def test_the_page_asks_an_officer_to_sign_in_as_themselves(sqlite_api: Client) -> None:
    page = sqlite_api.http.get("/verification")
    assert page.status_code == 200
    assert "Sign in to check applicants" in page.text and "/officer/sign-in?next=/verification" in page.text
    assert 'name="client_secret"' not in page.text  # no API credentials, no typed name


def test_an_officer_whose_roles_lack_the_right_is_refused_with_a_gov_uk_page(sqlite_api: Client,
                                                                           people: list[Person]) -> None:
    page = _sign_in(sqlite_api, "auditor")
    assert "You cannot use this service" in page and "body.act" in page
    nonce = "n" * 43  # a well-formed form token, as a page would have set: the refusal is the role's
    sqlite_api.http.cookies.set("accord_verification_csrf", nonce, path="/verification")
    token = sqlite_api.http.app.state.csrf.token_for(nonce)
    check = sqlite_api.http.post("/verification/check", data=_form_with(people[12], token))
    assert check.status_code == 403 and "You cannot use this service" in check.text
    with sqlite_api.hub.transaction() as session:
        assert session.scalars(select(DecisionRecord)).all() == []


def test_an_officer_of_another_body_cannot_check_under_this_bodys_agreement(sqlite_api: Client,
                                                                          people: list[Person]) -> None:
    page = _sign_in(sqlite_api, body="dwp")
    assert "(dwp)" in page and f'value="{AGREEMENT}"' not in page
    result = sqlite_api.http.post("/verification/check", data=_form(people[12], page))
    assert result.status_code == 400 and "Select the agreement" in result.text
    with sqlite_api.hub.transaction() as session:
        assert session.scalars(select(DecisionRecord)).all() == []


def test_an_officer_checks_an_applicant_and_sees_only_the_grade(sqlite_api: Client, people: list[Person]) -> None:
    person = people[12]
    page = _sign_in(sqlite_api)
    assert f"Signed in as {OFFICER_NAME} ({ERO})" in page and f'value="{AGREEMENT}"' in page
    result = sqlite_api.http.post("/verification/check", data=_form(person, page))
    assert result.status_code == 200, result.text
    assert "The details match" in result.text and "Grade: match" in result.text
    assert "National Insurance number, first name, surname, date of birth, postcode" in result.text
    for value in person.values():
        assert value not in result.text
    with sqlite_api.hub.transaction() as session:
        record = session.scalars(select(DecisionRecord)).one()
        assert record.officer.startswith("officer:ofc-") and record.officer.endswith(f"({OFFICER_NAME})")
        assert (record.body_id, record.allowed, record.client_id) == (ERO, True, None)


def test_a_partial_result_asks_for_evidence(sqlite_api: Client, people: list[Person]) -> None:
    person = people[13]
    page = _sign_in(sqlite_api)
    result = sqlite_api.http.post("/verification/check",
                                  data=_form(person, page, nino="", surname="Quillfeather", postcode=people[14].postcode))
    assert "Some details match" in result.text and "Ask the applicant for evidence" in result.text


@pytest.mark.parametrize(
    "changes,field,message",
    [
        ({"first_name": ""}, "first_name", "Enter the applicant&#39;s first name"),
        ({"dob-day": "31", "dob-month": "2"}, "dob", "Date of birth must be a real date"),
        ({"postcode": "NOWHERE"}, "postcode", "Not a valid UK postcode"),
        ({"nino": "AB12"}, "nino", "Not a valid National Insurance number"),
        ({"agreement": "someone-elses"}, "agreement", "Select the agreement"),
    ],
)
def test_form_errors_link_to_their_field_and_nothing_is_recorded(
    sqlite_api: Client, people: list[Person], changes: dict, field: str, message: str
) -> None:
    page = _sign_in(sqlite_api)
    result = sqlite_api.http.post("/verification/check", data=_form(people[15], page, **changes))
    assert result.status_code == 400
    href = "#dob-day" if field == "dob" else f"#{field}"
    assert f'href="{href}"' in result.text and message in result.text
    with sqlite_api.hub.transaction() as session:
        assert session.scalars(select(DecisionRecord)).all() == []


def test_a_check_without_the_form_token_is_refused(sqlite_api: Client, people: list[Person]) -> None:
    page = _sign_in(sqlite_api)
    result = sqlite_api.http.post("/verification/check", data=_form(people[16], page, csrf_token="forged"))
    assert result.status_code == 403
    with sqlite_api.hub.transaction() as session:
        assert session.scalars(select(DecisionRecord)).all() == []


def test_a_refused_check_shows_the_recorded_reasons(sqlite_api: Client, people: list[Person]) -> None:
    page = _sign_in(sqlite_api)
    with sqlite_api.hub.transaction() as session:
        agreement = agreements.get_agreement(session, AGREEMENT)
        lifecycle.transition(session, sqlite_api.hub.framework, agreement, "suspended", actor="t",
                             now=utcnow() + timedelta(seconds=1), reason="review")
    result = sqlite_api.http.post("/verification/check", data=_form(people[17], page))
    assert "Check refused" in result.text and "is suspended, not active" in result.text


def test_signing_out_ends_the_session_even_for_a_copied_cookie(sqlite_api: Client) -> None:
    page = _sign_in(sqlite_api)
    copied = sqlite_api.http.cookies.get("accord_officer", path="/verification")
    assert copied
    out = sqlite_api.http.post("/verification/sign-out", data={"csrf_token": _token(page)}, follow_redirects=False)
    assert out.status_code == 303
    sqlite_api.http.cookies.set("accord_officer", copied, path="/verification")
    assert "Sign in to check applicants" in sqlite_api.http.get("/verification").text
