"""Wrong guesses are limited per code, per body and per anonymous address, counted in the
database, so the limits hold for every process using it and survive a restart."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sharecodes_support import Driver, by_body, key, make

from accord.clock import utcnow
from accord.errors import InvalidInput
from accord.config import load_settings
from accord.runtime import Hub
from accord.services import citizens, sharecodes


def _wrong(hub: Hub, code: str, suffix: str, redeemer: sharecodes.Redeemer, now, n: int) -> None:  # noqa: ANN001
    for i in range(n):
        with pytest.raises(sharecodes.ShareCodeRefused):
            sharecodes.redeem(hub, code, suffix, redeemer, request_id=f"wrong-{i}", now=now + timedelta(seconds=i))


def test_a_code_is_locked_after_too_many_wrong_licence_numbers(dvla_hub: Hub, drivers: list[Driver]) -> None:
    driver, other = drivers[0], drivers[1]
    now = utcnow()
    made = make(dvla_hub, driver, ["penalty_points"], now=now)
    limit = dvla_hub.settings.share_code_failures_per_code
    # spread over several bodies, so only the per-code limit can be what stops them
    for i in range(limit):
        _wrong(dvla_hub, made.code, other.suffix, by_body(f"body-{i}"), now + timedelta(minutes=i), 1)
    with pytest.raises(sharecodes.TooManyAttempts) as locked:
        sharecodes.redeem(dvla_hub, made.code, driver.suffix, by_body("another-body"), request_id="right-but-locked",
                          now=now + timedelta(minutes=10))
    # the oldest wrong guess (at `now`) leaves the 24-hour window first
    assert locked.value.status == 429
    assert locked.value.retry_after == pytest.approx(timedelta(hours=24, minutes=-10).total_seconds(), abs=2)
    # the lock is audited for the driver, and nothing was shared
    entries = citizens.accesses(dvla_hub, key(dvla_hub, driver), utcnow() + timedelta(days=2))
    assert [e["outcome"] for e in entries] == ["deny"] * (limit + 1)
    # a day later the right second factor works again
    found = sharecodes.redeem(dvla_hub, made.code, driver.suffix, by_body("another-body"), request_id="next-day",
                              now=now + timedelta(hours=24, minutes=1))
    assert found.shared == {"penalty_points": int(driver.row["penalty_points"])}


def test_a_body_guessing_codes_is_stopped_for_an_hour(dvla_hub: Hub, drivers: list[Driver]) -> None:
    driver = drivers[0]
    now = utcnow()
    made = make(dvla_hub, driver, ["penalty_points"], now=now)
    limit = dvla_hub.settings.share_code_failures_per_body
    guesser = by_body("guessing-body")
    _wrong(dvla_hub, "ACDEFGHJ", driver.suffix, guesser, now, limit)
    with pytest.raises(sharecodes.TooManyAttempts) as stopped:
        sharecodes.redeem(dvla_hub, made.code, driver.suffix, guesser, request_id="real", now=now + timedelta(minutes=5))
    assert 0 < stopped.value.retry_after <= 3600
    # refused before the code was even looked up: nothing about the driver was logged
    assert citizens.accesses(dvla_hub, key(dvla_hub, driver), now + timedelta(days=1)) == []
    # other bodies are unaffected, and the guesser may try again after the hour
    assert sharecodes.redeem(dvla_hub, made.code, driver.suffix, by_body(), request_id="other", now=now + timedelta(minutes=6))
    with pytest.raises(sharecodes.ShareCodeUnusable):  # single use, now used: but no longer 429
        sharecodes.redeem(dvla_hub, made.code, driver.suffix, guesser, request_id="later", now=now + timedelta(hours=1, minutes=1))


def test_anonymous_checkers_have_a_stricter_limit_per_address(dvla_hub: Hub, drivers: list[Driver]) -> None:
    driver = drivers[0]
    now = utcnow()
    made = make(dvla_hub, driver, ["penalty_points"], now=now)
    limit = dvla_hub.settings.share_code_failures_per_address
    assert limit < dvla_hub.settings.share_code_failures_per_body
    checker = sharecodes.Redeemer.checker(dvla_hub, "203.0.113.9", "Acme Hire")
    _wrong(dvla_hub, "ACDEFGHJ", driver.suffix, checker, now, limit)
    with pytest.raises(sharecodes.TooManyAttempts):
        sharecodes.redeem(dvla_hub, made.code, driver.suffix, checker, request_id="blocked", now=now + timedelta(minutes=1))
    # another address is not blocked; the stored caller is a keyed hash, not the address
    elsewhere = sharecodes.Redeemer.checker(dvla_hub, "198.51.100.7", "Acme Hire")
    assert sharecodes.redeem(dvla_hub, made.code, driver.suffix, elsewhere, request_id="ok", now=now + timedelta(minutes=2))
    assert "203.0.113.9" not in checker.caller and checker.caller.startswith("address:")


def test_the_limits_survive_a_new_hub_on_the_same_database(dvla_hub: Hub, drivers: list[Driver]) -> None:
    driver = drivers[1]
    now = utcnow()
    made = make(dvla_hub, driver, ["penalty_points"], now=now)
    limit = dvla_hub.settings.share_code_failures_per_code
    for i in range(limit):
        _wrong(dvla_hub, made.code, drivers[0].suffix, by_body(f"b{i}"), now, 1)
    # another process: its own engine, settings read afresh, nothing shared in memory
    settings = load_settings(database_url=dvla_hub.settings.resolved_database_url, data_dir=dvla_hub.settings.data_dir,
                             environment="test")
    restarted = Hub.open(settings)
    try:
        with pytest.raises(sharecodes.TooManyAttempts):
            sharecodes.redeem(restarted, made.code, driver.suffix, by_body("fresh"), request_id="after-restart",
                              now=now + timedelta(minutes=1))
    finally:
        restarted.close()


def test_old_attempts_can_be_pruned_but_not_inside_the_limit_window(dvla_hub: Hub, drivers: list[Driver]) -> None:
    now = utcnow()
    _wrong(dvla_hub, "ACDEFGHJ", drivers[0].suffix, by_body(), now - timedelta(days=40), 2)
    _wrong(dvla_hub, "ACDEFGHJ", drivers[0].suffix, by_body(), now, 1)
    with pytest.raises(InvalidInput):
        sharecodes.prune_attempts(dvla_hub, timedelta(hours=1), now)
    assert sharecodes.prune_attempts(dvla_hub, timedelta(days=30), now) == 2
    assert sharecodes.prune_attempts(dvla_hub, timedelta(days=30), now) == 0
