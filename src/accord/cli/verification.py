"""`accord verification`: check applicants' details against a source body's records (grades only).

An operator tool: it acts for the body named with ``--body`` directly on the
hub (no API client), through the same service as the API, so every check is
decided by the policy and recorded in the audit log with the officer named.
A refused check prints the recorded reasons and exits 1; bad input exits 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from accord.cli.common import OFFICER_HELP, acting_for, answer_of, console, err, open_hub, print_json
from accord.errors import Forbidden, InvalidInput
from accord.files import parse_mapping
from accord.services import verification

app = typer.Typer(help="Identity verification: a grade (match / partial / no match), never the record.",
                  no_args_is_help=True)

AgreementOpt = Annotated[str, typer.Option("--agreement", help="The agreement the check is made under")]
BodyOpt = Annotated[str, typer.Option("--body", help="The body making the check (a recipient under the agreement)")]
DatasetOpt = Annotated[str | None, typer.Option("--dataset", help="The source dataset, if the agreement covers several")]
OfficerOpt = Annotated[str | None, typer.Option("--officer", help=OFFICER_HELP)]


@app.command("check")
def check(
    agreement: AgreementOpt,
    body: BodyOpt,
    first_name: Annotated[str, typer.Option("--first-name", help="Given name")],
    surname: Annotated[str, typer.Option("--surname", help="Surname")],
    dob: Annotated[str, typer.Option("--dob", help="Date of birth: YYYY-MM-DD or DD/MM/YYYY")],
    postcode: Annotated[str, typer.Option("--postcode", help="Postcode")],
    middle_name: Annotated[str | None, typer.Option("--middle-name", help="Middle name(s)")] = None,
    address: Annotated[str | None, typer.Option("--address", help="Address (accepted, not compared)")] = None,
    nino: Annotated[str | None, typer.Option("--nino", help="National Insurance number, if given")] = None,
    reference: Annotated[str | None, typer.Option("--reference", help="Your application reference")] = None,
    dataset: DatasetOpt = None,
    officer: OfficerOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the answer as JSON")] = False,
) -> None:
    """Check one applicant: prints the grade and which details agreed."""
    details = {"first_name": first_name, "middle_name": middle_name, "surname": surname, "dob": dob,
               "postcode": postcode, "address": address, "nino": nino}
    details = {name: value for name, value in details.items() if value is not None}
    request = verification.CheckRequest(agreement, ((reference, details),), dataset, single=True)
    hub = open_hub()
    try:
        reply = verification.check(hub, acting_for(hub, body, officer), request)
    finally:
        hub.close()
    answer = answer_of(reply)
    if as_json:
        print_json(answer)
        return
    agreed = ", ".join(answer["agreed"]) or "none"
    console.print(f"grade: [bold]{answer['grade']}[/bold]; details that agreed: {agreed}", highlight=False)
    console.print(f"decision {answer['decision_id']} under {answer['agreement_id']}, recorded in the audit log",
                  highlight=False)


@app.command("batch")
def batch(
    path: Annotated[Path, typer.Argument(metavar="FILE", help="CSV or Parquet file, one application per row")],
    agreement: AgreementOpt,
    body: BodyOpt,
    out: Annotated[Path, typer.Option("--out", help="Results file to write (.csv or .parquet)")],
    dataset: DatasetOpt = None,
    officer: OfficerOpt = None,
    reference_column: Annotated[
        str | None, typer.Option("--reference-column", help="Column of application references (default: reference)")
    ] = None,
    mapping: Annotated[
        str | None, typer.Option("--map", help="Columns for the applicant fields: dob=birth_date,first_name=forename")
    ] = None,
) -> None:
    """Check a file of applications; writes one row per application: reference, grade, agreed."""
    if out.suffix.lower() not in (".csv", ".parquet"):
        raise InvalidInput(f"{out}: the results file must end in .csv or .parquet")
    if out.resolve() == path.resolve():
        raise InvalidInput(f"{out}: the results file must not be the applications file")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InvalidInput(f"{path}: no such file") from None
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot be read ({exc.strerror})") from None
    rows = verification.read_applications(
        data, str(path), mapping=parse_mapping(mapping, "--map"), reference_column=reference_column
    )
    request = verification.CheckRequest(agreement, tuple(rows), dataset, standardised=True)
    hub = open_hub()
    try:
        with console.status(f"checking {len(rows):,} applications"):
            reply = verification.check(hub, acting_for(hub, body, officer), request)
    finally:
        hub.close()
    results = verification.results_of(answer_of(reply))
    verification.write_results(results, out)
    grades: dict[str, int] = {}
    for result in results:
        grades[result.grade] = grades.get(result.grade, 0) + 1
    summary = ", ".join(f"{count:,} {grade}" for grade, count in sorted(grades.items()))
    console.print(f"checked {len(results):,} applications ({summary}); wrote {out}", highlight=False)
    console.print(f"decision {reply.body['decision_id']} under {reply.body['agreement_id']}, recorded in the audit log",
                  highlight=False)


@app.command("train-model")
def train_model(
    path: Annotated[Path, typer.Argument(metavar="FILE", help="CSV or Parquet file of past applications")],
    agreement: AgreementOpt,
    body: BodyOpt,
    dataset: DatasetOpt = None,
    officer: OfficerOpt = None,
    mapping: Annotated[
        str | None, typer.Option("--map", help="Columns for the applicant fields: dob=birth_date,first_name=forename")
    ] = None,
) -> None:
    """Train the agreement's probabilistic model from past applications against the source body's records.

    Checks the cascade does not call a match then go on to this model. The model holds field
    names and probabilities only; it is stored as the agreement's next version. Training reads
    the source body's records: it is decided and recorded as the body named with --body, and a
    refusal prints the recorded reasons and exits 1.
    """
    if not path.is_file():
        raise InvalidInput(f"{path}: no such file")
    hub = open_hub()
    try:
        with console.status("training the model (Splink: prior, u from random pairs, m by EM)"):
            stored = verification.train_model(hub, acting_for(hub, body, officer), agreement_id=agreement, applications=path,
                                              dataset_id=dataset, mapping=parse_mapping(mapping, "--map"))
    except Forbidden as exc:
        err.print(f"[red]refused[/red]: {escape(exc.detail)}", highlight=False, soft_wrap=True)
        for reason in exc.problems:
            err.print(f"  - {escape(str(reason))}", highlight=False)
        raise typer.Exit(1) from None
    finally:
        hub.close()
    model = stored.model
    console.print(f"stored model version {stored.version} for {agreement}: compares {', '.join(model.fields)}; "
                  f"trained on {model.training.get('left_rows', 0):,} applications against "
                  f"{model.training.get('right_rows', 0):,} records in {model.training.get('seconds', 0)} s",
                  highlight=False)

