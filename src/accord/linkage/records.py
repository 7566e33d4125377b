"""Reading a body's file of records: the one CSV/Parquet reader of records every service and command uses
(files of linked pairs and their ground truth, which have typed columns, are ``evaluate.read_tabular``'s).

A CSV file is read with every column as text (an account reference "007"
stays "007"; dates are read by the standardiser, which knows the day/month
orders); a Parquet file keeps its own types. The file may be a path or the
bytes of an upload. Everything a user can get wrong raises ``InvalidInput``
with one sentence naming the file and, where it can, the line: not CSV or
Parquet, missing, empty, no rows, not UTF-8, a row with the wrong number of
fields, a column named twice. Which column holds which standard field is
``standardise.known_columns`` (the one table of column aliases).
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from accord.errors import InvalidInput

CSV_SUFFIXES = (".csv",)
UPLOAD_CSV_SUFFIXES = (".csv", ".txt", "")  # an upload with no telling name is read as CSV
PARQUET_SUFFIXES = (".parquet", ".pq")
PARQUET_MAGIC = b"PAR1"


def read_records(source: Path | bytes, source_name: str, *, name: str | None = None,
                 columns: list[str] | None = None) -> pa.Table:
    """A file of records as an Arrow table (see the module docstring).

    ``source_name`` prefixes every message ("LEFT people.csv"); ``name`` is the
    file's own name (default: the path's), whose suffix says CSV or Parquet.
    """
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
        name = name or "upload"
        kind = "parquet" if data[:4] == PARQUET_MAGIC or Path(name).suffix.lower() in PARQUET_SUFFIXES else \
            "csv" if Path(name).suffix.lower() in UPLOAD_CSV_SUFFIXES else None
        if not data:
            raise InvalidInput(f"{source_name}: {name} is empty")
        opener = lambda: io.BytesIO(data)  # noqa: E731
    else:
        path = Path(source)
        name = name or path.name
        suffix = path.suffix.lower()
        kind = "csv" if suffix in CSV_SUFFIXES else "parquet" if suffix in PARQUET_SUFFIXES else None
        if kind is not None and not path.is_file():
            raise InvalidInput(f"{source_name}: {name} does not exist")
        if kind is not None and path.stat().st_size == 0:
            raise InvalidInput(f"{source_name}: {name} is empty")
        opener = lambda: path.open("rb")  # noqa: E731
    if kind is None:
        raise InvalidInput(f"{source_name}: {name} is not a CSV or Parquet file (expected .csv or .parquet)")
    table = (_read_csv(opener, source_name, name, columns) if kind == "csv"
             else _read_parquet(opener, source_name, name, columns))
    if table.num_rows == 0:
        raise InvalidInput(f"{source_name}: {name} has no rows")
    duplicated = sorted({n for n in table.column_names if table.column_names.count(n) > 1})
    if duplicated:
        raise InvalidInput(f"{source_name}: column '{duplicated[0]}' appears more than once in {name}")
    return table


def _read_parquet(opener, source_name: str, name: str, columns: list[str] | None) -> pa.Table:  # noqa: ANN001
    try:
        with opener() as handle:
            return pq.read_table(handle, columns=columns)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as exc:
        raise InvalidInput(f"{source_name}: {name} is not a readable Parquet file "
                           f"({str(exc).splitlines()[0][:120]})") from None


def _read_csv(opener, source_name: str, name: str, columns: list[str] | None = None) -> pa.Table:  # noqa: ANN001
    """Every column as text; with ``columns``, only those are converted and kept (the rest are skipped)."""
    try:
        with opener() as handle:
            header = pacsv.open_csv(handle).schema.names
        with opener() as handle:
            return pacsv.read_csv(
                handle,
                parse_options=pacsv.ParseOptions(newlines_in_values=True),
                convert_options=pacsv.ConvertOptions(
                    column_types={column: pa.string() for column in header}, strings_can_be_null=True,
                    quoted_strings_can_be_null=False,
                    include_columns=[c for c in header if c in columns] if columns is not None else None,
                ),
            )
    except pa.ArrowInvalid as exc:
        with opener() as handle:
            raise InvalidInput(f"{source_name}: {name}: {_csv_problem(handle, str(exc))}") from None


def _csv_problem(raw: BinaryIO, arrow_message: str) -> str:
    """Where a CSV file first goes wrong, found by re-reading it line by line (only on the error path)."""
    data = raw.read()
    for number, line in enumerate(data.splitlines(keepends=True), start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            return f"line {number} is not UTF-8 text (save the file as UTF-8)"
    reader = csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""))
    header = next(reader, [])
    for row in reader:
        if row and len(row) != len(header):
            return f"line {reader.line_num} has {len(row)} fields but the header has {len(header)}"
    first = arrow_message.splitlines()[0] if arrow_message else "unreadable"
    return re.sub(r":\s.*$", "", first.replace("CSV parse error: ", ""))[:120] or "not a readable CSV file"


def column_names(path: Path, source_name: str) -> list[str]:
    """A CSV or Parquet file's column names, without reading its rows."""
    path = Path(path)
    try:
        if path.suffix.lower() in PARQUET_SUFFIXES:
            return list(pq.read_schema(path).names)
        with path.open("rb") as handle:
            return list(pacsv.open_csv(handle).schema.names)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidInput(f"{source_name}: {path.name} cannot be read ({str(exc).splitlines()[0][:120]})") from None
