"""Preparing a body's file for linkage: the vectorised standardisation equals the reference one, and bad files are refused."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from accord.errors import InvalidInput
from accord.linkage import standardise as std
from accord.linkage.prepare import STANDARD_SCHEMA, prepare_file, prepare_table

NAMES = ["  Dr Seán O'Brien-MacKay ", "MARY-JANE", "Mr", "d'Arcy", "Zoë", "smith jnr", "", None, "Łukasz",
         "mr dr john", "O`Neil", "MacDonald", "Mace", "van der Berg", "Ms Æsa", "  \t", "José María"]
POSTCODES = ["sw1a1aa", " SW1A  1AA ", "ec4m 2hu", "GIR0AA", "gir 0aa", "ZZ1 1ZZ", "QA1 1AA", "W1A 0AX", "m1 1ae",
             "SW1A1A", "", None, "B26\t3WJ", "bt73 3as", "n20\xa08yz", "CR2 6XH", "cr2-6xh"]
NINOS = ["qq 12 34 56 c", "AB123456C", "ab 12 34 56 c", "BG123456A", "GB123456A", "ZZ123456A", "AB123456E",
         "DA123456A", "AO123456A", " ew446388a ", "EW44638A", "", None, "JP 03 89 51 D", "AB\u2003123456C"]
ADDRESSES = ["12a, High St.", "Flat 3, 8 Moor Rd", "19 York Ave", "  ", None, "O'Connell's Cott", "1 Rue Zoë",
             "51-53 George's Gdns N", "Apt 4 / 2 Bldg", "UPR Lwr St"]
UPRNS = ["000100023336956", "100023336956", "12.0", "1234567890123", "abc", "", None, "0", " 42 ", "١٢٣"]
SEXES = ["M", "f", "Female", "man", "2", "x", "", None, " MALE "]
DATES_DAY_FIRST = ["12/03/1961", "31/01/1990", "1961-03-12", "19610312", "1961/3/12", "", None, "1990-01-31T00:00:00",
                   "05.06.2001", "29/02/2001"]


def _table(**columns: list) -> pa.Table:
    n = max(len(v) for v in columns.values())
    padded = {k: list(v) + [None] * (n - len(v)) for k, v in columns.items()}
    padded["record_id"] = [f"r{i}" for i in range(n)]
    return pa.table({k: pa.array(v, type=pa.string()) for k, v in padded.items()})


def test_same_standard_forms_as_the_reference_standardisers() -> None:
    table = _table(first_name=NAMES, surname=NAMES, postcode=POSTCODES, nino=NINOS, address=ADDRESSES,
                   uprn=UPRNS, sex=SEXES)
    got = prepare_table(table, source="test").table
    reference = {
        "first_name": std.standardise_name, "surname": std.standardise_name, "postcode": std.standardise_postcode,
        "nino": std.standardise_nino, "address": std.standardise_address, "uprn": std.standardise_uprn,
        "sex": std.standardise_sex,
    }
    for field, fn in reference.items():
        raw = table.column(field).to_pylist()
        assert got.column(field).to_pylist() == [fn(v) for v in raw], field
    assert got.schema == STANDARD_SCHEMA
    assert got.column("id").to_pylist() == table.column("record_id").to_pylist()


def test_dates_read_as_the_reference_reads_them() -> None:
    table = _table(dob=DATES_DAY_FIRST)
    got = prepare_table(table, source="test", date_tolerance=0.2).table.column("dob").to_pylist()
    expected = std.standardise_dates(table.column("dob"), tolerance=0.2).values.to_pylist()
    assert got == expected
    assert got[0] == date(1961, 3, 12) and got[9] is None  # 29 February 2001 does not exist


def test_month_first_dates_are_detected() -> None:
    table = _table(dob=["03/12/1961", "01/31/1990", "12/25/1970"])
    got = prepare_table(table, source="test").table.column("dob").to_pylist()
    assert got == [date(1961, 3, 12), date(1990, 1, 31), date(1970, 12, 25)]


def test_undetectable_order_is_read_day_first_with_a_note() -> None:
    prepared = prepare_table(_table(dob=["03/04/1961", "05/06/1970"]), source="test")
    assert prepared.table.column("dob").to_pylist() == [date(1961, 4, 3), date(1970, 6, 5)]
    assert any("day-first" in note for note in prepared.notes)


def test_a_million_rows_with_many_repeats_equal_the_reference(tmp_path: Path) -> None:
    # Distinct values are standardised once and taken back by index: the order must survive.
    values = POSTCODES * 300
    table = _table(postcode=values, address=(ADDRESSES * 600)[: len(values)])
    got = prepare_table(table, source="test").table
    assert got.column("postcode").to_pylist() == [std.standardise_postcode(v) for v in values]
    assert got.column("address").to_pylist() == [std.standardise_address(v) for v in (ADDRESSES * 600)[: len(values)]]


def test_columns_are_mapped_and_standard_names_map_themselves(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text("ref,forename,surname,birth,postcode\n1,Bill,Smith,12/03/1961,sw1a1aa\n", encoding="utf-8")
    prepared = prepare_file(path, "first_name=forename,dob=birth", "ref", source="LEFT")
    assert prepared.mapping == {"first_name": "forename", "surname": "surname", "dob": "birth", "postcode": "postcode"}
    row = prepared.table.to_pylist()[0]
    assert row == {"id": "1", "first_name": "bill", "middle_name": None, "surname": "smith", "dob": date(1961, 3, 12),
                   "sex": None, "postcode": "SW1A 1AA", "address": None, "nino": None, "uprn": None}
    assert prepared.fields == ("first_name", "surname", "dob", "postcode")


def test_ids_default_to_record_id_then_id_then_row_number(tmp_path: Path) -> None:
    assert prepare_table(pa.table({"id": ["a", "b"], "surname": ["x", "y"]})).table.column("id").to_pylist() == ["a", "b"]
    assert prepare_table(pa.table({"surname": ["x", "y"]})).table.column("id").to_pylist() == ["1", "2"]


def test_parquet_dates_and_numbers_are_used_as_typed(tmp_path: Path) -> None:
    path = tmp_path / "typed.parquet"
    pq.write_table(pa.table({"record_id": pa.array([7, 8]), "dob": pa.array([date(2001, 2, 3), None]),
                             "uprn": pa.array([100023336956.0, None]), "surname": ["a", "b"]}), path)
    got = prepare_file(path, source="RIGHT").table.to_pylist()
    assert [r["id"] for r in got] == ["7", "8"]
    assert [r["dob"] for r in got] == [date(2001, 2, 3), None]
    assert [r["uprn"] for r in got] == ["100023336956", None]


# --------------------------------------------------------------------------- bad input


def _bad(path: Path, mapping: str | None = None, id_column: str | None = None) -> str:
    with pytest.raises(InvalidInput) as caught:
        prepare_file(path, mapping, id_column, source="LEFT")
    message = str(caught.value)
    assert "\n" not in message and message.startswith("LEFT")
    return message


def test_missing_mapped_column(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("record_id,forename\n1,Ann\n", encoding="utf-8")
    assert "column 'birth' (mapped to dob) is not in the input" in _bad(path, "dob=birth")
    assert "'dateofbirth' is not a standard field" in _bad(path, "dateofbirth=forename")
    assert "should be field=column" in str(pytest.raises(InvalidInput, prepare_file, path, "dob", None, "LEFT").value)


def test_empty_file_and_file_without_rows(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    assert "empty.csv is empty" in _bad(empty)
    header = tmp_path / "header.csv"
    header.write_text("record_id,surname\n", encoding="utf-8")
    assert "header.csv has no rows" in _bad(header)
    pq.write_table(pa.table({"record_id": pa.array([], pa.string()), "surname": pa.array([], pa.string())}),
                   tmp_path / "none.parquet")
    assert "has no rows" in _bad(tmp_path / "none.parquet")


def test_undecodable_text_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("record_id,surname\n1,Smith\n2,Mu\u00f1oz\n".encode("latin-1"))
    assert "line 3 is not UTF-8 text" in _bad(path)


def test_unparseable_date_column_names_column_and_rows_not_values(tmp_path: Path) -> None:
    path = tmp_path / "dates.csv"
    path.write_text("record_id,birth\n1,12/03/1961\n2,last tuesday\n3,soon\n", encoding="utf-8")
    message = _bad(path, "dob=birth")
    assert "column 'birth'" in message and "first at row 2, 3" in message
    assert "tuesday" not in message
    mixed = tmp_path / "mixed.csv"
    mixed.write_text("record_id,dob\n1,31/01/1990\n2,01/31/1990\n", encoding="utf-8")
    assert "mix day-first and month-first" in _bad(mixed)


def test_ragged_rows_missing_files_and_other_formats(tmp_path: Path) -> None:
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("record_id,surname\n1,Smith\n2,Jones,extra\n", encoding="utf-8")
    assert "line 3 has 3 fields but the header has 2" in _bad(ragged)
    assert "does not exist" in _bad(tmp_path / "nowhere.csv")
    (tmp_path / "sheet.xlsx").write_bytes(b"PK")
    assert "not a CSV or Parquet file" in _bad(tmp_path / "sheet.xlsx")
    (tmp_path / "fake.parquet").write_text("not parquet", encoding="utf-8")
    assert "not a readable Parquet file" in _bad(tmp_path / "fake.parquet")


def test_ids_must_be_present_and_unique(tmp_path: Path) -> None:
    path = tmp_path / "ids.csv"
    path.write_text("record_id,surname\n1,Smith\n1,Jones\n", encoding="utf-8")
    assert "repeats an id at row 2" in _bad(path)
    gap = tmp_path / "gap.csv"
    gap.write_text("record_id,surname\n1,Smith\n,Jones\n", encoding="utf-8")
    assert "empty at row 2" in _bad(gap)
    assert "id column 'ref' is not in the input" in _bad(path, id_column="ref")


def test_a_file_with_no_standard_field(tmp_path: Path) -> None:
    path = tmp_path / "other.csv"
    path.write_text("record_id,colour\n1,blue\n", encoding="utf-8")
    assert "no column is a standard field" in _bad(path)
