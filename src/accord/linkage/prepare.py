"""A body's file read and turned into the standard fields, fast enough for millions of rows.

``prepare_file`` reads a CSV or Parquet file, maps its columns to the standard
fields (``--left-map first_name=forename,...``; a column already named as a
standard field maps itself) and returns an Arrow table with the columns
``id`` and every standard field in ``STANDARD_FIELDS`` order (a field the file
does not have is an all-null column), so both sides of a linkage have the
same schema.

The standard forms are exactly those of ``accord.linkage.standardise`` (the
tests compare the two value by value). That module works one distinct value
at a time in Python, which suits names (a few thousand distinct values in a
million rows) but not postcodes, NINOs, addresses or dates, which are nearly
all distinct: those are standardised here in one DuckDB query, vectorised
and on every core. Values with non-ASCII characters (rare in these fields) go
through the Python standardiser, so Unicode whitespace and accents are
handled the same way in both.

Everything a user can get wrong raises ``InvalidInput`` with one sentence
naming the side, the file and the column or row: a missing file, a file that
is empty or has no rows, text that is not UTF-8, a malformed CSV row, a mapped
column that is not in the file, an id column with gaps or repeats, and a date
column that cannot be read.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from accord.errors import InvalidInput
from accord.files import parse_mapping
from accord.linkage.records import PARQUET_SUFFIXES, read_records
from accord.linkage.standardise import (
    ADDRESS_ABBREVIATIONS,
    MAX_YEAR,
    MIN_YEAR,
    NINO_UNALLOCATED,
    STANDARD_FIELDS,
    parse_date,
    resolve_mapping,
    standardise_address,
    SUFFIXES,
    TITLES,
    standardise_name,
    standardise_nino,
    standardise_postcode,
    standardise_sex,
    standardise_uprn,
)

STANDARD_SCHEMA = pa.schema(
    [("id", pa.string())]
    + [(name, pa.date32() if name == "dob" else pa.string()) for name in STANDARD_FIELDS]
)
DEFAULT_ID_COLUMNS = ("record_id", "id")

# Python's str.strip() and re's \s on ASCII: space, \t \n \v \f \r and the separators \x1c-\x1f.
_WS = r"[\t\n\x0b\x0c\r\x1c-\x1f ]"
_POSTCODE = (r"(?:[A-PR-UWYZ][0-9]{1,2}|[A-PR-UWYZ][A-HK-Y][0-9]{1,2}|[A-PR-UWYZ][0-9][A-HJKPSTUW]"
             r"|[A-PR-UWYZ][A-HK-Y][0-9][ABEHMNPRVWXY])[0-9][ABD-HJLNP-UW-Z]{2}")
_NINO = r"[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z][0-9]{6}[A-D]"
_ISO = r"^([0-9]{4})[-/.]([0-9]{1,2})[-/.]([0-9]{1,2})(?:[T ][0-9:.]+Z?)?$"
_COMPACT = r"^([0-9]{4})([0-9]{2})([0-9]{2})$"
_SLASHED = r"^([0-9]{1,2})[/.-]([0-9]{1,2})[/.-]([0-9]{4})$"
_SEX = {"m": "M", "male": "M", "man": "M", "1": "M", "f": "F", "female": "F", "woman": "F", "2": "F"}


@dataclass
class PreparedInput:
    """One side of a linkage: its records in standard form, and how they were read."""

    source: str  # e.g. "LEFT people.csv", used in messages
    table: pa.Table  # STANDARD_SCHEMA
    mapping: dict[str, str]  # standard field -> the file's column
    id_column: str | None  # None: ids are row numbers
    notes: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return self.table.num_rows

    @property
    def fields(self) -> tuple[str, ...]:
        """The standard fields this input has (mapped), in standard order."""
        return tuple(f for f in STANDARD_FIELDS if f in self.mapping)


# --------------------------------------------------------------------------- reading


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def read_input(path: Path, source: str, columns: list[str] | None = None) -> pa.Table:
    """A CSV (every column as text) or Parquet file as an Arrow table; InvalidInput if it cannot be."""
    return read_records(Path(path), source, columns=columns)


# --------------------------------------------------------------------------- preparing


def prepare_file(path: Path | str, mapping: str | Mapping[str, str] | None = None, id_column: str | None = None,
                 source: str = "input", date_tolerance: float = 0.01) -> PreparedInput:
    """Read ``path`` and standardise it (see the module docstring); ``source`` names it in messages."""
    path = Path(path)
    label = f"{source} {path.name}"
    if isinstance(mapping, str) or mapping is None:
        mapping = parse_mapping(mapping, f"{source} mapping")
    table = read_input(path, label, columns=_needed_columns(path, mapping, id_column, label))
    return prepare_table(table, mapping, id_column, label, date_tolerance)


def _needed_columns(path: Path, mapping: Mapping[str, str], id_column: str | None, source: str) -> list[str] | None:
    """For Parquet, the columns linkage uses (reading the others would only cost time); None for CSV."""
    if path.suffix.lower() not in PARQUET_SUFFIXES or not path.is_file() or path.stat().st_size == 0:
        return None
    try:
        names = pq.read_schema(path).names
    except (pa.ArrowInvalid, OSError):
        return None  # read_input reports it
    resolved = resolve_mapping(names, mapping, source)
    wanted = set(resolved.values()) | {id_column or next((c for c in DEFAULT_ID_COLUMNS if c in names), "")}
    return [n for n in names if n in wanted]


def prepare_table(table: pa.Table, mapping: Mapping[str, str] | None = None, id_column: str | None = None,
                  source: str = "input", date_tolerance: float = 0.01) -> PreparedInput:
    """Standardise an Arrow table already read; ``id_column`` None picks record_id, then id, else row numbers."""
    if table.num_rows == 0:
        raise InvalidInput(f"{source}: has no rows")
    resolved = resolve_mapping(table.column_names, mapping, source)
    if not resolved:
        raise InvalidInput(f"{source}: no column is a standard field or mapped to one "
                           f"(standard fields: {', '.join(STANDARD_FIELDS)}; map columns with field=column)")
    id_column = _pick_id_column(table, id_column, source)
    notes: list[str] = []
    con = duckdb.connect()
    try:
        con.execute("SET enable_progress_bar = false").fetchall()
        standard = _standardise(con, table, resolved, id_column, source, date_tolerance, notes)
    finally:
        con.close()
    return PreparedInput(source, standard, resolved, id_column, notes)


def _pick_id_column(table: pa.Table, id_column: str | None, source: str) -> str | None:
    if id_column is not None:
        if id_column not in table.column_names:
            raise InvalidInput(f"{source}: id column '{id_column}' is not in the input "
                               f"(columns: {', '.join(table.column_names)})")
        return id_column
    return next((c for c in DEFAULT_ID_COLUMNS if c in table.column_names), None)


def _as_text(values: pa.ChunkedArray | pa.Array, source: str, column: str) -> pa.Array:
    """A column as one string array; binary that is not UTF-8 is bad input."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks else pa.array([], type=values.type)
    if pa.types.is_string(values.type):
        return values
    if pa.types.is_large_string(values.type):
        return values.cast(pa.string())
    try:
        return values.cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise InvalidInput(f"{source}: column '{column}' is not text (or not UTF-8)") from None


# --------------------------------------------------------------------------- names

_NON_LETTER = re.compile(r"[^a-z]+")


def _ascii_name(text: str) -> str | None:
    """``standardise_name`` for ASCII text, without the Unicode folding it does not need (5x faster)."""
    text = text.strip().lower().replace("'", "").replace("`", "")
    tokens = [t for t in _NON_LETTER.split(text) if t]
    while len(tokens) > 1 and tokens[0] in TITLES:
        tokens.pop(0)
    while len(tokens) > 1 and tokens[-1] in SUFFIXES:
        tokens.pop()
    tokens = ["mc" + t[3:] if t.startswith("mac") and len(t) >= 6 else t for t in tokens]
    return " ".join(tokens) or None


# --------------------------------------------------------------------------- DuckDB standardisation


def _trimmed(expr: str) -> str:
    return f"nullif(regexp_replace({expr}, '^{_WS}+|{_WS}+$', '', 'g'), '')"


def _postcode_sql(v: str) -> str:
    code = f"upper(regexp_replace({v}, '{_WS}+', '', 'g'))"
    return (f"CASE WHEN {code} = 'GIR0AA' THEN 'GIR 0AA' "
            f"WHEN regexp_full_match({code}, '{_POSTCODE}') "
            f"THEN left({code}, length({code}) - 3) || ' ' || right({code}, 3) END")


def _nino_sql(v: str) -> str:
    code = f"upper(regexp_replace({v}, '{_WS}+', '', 'g'))"
    unallocated = ", ".join(_sql_string(p) for p in sorted(NINO_UNALLOCATED))
    return (f"CASE WHEN regexp_full_match({code}, '{_NINO}') AND left({code}, 2) NOT IN ({unallocated}) "
            f"THEN {code} END")


def _address_sql(v: str) -> str:
    cases = " ".join(f"WHEN {_sql_string(k)} THEN {_sql_string(w)}" for k, w in ADDRESS_ABBREVIATIONS.items())
    tokens = (f"list_filter(regexp_split_to_array(replace(replace(lower({v}), '''', ''), '`', ''), '[^a-z0-9]+'), "
              f"lambda t: t <> '')")
    return f"nullif(array_to_string(list_transform({tokens}, lambda t: CASE t {cases} ELSE t END), ' '), '')"


def _uprn_sql(v: str) -> str:
    digits = f"CASE WHEN suffix({v}, '.0') THEN left({v}, length({v}) - 2) ELSE {v} END"
    stripped = f"ltrim({digits}, '0')"
    return (f"CASE WHEN regexp_full_match({digits}, '[0-9]+') AND length({stripped}) BETWEEN 1 AND 12 "
            f"THEN {stripped} END")


def _sex_sql(v: str) -> str:
    cases = " ".join(f"WHEN {_sql_string(k)} THEN {_sql_string(w)}" for k, w in _SEX.items())
    return f"CASE lower({v}) {cases} END"


_SQL_FIELDS = {
    "postcode": (_postcode_sql, standardise_postcode),
    "nino": (_nino_sql, standardise_nino),
    "address": (_address_sql, standardise_address),
    "uprn": (_uprn_sql, standardise_uprn),
    "sex": (_sex_sql, standardise_sex),
    "dob": (None, None),
}


def _make_date_sql(year: str, month: str, day: str) -> str:
    y = f"CAST({year} AS INTEGER)"
    return (f"CASE WHEN {y} BETWEEN {MIN_YEAR} AND {MAX_YEAR} "
            f"THEN try(make_date({y}, CAST({month} AS INTEGER), CAST({day} AS INTEGER))) END")


def _date_sql(v: str, day_first: bool) -> str:
    def part(pattern: str, group: int) -> str:
        return f"regexp_extract({v}, '{pattern}', {group})"

    a, b, year = part(_SLASHED, 1), part(_SLASHED, 2), part(_SLASHED, 3)
    slashed = _make_date_sql(year, b, a) if day_first else _make_date_sql(year, a, b)
    return (f"CASE WHEN regexp_matches({v}, '{_ISO}') "
            f"THEN {_make_date_sql(part(_ISO, 1), part(_ISO, 2), part(_ISO, 3))} "
            f"WHEN regexp_matches({v}, '{_COMPACT}') "
            f"THEN {_make_date_sql(part(_COMPACT, 1), part(_COMPACT, 2), part(_COMPACT, 3))} "
            f"WHEN regexp_matches({v}, '{_SLASHED}') THEN {slashed} END")


def _prepare_column(values: pa.ChunkedArray, std: str, source: str, column: str) -> pa.Array:
    """The column as text (or dates, for a dob already typed as one), one contiguous array."""
    if std == "dob" and (pa.types.is_date(values.type) or pa.types.is_timestamp(values.type)):
        return values.cast(pa.date32()).combine_chunks()
    if std == "uprn" and pa.types.is_floating(values.type):
        values = pc.cast(values, pa.int64(), safe=False)
    return _as_text(values, source, column)


def _standardise(con: duckdb.DuckDBPyConnection, table: pa.Table, fields: dict[str, str], id_column: str | None,
                 source: str, tolerance: float, notes: list[str]) -> pa.Table:
    """Every mapped field standardised once per distinct value, then joined back to the rows.

    A million rows hold some 30,000 distinct dates, 40,000 names and 200,000
    addresses. Each field's distinct values go into a small table (``d_<field>``)
    with their standard form: computed in SQL, or in Python for names and for
    values with non-ASCII characters. One query then joins every field back to
    the rows in their original order, on all cores.
    """
    n = table.num_rows
    inputs: dict[str, pa.Array] = {"__row": pa.array(np.arange(n, dtype=np.int64))}
    if id_column is not None:
        inputs["__id"] = _as_text(table.column(id_column), source, id_column)
    for std, col in fields.items():
        inputs[std] = _prepare_column(table.column(col), std, source, col)
    con.register("src", pa.table(inputs))
    if id_column is not None:
        _check_ids(con, id_column, source)
    selects = ["CAST(src.__id AS VARCHAR) AS id" if id_column is not None else
               "CAST(src.__row + 1 AS VARCHAR) AS id"]
    joins = []
    for std in STANDARD_FIELDS:
        if std not in fields:
            kind = "DATE" if std == "dob" else "VARCHAR"
            selects.append(f"CAST(NULL AS {kind}) AS {std}")
        elif std == "dob" and pa.types.is_date32(inputs["dob"].type):
            selects.append("src.dob AS dob")
        else:
            _distinct_values(con, std)
            if std in ("first_name", "middle_name", "surname"):
                _python_values(con, std, _name)
            elif std == "dob":
                _date_values(con, fields[std], source, tolerance, notes)
            else:
                con.execute(f"UPDATE d_{std} SET s = {_SQL_FIELDS[std][0]('tv')} WHERE NOT py").fetchall()
                _python_values(con, std, _SQL_FIELDS[std][1], only_flagged=True)
            selects.append(f"d_{std}.s AS {std}")
            joins.append(f"LEFT JOIN d_{std} ON src.{std} = d_{std}.v")
    query = f"SELECT {', '.join(selects)} FROM src {' '.join(joins)} ORDER BY src.__row"
    standard = con.sql(query).to_arrow_table()
    con.unregister("src")
    return standard.cast(STANDARD_SCHEMA)


def _check_ids(con: duckdb.DuckDBPyConnection, column: str, source: str) -> None:
    """Ids present and unique, or InvalidInput naming the first bad row."""
    empty, repeated = con.execute(
        "SELECT min(__row) FILTER (WHERE __id IS NULL OR __id = ''), count(*) - count(DISTINCT __id) FROM src"
    ).fetchall()[0]
    if empty is not None:
        raise InvalidInput(f"{source}: id column '{column}' is empty at row {empty + 1}")
    if repeated:
        row = con.execute("SELECT min(__row) FROM (SELECT __row, row_number() OVER (PARTITION BY __id "
                          "ORDER BY __row) AS seen FROM src) WHERE seen > 1").fetchall()[0][0]
        raise InvalidInput(f"{source}: id column '{column}' repeats an id at row {row + 1} "
                           f"({repeated} repeated rows); ids must be unique")


def _distinct_values(con: duckdb.DuckDBPyConnection, std: str) -> None:
    """d_<std>: each distinct raw value, how many rows hold it, trimmed, whether it needs Python, its standard form."""
    kind = "DATE" if std == "dob" else "VARCHAR"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE d_{std} AS
        SELECT v, n, {_trimmed('v')} AS tv, coalesce(strlen(v) <> length(v), false) AS py, CAST(NULL AS {kind}) AS s
        FROM (SELECT {std} AS v, count(*) AS n FROM src WHERE {std} IS NOT NULL GROUP BY {std})
    """).fetchall()


def _python_values(con: duckdb.DuckDBPyConnection, std: str, fn: Callable[[Any], Any],
                   only_flagged: bool = False) -> None:
    """Standard forms computed in Python, for the distinct values (or only those with non-ASCII text)."""
    where = "WHERE py" if only_flagged else ""
    raw = con.sql(f"SELECT v FROM d_{std} {where}").to_arrow_table().column("v").to_pylist()
    if not raw:
        return
    kind = pa.date32() if std == "dob" else pa.string()
    con.register("fixed", pa.table({"v": pa.array(raw, pa.string()), "s": pa.array([fn(v) for v in raw], kind)}))
    con.execute(f"UPDATE d_{std} SET s = fixed.s FROM fixed WHERE d_{std}.v = fixed.v").fetchall()
    con.unregister("fixed")


def _name(value: str) -> str | None:
    return _ascii_name(value) if value.isascii() else standardise_name(value)


def _date_values(con: duckdb.DuckDBPyConnection, column: str, source: str, tolerance: float,
                 notes: list[str]) -> None:
    """Dates read from text, the day/month order detected as ``standardise_dates`` does (counting rows)."""
    first_big, second_big, present, slashed = con.execute(f"""
        SELECT coalesce(sum(n) FILTER (WHERE try_cast(regexp_extract(tv, '{_SLASHED}', 1) AS INTEGER) > 12), 0),
               coalesce(sum(n) FILTER (WHERE try_cast(regexp_extract(tv, '{_SLASHED}', 2) AS INTEGER) > 12), 0),
               coalesce(sum(n) FILTER (WHERE tv IS NOT NULL), 0),
               coalesce(sum(n) FILTER (WHERE regexp_matches(tv, '{_SLASHED}')), 0)
        FROM d_dob""").fetchall()[0]
    allowed = int(tolerance * present)
    if first_big and second_big:
        if min(first_big, second_big) > allowed:
            raise InvalidInput(
                f"{source}: column '{column}': dates mix day-first and month-first order "
                f"({first_big} values read only as DD/MM/YYYY, {second_big} only as MM/DD/YYYY)")
        day_first = first_big >= second_big
    else:
        day_first = not second_big
        if not first_big and slashed:
            notes.append(f"column '{column}': no value showed the day/month order: "
                         "read as day-first (DD/MM/YYYY), the UK convention")
    con.execute(f"UPDATE d_dob SET s = {_date_sql('tv', day_first)} WHERE NOT py").fetchall()
    _python_values(con, "dob", lambda v: parse_date(v, day_first), only_flagged=True)
    bad = con.execute("SELECT coalesce(sum(n), 0) FROM d_dob WHERE tv IS NOT NULL AND s IS NULL").fetchall()[0][0]
    if bad > allowed:
        rows = con.execute("SELECT list(__row + 1 ORDER BY __row)[1:5] FROM src JOIN d_dob ON src.dob = d_dob.v "
                           "WHERE d_dob.tv IS NOT NULL AND d_dob.s IS NULL").fetchall()[0][0]
        raise InvalidInput(
            f"{source}: column '{column}': {bad} of {present} values are not dates in a known format "
            f"(YYYY-MM-DD, DD/MM/YYYY, MM/DD/YYYY, YYYYMMDD); first at row {', '.join(map(str, rows))}")
    if bad:
        notes.append(f"column '{column}': {bad} unreadable date(s) left empty")


__all__ = ["PreparedInput", "STANDARD_SCHEMA", "prepare_file", "prepare_table", "read_input"]
