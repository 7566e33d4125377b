"""`accord verification check` and `batch`: the real entry point, run in process against a SQLite data directory."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow.parquet as pq
import getpass

import pytest
from accord_testing import add_officer
from sqlalchemy import select
from verification_support import AGREEMENT, ERO, Person, seed

from accord.runtime import Hub
from accord.storage.models import DecisionRecord

@pytest.fixture
def cli_hub(cli_hub: Hub, synth: Path) -> Hub:
    """The command line's database with the register and DWP's records loaded."""
    seed(cli_hub, synth)
    return cli_hub


@pytest.fixture
def accord(cli_hub: Hub, accord):  # noqa: ANN001, ANN201 - the shared runner, on the seeded hub
    return accord


def _details(person: Person) -> list[str]:
    return ["--first-name", person.first_name, "--surname", person.surname, "--dob", person.dob.strftime("%d/%m/%Y"),
            "--postcode", person.postcode, "--nino", person.nino]


def _as_body(*extra: str) -> list[str]:
    return ["verification", "check", "--agreement", AGREEMENT, "--body", ERO, *extra]


def test_check_prints_the_grade_and_records_the_officer(accord, cli_hub: Hub, people: list[Person]) -> None:  # noqa: ANN001
    officer = add_officer(cli_hub, ERO, "oidc|pjones", name="P Jones")
    run = accord(*_as_body(*_details(people[0]), "--officer", "oidc|pjones"))
    assert run.code == 0, run.err
    assert "grade: match; details that agreed: nino, first_name, surname, dob, postcode" in run.out
    with cli_hub.transaction() as session:
        record = session.scalars(select(DecisionRecord)).one()
        assert (record.officer, record.body_id, record.allowed, record.client_id) == (
            f"officer:{officer['id']} (P Jones)", ERO, True, None)


def test_officer_must_be_registered_at_the_body_with_the_right(accord, cli_hub: Hub,  # noqa: ANN001
                                                               people: list[Person]) -> None:
    add_officer(cli_hub, "dwp", "oidc|elsewhere")
    add_officer(cli_hub, ERO, "oidc|auditor", "auditor")
    accord(*_as_body(*_details(people[0]), "--officer", "P Jones")).assert_bad_input("no active officer", "P Jones")
    accord(*_as_body(*_details(people[0]), "--officer", "oidc|elsewhere")).assert_bad_input(
        f"registered at '{ERO}'")
    accord(*_as_body(*_details(people[0]), "--officer", "oidc|auditor")).assert_bad_input("auditor", "body.act")
    with cli_hub.transaction() as session:
        assert session.scalars(select(DecisionRecord)).all() == []
    # Without --officer, the hub operator at the console acts, named by login.
    assert accord(*_as_body(*_details(people[0]))).code == 0
    with cli_hub.transaction() as session:
        assert session.scalars(select(DecisionRecord)).one().officer == f"operator:{getpass.getuser()}"


def test_check_json_is_the_api_answer(accord, people: list[Person]) -> None:  # noqa: ANN001
    run = accord(*_as_body(*_details(people[1]), "--reference", "APP-9", "--json"))
    answer = json.loads(run.out)
    assert set(answer) == {"reference", "grade", "agreed", "decision", "decision_id", "request_id", "agreement_id",
                           "decided_at"}
    assert (answer["reference"], answer["grade"]) == ("APP-9", "match")


def test_a_refused_check_prints_the_reasons_and_exits_1(accord, cli_hub: Hub, people: list[Person]) -> None:  # noqa: ANN001
    run = accord("verification", "check", "--agreement", AGREEMENT, "--body", "brightwatt-energy", *_details(people[2]))
    assert run.code == 1 and "refused" in run.err and "not the agreement named" in run.err
    assert "grade" not in run.out
    with cli_hub.transaction() as session:
        assert [r.allowed for r in session.scalars(select(DecisionRecord))] == [False]


def test_check_bad_input_is_one_line_and_exit_2(accord, cli_hub: Hub, people: list[Person]) -> None:  # noqa: ANN001
    person = people[3]
    run = accord(*_as_body("--first-name", person.first_name, "--surname", person.surname, "--dob", "next week",
                           "--postcode", person.postcode))
    run.assert_bad_input("applicant.dob")
    with cli_hub.transaction() as session:
        assert session.scalars(select(DecisionRecord)).all() == []


def _write_applications(path: Path, people: list[Person]) -> list[str]:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["application_no", "first_name", "surname", "date_of_birth", "postcode"])
        for i, person in enumerate(people):
            writer.writerow([f"E{i}", person.first_name, person.surname, person.dob.strftime("%d/%m/%Y"), person.postcode])
        writer.writerow(["E99", "Zebedee", "Quillfeather", "01/01/1950", people[0].postcode])
    return [f"E{i}" for i in range(len(people))] + ["E99"]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_batch_writes_one_row_per_application(accord, tmp_path: Path, people: list[Person], suffix: str) -> None:  # noqa: ANN001
    applications = tmp_path / "applications.csv"
    references = _write_applications(applications, people[4:9])
    out = tmp_path / f"results{suffix}"
    run = accord("verification", "batch", applications, "--agreement", AGREEMENT, "--body", ERO, "--out", out,
                 "--reference-column", "application_no")
    assert run.code == 0, run.err
    assert "checked 6 applications (5 match, 1 no match)" in run.out
    if suffix == ".csv":
        rows = list(csv.DictReader(out.open()))
        got = [(r["reference"], r["grade"], r["agreed"]) for r in rows]
        agreed = "first_name,surname,dob,postcode"
    else:
        rows = pq.read_table(out).to_pylist()
        got = [(r["reference"], r["grade"], ",".join(r["agreed"])) for r in rows]
        agreed = "first_name,surname,dob,postcode"
    assert [g[0] for g in got] == references
    assert [g[1] for g in got] == ["match"] * 5 + ["no match"]
    assert all(g[2] == agreed for g in got[:5])
    assert list(rows[0]) == ["reference", "grade", "agreed"]


def test_batch_bad_input_names_the_row_and_column_and_writes_nothing(accord, tmp_path: Path, people: list[Person]) -> None:  # noqa: ANN001
    applications = tmp_path / "applications.csv"
    _write_applications(applications, people[:3])
    lines = applications.read_text().splitlines()
    lines[2] = lines[2].rsplit(",", 1)[0] + ",NOT A POSTCODE"
    applications.write_text("\n".join(lines) + "\n")
    out = tmp_path / "results.csv"
    run = accord("verification", "batch", applications, "--agreement", AGREEMENT, "--body", ERO, "--out", out,
                 "--reference-column", "application_no")
    run.assert_bad_input(str(applications), "row 2, column 'postcode'")
    assert not out.exists() and not list(tmp_path.glob(".results*"))
    accord("verification", "batch", tmp_path / "missing.csv", "--agreement", AGREEMENT, "--body", ERO,
           "--out", out).assert_bad_input("missing.csv", "no such file")
    accord("verification", "batch", applications, "--agreement", AGREEMENT, "--body", ERO,
           "--out", tmp_path / "results.xlsx").assert_bad_input("results.xlsx", ".csv or .parquet")
    accord("verification", "batch", applications, "--agreement", AGREEMENT, "--body", ERO, "--out", out,
           "--map", "dob=born").assert_bad_input("column 'born'")
    assert not out.exists()


def test_a_refused_batch_writes_no_results(accord, tmp_path: Path, people: list[Person]) -> None:  # noqa: ANN001
    applications = tmp_path / "applications.csv"
    _write_applications(applications, people[:2])
    out = tmp_path / "results.csv"
    run = accord("verification", "batch", applications, "--agreement", "no-such-agreement", "--body", ERO,
                 "--out", out, "--reference-column", "application_no")
    assert run.code == 1 and "refused" in run.err
    assert not out.exists()


def test_train_model_stores_the_agreements_model_from_past_applications(accord, cli_hub: Hub, synth: Path,  # noqa: ANN001
                                                                        tmp_path: Path) -> None:
    applications = pq.read_table(synth / "northshire-council-registration-applications.parquet")
    past = tmp_path / "past.parquet"
    pq.write_table(applications.rename_columns(["birth" if c == "date_of_birth" else c
                                                for c in applications.column_names]), past)
    officer = add_officer(cli_hub, ERO, "oidc|pjones", name="P Jones")
    run = accord("verification", "train-model", past, "--agreement", AGREEMENT, "--body", ERO, "--officer", "oidc|pjones",
                 "--map", "dob=birth")
    assert run.code == 0, run.err
    assert f"stored model version 1 for {AGREEMENT}: compares first_name, surname, dob, postcode, nino" in run.out
    from accord.services.linkage_models import latest_model

    assert latest_model(cli_hub, AGREEMENT).version == 1
    with cli_hub.transaction() as session:  # training read DWP's records: decided and recorded as the clerk
        record = session.scalars(select(DecisionRecord)).one()
        assert (record.action, record.body_id, record.officer, record.allowed) == ("linkage.train", ERO, f"officer:{officer['id']} (P Jones)", True)


def test_train_model_refused_prints_the_reasons_and_stores_nothing(accord, cli_hub: Hub, synth: Path,  # noqa: ANN001
                                                                    tmp_path: Path) -> None:
    past = tmp_path / "past.parquet"
    pq.write_table(pq.read_table(synth / "northshire-council-registration-applications.parquet"), past)
    run = accord("verification", "train-model", past, "--agreement", AGREEMENT, "--body", "brightwatt-energy",
                 "--map", "dob=date_of_birth")
    assert run.code == 1 and "refused" in run.err and "not the agreement named" in run.err, (run.code, run.err)
    assert "stored model" not in run.out
    from accord.services.linkage_models import latest_model

    assert latest_model(cli_hub, AGREEMENT) is None
    with cli_hub.transaction() as session:
        assert [(r.action, r.allowed) for r in session.scalars(select(DecisionRecord))] == [("linkage.train", False)]


def test_train_model_bad_input_is_one_line(accord, tmp_path: Path) -> None:  # noqa: ANN001
    as_clerk = ("--agreement", AGREEMENT, "--body", ERO)
    accord("verification", "train-model", tmp_path / "missing.csv", *as_clerk).assert_bad_input("missing.csv", "no such file")
    unusable = tmp_path / "unusable.csv"
    unusable.write_text("reference,colour\nA1,blue\nA2,green\n")
    accord("verification", "train-model", unusable, *as_clerk).assert_bad_input("unusable.csv")
    past = tmp_path / "past.csv"
    past.write_text("first_name,surname\nAnn,Lee\n")
    run = accord("verification", "train-model", past, "--agreement", "no-such-agreement", "--body", ERO)
    assert run.code == 2 and "no-such-agreement" in run.err, (run.code, run.err)
