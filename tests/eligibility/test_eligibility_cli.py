"""`accord eligibility` and `accord jobs` on the embedded default, run through the real entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from accord_testing import add_officer
from eligibility_support import AGREEMENT, CUSTOMERS, SUPPLIER, customers_csv, read_results, seed

from accord.runtime import Hub


@pytest.fixture
def cli_hub(cli_hub: Hub, synth: Path) -> Hub:
    """The command line's database with the register and DWP's claimants loaded."""
    seed(cli_hub, synth)
    return cli_hub


def test_submit_work_status_and_results(accord, cli_hub: Hub, synth: Path, tmp_path: Path) -> None:  # noqa: ANN001
    source = customers_csv(synth, tmp_path / "customers.csv")
    add_officer(cli_hub, SUPPLIER, "whd-batch", name="WHD batch")  # --officer names a registered officer
    submitted = accord("eligibility", "submit", source, "--agreement", AGREEMENT, "--body", SUPPLIER,
                       "--officer", "whd-batch", "--chunk-rows", "1000", "--json")
    assert submitted.code == 0, submitted.err
    job = json.loads(submitted.out)
    assert job["state"] == "queued" and job["progress"]["chunks"] == 3

    listed = accord("jobs", "list")
    assert job["id"] in listed.out and "queued" in listed.out
    worked = accord("jobs", "work", "--once", "--name", "cli-worker")
    assert worked.code == 0 and f"{job['id']}: succeeded" in worked.out

    status = accord("eligibility", "status", job["id"], "--body", SUPPLIER)
    assert status.code == 0 and "succeeded" in status.out and "2,416 of 2,416" in status.out
    assert "eligible" in status.out
    out = tmp_path / "results.csv"
    fetched = accord("eligibility", "results", job["id"], "--body", SUPPLIER, "--out", out)
    assert fetched.code == 0 and "wrote 2,416 results" in fetched.out
    rows = read_results(out.read_text(encoding="utf-8"))
    assert len(rows) == 2416 and all(list(row) == ["account_reference", "result"] for row in rows)
    printed = accord("eligibility", "results", job["id"], "--body", SUPPLIER)
    assert printed.out == out.read_text(encoding="utf-8")
    mine = accord("eligibility", "list", "--body", SUPPLIER, "--state", "succeeded")
    assert job["id"] in mine.out


def test_submit_and_run_in_one_command(accord, cli_hub: Hub, synth: Path) -> None:  # noqa: ANN001
    ran = accord("eligibility", "submit", synth / CUSTOMERS, "--agreement", AGREEMENT, "--body", SUPPLIER, "--run")
    assert ran.code == 0, ran.err
    assert "succeeded" in ran.out and "not matched" in ran.out and "2,416 of 2,416" in ran.out


def test_another_body_is_told_there_is_no_such_job(accord, cli_hub: Hub, synth: Path) -> None:  # noqa: ANN001
    job = json.loads(accord("eligibility", "submit", synth / CUSTOMERS, "--agreement", AGREEMENT, "--body",
                            SUPPLIER, "--json").out)
    for command in (("status", job["id"]), ("results", job["id"]), ("cancel", job["id"])):
        accord("eligibility", *command, "--body", "dwp").assert_bad_input("no job", job["id"])
    cancelled = accord("eligibility", "cancel", job["id"], "--body", SUPPLIER)
    assert cancelled.code == 0 and "cancelled" in cancelled.out
    accord("eligibility", "results", job["id"], "--body", SUPPLIER).assert_bad_input("cancelled")


def test_bad_input_is_one_line_and_exit_2_and_a_refusal_exit_1(accord, cli_hub: Hub, synth: Path, tmp_path: Path) -> None:  # noqa: ANN001
    duplicate = tmp_path / "dupes.csv"
    duplicate.write_text("account_ref,first_name,surname,postcode\nA1,Ann,Smith,AB1 2CD\nA1,Bo,Li,AB1 2CE\n")
    accord("eligibility", "submit", duplicate, "--agreement", AGREEMENT, "--body", SUPPLIER).assert_bad_input(
        "dupes.csv", "row 2", "column 'account_ref'")
    accord("eligibility", "submit", tmp_path / "none.csv", "--agreement", AGREEMENT, "--body", SUPPLIER).assert_bad_input(
        "none.csv", "no such file")
    accord("eligibility", "submit", synth / CUSTOMERS, "--agreement", AGREEMENT, "--body", SUPPLIER,
           "--map", "first_name").assert_bad_input("--map", "field=column")
    accord("eligibility", "submit", synth / CUSTOMERS, "--agreement", AGREEMENT,
           "--body", "northshire-council").assert_refused()
    accord("eligibility", "submit", synth / CUSTOMERS, "--agreement", "nope", "--body", SUPPLIER).assert_bad_input(
        "no agreement 'nope'")
    assert not (Path(cli_hub.settings.data_dir) / "jobs").exists() or not list(
        (Path(cli_hub.settings.data_dir) / "jobs").iterdir())
