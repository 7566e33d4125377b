"""POST /v1/share-codes/redeem over HTTP (in process): answers, problems, limits and the audit trail."""

from __future__ import annotations

import pytest
from sharecodes_support import HIRE, PROBLEM, Driver, client, make, sign_in

from accord.clock import utcnow
from accord.registry.credentials import create_client
from accord.runtime import Hub
from accord.services import sharecodes

URL = "/v1/share-codes/redeem"


@pytest.fixture
def web(dvla_hub: Hub):  # noqa: ANN201
    return client(dvla_hub)


def _headers(web, hub: Hub, body_id: str = HIRE, officer: str | None = "hire desk 4") -> dict:  # noqa: ANN001
    with hub.transaction() as session:
        issued = create_client(session, body_id, utcnow(), label="test")
    token = web.post("/oauth/token", data={"grant_type": "client_credentials"},
                     auth=(issued.client_id, issued.client_secret)).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    if officer:
        headers["X-Accord-Officer"] = officer
    return headers


def _problem(response, status: int) -> dict:  # noqa: ANN001
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status and " " in body["detail"]
    return body


def test_a_hire_company_sees_only_what_the_driver_chose(dvla_hub: Hub, drivers: list[Driver], web) -> None:  # noqa: ANN001
    driver = drivers[0]
    made = make(dvla_hub, driver, ["penalty_points", "licence_status"], multiple_use=True)
    response = web.post(URL, json={"code": made.display, "licence_suffix": driver.suffix}, headers=_headers(web, dvla_hub))
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"consent_id", "purpose", "items", "driving_licence", "checked_at", "code_expires_at",
                         "multiple_use", "request_id"}
    assert body["driving_licence"] == {
        "licence_status": body["driving_licence"]["licence_status"],
        "penalty_points": int(driver.row["penalty_points"]),
    }
    assert body["driving_licence"]["licence_status"] in ("valid", "expired")
    assert body["items"] == ["licence_status", "penalty_points"]
    assert body["consent_id"] == made.consent_id and body["multiple_use"] is True
    assert body["request_id"] == response.headers["x-request-id"]
    for secret in (driver.licence, driver.nino, driver.row["surname"], driver.row["record_id"]):
        assert secret not in response.text


def test_unknown_code_and_wrong_licence_are_indistinguishable(dvla_hub: Hub, drivers: list[Driver], web) -> None:  # noqa: ANN001
    made = make(dvla_hub, drivers[0], ["penalty_points"])
    headers = _headers(web, dvla_hub)
    unknown = _problem(web.post(URL, json={"code": "ACDEFGHJ", "licence_suffix": drivers[0].suffix}, headers=headers), 404)
    wrong = _problem(web.post(URL, json={"code": made.code, "licence_suffix": drivers[1].suffix}, headers=headers), 404)
    for body in (unknown, wrong):
        body.pop("request_id")
    assert unknown == wrong


@pytest.mark.parametrize("state, words", [("used", "already been used"), ("withdrawn", "withdrawn"), ("expired", "expired")])
def test_used_withdrawn_and_expired_codes_are_gone(dvla_hub: Hub, drivers: list[Driver], web, state, words) -> None:  # noqa: ANN001
    from datetime import timedelta

    from sharecodes_support import key

    driver = drivers[1]
    made = make(dvla_hub, driver, ["penalty_points"], now=utcnow() - timedelta(days=22 if state == "expired" else 0))
    headers = _headers(web, dvla_hub)
    if state == "used":
        assert web.post(URL, json={"code": made.code, "licence_suffix": driver.suffix}, headers=headers).status_code == 200
    if state == "withdrawn":
        sharecodes.withdraw(dvla_hub, key(dvla_hub, driver), made.share_code_id)
    body = _problem(web.post(URL, json={"code": made.code, "licence_suffix": driver.suffix}, headers=headers), 410)
    assert words in body["detail"] and body["title"] == "Gone"


def test_repeated_wrong_guesses_get_429_with_retry_after(dvla_hub: Hub, drivers: list[Driver], web) -> None:  # noqa: ANN001
    headers = _headers(web, dvla_hub)
    for _ in range(dvla_hub.settings.share_code_failures_per_body):
        _problem(web.post(URL, json={"code": sharecodes.new_code(), "licence_suffix": "ABCD1234"}, headers=headers), 404)
    response = web.post(URL, json={"code": sharecodes.new_code(), "licence_suffix": "ABCD1234"}, headers=headers)
    _problem(response, 429)
    assert 0 < int(response.headers["retry-after"]) <= 3600


def test_bad_requests_are_problems_not_guesses(dvla_hub: Hub, drivers: list[Driver], web) -> None:  # noqa: ANN001
    headers = _headers(web, dvla_hub)
    _problem(web.post(URL, json={"code": "ACDEFGHJ", "licence_suffix": drivers[0].suffix}), 401)
    assert "last 8 characters" in _problem(web.post(URL, json={"code": "ACDEFGHJ", "licence_suffix": "AB"}, headers=headers),
                                           422)["detail"]
    _problem(web.post(URL, json={"code": "ACDEFGHJ"}, headers=headers), 422)
    _problem(web.post(URL, json={"code": "A" * 21, "licence_suffix": "ABCD1234"}, headers=headers), 422)
    _problem(web.post(URL, json={"code": "ACDEFGHJ", "licence_suffix": "ABCD1234", "extra": 1}, headers=headers), 422)
    _problem(web.post(URL, content=b"{not json", headers={**headers, "content-type": "application/json"}), 400)
    _problem(web.post(URL, json={"code": "ACDE\u0000FGH", "licence_suffix": "ABCD1234"}, headers=headers), 404)


def test_the_driver_sees_the_redemption_on_their_page(dvla_hub: Hub, drivers: list[Driver], web) -> None:  # noqa: ANN001
    driver = drivers[2]
    made = make(dvla_hub, driver, ["name"])
    headers = _headers(web, dvla_hub, officer="Sam at the airport desk")  # a typed name: ignored
    web.post(URL, json={"code": made.code, "licence_suffix": drivers[0].suffix}, headers=headers)  # a slip
    assert web.post(URL, json={"code": made.code, "licence_suffix": driver.suffix}, headers=headers).status_code == 200
    sign_in(web, driver)
    data = web.get("/citizen/accesses.json").json()
    mine = [e for e in data["accesses"] if e["kind"] == "sharecode.redemption"]
    assert [(e["outcome"], e["body_id"], e["actor"].split(":")[0]) for e in mine] == [
        ("allow", HIRE, "system"),  # the system whose token it was, not the typed name
        ("deny", HIRE, "system"),
    ]
    page = web.get("/citizen").text
    assert "Swiftwheels Van and Car Hire Ltd (fictional)" in page
    assert "Prove my driving record to a vehicle hire company" in page
    assert 'href="/citizen/share-codes"' in page


def test_the_endpoint_is_in_the_openapi_document_with_its_problems(web) -> None:  # noqa: ANN001
    operation = web.get("/openapi.json").json()["paths"][URL]["post"]
    assert {"200", "401", "404", "410", "422", "429"} <= set(operation["responses"])
    assert "Retry-After" in operation["responses"]["429"]["headers"]
