"""Batch files: a file of applications read whole and validated, and the results file written whole.

A batch is read with the one record reader (``accord.linkage.records``) and its
columns found by the one table of aliases (``standardise.known_columns``, so
``date_of_birth`` and ``forename`` are found without a mapping). Every problem
names the file, row and column (rows count from 1, after the header); a file
with any problem checks nothing.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from accord.errors import InvalidInput
from accord.linkage.records import read_records
from accord.linkage.standardise import known_columns, standardise_table
from accord.services.verification.answer import Result
from accord.services.verification.intake import (
    APPLICANT_FIELDS, FIELD_LABELS, MAX_BATCH, REQUIRED_FIELDS, present,
)

REFERENCE_COLUMN = "reference"
RESULT_COLUMNS = ("reference", "grade", "agreed")
_MAX_ROW_PROBLEMS = 5


def _text_columns(table: pa.Table, name: str) -> pa.Table:
    """Every column as text, except dates already typed (a Parquet file's own types)."""
    columns = []
    for column_name, column in zip(table.column_names, table.columns):
        kind = column.type
        if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
            raise InvalidInput(f"{name}: column '{column_name}' is not UTF-8 text")
        if not (pa.types.is_date(kind) or pa.types.is_timestamp(kind) or pa.types.is_string(kind)):
            try:
                column = column.cast(pa.string())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                raise InvalidInput(f"{name}: column '{column_name}' cannot be read as text") from None
        columns.append(column)
    return pa.table(columns, names=table.column_names)


def _mapping(columns: Sequence[str], mapping: Mapping[str, str] | None, name: str) -> dict[str, str]:
    """{standard field: column}: the user's mapping, then columns named as a field or a known alias."""
    mapping = dict(mapping or {})
    for std, column in mapping.items():
        if std not in APPLICANT_FIELDS:
            raise InvalidInput(f"{name}: '{std}' is not a detail an application gives (one of {', '.join(APPLICANT_FIELDS)})")
        if column not in columns:
            raise InvalidInput(f"{name}: column '{column}' (mapped to {std}) is not in the file (columns: {', '.join(columns)})")
    found = known_columns(columns, [f for f in APPLICANT_FIELDS if f not in mapping])
    mapping.update(found)
    missing = [std for std in REQUIRED_FIELDS if std not in mapping]
    if missing:
        raise InvalidInput(
            f"{name}: no column for {', '.join(missing)} (columns: {', '.join(columns)}; map one with std=column)")
    return {std: mapping[std] for std in APPLICANT_FIELDS if std in mapping}


def read_applications(data: bytes, name: str, *, mapping: Mapping[str, str] | None = None,
                      reference_column: str | None = None, today: date | None = None) -> list[tuple[str, dict]]:
    """A file of applications as (reference, standardised details), validated whole before anything is checked.

    The reference column (default ``reference``; without one, the row number) must be
    unique and non-empty. Dates in one column are read in one order, detected from the data.
    """
    table = _text_columns(read_records(data, "applications", name=name), name)
    if table.num_rows > MAX_BATCH:
        raise InvalidInput(f"{name}: at most {MAX_BATCH:,} applications may be checked at once; the file has {table.num_rows:,}")
    columns = table.column_names
    resolved = _mapping(columns, mapping, name)
    if reference_column is not None and reference_column not in columns:
        raise InvalidInput(f"{name}: reference column '{reference_column}' is not in the file (columns: {', '.join(columns)})")
    reference_column = reference_column or (REFERENCE_COLUMN if REFERENCE_COLUMN in columns else None)
    standard = standardise_table(table, resolved, id_column=reference_column, source=name, date_tolerance=0.0).table
    today = today or date.today()
    problems: list[str] = []
    raw = {std: table.column(column).to_pylist() for std, column in resolved.items()}
    values = {std: standard.column(std).to_pylist() for std in resolved}
    references = standard.column("id").to_pylist() if reference_column else [str(i + 1) for i in range(table.num_rows)]
    seen: dict[str, int] = {}
    out: list[tuple[str, dict]] = []
    for row in range(table.num_rows):
        reference = references[row]
        if reference is None or not str(reference).strip():
            problems.append(f"row {row + 1}, column '{reference_column}': the application reference is empty")
        elif reference in seen:
            problems.append(f"row {row + 1}, column '{reference_column}': reference repeats row {seen[reference]}")
        else:
            seen[reference] = row + 1
        applicant: dict[str, Any] = {}
        for std, column in resolved.items():
            given, value = raw[std][row], values[std][row]
            if value is None:
                if present(given):
                    problems.append(f"row {row + 1}, column '{column}': not a valid {FIELD_LABELS[std]}")
                elif std in REQUIRED_FIELDS:
                    problems.append(f"row {row + 1}, column '{column}': the {FIELD_LABELS[std]} is missing")
            elif std == "dob" and value > today:
                problems.append(f"row {row + 1}, column '{column}': the date of birth is in the future")
            else:
                applicant[std] = value
        out.append((reference, applicant))
        if len(problems) >= _MAX_ROW_PROBLEMS:
            break
    if problems:
        raise InvalidInput(f"{name}: the applications are not valid", problems[:_MAX_ROW_PROBLEMS])
    return out


def results_table(results: Sequence[Result]) -> pa.Table:
    return pa.table({
        "reference": pa.array([r.reference for r in results], type=pa.string()),
        "grade": pa.array([r.grade for r in results], type=pa.string()),
        "agreed": pa.array([list(r.agreed) for r in results], type=pa.list_(pa.string())),
    })


def results_csv(results: Sequence[Result]) -> bytes:
    """One row per application: reference, grade, and the agreeing fields comma-separated."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(RESULT_COLUMNS)
    for result in results:
        writer.writerow([result.reference, result.grade, ",".join(result.agreed)])
    return buffer.getvalue().encode("utf-8")


def write_results(results: Sequence[Result], out: Path) -> None:
    """Write a results file (CSV or Parquet by extension) whole, or not at all: temp file, then rename."""
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise InvalidInput(f"{out}: the results file must end in .csv or .parquet")
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=suffix, dir=out.parent)
    os.close(handle)
    temp = Path(temp_name)
    try:
        if suffix == ".csv":
            temp.write_bytes(results_csv(results))
        else:
            pq.write_table(results_table(results), temp)
        os.replace(temp, out)
    finally:
        temp.unlink(missing_ok=True)
