"""The probabilistic model's comparisons, level by level, each written once in two forms side by side.

Each field is compared at levels, most specific first (exact, a nickname of the
same name, similar by Jaro-Winkler, day and month swapped, same postcode
sector, ...); the first level whose condition holds is the pair's level for that
field. A level is defined here once, as:

* ``splink``: Splink's level creator, which Splink compiles into SQL for DuckDB
  or Spark (training and whole-table prediction, ``accord.linkage.probabilistic``);
* ``test``: the same condition on one pair of records in Python, for scoring one
  record against a handful of candidates (``accord.linkage.pairwise``), where
  a SQL query per pair would cost a hundred times the comparison.

``tests/linkage/test_linkage_pairwise.py`` checks that the two agree: every pair
Splink scores gets the same match weight from the Python form. Records here are
rows of ``probabilistic.linkage_table``: the standard fields plus the derived
``first_name_canon`` and ``birth_year``.

Term frequencies adjust the given name only. A household shares its surname,
address and postcode, so a rare surname agreeing at the same address is evidence
of the family, not of the person; with term frequencies on those, members of a
household linked as one person (at 1M x 1M, precision 0.992 with them, 0.998
without).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from rapidfuzz.distance import Levenshtein

from accord.linkage.similarity import jaro_winkler

Row = Mapping[str, Any]
Test = Callable[[Row, Row], bool]

SECTOR = "^[A-Za-z]{1,2}[0-9][A-Za-z0-9]? [0-9]"
_SECTOR = re.compile(SECTOR)
YEAR_SECONDS = 31_557_600.0  # Splink's "1 year" for a date difference: 365.25 days


@dataclass(frozen=True)
class Level:
    """One level: Splink's creator (built on demand: Splink is imported only to compile), its Python test,
    and the column whose term frequencies adjust it, if any."""

    splink: Callable[[Any, Any], Any]  # (comparison_level_library, ColumnExpression) -> level creator
    test: Test
    tf: str | None = None


@dataclass(frozen=True)
class Comparison:
    """A field's comparison: the null level first, the else level last (the model omits the null level)."""

    name: str
    levels: tuple[Level, ...]


# --------------------------------------------------------------------------- conditions on one pair, in Python
# Each mirrors SQL: a comparison with a missing value is not true.


def _null(column: str) -> Test:
    return lambda l, r: l.get(column) is None or r.get(column) is None


def _exact(column: str) -> Test:
    def test(l: Row, r: Row) -> bool:
        a = l.get(column)
        return a is not None and a == r.get(column)
    return test


def _jaro_winkler(column: str, threshold: float) -> Test:
    def test(l: Row, r: Row) -> bool:
        a, b = l.get(column), r.get(column)
        return a is not None and b is not None and jaro_winkler(a, b) >= threshold
    return test


def _levenshtein(column: str, most: int) -> Test:
    def test(l: Row, r: Row) -> bool:
        a, b = l.get(column), r.get(column)
        return a is not None and b is not None and Levenshtein.distance(a, b) <= most
    return test


def _first_letter(column: str) -> Test:
    def test(l: Row, r: Row) -> bool:
        a, b = l.get(column), r.get(column)
        return bool(a) and bool(b) and a[0] == b[0]
    return test


def _sector(value: str | None) -> str | None:
    found = _SECTOR.match(value) if value is not None else None
    return found.group(0) if found else None


def _same_sector(l: Row, r: Row) -> bool:
    a = _sector(l.get("postcode"))
    return a is not None and a == _sector(r.get("postcode"))


def _dob_swapped_or_one_digit(l: Row, r: Row) -> bool:
    a, b = l.get("dob"), r.get("dob")
    if not (isinstance(a, date) and isinstance(b, date)):
        return False
    swapped = a.year == b.year and a.month == b.day and a.day == b.month
    return swapped or Levenshtein.distance(a.isoformat(), b.isoformat()) <= 1


def _dob_within_a_year(l: Row, r: Row) -> bool:
    a, b = l.get("dob"), r.get("dob")
    if not (isinstance(a, date) and isinstance(b, date)):
        return False
    return abs((a - b).days) * 86_400 <= YEAR_SECONDS


def _both(*tests: Test) -> Test:
    return lambda l, r: all(t(l, r) for t in tests)


def _always(_l: Row, _r: Row) -> bool:
    return True


# --------------------------------------------------------------------------- the comparisons


def _null_level(column: str) -> Level:
    return Level(lambda cll, _ce: cll.NullLevel(column), _null(column))


def _exact_level(column: str, label: str | None = None, tf: bool = False) -> Level:
    def make(cll: Any, _ce: Any) -> Any:
        level = cll.ExactMatchLevel(column, term_frequency_adjustments=tf)
        return level.configure(label_for_charts=label) if label else level
    return Level(make, _exact(column), column if tf else None)


def _jaro_winkler_level(column: str, threshold: float) -> Level:
    return Level(lambda cll, _ce: cll.JaroWinklerLevel(column, threshold), _jaro_winkler(column, threshold))


def _else_level() -> Level:
    return Level(lambda cll, _ce: cll.ElseLevel(), _always)


def _sector_level(label: str) -> Level:
    return Level(lambda cll, ce: cll.ExactMatchLevel(ce("postcode").regex_extract(SECTOR)).configure(
        label_for_charts=label), _same_sector)


def _first_name() -> tuple[Level, ...]:
    return (_null_level("first_name"), _exact_level("first_name", tf=True),
            _exact_level("first_name_canon", "Same name (nickname)"),
            _jaro_winkler_level("first_name", 0.92), _jaro_winkler_level("first_name", 0.8), _else_level())


def _middle_name() -> tuple[Level, ...]:
    same_initial = Level(lambda cll, _ce: cll.CustomLevel(
        "substr(middle_name_l, 1, 1) = substr(middle_name_r, 1, 1)", label_for_charts="Same initial",
        base_dialect_str="duckdb"), _first_letter("middle_name"))
    return (_null_level("middle_name"), _exact_level("middle_name"), same_initial, _else_level())


def _surname() -> tuple[Level, ...]:
    # no term frequencies: see the module docstring
    return (_null_level("surname"), _exact_level("surname"), _jaro_winkler_level("surname", 0.92),
            _jaro_winkler_level("surname", 0.8), _else_level())


def _dob() -> tuple[Level, ...]:
    def swapped_or_one_digit(cll: Any, ce: Any) -> Any:
        return cll.Or(
            cll.CustomLevel("year(dob_l) = year(dob_r) AND month(dob_l) = day(dob_r) AND day(dob_l) = month(dob_r)",
                            base_dialect_str="duckdb"),
            cll.LevenshteinLevel(ce("dob").cast_to_string(), 1),
        ).configure(label_for_charts="Day and month swapped, or one digit different")

    within_a_year = Level(lambda cll, _ce: cll.AbsoluteDateDifferenceLevel(
        "dob", threshold=1, metric="year", input_is_string=False), _dob_within_a_year)
    return (_null_level("dob"), _exact_level("dob"), Level(swapped_or_one_digit, _dob_swapped_or_one_digit),
            within_a_year, _else_level())


def _postcode() -> tuple[Level, ...]:
    return (_null_level("postcode"), _exact_level("postcode"), _sector_level("Same sector"), _else_level())


def _address() -> tuple[Level, ...]:
    return (_null_level("address"), _exact_level("address"), _jaro_winkler_level("address", 0.9), _else_level())


def _address_postcode() -> tuple[Level, ...]:
    """Address and postcode as one comparison: they move together, and as two independent fields
    their agreement would be counted twice (and a household's members look like one person)."""
    null, address, postcode = _null_level("address"), _exact_level("address"), _exact_level("postcode")
    similar = _jaro_winkler_level("address", 0.9)
    return (
        Level(lambda cll, ce: cll.And(null.splink(cll, ce), _null_level("postcode").splink(cll, ce)),
              _both(_null("address"), _null("postcode"))),
        Level(lambda cll, ce: cll.And(address.splink(cll, ce), postcode.splink(cll, ce)).configure(
            label_for_charts="Same address and postcode"), _both(address.test, postcode.test)),
        Level(lambda cll, ce: address.splink(cll, ce).configure(
            label_for_charts="Same address, postcode differs or missing"), address.test),
        Level(lambda cll, ce: cll.And(postcode.splink(cll, ce), similar.splink(cll, ce)).configure(
            label_for_charts="Same postcode, similar address"), _both(postcode.test, similar.test)),
        Level(lambda cll, ce: postcode.splink(cll, ce).configure(label_for_charts="Same postcode"), postcode.test),
        _sector_level("Same postcode sector"),
        _else_level(),
    )


def _nino() -> tuple[Level, ...]:
    near = Level(lambda cll, _ce: cll.LevenshteinLevel("nino", 2), _levenshtein("nino", 2))
    return (_null_level("nino"), _exact_level("nino"), near, _else_level())


def _exact_only(name: str) -> tuple[Level, ...]:
    return (_null_level(name), _exact_level(name), _else_level())


def comparisons(fields: Sequence[str]) -> list[Comparison]:
    """The comparison for each field the model compares, in the fields' order."""
    have = set(fields)
    built: list[Comparison] = []
    for name in fields:
        if name == "first_name":
            built.append(Comparison(name, _first_name()))
        elif name == "middle_name":
            built.append(Comparison(name, _middle_name()))
        elif name == "surname":
            built.append(Comparison(name, _surname()))
        elif name == "dob":
            built.append(Comparison(name, _dob()))
        elif name == "postcode" and "address" in have:
            built.append(Comparison("address_postcode", _address_postcode()))
        elif name == "postcode":
            built.append(Comparison(name, _postcode()))
        elif name == "address" and "postcode" in have:
            continue  # compared with the postcode
        elif name == "address":
            built.append(Comparison(name, _address()))
        elif name == "nino":
            built.append(Comparison(name, _nino()))
        elif name in ("sex", "uprn"):
            built.append(Comparison(name, _exact_only(name)))
    return built


def splink_comparisons(fields: Sequence[str]) -> list[Any]:
    """The comparisons as Splink creators (backend-neutral; Splink compiles them per dialect)."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import ColumnExpression

    return [cl.CustomComparison(comparison_levels=[level.splink(cll, ColumnExpression) for level in c.levels],
                                output_column_name=c.name)
            for c in comparisons(fields)]
