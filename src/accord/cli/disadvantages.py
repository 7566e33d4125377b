"""`accord disadvantages`: a council's households meeting two or more of the objective's factors.

The command runs the same service as the API (decided, audited) for the body it
names, and writes the answer to a file: CSV (one row per household: UPRN,
account references, factor names) or JSON (the API's answer), by the file's
suffix. The file is written beside its final name and renamed, so a failed run
leaves nothing half-written. A refusal prints its reasons and exits 1 (it was
recorded); bad input exits 2.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from accord.cli.common import OFFICER_HELP, acting_for, answer_of, console, open_hub
from accord.errors import InvalidInput
from accord.services import disadvantages

app = typer.Typer(help="Multiple disadvantages (Supporting Families): households meeting two or more factors.",
                  no_args_is_help=True)

CSV_COLUMNS = ("uprn", "account_refs", "factors")
FORMATS = {".csv": "csv", ".json": "json"}


def _csv(answer: dict) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for household in answer["households"]:
        reference = household["reference"]
        writer.writerow([reference.get("uprn", ""), " ".join(reference.get("account_refs", [])),
                         " ".join(household["factors"])])
    return buffer.getvalue()


def _write_atomically(path: Path, text: str) -> None:
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.write(text)
        os.replace(temp, path)
    finally:
        Path(temp).unlink(missing_ok=True)


def _output(path: Path) -> str:
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise InvalidInput(f"{path}: the output must end in .csv or .json")
    if path.is_dir():
        raise InvalidInput(f"{path}: is a directory, not a file")
    if not path.parent.is_dir():
        raise InvalidInput(f"{path}: the directory {path.parent} does not exist")
    if not os.access(path.parent, os.W_OK):
        raise InvalidInput(f"{path}: the directory {path.parent} cannot be written")
    return kind


@app.command("identify")
def identify(
    agreement: Annotated[str, typer.Option("--agreement", help="The multiple_disadvantages agreement to ask under")],
    body: Annotated[str, typer.Option("--body", help="The council asking (a recipient of the agreement)")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the households: a .csv or .json file")],
    officer: Annotated[str | None, typer.Option("--officer", help=OFFICER_HELP)] = None,
    min_factors: Annotated[int | None, typer.Option("--min-factors", help="Factors a household must meet "
                                                    "(default: the objective's minimum, 2)")] = None,
) -> None:
    """Identify the households in the council's area meeting two or more factors, decided and audited."""
    kind = _output(out)
    hub = open_hub()
    try:
        reply = disadvantages.identify(hub, acting_for(hub, body, officer), agreement, min_factors=min_factors)
    finally:
        hub.close()
    answer = answer_of(reply)
    _write_atomically(out, _csv(answer) if kind == "csv" else json.dumps(answer, indent=2) + "\n")
    console.print(
        f"{answer['count']:,} households in {body}'s area meet {answer['min_factors']} or more of: "
        f"{', '.join(answer['factors_considered'])}; written to {out}", highlight=False, soft_wrap=True)
