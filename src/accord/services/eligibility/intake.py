"""Intake: a supplier's customer list read whole, validated and staged as a job's input.

The list is read with the one record reader (``accord.linkage.records``), its
columns found by the one table of aliases, and checked whole before anything is
written: every problem names the row and column, never a value. A list encoded
with ``accord encode`` is checked against the agreement and the discloser's
encoding instead (``encoded``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from accord.errors import InvalidInput
from accord.files import sha256_of
from accord.linkage import standardise as std
from accord.linkage.records import read_records
from accord.runtime import Hub
from accord.services import jobs

REFERENCE_COLUMNS = ("account_reference", "account_ref", "account_number", "account_id")
MAX_REFERENCE = 100
FORMATS = {".csv": "csv", ".parquet": "parquet"}
MATCH_FIELDS = ("first_name", "surname", "postcode", "address", "dob", "nino")
# Each set of fields that lets at least one rule fire; a list must have one of them.
USABLE = (
    ("nino", "surname"),
    ("nino", "dob"),
    ("dob", "surname", "postcode"),
    ("first_name", "surname", "postcode"),
    ("first_name", "surname", "address"),
)


def connect(scratch: Path | None = None, memory: str = "2GB") -> duckdb.DuckDBPyConnection:
    config = {"memory_limit": memory, "threads": 2}
    if scratch is not None:
        config["temp_directory"] = str(scratch)
    return duckdb.connect(config=config)


def _resolve_columns(columns: list[str], mapping: dict[str, str], reference: str | None,
                     name: str) -> tuple[str, dict[str, str]]:
    """The account reference column and {matching field: column}, from the mapping and known names."""
    unknown = [f for f in mapping if f not in MATCH_FIELDS]
    if unknown:
        raise InvalidInput(f"{name}: '{unknown[0]}' is not a matching field (fields: {', '.join(MATCH_FIELDS)})")
    for wanted in [*mapping.values(), *([reference] if reference else [])]:
        if wanted not in columns:
            raise InvalidInput(f"{name}: column '{wanted}' is not in the file (columns: {', '.join(columns)})")
    if reference is None:
        found = [c for c in REFERENCE_COLUMNS if c in columns]
        if not found:
            raise InvalidInput(
                f"{name}: no account reference column (name it one of {', '.join(REFERENCE_COLUMNS)}, "
                "or say which with the reference option)"
            )
        reference = found[0]
    resolved = dict(mapping)
    resolved.update(std.known_columns(columns, [f for f in MATCH_FIELDS if f not in resolved], exclude=[reference]))
    if not usable(resolved):
        raise InvalidInput(
            f"{name}: not enough identifiers to match on; the file needs columns for first_name, surname and "
            "postcode (or address), or for nino with surname or dob, or for dob, surname and postcode "
            f"(columns: {', '.join(columns)})"
        )
    return reference, {f: resolved[f] for f in MATCH_FIELDS if f in resolved}


def _check_references(references: pa.ChunkedArray, column: str, name: str) -> pa.Array:
    text = references.cast(pa.string()).combine_chunks() if references.num_chunks else pa.array([], pa.string())
    stripped = pc.utf8_trim_whitespace(text)
    blank = pc.or_kleene(pc.is_null(stripped), pc.equal(stripped, ""))
    bad = pc.indices_nonzero(pc.fill_null(blank, True))
    if len(bad):
        raise InvalidInput(f"{name}: row {bad[0].as_py() + 1}, column '{column}': the account reference is empty")
    too_long = pc.indices_nonzero(pc.greater(pc.utf8_length(stripped), MAX_REFERENCE))
    if len(too_long):
        raise InvalidInput(
            f"{name}: row {too_long[0].as_py() + 1}, column '{column}': an account reference is longer than "
            f"{MAX_REFERENCE} characters"
        )
    control = pc.indices_nonzero(pc.match_substring_regex(stripped, r"[\x00-\x1f\x7f]"))
    if len(control):
        raise InvalidInput(
            f"{name}: row {control[0].as_py() + 1}, column '{column}': the account reference contains control characters"
        )
    if pc.count_distinct(stripped).as_py() != len(stripped):
        with connect() as connection:
            connection.register("refs", pa.table({"ref": stripped, "row": pa.array(range(1, len(stripped) + 1))}))
            rows = connection.execute(
                "SELECT row, first_row FROM (SELECT row, min(row) OVER (PARTITION BY ref) AS first_row FROM refs) "
                "WHERE row > first_row ORDER BY row LIMIT 1"
            ).fetchall()
        row, first = rows[0]
        raise InvalidInput(
            f"{name}: row {row}, column '{column}': the account reference repeats row {first}; each account may "
            "appear once"
        )
    return stripped


def _text_column(values: pa.ChunkedArray) -> pa.Array:
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        out = values
    else:
        try:
            out = values.cast(pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise InvalidInput("a matching column holds values that are not text") from None
    out = out.combine_chunks() if isinstance(out, pa.ChunkedArray) and out.num_chunks else out
    return out if not isinstance(out, pa.ChunkedArray) else pa.array([], pa.string())


def validate(table: pa.Table, *, mapping: dict[str, str] | None = None, reference: str | None = None,
             name: str = "upload") -> pa.Table:
    """A customer list checked whole and put in the form jobs read: ``_row``, ``account_reference``
    and one column per matching field the list has (dates of birth parsed). Raises InvalidInput
    naming the row and column at fault; never includes a value in the message."""
    if table.num_rows == 0:
        raise InvalidInput(f"{name}: the file has no customer rows")
    reference, resolved = _resolve_columns(table.column_names, dict(mapping or {}), reference, name)
    columns = {
        "_row": pa.array(range(table.num_rows), type=pa.int64()),
        "account_reference": _check_references(table.column(reference), reference, name),
    }
    for field_name, column in resolved.items():
        values = table.column(column)
        if field_name == "dob":
            if not (pa.types.is_date(values.type) or pa.types.is_timestamp(values.type)):
                values = values.cast(pa.string())
            try:
                parsed = std.standardise_dates(values, column=column)
            except InvalidInput as refused:
                raise InvalidInput(f"{name}: {refused.detail}") from None
            columns["dob"] = pa.array(parsed.values, type=pa.date32()) if isinstance(parsed.values, list) \
                else parsed.values
        else:
            try:
                columns[field_name] = _text_column(values)
            except InvalidInput:
                raise InvalidInput(f"{name}: column '{column}' holds values that are not text") from None
    return pa.table(columns)


@dataclass
class Staged:
    """A validated upload written where its job will read it."""

    job_id: str
    directory: Path
    rows: int
    fields: tuple[str, ...]
    sha256: str
    encoded: bool = False


def stage(hub: Hub, source: Path, fmt: str, *, mapping: dict[str, str] | None = None,
          reference: str | None = None, name: str | None = None, agreement_id: str | None = None) -> Staged:
    """Validate a customer list and write it as the input of a job not yet created.

    A list encoded with ``accord encode`` (Parquet with its encoding parameters)
    is checked against the agreement and DWP's encoding instead. Nothing is
    written unless the whole file is valid; the caller deletes the directory if
    the job is then not created (``jobs.sweep_orphans`` does too).
    """
    name = name or source.name
    if fmt not in FORMATS.values():
        raise InvalidInput(f"{name}: send the customer list as CSV or Parquet")
    if not source.is_file():
        raise InvalidInput(f"{name}: no such file")
    encoded = is_encoded_list(source, fmt)
    if encoded:
        if agreement_id is None:
            raise InvalidInput(f"{name}: an encoded list needs the agreement it was encoded for")
        from accord.services.eligibility.encoded import validate_encoded

        table = validate_encoded(hub, source, agreement_id, name)
    else:
        table = validate(read_records(source, name), mapping=mapping, reference=reference, name=name)
    job_id = jobs.new_job_id()
    directory = jobs.job_dir(hub, job_id)
    directory.mkdir(parents=True, exist_ok=False)
    temp = directory / ".input.parquet.tmp"
    pq.write_table(table, temp, compression="zstd", row_group_size=65_536)
    os.replace(temp, directory / "input.parquet")
    digest = sha256_of(source)
    fields = tuple(c for c in table.column_names if c in MATCH_FIELDS)
    return Staged(job_id, directory, table.num_rows, fields, digest, encoded)


def usable(fields: dict[str, str]) -> bool:
    return any(all(f in fields for f in needed) for needed in USABLE)


def is_encoded_list(source: Path, fmt: str) -> bool:
    """True for a Parquet file made by ``accord encode`` (Bloom filters, with its encoding parameters)."""
    if fmt != "parquet":
        return False
    try:
        from accord.linkage import pprl
    except ImportError:  # the linkage engine without privacy-preserving linkage
        return False
    try:
        schema = pq.read_schema(source)
    except (OSError, pa.ArrowException):
        return False
    return pprl.is_encoded(schema)
