"""`accord share-codes`: a hire company's script redeems a code; the operator lists codes (never a code)."""

from __future__ import annotations

import getpass
import json

import pytest
from accord_testing import add_officer
from sharecodes_support import HIRE, Driver, key, make

from accord.clock import utcnow
from accord.runtime import Hub
from accord.services import citizens


@pytest.fixture
def accord(dvla_hub: Hub, accord_on):  # noqa: ANN001, ANN201 - the command line on the test hub
    return accord_on(dvla_hub)


def test_a_hire_company_redeems_from_a_script(dvla_hub: Hub, drivers: list[Driver], accord) -> None:  # noqa: ANN001
    driver = drivers[0]
    made = make(dvla_hub, driver, ["penalty_points", "name"], multiple_use=True)
    officer = add_officer(dvla_hub, HIRE, "oidc|desk", name="Hire Desk")
    shown = accord("share-codes", "redeem", made.display, "--licence-suffix", driver.suffix, "--body", HIRE,
                   "--officer", "oidc|desk")
    assert shown.code == 0, shown.err
    assert f"Penalty points: {int(driver.row['penalty_points'])}" in shown.out
    assert "Name: " in shown.out and "Licence status" not in shown.out
    as_json = accord("share-codes", "redeem", made.code, "--licence-suffix", driver.suffix, "--body", HIRE, "--json")
    assert as_json.code == 0
    assert list(json.loads(as_json.out)["driving_licence"]) == ["penalty_points", "name"]
    actors = [e["actor"] for e in citizens.accesses(dvla_hub, key(dvla_hub, driver), utcnow())]
    assert actors == [f"operator:{getpass.getuser()}", f"officer:{officer['id']} (Hire Desk)"]


def test_refusals_exit_2_with_one_line(dvla_hub: Hub, drivers: list[Driver], accord) -> None:  # noqa: ANN001
    made = make(dvla_hub, drivers[0], ["penalty_points"])
    wrong = accord("share-codes", "redeem", made.code, "--licence-suffix", drivers[1].suffix, "--body", HIRE)
    assert wrong.code == 2 and len(wrong.err.strip().splitlines()) == 1
    assert "no valid share code matches" in wrong.err and "Traceback" not in wrong.err
    unknown_body = accord("share-codes", "redeem", made.code, "--licence-suffix", drivers[0].suffix, "--body", "nobody")
    assert unknown_body.code == 2 and "no body 'nobody'" in unknown_body.err
    short = accord("share-codes", "redeem", made.code, "--licence-suffix", "12", "--body", HIRE)
    assert short.code == 2 and "last 8 characters" in short.err


def test_the_operator_lists_codes_without_the_codes(dvla_hub: Hub, drivers: list[Driver], accord) -> None:  # noqa: ANN001
    used = make(dvla_hub, drivers[0], ["penalty_points"])
    active = make(dvla_hub, drivers[1], ["name"], multiple_use=True)
    accord("share-codes", "redeem", used.code, "--licence-suffix", drivers[0].suffix, "--body", HIRE)
    accord("share-codes", "redeem", active.code, "--licence-suffix", drivers[0].suffix, "--body", HIRE)  # wrong
    listed = accord("share-codes", "list")
    assert listed.code == 0 and "2 share codes" in listed.out
    assert used.share_code_id in listed.out and active.share_code_id in listed.out
    for code in (used.code, active.code, used.display, active.display):
        assert code not in listed.out
    rows = json.loads(accord("share-codes", "list", "--status", "active", "--json").out)
    assert [(r["id"], r["wrong_guesses_24h"], r["uses"]) for r in rows] == [(active.share_code_id, 1, 0)]
    assert json.loads(accord("share-codes", "list", "--status", "used", "--limit", "5", "--json").out)[0]["id"] == used.share_code_id
    bad = accord("share-codes", "list", "--status", "lost")
    assert bad.code == 2 and "status must be one of" in bad.err


def test_old_attempts_are_pruned(dvla_hub: Hub, drivers: list[Driver], accord) -> None:  # noqa: ANN001
    accord("share-codes", "redeem", "ACDEFGHJ", "--licence-suffix", "ABCD1234", "--body", HIRE)
    kept = accord("share-codes", "prune-attempts", "--days", "30")
    assert kept.code == 0 and "deleted 0 attempts" in kept.out
