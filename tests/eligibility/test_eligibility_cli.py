"""`accord eligibility` and `accord jobs` on the embedded default, run through the real entry point."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from eligibility_support import AGREEMENT, CUSTOMERS, SUPPLIER, customers_csv, read_results, seed

from accord.cli import common, main
from accord.config import load_settings
from accord.runtime import Hub


class Ran:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    def bad_input(self, *mentions: str) -> str:
        lines = [line for line in self.err.splitlines() if line.strip()]
        assert self.code == 2, (self.code, self.out, self.err)
        assert len(lines) == 1 and lines[0].startswith("error: "), self.err
        for text in mentions:
            assert text in lines[0], f"{text!r} not in {lines[0]!r}"
        assert "Traceback" not in self.out + self.err
        return lines[0]

    def refused(self) -> str:
        """A recorded refusal: exit 1, its decision id and reasons on stderr."""
        assert self.code == 1, (self.code, self.out, self.err)
        assert self.err.startswith("refused (decision ") and "recorded in the audit log" in self.err, self.err
        assert "Traceback" not in self.out + self.err
        return self.err


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path / "data"
    monkeypatch.setenv("ACCORD_DATA_DIR", str(data))
    for name in ("ACCORD_DATABASE_URL", "ACCORD_ENVIRONMENT", "ACCORD_DEBUG", "ACCORD_JOB_CHUNK_ROWS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(common.console, "_width", 250)
    return data


@pytest.fixture
def cli_hub(data_dir: Path, synth: Path):  # noqa: ANN201
    opened = Hub.open(load_settings())
    seed(opened, synth)
    yield opened
    opened.close()


@pytest.fixture
def accord(data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture):  # noqa: ANN201
    def invoke(*args: object) -> Ran:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["accord", *map(str, args)])
        try:
            main.run()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        captured = capsys.readouterr()
        return Ran(code, captured.out, captured.err)

    return invoke


def test_submit_work_status_and_results(accord, cli_hub: Hub, synth: Path, tmp_path: Path) -> None:  # noqa: ANN001
    source = customers_csv(synth, tmp_path / "customers.csv")
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
        accord("eligibility", *command, "--body", "dwp").bad_input("no job", job["id"])
    cancelled = accord("eligibility", "cancel", job["id"], "--body", SUPPLIER)
    assert cancelled.code == 0 and "cancelled" in cancelled.out
    accord("eligibility", "results", job["id"], "--body", SUPPLIER).bad_input("cancelled")


def test_bad_input_is_one_line_and_exit_2_and_a_refusal_exit_1(accord, cli_hub: Hub, synth: Path, tmp_path: Path) -> None:  # noqa: ANN001
    duplicate = tmp_path / "dupes.csv"
    duplicate.write_text("account_ref,first_name,surname,postcode\nA1,Ann,Smith,AB1 2CD\nA1,Bo,Li,AB1 2CE\n")
    accord("eligibility", "submit", duplicate, "--agreement", AGREEMENT, "--body", SUPPLIER).bad_input(
        "dupes.csv", "row 2", "column 'account_ref'")
    accord("eligibility", "submit", tmp_path / "none.csv", "--agreement", AGREEMENT, "--body", SUPPLIER).bad_input(
        "none.csv", "no such file")
    accord("eligibility", "submit", synth / CUSTOMERS, "--agreement", AGREEMENT, "--body", SUPPLIER,
           "--map", "first_name").bad_input("--map", "field=column")
    accord("eligibility", "submit", synth / CUSTOMERS, "--agreement", AGREEMENT,
           "--body", "northshire-council").refused()
    accord("eligibility", "submit", synth / CUSTOMERS, "--agreement", "nope", "--body", SUPPLIER).bad_input(
        "no agreement 'nope'")
    assert not (Path(cli_hub.settings.data_dir) / "jobs").exists() or not list(
        (Path(cli_hub.settings.data_dir) / "jobs").iterdir())
