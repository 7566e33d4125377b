"""Deterministic matching cascade, in the style of the electoral-registration check.

An application to register to vote is checked against the benefit records: the
result is a grade and which identifiers agreed, never the record itself. Here
one applicant record is compared with each candidate record (both already
standardised, see ``standardise``), and the first rule that fires, in this
order, decides the grade "match":

1. ``nino+surname``       NINO equal, surname agrees
2. ``nino+dob``           NINO equal, date of birth equal (covers a change of surname)
3. ``dob+names+postcode`` date of birth equal, given name agrees, surname agrees, postcode equal
4. ``dob+names``          date of birth equal, given name and surname agree, and neither
                          NINO nor postcode conflicts (each is missing on one side, or
                          for the NINO a single mistyped character)
5. ``postcode+names``     postcode equal, given name agrees, surname equal, date of birth
                          not conflicting (missing on one side, or day and month transposed)
                          and NINO not conflicting

If no rule fires, the grade is "partial" (rule name ``some-identifiers``) when
the NINO is equal, or the date of birth (or its day/month transposition)
agrees with a name or the postcode, or both names agree; otherwise "no match".
A surname and postcode alone (another member of the household) is no match.

Agreement of a field: NINO, postcode and date of birth must be equal (the
date's day and month transposed is reported as ``dob`` level
``day_month_swapped``, which only rule 5 tolerates); a given name agrees when
equal, a nickname of the same formal name (Bill and William), or Jaro-Winkler
>= 0.92; a surname agrees when equal ignoring spaces, when one's words are
all in the other (Smith and Smith-Jones), or Jaro-Winkler >= 0.92 ("equal"
surname for rule 5 means equal ignoring spaces).

Among several candidates the best grade wins, then the earliest rule, then
the most agreeing fields. If candidates with different NINOs both reach
"match" the result is "partial" with rule ``ambiguous``: the check cannot say
which person the applicant is.

``Verification.public()`` is what a verification service may return: grade,
rule and the names of the agreeing fields. The candidate's id stays inside the
hub (for the body's own follow-up under its agreement).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pyarrow as pa

from accord.linkage.similarity import jaro_winkler, one_edit_apart
from accord.linkage.standardise import compact_name, first_name_forms

MATCH, PARTIAL, NO_MATCH = "match", "partial", "no match"
GRADES = (MATCH, PARTIAL, NO_MATCH)
RULES = ("nino+surname", "nino+dob", "dob+names+postcode", "dob+names", "postcode+names")
PARTIAL_RULE, AMBIGUOUS_RULE = "some-identifiers", "ambiguous"
NAME_THRESHOLD = 0.92
_GRADE_RANK = {MATCH: 0, PARTIAL: 1, NO_MATCH: 2}
_RULE_RANK = {r: i for i, r in enumerate(RULES + (AMBIGUOUS_RULE, PARTIAL_RULE))}
# field order in results
_FIELDS = ("nino", "first_name", "middle_name", "surname", "dob", "postcode", "uprn")

Record = Mapping[str, Any]


@dataclass(frozen=True)
class Comparison:
    """How one candidate compares with the applicant: the level of each field compared.

    Levels: "exact", "nickname", "similar", "contains", "day_month_swapped"
    (agreement), "near" (a NINO one character out), "different" (both present,
    disagree). Fields missing on either side are absent.
    """

    levels: Mapping[str, str]

    def agrees(self, name: str) -> bool:
        return self.levels.get(name) in ("exact", "nickname", "similar", "contains")

    def conflicts(self, name: str) -> bool:
        return self.levels.get(name) == "different"

    @property
    def agreed(self) -> tuple[str, ...]:
        return tuple(f for f in _FIELDS if self.agrees(f))


@dataclass(frozen=True)
class Verification:
    """The outcome of checking one applicant against a source."""

    grade: str
    rule: str | None
    agreed: tuple[str, ...] = ()
    levels: Mapping[str, str] = field(default_factory=dict)
    candidate_id: Any = None  # internal: the source record compared, never returned to the applicant's body

    def public(self) -> dict[str, Any]:
        """The minimal result a verification service returns: no values, no record ids."""
        return {"grade": self.grade, "rule": self.rule, "agreed": list(self.agreed)}


def _present(value: Any) -> bool:
    return value is not None and value != ""


def _first_name_level(a: str, b: str) -> str:
    if a == b:
        return "exact"
    if first_name_forms(a) & first_name_forms(b):
        return "nickname"
    ha, hb = a.split(" ", 1)[0], b.split(" ", 1)[0]
    if ha == hb:
        return "exact"
    if jaro_winkler(ha, hb) >= NAME_THRESHOLD:
        return "similar"
    return "different"


def _surname_level(a: str, b: str) -> str:
    ca, cb = compact_name(a), compact_name(b)
    if ca == cb:
        return "exact"
    ta, tb = set(a.split()), set(b.split())
    if ta <= tb or tb <= ta:
        return "contains"
    if jaro_winkler(ca, cb) >= NAME_THRESHOLD:
        return "similar"
    return "different"


def _dob_level(a: date, b: date) -> str:
    if a == b:
        return "exact"
    if a.year == b.year and a.day == b.month and a.month == b.day:
        return "day_month_swapped"
    return "different"


def compare(applicant: Record, candidate: Record) -> Comparison:
    """Field-by-field comparison of two standardised records."""
    levels: dict[str, str] = {}
    for name in _FIELDS:
        a, b = applicant.get(name), candidate.get(name)
        if not (_present(a) and _present(b)):
            continue
        if name == "first_name":
            levels[name] = _first_name_level(a, b)
        elif name == "surname":
            levels[name] = _surname_level(a, b)
        elif name == "middle_name":
            ha, hb = a.split(" ", 1)[0], b.split(" ", 1)[0]
            levels[name] = "exact" if ha == hb else (
                "similar" if (len(ha) == 1 or len(hb) == 1) and ha[0] == hb[0] else "different")
        elif name == "dob":
            levels[name] = _dob_level(a, b)
        elif name == "nino":
            levels[name] = "exact" if a == b else ("near" if one_edit_apart(a, b) else "different")
        else:
            levels[name] = "exact" if a == b else "different"
    return Comparison(levels)


def grade(applicant: Record, candidate: Record) -> Verification:
    """Apply the cascade to one pair (rules in the module docstring, in order)."""
    c = compare(applicant, candidate)
    lv = c.levels
    nino = lv.get("nino") == "exact"
    dob = lv.get("dob") == "exact"
    first, surname = c.agrees("first_name"), c.agrees("surname")
    postcode = lv.get("postcode") == "exact"
    rule = None
    if nino and surname:
        rule = "nino+surname"
    elif nino and dob:
        rule = "nino+dob"
    elif dob and first and surname and postcode:
        rule = "dob+names+postcode"
    elif dob and first and surname and not c.conflicts("nino") and not c.conflicts("postcode"):
        rule = "dob+names"
    elif (postcode and first and lv.get("surname") == "exact" and not c.conflicts("dob")
          and not c.conflicts("nino")):
        rule = "postcode+names"
    if rule is not None:
        return Verification(MATCH, rule, c.agreed, dict(lv), candidate.get("id"))
    dob_close = lv.get("dob") in ("exact", "day_month_swapped")
    if nino or (dob_close and (first or surname or postcode)) or (first and surname):
        return Verification(PARTIAL, PARTIAL_RULE, c.agreed, dict(lv), candidate.get("id"))
    return Verification(NO_MATCH, None, c.agreed, dict(lv), candidate.get("id"))


def _rank(v: Verification) -> tuple[int, int, int]:
    return (_GRADE_RANK[v.grade], _RULE_RANK.get(v.rule or "", len(_RULE_RANK)), -len(v.agreed))


def verify(applicant: Record, candidates: Iterable[Record]) -> Verification:
    """The best result for one applicant among candidate records (see the module docstring)."""
    best: Verification | None = None
    matched_ninos: set[str] = set()
    for candidate in candidates:
        v = grade(applicant, candidate)
        if v.grade == MATCH and _present(candidate.get("nino")):
            matched_ninos.add(candidate["nino"])
        if best is None or _rank(v) < _rank(best):
            best = v
    if best is None:
        return Verification(NO_MATCH, None)
    if _distinct_people(matched_ninos):
        return Verification(PARTIAL, AMBIGUOUS_RULE, best.agreed, best.levels, None)
    return best


def _distinct_people(ninos: set[str]) -> bool:
    """Two matched NINOs that are not one typo apart belong to different people.

    A candidate without a NINO is not counted: it may be a duplicate of the same person.
    """
    items = sorted(ninos)
    return any(not one_edit_apart(a, b) for i, a in enumerate(items) for b in items[i + 1:])


# --------------------------------------------------------------------------- batch


BLOCKING_KEYS = ("nino", "dob", "postcode")
RESULT_SCHEMA = pa.schema([
    ("applicant_id", pa.string()), ("grade", pa.string()), ("rule", pa.string()),
    ("agreed", pa.string()), ("candidate_id", pa.string()), ("candidates", pa.int64()),
])


class BlockingIndex:
    """Source rows indexed by each blocking key, so an applicant meets only rows sharing one."""

    def __init__(self, rows: Sequence[Record], keys: Sequence[str] = BLOCKING_KEYS) -> None:
        self.rows = rows
        self.keys = tuple(keys)
        self.index: dict[str, dict[Any, list[int]]] = {k: defaultdict(list) for k in self.keys}
        for i, row in enumerate(rows):
            for k in self.keys:
                value = row.get(k)
                if _present(value):
                    self.index[k][value].append(i)

    def candidates(self, record: Record) -> list[Record]:
        seen: set[int] = set()
        for k in self.keys:
            value = record.get(k)
            if _present(value):
                seen.update(self.index[k].get(value, ()))
        return [self.rows[i] for i in sorted(seen)]


def _rows(table: pa.Table | Sequence[Record]) -> list[Record]:
    return table.to_pylist() if isinstance(table, pa.Table) else list(table)


def verify_all(applicants: pa.Table | Sequence[Record], source: pa.Table | Sequence[Record],
               keys: Sequence[str] = BLOCKING_KEYS) -> pa.Table:
    """Every applicant checked against a source, blocking on NINO, date of birth and postcode.

    Both inputs are standardised (e.g. ``standardise_table(...).table``), with an
    ``id`` column. One result row per applicant, in applicant order
    (``RESULT_SCHEMA``; ``agreed`` is comma-separated field names,
    ``candidates`` the number of source rows compared).
    """
    index = BlockingIndex(_rows(source), keys)
    out: dict[str, list] = {name: [] for name in RESULT_SCHEMA.names}
    for applicant in _rows(applicants):
        candidates = index.candidates(applicant)
        v = verify(applicant, candidates)
        out["applicant_id"].append(applicant.get("id"))
        out["grade"].append(v.grade)
        out["rule"].append(v.rule)
        out["agreed"].append(",".join(v.agreed))
        out["candidate_id"].append(None if v.candidate_id is None else str(v.candidate_id))
        out["candidates"].append(len(candidates))
    return pa.table(out, schema=RESULT_SCHEMA)
