"""Identifier and postcode formats: validators, and every identifier the generator writes."""

from __future__ import annotations

import random
from datetime import date

import numpy as np
import pytest

from accord.synth.geography import is_valid_postcode, normalise_postcode
from accord.synth.identifiers import (
    NINO_PREFIXES, derive_keys, driver_number_stem, driver_numbers, is_valid_driver_number, is_valid_nhs_number,
    is_valid_nino, ninos, nhs_numbers,
)


@pytest.mark.parametrize("good", ["AB123456C", "JG103759A", "ZY999999D", "CE000000B"])
def test_nino_validator_accepts(good: str) -> None:
    assert is_valid_nino(good)


@pytest.mark.parametrize(
    "bad",
    ["DA123456A", "FA123456A", "IA123456A", "QA123456A", "UA123456A", "VA123456A",  # first letter
     "AD123456A", "AF123456A", "AI123456A", "AO123456A", "AQ123456A", "AU123456A", "AV123456A",  # second
     "BG123456A", "GB123456A", "KN123456A", "NK123456A", "NT123456A", "TN123456A", "ZZ123456A",  # unallocated
     "AB123456E", "AB12345C", "AB1234567C", "ab123456c", "AB 12 34 56 C"],
)
def test_nino_validator_rejects(bad: str) -> None:
    assert not is_valid_nino(bad)


def test_nino_prefixes_follow_the_rules() -> None:
    prefixes = {p.decode() for p in NINO_PREFIXES}
    assert len(prefixes) == 373
    assert not prefixes & {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"}
    assert all(p[0] not in "DFIQUV" and p[1] not in "DFIOQUV" for p in prefixes)


def test_generated_ninos_are_valid_and_unique() -> None:
    rng = np.random.default_rng(3)
    index = rng.choice(10**8, size=200_000, replace=False).astype(np.uint64)
    values = ninos(index, derive_keys(9, 2), rng.integers(0, 4, len(index)))
    assert all(is_valid_nino(v) for v in values)
    assert len(set(v[:8] for v in values)) == len(values)  # unique even ignoring the suffix letter


def test_generated_nhs_numbers_are_valid_and_unique() -> None:
    values = nhs_numbers(np.arange(100_000, dtype=np.uint64), derive_keys(9, 3))
    assert all(is_valid_nhs_number(v) for v in values)
    assert len(set(values)) == len(values)
    assert not is_valid_nhs_number("4010232138")  # wrong check digit


@pytest.mark.parametrize("good", ["SW1A 1AA", "EC1A 1BB", "W1T 3AB", "M1 1AE", "B33 8TH", "CR2 6XH", "DN55 1PT",
                                  "LS12 3AB", "ZE3 9XP"])
def test_postcode_validator_accepts(good: str) -> None:
    assert is_valid_postcode(good)


@pytest.mark.parametrize("bad", ["SW1A1AA", "sw1a 1aa", "QA1 1AA", "LS12 3AC", "LS12 3AI", "LS12 AB", "XX1 1AB",
                                 "LS123 1AB", "", "LS12  3AB"])
def test_postcode_validator_rejects(bad: str) -> None:
    assert not is_valid_postcode(bad)


def test_postcode_normalisation() -> None:
    assert normalise_postcode("sw1a1aa") == "SW1A 1AA"
    assert normalise_postcode("LS12  3AB") == "LS12 3AB"


def test_driver_number_structure() -> None:
    # The documented example: Sarah Meredith Morgan, female, born 11 March 1976.
    assert driver_number_stem("Morgan", "Sarah", "Meredith", date(1976, 3, 11), True) == "MORGA753116SM9"
    assert driver_number_stem("MacDonald", "Ian", None, date(1980, 12, 1), False) == "MCDON812010I99"
    assert driver_number_stem("Li", "Wei", None, date(2001, 7, 30), False) == "LI999007301W99"
    assert driver_number_stem("O'Neill", "Aoife", "Mary", date(1999, 1, 5), True) == "ONEIL951059AM9"


def test_vectorised_driver_numbers_match_the_scalar_rule() -> None:
    rng = random.Random(4)
    surnames = ["Smith", "MacLeod", "Ng", "O'Brien", "Fernandez-Lopez", "Wu", "Abbott"]
    firsts = ["Anne", "Bill", "Chen", "Dee", "Eve"]
    rows = []
    for _ in range(500):
        dob = date(rng.randint(1930, 2008), rng.randint(1, 12), rng.randint(1, 28))
        rows.append((rng.choice(surnames), rng.choice(firsts), rng.choice([None, "Jo", "Kim"]), dob, rng.random() < 0.5))
    numbers = driver_numbers(
        np.array([r[0] for r in rows], dtype=object), np.array([r[1] for r in rows], dtype=object),
        np.array([r[2] for r in rows], dtype=object), np.array([r[3] for r in rows], dtype="datetime64[D]"),
        np.array([r[4] for r in rows]), np.zeros((len(rows), 2), dtype=np.int64),
    )
    for number, row in zip(numbers, rows):
        assert number[:14] == driver_number_stem(*row)
        assert len(number) == 16 and is_valid_driver_number(number)


@pytest.mark.parametrize("bad", ["MORGA753116SM9I", "MORGA713116SM9IJ", "MORGA753336SM9IJ", "MORGA723016SM9IJ", "9ORGA753116SM9IJ",
                                 "MO9GA753116SM9IJ", "morga753116sm9ij"])
def test_driver_number_validator_rejects(bad: str) -> None:
    assert not is_valid_driver_number(bad)


def test_every_generated_identifier_is_valid(small) -> None:  # noqa: ANN001
    persons = small.population("persons")
    ninos_ = [v for v in persons["nino"] if v]
    assert 0.7 < len(ninos_) / len(persons["nino"]) < 0.85  # children and some adults have none
    assert all(is_valid_nino(v) for v in ninos_)
    assert len(set(ninos_)) == len(ninos_)
    nhs = [v for v in persons["nhs_number"] if v]
    assert all(is_valid_nhs_number(v) for v in nhs) and len(set(nhs)) == len(nhs)
    addresses = small.population("addresses")
    assert all(is_valid_postcode(p) for p in addresses["postcode"])
    assert len(set(addresses["uprn"])) == len(addresses["uprn"])
    assert all(0 < u < 10**12 for u in addresses["uprn"])
    drivers = small.view("dvla-drivers")
    assert all(is_valid_driver_number(d) for d in drivers["driver_number"])
    # the driver number is derived from the name, date of birth and sex on the record
    for number, surname, first, middle, dob, sex in zip(
        drivers["driver_number"], drivers["surname"], drivers["first_name"], drivers["middle_name"],
        drivers["date_of_birth"], drivers["sex"],
    ):
        assert number[:14] == driver_number_stem(surname, first, middle, dob, sex == "F")
