"""`accord deceased check`: is this person recorded as deceased? Only true or false.

It acts for the body named with ``--body`` directly on the hub, through the same
service as ``POST /v1/deceased-checks``: the check is decided and recorded with the
officer named. A refusal prints the recorded reasons and exits 1; bad input exits 2.
"""

from __future__ import annotations

from typing import Annotated

import typer

from accord.cli.common import OFFICER_HELP, acting_for, answer_of, console, open_hub, print_json
from accord.errors import InvalidInput
from accord.files import parse_date_option
from accord.services import deceased

app = typer.Typer(help="The deceased check: whether a person is recorded as deceased, and nothing else.",
                  no_args_is_help=True)


@app.command("check")
def check(
    body: Annotated[str, typer.Option("--body", help="The body asking (a recipient of a civil-registration agreement)")],
    first_name: Annotated[str, typer.Option("--first-name", help="Given name")],
    surname: Annotated[str, typer.Option("--surname", help="Surname")],
    dob: Annotated[str, typer.Option("--dob", help="Date of birth: YYYY-MM-DD")],
    middle_name: Annotated[str | None, typer.Option("--middle-name", help="Middle name(s)")] = None,
    postcode: Annotated[str | None, typer.Option("--postcode", help="Postcode (matched only if the agreement names it)")] = None,
    nino: Annotated[str | None, typer.Option("--nino", help="National Insurance number, if known")] = None,
    officer: Annotated[str | None, typer.Option("--officer", help=OFFICER_HELP)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the answer as JSON")] = False,
) -> None:
    """Check one person: prints deceased (true) or not recorded as deceased (false)."""
    born = parse_date_option(dob, "--dob")
    if not first_name.strip() or not surname.strip():
        raise InvalidInput("--first-name and --surname must not be empty")
    person = deceased.PersonDetails(first_name.strip(), surname.strip(), born, postcode, nino, middle_name)
    hub = open_hub()
    try:
        reply = deceased.check(hub, acting_for(hub, body, officer), person)
    finally:
        hub.close()
    answer = answer_of(reply)
    if as_json:
        print_json(answer)
        return
    said = "recorded as deceased" if answer["deceased"] else "not recorded as deceased on these details"
    console.print(f"{said}; decision {answer['decision_id']} under {answer['agreement_id']}, "
                  "recorded in the audit log", highlight=False)
