"""Standardisers for names, nicknames, postcodes, NINOs, addresses, UPRNs and column mapping."""

from __future__ import annotations

import pyarrow as pa
import pytest

from accord.errors import InvalidInput
from accord.files import parse_mapping
from accord.linkage.standardise import (
    address_tokens, canonical_first_name, canonical_first_names, first_name_forms, is_valid_nino,
    resolve_mapping, standardise_address, standardise_name, standardise_names, standardise_nino,
    standardise_postcode, standardise_postcodes, standardise_record, standardise_sex, standardise_table,
    standardise_uprn,
)
from accord.privacy.pseudonymise import normalise_nino
from accord.synth.identifiers import is_valid_nino as synth_is_valid_nino


@pytest.mark.parametrize(("raw", "expected"), [
    ("  JOHN  ", "john"),
    ("Zoë", "zoe"),
    ("José", "jose"),
    ("Łukasz", "lukasz"),
    ("Søren", "soren"),
    ("Dr John Smith", "john smith"),
    ("Mrs. Jane Doe", "jane doe"),
    ("Rev Canon", "canon"),
    ("Miss", "miss"),  # a title alone is kept rather than emptied
    ("John Smith Jr", "john smith"),
    ("O'Brien", "obrien"),
    ("O’Brien", "obrien"),
    ("Smith-Jones", "smith jones"),
    ("Smith  -  Jones", "smith jones"),
    ("MacDonald", "mcdonald"),
    ("McDonald", "mcdonald"),
    ("Mac", "mac"),
    ("Mace", "mace"),
    ("Mack", "mack"),
    ("", None),
    ("   ", None),
    (None, None),
])
def test_names(raw, expected):
    assert standardise_name(raw) == expected


def test_mac_and_mc_agree_and_apostrophes_vanish():
    assert standardise_name("MACKENZIE") == standardise_name("McKenzie")
    assert standardise_name("D'Arcy") == standardise_name("Darcy")


@pytest.mark.parametrize(("a", "b"), [
    ("Bill", "William"), ("Will", "William"), ("Billy", "William"), ("Bob", "Robert"), ("Peggy", "Margaret"),
    ("Jim", "James"), ("Jimmy", "James"), ("Liz", "Elizabeth"), ("Beth", "Elizabeth"), ("Bill", "Will"),
    ("Alex", "Alexandra"), ("Alex", "Alexander"),
])
def test_nickname_equivalence(a, b):
    assert first_name_forms(standardise_name(a)) & first_name_forms(standardise_name(b))


@pytest.mark.parametrize(("a", "b"), [("William", "Robert"), ("Alexander", "Alexandra"), ("Bill", "Bob")])
def test_not_nicknames(a, b):
    assert not first_name_forms(standardise_name(a)) & first_name_forms(standardise_name(b))


def test_canonical_first_name():
    assert canonical_first_name("BILL") == "william"
    assert canonical_first_name("peggy") == "margaret"
    assert canonical_first_name("Harry") == "harold"  # Harold and Henry: the first alphabetically
    assert canonical_first_name("William") == "william"
    assert canonical_first_name("Xavier") == "xavier"
    assert canonical_first_name(None) is None
    assert canonical_first_names(["Bob", "Jimmy", None]) == ["robert", "james", None]


def test_columns_as_lists_and_arrow():
    values = ["Dr Seán O'Brien", None, "Dr Seán O'Brien", "smith-JONES"]
    assert standardise_names(values) == ["sean obrien", None, "sean obrien", "smith jones"]
    arrow = standardise_names(pa.chunked_array([values[:2], values[2:]]))
    assert isinstance(arrow, pa.Array)
    assert arrow.to_pylist() == ["sean obrien", None, "sean obrien", "smith jones"]
    assert standardise_names(pa.array([], type=pa.string())).to_pylist() == []
    assert standardise_names(pa.nulls(2)).to_pylist() == [None, None]


@pytest.mark.parametrize(("raw", "expected"), [
    ("SW1A 1AA", "SW1A 1AA"),
    ("sw1a 1aa", "SW1A 1AA"),
    ("SW1A1AA", "SW1A 1AA"),
    ("  sw1a   1aa ", "SW1A 1AA"),
    ("M1 1AE", "M1 1AE"),  # A9
    ("B33 8TH", "B33 8TH"),  # A99
    ("CR2 6XH", "CR2 6XH"),  # AA9
    ("DN55 1PT", "DN55 1PT"),  # AA99
    ("W1A 0AX", "W1A 0AX"),  # A9A
    ("EC1A 1BB", "EC1A 1BB"),  # AA9A
    ("GIR 0AA", "GIR 0AA"),
    ("SW1A 1AC", None),  # C is not a unit letter
    ("SW1A 1IA", None),  # nor I
    ("QA1 1AA", None),  # Q never starts a postcode
    ("AJ1 1AA", None),  # J never second
    ("SW1A", None),
    ("12345", None),
    ("SW1A 1AAA", None),
    ("", None),
    (None, None),
])
def test_postcodes(raw, expected):
    assert standardise_postcode(raw) == expected


def test_postcode_column():
    assert standardise_postcodes(pa.array(["l1 4jd", "bad", None])).to_pylist() == ["L1 4JD", None, None]


@pytest.mark.parametrize(("raw", "expected"), [
    ("AB123456C", "AB123456C"),
    ("ab 12 34 56 c", "AB123456C"),
    ("JG103759A", "JG103759A"),
    ("QQ123456C", None),  # Q not first
    ("DA123456A", None),  # D not first
    ("AO123456A", None),  # O not second
    ("AD123456A", None),  # D not second
    ("BG123456A", None),  # unallocated prefixes
    ("GB123456A", None),
    ("NK123456A", None),
    ("KN123456A", None),
    ("NT123456A", None),
    ("TN123456A", None),
    ("ZZ123456A", None),
    ("AB123456E", None),  # suffix A-D only
    ("AB12345C", None),
    ("AB1234567C", None),
    ("", None),
    (None, None),
])
def test_nino(raw, expected):
    assert standardise_nino(raw) == expected


def test_nino_rule_agrees_with_pseudonymise_and_synth():
    sample = [a + b + "123456" + s for a in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" for b in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
              for s in "AE"]
    for nino in sample:
        try:
            normalise_nino(nino)
            pseudonymise_ok = True
        except InvalidInput:
            pseudonymise_ok = False
        # the same letter rules; linkage also refuses the prefixes that were never allocated
        assert is_valid_nino(nino) == (pseudonymise_ok and nino[:2] not in {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})
        assert is_valid_nino(nino) == synth_is_valid_nino(nino)


def test_addresses():
    assert address_tokens("12a, High St.") == ("12a", "high", "street")
    assert standardise_address("Flat 3, 7 Church Rd") == "flat 3 7 church road"
    assert standardise_address("22 Cambridge Cl") == standardise_address("22 cambridge close")
    assert standardise_address("1 Queen's Ave") == "1 queens avenue"
    assert standardise_address(" ") is None


@pytest.mark.parametrize(("raw", "expected"), [
    (100023336956, "100023336956"), ("000100023336956", "100023336956"), ("10033544614.0", "10033544614"),
    ("1234567890123", None), ("12AB", None), ("", None), (None, None), (0, None),
])
def test_uprn(raw, expected):
    assert standardise_uprn(raw) == expected


def test_sex():
    assert [standardise_sex(v) for v in ["m", "Female", "2", "x", None]] == ["M", "F", "F", None, None]


def test_mapping_self_maps_standard_columns():
    columns = ["record_id", "forename", "surname", "date_of_birth", "postcode"]
    got = resolve_mapping(columns, {"first_name": "forename", "dob": "date_of_birth"})
    assert got == {"first_name": "forename", "surname": "surname", "dob": "date_of_birth", "postcode": "postcode"}


def test_mapping_names_the_missing_column():
    with pytest.raises(InvalidInput, match="column 'forenames' .*first_name.* is not in the input"):
        resolve_mapping(["forename", "surname"], {"first_name": "forenames"}, source="left.csv")
    with pytest.raises(InvalidInput, match="'given' is not a standard field"):
        resolve_mapping(["forename"], {"given": "forename"})


def test_parse_mapping():
    assert parse_mapping("first_name=forename, dob=birth") == {"first_name": "forename", "dob": "birth"}
    assert parse_mapping("") == {}
    with pytest.raises(InvalidInput, match="field=column"):
        parse_mapping("first_name")


def test_standardise_table():
    rows = [
        {"ref": 1, "forename": "Bill", "surname": "MacDonald", "birth": "12/03/1961", "postcode": "sw1a1aa",
         "nino": "ab 12 34 56 c", "uprn": 100023336956, "address": "1 High St"},
        {"ref": 2, "forename": "Zoë", "surname": "O'Brien", "birth": "25/12/1970", "postcode": "nonsense",
         "nino": None, "uprn": None, "address": None},
    ]
    st = standardise_table(rows, {"first_name": "forename", "dob": "birth"}, id_column="ref")
    assert st.table.column_names == ["id", "first_name", "surname", "dob", "postcode", "address", "nino", "uprn"]
    first = st.table.to_pylist()[0]
    assert first["id"] == "1" and first["first_name"] == "bill" and first["surname"] == "mcdonald"
    assert first["dob"].isoformat() == "1961-03-12" and first["postcode"] == "SW1A 1AA"
    assert first["nino"] == "AB123456C" and first["uprn"] == "100023336956" and first["address"] == "1 high street"
    assert st.dates is not None and st.dates.day_first and st.dates.detected
    second = st.table.to_pylist()[1]
    assert second["postcode"] is None and second["nino"] is None


def test_standardise_table_bad_id_and_record_date():
    with pytest.raises(InvalidInput, match="id column 'ref'"):
        standardise_table([{"surname": "x"}], id_column="ref")
    with pytest.raises(InvalidInput, match="'dob' is not a date"):
        standardise_record({"dob": "31/31/2000"})
