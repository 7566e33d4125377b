"""`accord disadvantages identify`: the answer in a file, refusals exit 1 (recorded), bad input exits 2."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from accord_testing import CliRun, add_officer
from disadvantages_support import AGREEMENT, COUNCIL, prepare
from sqlalchemy import select

from accord.runtime import Hub
from accord.storage.models import DecisionRecord

@pytest.fixture
def cli_hub(cli_hub: Hub, synth: Path) -> Hub:
    """The command line's database with the register, the agreements and the bodies' synthetic records."""
    prepare(cli_hub, synth)
    return cli_hub


@pytest.fixture
def accord(cli_hub: Hub, accord):  # noqa: ANN001, ANN201 - the shared runner, on the prepared hub
    return accord


def _identify(accord, out: Path, *extra: object) -> CliRun:  # noqa: ANN001
    return accord("disadvantages", "identify", "--agreement", AGREEMENT, "--body", COUNCIL, "--out", out, *extra)


def test_writes_the_households_as_csv(accord, cli_hub: Hub, tmp_path: Path) -> None:  # noqa: ANN001
    out = tmp_path / "households.csv"
    officer = add_officer(cli_hub, COUNCIL, "oidc|a-officer", name="A Officer")
    ran = _identify(accord, out, "--officer", "oidc|a-officer")
    assert ran.code == 0, ran.err
    assert "households in northshire-council's area meet 2 or more" in ran.out
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert rows and list(rows[0]) == ["uprn", "account_refs", "factors"]
    for row in rows:
        assert row["uprn"].isdigit() and row["account_refs"].startswith("CT")
        assert len(row["factors"].split()) >= 2
    with cli_hub.transaction() as session:
        decisions = list(session.scalars(select(DecisionRecord)))
    # One decision per dataset read: four of other bodies under the agreement, the council's own two (holder rule).
    assert len(decisions) == 6 and all(d.allowed and d.officer == f"officer:{officer['id']} (A Officer)" for d in decisions)
    assert sum(d.agreement_id == AGREEMENT for d in decisions) == 4
    assert {d.dataset_id for d in decisions if d.agreement_id is None} == {
        "northshire-council-tax", "northshire-council-early-help"}
    assert len({d.request_id for d in decisions}) == 1 and decisions[0].request_id.startswith("cli-")


def test_json_is_the_api_answer(accord, tmp_path: Path) -> None:  # noqa: ANN001
    out = tmp_path / "households.json"
    assert _identify(accord, out, "--min-factors", "3").code == 0
    answer = json.loads(out.read_text(encoding="utf-8"))
    assert answer["min_factors"] == 3 and answer["count"] == len(answer["households"]) > 0
    assert all(set(h) == {"reference", "factors"} and len(h["factors"]) >= 3 for h in answer["households"])


def test_a_refusal_exits_1_and_is_recorded(accord, cli_hub: Hub, tmp_path: Path) -> None:  # noqa: ANN001
    out = tmp_path / "households.csv"
    ran = accord("disadvantages", "identify", "--agreement", AGREEMENT, "--body", "brightwatt-energy", "--out", out)
    assert not out.exists()
    with cli_hub.transaction() as session:
        (decision,) = session.scalars(select(DecisionRecord))
    assert decision.body_id == "brightwatt-energy" and not decision.allowed
    assert ran.code == 1 and "refused" in ran.err and f"decision {decision.id}, recorded in the audit log" in ran.err
    assert " ".join(ran.err.split()).find(" ".join(decision.reasons[0].split())) > 0  # the recorded reason, shown


@pytest.mark.parametrize(
    ("args", "mentions"),
    [
        (("--agreement", AGREEMENT, "--body", COUNCIL, "--out", "households.txt"), ("must end in .csv or .json",)),
        (("--agreement", AGREEMENT, "--body", COUNCIL, "--out", "missing/households.csv"), ("does not exist",)),
        (("--agreement", AGREEMENT, "--body", "no-such-council", "--out", "h.csv"), ("no body 'no-such-council'",)),
        (("--agreement", AGREEMENT, "--body", COUNCIL, "--out", "h.csv", "--min-factors", "1"),
         ("min_factors must be between 2",)),
        (("--agreement", AGREEMENT, "--body", COUNCIL, "--out", "h.csv", "--officer", "A Officer, typed"),
         ("no active officer with subject 'A Officer, typed'",)),
    ],
)
def test_bad_input_is_one_line_and_exit_2(accord, cli_hub: Hub, tmp_path: Path, args, mentions) -> None:  # noqa: ANN001
    _identify_args = ("disadvantages", "identify", *args)
    accord(*_identify_args).assert_bad_input(*mentions)
    assert not (tmp_path / "h.csv").exists()
    with cli_hub.transaction() as session:
        assert list(session.scalars(select(DecisionRecord))) == []


def test_a_failed_write_leaves_the_old_file(accord, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    out = tmp_path / "households.csv"
    out.write_text("previous results\n", encoding="utf-8")
    from accord.cli import disadvantages as command

    def broken(source: str, target: object) -> None:  # the rename at the end of the write fails
        raise OSError("disk full")

    monkeypatch.setattr(command.os, "replace", broken)
    ran = _identify(accord, out)
    assert ran.code == 1 and "disk full" in ran.err
    assert out.read_text(encoding="utf-8") == "previous results\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".households")] == []


def test_help_names_every_option(accord) -> None:  # noqa: ANN001
    ran = accord("disadvantages", "identify", "--help")
    assert ran.code == 0
    for option in ("--agreement", "--body", "--out", "--officer", "--min-factors"):
        assert option in ran.out
