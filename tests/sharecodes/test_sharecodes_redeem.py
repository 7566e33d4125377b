"""Redeeming share codes: only the chosen items, refusals that look alike, and every use audited
with the driver as the subject, so it shows on their "who used my data" page."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sharecodes_support import HIRE, Driver, by_body, key, make
from sqlalchemy import select

from accord.clock import utcnow
from accord.errors import InvalidInput
from accord.runtime import Hub
from accord.services import citizens, sharecodes
from accord.storage.tables.sharecodes import ShareCode, ShareCodeAttempt


def _expected(driver: Driver, today: date) -> dict:
    """What each item should show, computed here from DVLA's row independently of the service."""
    row = driver.row
    born, issued = row["date_of_birth"], row["licence_issue_date"]
    seventy = date(born.year + 70, born.month, 28 if (born.month, born.day) == (2, 29) else born.day)
    ends = (date(issued.year + 3, issued.month, min(issued.day, 28)) if issued >= seventy else seventy) - timedelta(days=1)
    middle = f" {row['middle_name']}" if row["middle_name"] else ""
    postcode = row["postcode"].replace(" ", "")
    return {
        "licence_status": "valid" if issued <= today <= ends else "expired",
        "licence_valid_from": issued.isoformat(),
        "licence_valid_to": ends.isoformat(),
        "penalty_points": int(row["penalty_points"]),
        "name": f"{row['first_name']}{middle} {row['surname']}",
        "date_of_birth": born.isoformat(),
        "address": f"{row['address_line_1']}, {postcode[:-3]} {postcode[-3:]}",
    }


@pytest.mark.parametrize(
    "items, fields",
    [
        (["penalty_points"], ["penalty_points"]),
        (["licence_status", "name"], ["licence_status", "name"]),
        (["licence_dates", "date_of_birth", "address"], ["licence_valid_from", "licence_valid_to", "date_of_birth", "address"]),
    ],
)
def test_a_redemption_shows_only_the_chosen_items(dvla_hub: Hub, drivers: list[Driver], items, fields) -> None:  # noqa: ANN001
    driver = drivers[0]
    made = make(dvla_hub, driver, items)
    found = sharecodes.redeem(dvla_hub, made.display.lower(), driver.suffix.lower(), by_body(), request_id="r-1")
    expected = _expected(driver, found.checked_at.date())
    assert list(found.shared) == fields  # nothing else: no licence number, no other item
    for field in fields:
        assert found.shared[field] == expected[field], field
    assert found.items == items and found.consent_id == made.consent_id
    body = found.as_dict()
    assert set(body) == {"consent_id", "purpose", "items", "driving_licence", "checked_at", "code_expires_at", "multiple_use"}
    assert driver.licence not in repr(body) and driver.nino not in repr(body)


def test_a_single_use_code_works_once(dvla_hub: Hub, drivers: list[Driver]) -> None:
    driver = drivers[0]
    made = make(dvla_hub, driver, ["penalty_points"])
    sharecodes.redeem(dvla_hub, made.code, driver.suffix, by_body(), request_id="first")
    with pytest.raises(sharecodes.ShareCodeUnusable, match="already been used") as refused:
        sharecodes.redeem(dvla_hub, made.code, driver.suffix, by_body(), request_id="second")
    assert refused.value.status == 410
    [listed] = sharecodes.my_codes(dvla_hub, key(dvla_hub, driver))
    assert (listed["status"], listed["uses"]) == ("used", 1)


def test_a_multiple_use_code_works_until_it_ends(dvla_hub: Hub, drivers: list[Driver]) -> None:
    driver = drivers[1]
    now = utcnow()
    made = make(dvla_hub, driver, ["licence_status"], multiple_use=True, days=2, now=now)
    for hour in range(3):
        sharecodes.redeem(dvla_hub, made.code, driver.suffix, by_body(), request_id=f"use-{hour}",
                          now=now + timedelta(hours=hour))
    with pytest.raises(sharecodes.ShareCodeUnusable, match="expired"):
        sharecodes.redeem(dvla_hub, made.code, driver.suffix, by_body(), request_id="late", now=now + timedelta(days=2))
    [listed] = sharecodes.my_codes(dvla_hub, key(dvla_hub, driver), now + timedelta(days=3))
    assert (listed["status"], listed["uses"]) == ("expired", 3)


def test_an_unknown_code_and_a_wrong_licence_get_the_same_refusal(dvla_hub: Hub, drivers: list[Driver]) -> None:
    driver = drivers[0]
    made = make(dvla_hub, driver, ["penalty_points"])
    unknown_code = next(c for c in iter(sharecodes.new_code, None) if c != made.code)
    with pytest.raises(sharecodes.ShareCodeRefused) as unknown:
        sharecodes.redeem(dvla_hub, unknown_code, driver.suffix, by_body(), request_id="guess-1")
    with pytest.raises(sharecodes.ShareCodeRefused) as wrong:
        sharecodes.redeem(dvla_hub, made.code, drivers[1].suffix, by_body(), request_id="guess-2")
    with pytest.raises(sharecodes.ShareCodeRefused) as malformed:
        sharecodes.redeem(dvla_hub, "not-a-code", driver.suffix, by_body(), request_id="guess-3")
    assert str(unknown.value) == str(wrong.value) == str(malformed.value)
    assert unknown.value.status == wrong.value.status == 404
    # the wrong guess did not use up the code
    assert sharecodes.redeem(dvla_hub, made.code, driver.suffix, by_body(), request_id="right").shared


@pytest.mark.parametrize("state", ["expired", "used", "withdrawn", "wrong_factor"])
def test_refusals_of_a_real_code_are_audited_with_the_driver_as_subject(dvla_hub: Hub, drivers: list[Driver], state) -> None:  # noqa: ANN001
    driver = drivers[2]
    now = utcnow()
    made = make(dvla_hub, driver, ["penalty_points", "name"], now=now - timedelta(days=30 if state == "expired" else 0))
    suffix = driver.suffix
    if state == "used":
        sharecodes.redeem(dvla_hub, made.code, suffix, by_body(), request_id="use")
    if state == "withdrawn":
        sharecodes.withdraw(dvla_hub, key(dvla_hub, driver), made.share_code_id)
    if state == "wrong_factor":
        suffix = drivers[0].suffix
    with pytest.raises((sharecodes.ShareCodeUnusable, sharecodes.ShareCodeRefused)):
        sharecodes.redeem(dvla_hub, made.code, suffix, by_body(officer="Jo at the Leeds branch"), request_id="refused")
    entries = citizens.accesses(dvla_hub, key(dvla_hub, driver), utcnow())
    refused = [e for e in entries if e["outcome"] == "deny"]
    assert len(refused) == 1
    [entry] = refused
    assert entry["kind"] == "sharecode.redemption" and entry["shared"] is False
    assert entry["body_id"] == HIRE and entry["body"] == "Swiftwheels Van and Car Hire Ltd (fictional)"
    assert entry["actor"] == "Jo at the Leeds branch"
    assert entry["purpose_title"] == "Prove my driving record to a vehicle hire company"
    assert entry["dataset_id"] == sharecodes.DATASET and entry["fields"] == ["penalty_points", "name"]
    # nobody else's page shows it
    assert not [e for e in citizens.accesses(dvla_hub, key(dvla_hub, drivers[0]), utcnow()) if e["kind"] == "sharecode.redemption"]


def test_a_successful_redemption_is_on_the_drivers_page_with_who_and_why(dvla_hub: Hub, drivers: list[Driver]) -> None:
    driver = drivers[3]
    made = make(dvla_hub, driver, ["licence_status"], purpose="insurance")
    sharecodes.redeem(dvla_hub, made.code, driver.suffix, by_body(officer="quotes team"), request_id="req-ok")
    [entry] = [e for e in citizens.accesses(dvla_hub, key(dvla_hub, driver), utcnow()) if e["kind"] == "sharecode.redemption"]
    assert entry["outcome"] == "allow" and entry["shared"] is True
    assert entry["body"] == "Swiftwheels Van and Car Hire Ltd (fictional)" and entry["actor"] == "quotes team"
    assert entry["purpose_title"] == "Prove my driving record to a motor insurer"
    assert entry["fields"] == ["licence_status"]


def test_unknown_codes_are_counted_but_name_nobody(dvla_hub: Hub, drivers: list[Driver]) -> None:
    with pytest.raises(sharecodes.ShareCodeRefused):
        sharecodes.redeem(dvla_hub, sharecodes.new_code(), drivers[0].suffix, by_body(), request_id="nobody")
    with dvla_hub.transaction() as session:
        [attempt] = session.scalars(select(ShareCodeAttempt)).all()
    assert (attempt.caller, attempt.outcome, attempt.failed, attempt.share_code_id) == (f"body:{HIRE}", "unknown", True, None)


def test_a_malformed_second_factor_is_bad_input_not_a_guess(dvla_hub: Hub, drivers: list[Driver]) -> None:
    made = make(dvla_hub, drivers[0], ["penalty_points"])
    with pytest.raises(InvalidInput, match="last 8 characters"):
        sharecodes.redeem(dvla_hub, made.code, "12", by_body(), request_id="short")
    with dvla_hub.transaction() as session:
        assert session.scalars(select(ShareCodeAttempt)).all() == []


def test_a_code_stops_working_when_dvla_no_longer_holds_the_record(dvla_hub: Hub, drivers: list[Driver], tmp_path) -> None:  # noqa: ANN001
    import duckdb

    from accord.services.holdings import files, load_holding

    driver = drivers[0]
    made = make(dvla_hub, driver, ["penalty_points"])
    reduced = tmp_path / "dvla.parquet"
    with duckdb.connect() as connection:
        connection.execute(
            f"COPY (SELECT * FROM read_parquet('{files.current(dvla_hub, sharecodes.DATASET)}') WHERE record_id <> ?) "
            f"TO '{reduced}' (FORMAT parquet)", [driver.row["record_id"]],
        )
    load_holding(dvla_hub, sharecodes.DATASET, reduced)
    with pytest.raises(sharecodes.ShareCodeRefused):
        sharecodes.redeem(dvla_hub, made.code, driver.suffix, by_body(), request_id="gone")
    [entry] = citizens.accesses(dvla_hub, key(dvla_hub, driver), utcnow())
    assert entry["outcome"] == "deny"


def test_concurrent_redemptions_of_a_single_use_code_share_it_once(dvla_hub: Hub, drivers: list[Driver]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    driver = drivers[1]
    made = make(dvla_hub, driver, ["penalty_points"])

    def attempt(n: int) -> str:
        try:
            sharecodes.redeem(dvla_hub, made.code, driver.suffix, by_body(), request_id=f"race-{n}")
            return "shared"
        except sharecodes.ShareCodeUnusable:
            return "used"

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(attempt, range(4)))
    assert sorted(results) == ["shared", "used", "used", "used"]
    with dvla_hub.transaction() as session:
        assert session.get(ShareCode, made.share_code_id).uses == 1
