"""The pages through TestClient: a signed-in driver creates, lists and withdraws codes and
downloads a receipt; a hire company checks a code anonymously. Forged posts change nothing."""

from __future__ import annotations

import re

import pytest
from sharecodes_support import Driver, client, csrf_token, form_token, key, make, sign_in
from sqlalchemy import func, select

from accord.runtime import Hub
from accord.services import sharecodes
from accord.storage.tables.sharecodes import ShareCode

_SHOWN_CODE = re.compile(r'data-share-code="([A-Z0-9]{8})"')


@pytest.fixture
def web(dvla_hub: Hub):  # noqa: ANN201
    return client(dvla_hub)


def _codes(hub: Hub) -> int:
    with hub.transaction() as session:
        return session.scalar(select(func.count()).select_from(ShareCode))


def _create(web, driver: Driver, **fields):  # noqa: ANN001, ANN003, ANN202
    page = web.get("/citizen/share-codes/new")
    assert page.status_code == 200
    data = {"licence_number": driver.licence, "postcode": driver.postcode, "purpose": "vehicle_hire",
            "items": ["penalty_points", "name"], "use": "single", "days": "", "form_token": form_token(page.text)}
    data.update(fields)
    return web.post("/citizen/share-codes/new", data=data)


def test_signed_out_people_are_sent_to_sign_in(web) -> None:  # noqa: ANN001
    for path in ("/citizen/share-codes", "/citizen/share-codes/new"):
        response = web.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/citizen/sign-in"
    receipt = web.get("/citizen/share-codes/sc_x/receipt.json")
    assert receipt.status_code == 401 and receipt.headers["content-type"] == "application/problem+json"


def test_a_driver_creates_a_code_and_sees_it_once(dvla_hub: Hub, drivers: list[Driver], web) -> None:  # noqa: ANN001
    driver = drivers[0]
    sign_in(web, driver)
    form = web.get("/citizen/share-codes/new").text
    for label in ("Driving licence number", "Penalty points", "Licence status", "Once", "More than once"):
        assert label in form
    assert "Vehicles you can drive" not in form  # DVLA's synthetic extract cannot answer it
    created = _create(web, driver)
    assert created.status_code == 200, created.text
    assert created.headers["cache-control"] == "no-store"
    [code] = _SHOWN_CODE.findall(created.text)
    assert sharecodes.display_code(code) in created.text
    # the code works, for exactly what was chosen
    found = sharecodes.redeem(dvla_hub, code, driver.suffix, sharecodes.Redeemer.body("swiftwheels-hire"),
                              request_id="page-made")
    assert list(found.shared) == ["penalty_points", "name"]
    # the list shows it used, without the code
    listing = web.get("/citizen/share-codes").text
    assert "Used" in listing and "Penalty points, Name" in listing
    assert code not in listing and sharecodes.display_code(code) not in listing


def test_form_errors_are_shown_beside_each_field(dvla_hub: Hub, drivers: list[Driver], web) -> None:  # noqa: ANN001
    sign_in(web, drivers[0])
    response = _create(web, drivers[0], licence_number="", postcode="", purpose="", items=[], use="sometimes", days="400")
    assert response.status_code == 400
    for message in ("Enter your driving licence number", "Enter the postcode on your driving licence",
                    "Select why you are sharing", "Select the information you want to share",
                    "Select whether the code can be used once", "Number of days must be a whole number from 1 to 90"):
        assert message in response.text
    assert 'href="#licence_number"' in response.text  # the error summary links to the field
    wrong = _create(web, drivers[0], postcode=drivers[1].postcode)
    assert wrong.status_code == 400 and "You can only share your own driving licence" in wrong.text
    assert _codes(dvla_hub) == 0


def test_forged_or_stale_posts_create_and_withdraw_nothing(dvla_hub: Hub, drivers: list[Driver], web) -> None:  # noqa: ANN001
    driver = drivers[0]
    sign_in(web, driver)
    forged = _create(web, driver, form_token="forged")
    assert forged.status_code == 403 and "nothing was changed" in forged.text
    assert _codes(dvla_hub) == 0
    made = make(dvla_hub, driver, ["penalty_points"])
    refused = web.post(f"/citizen/share-codes/{made.share_code_id}/withdraw", data={"form_token": "forged"})
    assert refused.status_code == 403
    assert sharecodes.my_codes(dvla_hub, key(dvla_hub, driver))[0]["status"] == "active"


def test_a_driver_withdraws_a_code_and_downloads_the_receipt(dvla_hub: Hub, drivers: list[Driver], web) -> None:  # noqa: ANN001
    driver = drivers[1]
    made = make(dvla_hub, driver, ["licence_status", "address"], multiple_use=True)
    sign_in(web, driver)
    listing = web.get("/citizen/share-codes")
    assert "Active" in listing.text and "Withdraw" in listing.text
    withdrawn = web.post(f"/citizen/share-codes/{made.share_code_id}/withdraw",
                         data={"form_token": form_token(listing.text)}, follow_redirects=False)
    assert withdrawn.status_code == 303
    after = web.get(withdrawn.headers["location"]).text
    assert "Share code withdrawn" in after and "Withdrawn" in after
    receipt = web.get(f"/citizen/share-codes/{made.share_code_id}/receipt.json")
    assert receipt.status_code == 200
    assert receipt.headers["content-disposition"] == f'attachment; filename="consent-receipt-{made.receipt_id}.json"'
    body = receipt.json()
    assert body["receipt_header"]["receipt_id"] == made.receipt_id
    assert body["consent_state"]["state"] == "withdrawn"
    assert [e["event"] for e in body["events"]] == ["given", "withdrawn"]


def test_nobody_reaches_another_drivers_codes(dvla_hub: Hub, drivers: list[Driver], web) -> None:  # noqa: ANN001
    theirs = make(dvla_hub, drivers[0], ["penalty_points"])
    sign_in(web, drivers[1])
    assert web.get(f"/citizen/share-codes/{theirs.share_code_id}/receipt.json").status_code == 404
    token = form_token(web.get("/citizen/share-codes/new").text)
    assert web.post(f"/citizen/share-codes/{theirs.share_code_id}/withdraw", data={"form_token": token}).status_code == 404
    assert sharecodes.my_codes(dvla_hub, key(dvla_hub, drivers[0]))[0]["status"] == "active"
    assert "penalty" not in web.get("/citizen/share-codes").text.lower()


def _check(web, **fields):  # noqa: ANN001, ANN003, ANN202
    page = web.get("/check-driving-licence")
    assert page.status_code == 200
    data = {"organisation": "Acme Van Hire", "csrf_token": csrf_token(page.text), **fields}
    return web.post("/check-driving-licence", data=data)


def test_a_hire_company_checks_a_code_on_the_page(dvla_hub: Hub, drivers: list[Driver], web) -> None:  # noqa: ANN001
    driver = drivers[2]
    made = make(dvla_hub, driver, ["penalty_points", "date_of_birth"])
    result = _check(web, code=made.display.lower(), licence_suffix=driver.suffix)
    assert result.status_code == 200, result.text
    assert "Penalty points" in result.text and "Date of birth" in result.text
    born = driver.row["date_of_birth"]
    assert f"{born.day} {born:%B %Y}" in result.text
    for absent in ("Licence status", "Address", driver.row["surname"], driver.licence):
        assert absent not in result.text
    # the driver sees who checked, by the name they gave, marked as not verified
    sign_in(web, driver)
    page = web.get("/citizen").text
    assert "Someone using the online licence check" in page
    assert "Acme Van Hire (name given by the checker, not verified)" in page


def test_the_check_page_refuses_alike_and_limits_guesses(dvla_hub: Hub, drivers: list[Driver], web) -> None:  # noqa: ANN001
    made = make(dvla_hub, drivers[0], ["penalty_points"])
    unknown = _check(web, code="ACDEFGHJ", licence_suffix=drivers[0].suffix)
    wrong = _check(web, code=made.code, licence_suffix=drivers[1].suffix)
    assert unknown.status_code == wrong.status_code == 404
    assert sharecodes.REFUSED[1:] in unknown.text and sharecodes.REFUSED[1:] in wrong.text
    for _ in range(dvla_hub.settings.share_code_failures_per_address - 2):
        _check(web, code="ACDEFGHJ", licence_suffix="ABCD1234")
    limited = _check(web, code=made.code, licence_suffix=drivers[0].suffix)
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0
    assert "Too many wrong share codes" in limited.text


def test_the_check_form_needs_its_fields_and_its_token(dvla_hub: Hub, drivers: list[Driver], web) -> None:  # noqa: ANN001
    made = make(dvla_hub, drivers[0], ["penalty_points"])
    empty = _check(web, organisation="", code="", licence_suffix="")
    assert empty.status_code == 400
    for message in ("Enter the name of your organisation", "Enter the share code",
                    "Enter the last 8 characters of the driving licence number"):
        assert message in empty.text
    forged = web.post("/check-driving-licence", data={"organisation": "X", "code": made.code,
                                                      "licence_suffix": drivers[0].suffix, "csrf_token": "0" * 64})
    assert forged.status_code == 403 and "nothing was checked" in forged.text
    assert sharecodes.my_codes(dvla_hub, key(dvla_hub, drivers[0]))[0]["uses"] == 0


def test_a_signed_in_driver_cannot_create_a_code_for_someone_elses_licence(
    dvla_hub: Hub, drivers: list[Driver], web  # noqa: ANN001
) -> None:
    holder, other = drivers[0], drivers[1]
    sign_in(web, other)
    theirs = _create(web, other, licence_number=holder.licence, postcode=holder.postcode)  # known, but not theirs
    assert theirs.status_code == 400
    # a GOV.UK error: only your own licence can be shared; it does not say whose this one is
    assert "There is a problem" in theirs.text and 'href="#licence_number"' in theirs.text
    assert ("You can only share your own driving licence: the licence number and postcode you entered do not "
            "match a licence held in your name") in theirs.text
    for telling in (holder.name, holder.identity[0], holder.identity[1]):
        assert telling not in theirs.text
    assert not _SHOWN_CODE.findall(theirs.text)
    assert _codes(dvla_hub) == 0
    assert "penalty" not in web.get("/citizen/share-codes").text.lower()
    own = _create(web, other)
    assert own.status_code == 200 and len(_SHOWN_CODE.findall(own.text)) == 1
    assert [c["status"] for c in sharecodes.my_codes(dvla_hub, key(dvla_hub, other))] == ["active"]
    assert sharecodes.my_codes(dvla_hub, key(dvla_hub, holder)) == []


def test_each_redemption_shows_on_the_holders_page_and_on_no_one_elses(
    dvla_hub: Hub, drivers: list[Driver]
) -> None:
    """A code made on the page by its holder and redeemed over the API by a hire company: the holder's
    "who used my data" lists the redemption; another signed-in driver's does not."""
    from accord.clock import utcnow
    from accord.registry.credentials import create_client

    holder, other = drivers[0], drivers[1]
    holders_browser, others_browser = client(dvla_hub), client(dvla_hub)
    sign_in(holders_browser, holder)
    sign_in(others_browser, other)
    [code] = _SHOWN_CODE.findall(_create(holders_browser, holder, items=["penalty_points"]).text)
    with dvla_hub.transaction() as session:
        issued = create_client(session, "swiftwheels-hire", utcnow(), label="test")
    token = holders_browser.post("/oauth/token", data={"grant_type": "client_credentials"},
                                 auth=(issued.client_id, issued.client_secret)).json()["access_token"]
    redeemed = client(dvla_hub).post(
        "/v1/share-codes/redeem", json={"code": code, "licence_suffix": holder.suffix},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert redeemed.status_code == 200, redeemed.text

    def redemptions(browser) -> list[tuple]:  # noqa: ANN001
        data = browser.get("/citizen/accesses.json").json()
        return [(e["body_id"], e["actor"], e["outcome"]) for e in data["accesses"] if e["kind"] == "sharecode.redemption"]

    system = f"system:{issued.client_id}"  # the hire company's system redeemed it (no person's token)
    assert redemptions(holders_browser) == [("swiftwheels-hire", system, "allow")]
    assert redemptions(others_browser) == []
    assert issued.client_id not in others_browser.get("/citizen").text
