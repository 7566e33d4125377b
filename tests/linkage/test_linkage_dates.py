"""Dates of birth: each format, day/month order detected from the column, unparseable columns refused."""

from __future__ import annotations

from datetime import date, datetime

import pyarrow as pa
import pytest

from accord.errors import InvalidInput
from accord.linkage.standardise import parse_date, standardise_dates

D = date(1961, 3, 12)


@pytest.mark.parametrize("raw", ["1961-03-12", "1961-3-12", "19610312", "12/03/1961", "12-03-1961", "12.03.1961",
                                 "1961-03-12T00:00:00", D, datetime(1961, 3, 12, 10, 30)])
def test_each_format(raw):
    assert parse_date(raw) == D


def test_month_first_when_asked():
    assert parse_date("03/12/1961", day_first=False) == D


@pytest.mark.parametrize("raw", ["1961-02-30", "31/31/1961", "19611312", "1961", "12/03/61", "hello", "1700-01-01"])
def test_invalid_dates(raw):
    assert parse_date(raw) is None


def test_day_first_detected():
    col = standardise_dates(["01/02/1980", "25/12/1970", "03/04/1990"], column="birth")
    assert col.day_first and col.detected
    assert col.values == [date(1980, 2, 1), date(1970, 12, 25), date(1990, 4, 3)]


def test_month_first_detected():
    col = standardise_dates(pa.array(["01/02/1980", "12/25/1970", "03/04/1990", None]), column="birth")
    assert not col.day_first and col.detected
    assert isinstance(col.values, pa.Array)
    assert col.values.to_pylist() == [date(1980, 1, 2), date(1970, 12, 25), date(1990, 3, 4), None]
    assert "month-first" in col.note


def test_ambiguous_column_defaults_to_day_first_and_says_so():
    col = standardise_dates(["01/02/1980", "03/04/1990"], column="birth")
    assert col.day_first and not col.detected
    assert col.values == [date(1980, 2, 1), date(1990, 4, 3)]
    assert "UK convention" in col.note


def test_mixed_formats_in_one_column():
    col = standardise_dates(["1980-02-01", "19700315", "25/12/1970", ""], column="dob")
    assert col.values == [date(1980, 2, 1), date(1970, 3, 15), date(1970, 12, 25), None]


def test_arrow_dates_pass_through():
    arr = pa.chunked_array([pa.array([D, None], type=pa.date32())])
    col = standardise_dates(arr)
    assert col.values.to_pylist() == [D, None]


def test_unparseable_column_names_the_column_not_the_values():
    values = ["12/03/1961", "not a date", "secret-ish", "1961-02-30"] + ["1961-03-12"] * 6
    with pytest.raises(InvalidInput) as err:
        standardise_dates(values, column="date_of_birth")
    message = str(err.value)
    assert "column 'date_of_birth'" in message and "3 of 10" in message and "row 2" in message
    assert "secret-ish" not in message


def test_a_few_bad_values_within_tolerance_become_empty():
    values = ["1961-03-12"] * 199 + ["garbage"]
    col = standardise_dates(values, column="dob", tolerance=0.01)
    assert col.values[-1] is None and col.invalid_rows == [199]
    assert "1 unreadable" in col.note


def test_conflicting_day_month_order_is_refused():
    values = ["25/12/1970", "12/25/1970", "13/01/1980", "01/13/1980"]
    with pytest.raises(InvalidInput, match="column 'dob': dates mix day-first and month-first"):
        standardise_dates(values, column="dob")
