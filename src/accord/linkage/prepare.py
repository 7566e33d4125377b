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

import csv
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from accord.errors import InvalidInput
from accord.linkage.standardise import (
    ADDRESS_ABBREVIATIONS,
    MAX_YEAR,
    MIN_YEAR,
    NINO_UNALLOCATED,
    STANDARD_FIELDS,
    parse_date,
    parse_mapping,
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
CSV_SUFFIXES = (".csv",)
PARQUET_SUFFIXES = (".parquet", ".pq")
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


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def read_input(path: Path, source: str, columns: list[str] | None = None) -> pa.Table:
    """A CSV (every column as text) or Parquet file as an Arrow table; InvalidInput if it cannot be."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in CSV_SUFFIXES + PARQUET_SUFFIXES:
        raise InvalidInput(f"{source}: {path.name} is not a CSV or Parquet file (expected .csv or .parquet)")
    if not path.is_file():
        raise InvalidInput(f"{source}: {path} does not exist")
    if path.stat().st_size == 0:
        raise InvalidInput(f"{source}: {path.name} is empty")
    table = _read_csv(path, source) if suffix in CSV_SUFFIXES else _read_parquet(path, source, columns)
    if table.num_rows == 0:
        raise InvalidInput(f"{source}: {path.name} has no rows")
    duplicated = sorted({n for n in table.column_names if table.column_names.count(n) > 1})
    if duplicated:
        raise InvalidInput(f"{source}: column '{duplicated[0]}' appears more than once in {path.name}")
    return table


def _read_parquet(path: Path, source: str, columns: list[str] | None = None) -> pa.Table:
    try:
        return pq.read_table(path, columns=columns)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as exc:
        raise InvalidInput(f"{source}: {path.name} is not a readable Parquet file "
                           f"({str(exc).splitlines()[0][:120]})") from None


def _read_csv(path: Path, source: str) -> pa.Table:
    try:
        header = pacsv.open_csv(path).schema.names
        return pacsv.read_csv(
            path,
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in header}, strings_can_be_null=True,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as exc:
        raise InvalidInput(f"{source}: {path.name}: {_csv_problem(path, str(exc))}") from None


def _csv_problem(path: Path, arrow_message: str) -> str:
    """Where a CSV file first goes wrong, found by re-reading it line by line (only on the error path)."""
    with path.open("rb") as raw:
        for number, line in enumerate(raw, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return f"line {number} is not UTF-8 text (save the file as UTF-8)"
    with path.open(encoding="utf-8-sig", newline="") as text:
        reader = csv.reader(text)
        header = next(reader, [])
        for row in reader:
            if row and len(row) != len(header):
                return (f"line {reader.line_num} has {len(row)} fields but the header has {len(header)}")
    first = arrow_message.splitlines()[0] if arrow_message else "unreadable"
    return re.sub(r":\s.*$", "", first.replace("CSV parse error: ", ""))[:120] or "not a readable CSV file"


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
    ids = _ids(table, id_column, source)
    columns: dict[str, pa.Array] = {"id": ids}
    notes: list[str] = []
    con = duckdb.connect()
    try:
        con.execute("SET enable_progress_bar = false").fetchall()
        sql_fields = {std: col for std, col in resolved.items() if std in _SQL_FIELDS}
        if sql_fields:
            columns.update(_standardise_in_duckdb(con, table, sql_fields, source, date_tolerance, notes))
    finally:
        con.close()
    for std, col in resolved.items():
        if std in ("first_name", "middle_name", "surname"):
            columns[std] = _standardise_names(_as_text(table.column(col), source, col))
    n = table.num_rows
    arrays = [columns.get(f, pa.nulls(n, STANDARD_SCHEMA.field(f).type)) for f in STANDARD_SCHEMA.names]
    return PreparedInput(source, pa.Table.from_arrays(arrays, schema=STANDARD_SCHEMA), resolved, id_column, notes)


def _pick_id_column(table: pa.Table, id_column: str | None, source: str) -> str | None:
    if id_column is not None:
        if id_column not in table.column_names:
            raise InvalidInput(f"{source}: id column '{id_column}' is not in the input "
                               f"(columns: {', '.join(table.column_names)})")
        return id_column
    return next((c for c in DEFAULT_ID_COLUMNS if c in table.column_names), None)


def _ids(table: pa.Table, id_column: str | None, source: str) -> pa.Array:
    """Record ids as text: unique and present, or InvalidInput naming the first bad row."""
    if id_column is None:
        return pa.array([str(i) for i in range(1, table.num_rows + 1)], type=pa.string())
    ids = _as_text(table.column(id_column), source, id_column)
    empty = pc.fill_null(pc.equal(ids, ""), True)
    if pc.any(empty).as_py():
        row = pc.index(empty, True).as_py() + 1
        raise InvalidInput(f"{source}: id column '{id_column}' is empty at row {row}")
    codes = pc.dictionary_encode(ids).indices.to_numpy(zero_copy_only=False)
    first_seen = np.zeros(len(codes), dtype=bool)
    first_seen[np.unique(codes, return_index=True)[1]] = True
    if not first_seen.all():
        row = int(np.flatnonzero(~first_seen)[0]) + 1
        raise InvalidInput(f"{source}: id column '{id_column}' repeats an id at row {row} "
                           f"({int((~first_seen).sum())} repeated rows); ids must be unique")
    return ids


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


def _standardise_names(values: pa.Array) -> pa.Array:
    """Names standardised once per distinct value."""
    encoded = pc.dictionary_encode(values)
    standard = [_ascii_name(v) if v.isascii() else standardise_name(v) for v in encoded.dictionary.to_pylist()]
    return pa.array(standard, type=pa.string()).take(encoded.indices)


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


def _standardise_in_duckdb(con: duckdb.DuckDBPyConnection, table: pa.Table, fields: dict[str, str], source: str,
                           tolerance: float, notes: list[str]) -> dict[str, pa.Array]:
    """postcode, nino, address, uprn, sex and dob: each distinct value once, in one vectorised query per field.

    Columns are dictionary-encoded in Arrow, the dictionary (distinct values) is
    standardised by DuckDB, and the result is taken back by the row indices; a
    million rows hold only some 30,000 distinct dates and 200,000 addresses.
    """
    out: dict[str, pa.Array] = {}
    for std, col in fields.items():
        values = _prepare_column(table.column(col), std, source, col)
        if pa.types.is_date32(values.type):
            out[std] = values
            continue
        encoded = pc.dictionary_encode(values)
        dictionary, indices = encoded.dictionary, encoded.indices
        con.register("d", pa.table({"i": pa.array(np.arange(len(dictionary), dtype=np.int64)), "v": dictionary}))
        con.execute(f"CREATE OR REPLACE TEMP TABLE t AS SELECT i, v, {_trimmed('v')} AS tv, "
                    "coalesce(strlen(v) <> length(v), false) AS py FROM d").fetchall()
        con.unregister("d")
        if std == "dob":
            standard = _standardise_dates(con, dictionary, indices, col, source, tolerance, notes)
        else:
            standard = con.sql(f"SELECT {_SQL_FIELDS[std][0]('tv')} AS s, py FROM t ORDER BY i").to_arrow_table()
            standard = _python_fallback(std, standard, dictionary, day_first=True)
        out[std] = standard.take(indices).cast(STANDARD_SCHEMA.field(std).type)
    con.execute("DROP TABLE IF EXISTS t").fetchall()
    return out


def _python_fallback(std: str, standard: pa.Table, dictionary: pa.Array, day_first: bool) -> pa.Array:
    """Distinct values with non-ASCII text standardised one by one in Python (the reference implementation)."""
    column = standard.column("s").combine_chunks()
    flags = standard.column("py").combine_chunks()
    if not pc.any(flags).as_py():
        return column
    positions = pc.indices_nonzero(flags).to_pylist()
    raw = dictionary.take(pa.array(positions, type=pa.int64())).to_pylist()
    if std == "dob":
        fixed = [parse_date(v, day_first) for v in raw]
    else:
        fn = _SQL_FIELDS[std][1]
        fixed = [fn(v) for v in raw]
    merged = column.to_pylist()
    for i, value in zip(positions, fixed):
        merged[i] = value
    return pa.array(merged, type=column.type)


def _standardise_dates(con: duckdb.DuckDBPyConnection, dictionary: pa.Array, indices: pa.Array, column: str,
                       source: str, tolerance: float, notes: list[str]) -> pa.Array:
    """Dates read from text, the day/month order detected as in ``standardise_dates`` (rows weighted)."""
    counts = np.bincount(indices.drop_null().to_numpy(zero_copy_only=False), minlength=len(dictionary))
    con.register("n", pa.table({"i": pa.array(np.arange(len(dictionary), dtype=np.int64)), "n": counts}))
    first_big, second_big, present, slashed = con.execute(f"""
        SELECT coalesce(sum(n) FILTER (WHERE try_cast(regexp_extract(tv, '{_SLASHED}', 1) AS INTEGER) > 12), 0),
               coalesce(sum(n) FILTER (WHERE try_cast(regexp_extract(tv, '{_SLASHED}', 2) AS INTEGER) > 12), 0),
               coalesce(sum(n) FILTER (WHERE tv IS NOT NULL), 0),
               coalesce(sum(n) FILTER (WHERE regexp_matches(tv, '{_SLASHED}')), 0)
        FROM t JOIN n USING (i)""").fetchall()[0]
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
    standard = con.sql(f"SELECT CASE WHEN NOT py THEN {_date_sql('tv', day_first)} END AS s, py, "
                       "tv IS NOT NULL AS present FROM t ORDER BY i").to_arrow_table()
    con.unregister("n")
    parsed = _python_fallback("dob", standard, dictionary, day_first)
    present_values = standard.column("present").combine_chunks()
    bad_value = pc.and_(present_values, pc.is_null(parsed))
    if pc.any(bad_value).as_py():
        bad_rows = pc.fill_null(bad_value.take(indices), False)
        bad = pc.sum(bad_rows).as_py() or 0
        if bad > allowed:
            rows = ", ".join(str(i + 1) for i in pc.indices_nonzero(bad_rows)[:5].to_pylist())
            raise InvalidInput(
                f"{source}: column '{column}': {bad} of {present} values are not dates in a known format "
                f"(YYYY-MM-DD, DD/MM/YYYY, MM/DD/YYYY, YYYYMMDD); first at row {rows}")
        if bad:
            notes.append(f"column '{column}': {bad} unreadable date(s) left empty")
    return parsed


__all__ = ["PreparedInput", "STANDARD_SCHEMA", "prepare_file", "prepare_table", "read_input"]
