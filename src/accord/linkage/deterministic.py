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

import tempfile
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from accord.errors import InvalidInput
from accord.linkage.index import BLOCKING_KEYS, BlockingIndex
from accord.linkage.similarity import jaro_winkler, one_edit_apart
from accord.linkage.standardise import NICKNAMES, compact_name, first_name_forms

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
#
# The same cascade over whole tables: candidates from DuckDB joins, graded by
# NumPy. Candidates are the right-hand rows sharing a blocking key (NINO, date
# of birth or postcode) with the left-hand row, exactly as ``linkage.index.BlockingIndex``
# finds them; each candidate pair is graded as ``grade`` does, field by field,
# with the same string tests (see "How the batch form works" below), and the
# best candidate per left row is chosen in the same order as ``verify``.
# tests/linkage/test_linkage_deterministic_batch.py checks that the two agree.

RESULT_SCHEMA = pa.schema([
    ("applicant_id", pa.string()), ("grade", pa.string()), ("rule", pa.string()),
    ("agreed", pa.string()), ("candidate_id", pa.string()), ("candidates", pa.int64()),
])
# What a grade means as a probability in a matches file: a "match" grade is a certain link by the
# rules; a "partial" (some identifiers agree, or matching candidates of different people) is a lead
# for review, "as likely as not": kept by ``accord link evaluate``'s default threshold (0.5, the same
# as ``accord link``'s) and left out of ``accord link cluster``'s (0.9), so only matches join persons.
MATCH_PROBABILITY, PARTIAL_PROBABILITY = 1.0, 0.5
LINK_SCHEMA = pa.schema([
    ("left_id", pa.string()), ("right_id", pa.string()), ("match_probability", pa.float64()),
    ("grade", pa.string()), ("rule", pa.string()), ("agreed", pa.list_(pa.string())),
])

_STRING_FIELDS = ("first_name", "middle_name", "surname", "postcode", "nino", "uprn")
# rule rank as in _RULE_RANK, then its grade; no rule (no match) ranks last
_RANKED_RULES = RULES + (AMBIGUOUS_RULE, PARTIAL_RULE, None)
_SOME, _NONE = _RULE_RANK[PARTIAL_RULE], len(_RULE_RANK)
# the sort key packs (rule rank, fields not agreed, right row, agreed mask) into one BIGINT:
# rank * 8 + (7 - agreed) in the top bits, then the right row (< 2**40), then a 7-bit mask
_ROW_BITS, _MASK_BITS = 40, len(_FIELDS)


def _rows(table: pa.Table | Sequence[Record]) -> list[Record]:
    return table.to_pylist() if isinstance(table, pa.Table) else list(table)


def _as_table(data: pa.Table | Sequence[Record]) -> pa.Table:
    """Records as a table, every standard field present (null where missing); ``id`` as text."""
    if isinstance(data, pa.Table):
        table = data
    else:
        rows = list(data)
        names = [k for k in dict.fromkeys(k for row in rows for k in row) if k == "id" or k in _FIELDS]
        columns = {k: pa.array([row.get(k) for row in rows]) for k in names if k != "id"}
        if "id" in names:
            columns["id"] = pa.array([None if row.get("id") is None else str(row["id"]) for row in rows], pa.string())
        table = pa.table(columns) if columns else pa.table({"id": pa.nulls(len(rows), pa.string())})
    n = table.num_rows
    columns: dict[str, pa.Array | pa.ChunkedArray] = {}
    columns["id"] = table.column("id").cast(pa.string()) if "id" in table.column_names else pa.nulls(n, pa.string())
    for name in _STRING_FIELDS:
        if name in table.column_names:
            values = table.column(name)
            columns[name] = values if pa.types.is_string(values.type) else values.cast(pa.string())
        else:
            columns[name] = pa.nulls(n, pa.string())
    if "dob" in table.column_names and not pa.types.is_null(table.column("dob").type):
        dob = table.column("dob")
        if not pa.types.is_date32(dob.type):
            try:
                dob = dob.cast(pa.date32())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                raise InvalidInput("column 'dob' is not a date: standardise the table first "
                                   "(accord.linkage.standardise_table)") from None
        columns["dob"] = dob
    else:
        columns["dob"] = pa.nulls(n, pa.date32())
    return pa.table(columns)


def connect(threads: int | None = None, memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB for one batch: its own threads and memory limit, spilling to the temp directory."""
    con = duckdb.connect(config={"temp_directory": tempfile.gettempdir()})
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    if memory_limit:
        con.execute("SET memory_limit = ?", [memory_limit])
    con.execute("SET preserve_insertion_order = false")
    return con


# How the batch form works
# ------------------------
# 1. Every compared field of both tables is coded as integers, over the distinct values of the two
#    tables together (0: missing): equal codes are equal values. Per distinct value, in Python and with
#    the functions ``compare`` uses, come the parts a comparison needs: a given name's first word, its
#    formal names, a surname without spaces and its set of words, a middle name's initial.
# 2. DuckDB joins the two tables on each blocking key's code (the i-th join skipping pairs an earlier
#    key found, so each candidate pair comes once) and streams the pairs as Arrow batches of row numbers.
# 3. NumPy grades each batch: equal codes, bit tests and the cascade's rules over whole arrays. The few
#    pairs whose names differ but might still agree (below) get the real test, once per distinct pair of
#    values, from ``_PairTest`` (RapidFuzz's Jaro-Winkler, set inclusion of surname words, NINO typos).
# 4. The best candidate per left row is a ``minimum.at`` over a sort key that packs
#    (rule rank, fields not agreed, right row, agreed fields) into one int64, the order of ``verify``.
#
# Doing the comparisons as SQL string functions over every pair took about four times the CPU of this.
#
# Two cheap tests spare most pairs the costly ones:
# - letters: a 27-bit mask of the letters a name holds (bit 26 for anything else). Jaro-Winkler >= t
#   needs Jaro >= J = (t - 0.4) / 0.6 (the Winkler boost adds at most 0.4 * (1 - Jaro)), and
#   Jaro <= (m/la + m/lb + 1) / 3 with m, the matching characters, at most a name's length less its
#   characters whose letter the other lacks. So the letters found in only one of the names number at
#   most (2 - K) * max(la, lb), K = 3J - 1 (docs/linkage-evaluation.md works it out); pairs with more
#   are not similar, and the measure is not computed for them.
# - formal names: given names a and b (a != b) have intersecting ``first_name_forms`` exactly when the
#   formal names among their forms intersect (a form other than the name itself is a formal name), so
#   each distinct set of formal names gets a number and a small table says which numbers meet.
_LETTERS = {ch: i for i, ch in enumerate("abcdefghijklmnopqrstuvwxyz")}
# letters in one name only, per 1000 characters of the longer name, rounded up (so never too strict)
_LETTERS_APART = int((2 - (3 * (NAME_THRESHOLD - 0.4) / 0.6 - 1)) * 1000) + 1
_FORMALS = frozenset(NICKNAMES)
_MASK27 = np.uint32((1 << 27) - 1)
_BATCH_ROWS = 1 << 21


def _letter_mask(text: str) -> int:
    mask = 0
    for ch in text:
        mask |= 1 << _LETTERS.get(ch, 26)
    return mask


def _letters_word(text: str) -> int:
    """What the letters test needs in 32 bits: the letter mask, and above it how many letters the name may
    have apart from a similar name's, by its length (31, never pruned, for names of 64 characters or more).
    ``allowed(max(la, lb)) == max(allowed(la), allowed(lb))``, so each name carries its own."""
    allowed = _LETTERS_APART * len(text) // 1000 if len(text) < 64 else 31
    return allowed << 27 | _letter_mask(text)


def _codes(left: pa.ChunkedArray | pa.Array, right: pa.ChunkedArray | pa.Array
           ) -> tuple[np.ndarray, np.ndarray, list[Any]]:
    """Integer codes for a column of both tables (0: missing or empty) and the value of each code."""
    def flat(values: pa.ChunkedArray | pa.Array) -> pa.Array:
        return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values

    both = pa.concat_arrays([flat(left), flat(right)])
    encoded = pc.dictionary_encode(both)
    values: list[Any] = [None, *encoded.dictionary.to_pylist()]
    keep = np.array([v is not None and v != "" for v in values], dtype=bool)
    code_of = np.where(keep, np.arange(len(values)), 0).astype(np.int32)
    index = pc.fill_null(encoded.indices.cast(pa.int32()), -1).to_numpy(zero_copy_only=False) + 1
    codes = code_of[index]
    n = len(left)
    return codes[:n], codes[n:], values


def _recode(values: list[Any], key: Any) -> tuple[np.ndarray, list[Any]]:
    """Codes of a derived value (e.g. a name's first word), per code of the original: (map, derived values)."""
    derived: dict[Any, int] = {None: 0}
    mapping = np.zeros(len(values), dtype=np.int32)
    for code, value in enumerate(values):
        if code and value is not None and value != "":
            mapping[code] = derived.setdefault(key(value), len(derived))
    return mapping, list(derived)


class _PairTest:
    """A yes/no test of two values, run once per distinct pair of codes and remembered."""

    def __init__(self, test: Any, left_values: list[Any], right_values: list[Any] | None = None) -> None:
        self.test, self.left, self.right = test, left_values, right_values or left_values
        self.width = np.int64(len(self.right) + 1)
        self.known: dict[int, bool] = {}

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if not len(a):
            return np.zeros(0, dtype=bool)
        keys = a.astype(np.int64) * self.width + b
        distinct, inverse = np.unique(keys, return_inverse=True)
        answers = np.empty(len(distinct), dtype=bool)
        known, width = self.known, int(self.width)
        for i, key in enumerate(distinct.tolist()):
            got = known.get(key)
            if got is None:
                got = known[key] = bool(self.test(self.left[key // width], self.right[key % width]))
            answers[i] = got
        return answers[inverse]


@dataclass
class _Coded:
    """One table's compared fields as integer arrays (0: missing), row for row."""

    ids: pa.Array
    nino: np.ndarray
    first: np.ndarray  # code of the whole given name (for blocking)
    first_head: np.ndarray  # code of its first word
    first_letters: np.ndarray  # uint32 ``_letters_word`` of the first word
    first_formal: np.ndarray  # number of the set of formal names it stands for (0: none)
    middle: np.ndarray
    middle_head: np.ndarray
    middle_initial: np.ndarray  # (one letter only) << 16 | code of the initial
    surname: np.ndarray  # code of the surname (its words)
    surname_compact: np.ndarray
    surname_letters: np.ndarray  # uint32 ``_letters_word`` of the compact form
    surname_words: np.ndarray  # bool: more than one word
    dob: np.ndarray  # yyyymmdd
    postcode: np.ndarray
    uprn: np.ndarray

    def key(self, name: str) -> np.ndarray:
        return {"first_name": self.first, "middle_name": self.middle, "surname": self.surname}.get(
            name, getattr(self, name, None))


@dataclass
class _Tests:
    """The exact tests for the few pairs the array tests cannot settle, over the shared values."""

    forms_meet: np.ndarray  # [formal-names number, formal-names number] -> bool
    first_similar: _PairTest
    surname_contains: _PairTest
    surname_similar: _PairTest
    nino_near: _PairTest


def _ymd(dates: pa.ChunkedArray) -> np.ndarray:
    dates = dates.combine_chunks() if isinstance(dates, pa.ChunkedArray) else dates
    ymd = pc.add(pc.add(pc.multiply(pc.year(dates), 10000), pc.multiply(pc.month(dates), 100)), pc.day(dates))
    return pc.fill_null(ymd.cast(pa.int32()), 0).to_numpy(zero_copy_only=False)


def _per_code(values: list[Any], fn: Any, dtype: Any) -> np.ndarray:
    """fn(value) for each code's value (0 for code 0, the missing value)."""
    out = np.zeros(len(values), dtype=dtype)
    for code, value in enumerate(values[1:], start=1):
        out[code] = fn(value)
    return out


def _code_tables(lt: pa.Table, rt: pa.Table) -> tuple[_Coded, _Coded, _Tests]:
    """Both tables coded over their shared values, and the exact tests for pairs of those values."""
    head = lambda v: v.split(" ", 1)[0]  # noqa: E731 - a name's first word, as compare takes it
    columns = {name: _codes(lt.column(name), rt.column(name))
               for name in ("nino", "first_name", "middle_name", "surname", "postcode", "uprn")}
    firsts, middles, surnames = (columns[n][2] for n in ("first_name", "middle_name", "surname"))

    head_of, heads = _recode(firsts, head)
    head_letters = _per_code(heads, _letters_word, np.uint32)
    form_sets: dict[frozenset[str], int] = {frozenset(): 0}
    head_formal = _per_code(heads, lambda h: form_sets.setdefault(
        frozenset(f for f in first_name_forms(h) if f in _FORMALS), len(form_sets)), np.uint16)
    sets = list(form_sets)
    forms_meet = np.array([[bool(a & b) for b in sets] for a in sets], dtype=bool)

    middle_head_of, middle_heads = _recode(middles, head)
    initials: dict[str, int] = {}
    middle_initial = _per_code(middle_heads, lambda h: (len(h) == 1) << 16 | initials.setdefault(
        h[:1], len(initials) + 1), np.int32)

    compact_of, compacts = _recode(surnames, compact_name)
    compact_letters = _per_code(compacts, _letters_word, np.uint32)
    several_words = _per_code(surnames, lambda s: len(s.split()) > 1, bool)
    words = [None, *(frozenset(s.split()) for s in surnames[1:])]

    def coded(table: pa.Table, side: int) -> _Coded:
        code = {name: got[side] for name, got in columns.items()}
        first_head, middle_head = head_of[code["first_name"]], middle_head_of[code["middle_name"]]
        compact = compact_of[code["surname"]]
        return _Coded(
            ids=table.column("id").combine_chunks(), nino=code["nino"], first=code["first_name"],
            first_head=first_head, first_letters=head_letters[first_head], first_formal=head_formal[first_head],
            middle=code["middle_name"], middle_head=middle_head, middle_initial=middle_initial[middle_head],
            surname=code["surname"], surname_compact=compact, surname_letters=compact_letters[compact],
            surname_words=several_words[code["surname"]], dob=_ymd(table.column("dob")),
            postcode=code["postcode"], uprn=code["uprn"])

    similar = lambda a, b: jaro_winkler(a, b) >= NAME_THRESHOLD  # noqa: E731
    tests = _Tests(
        forms_meet=forms_meet,
        first_similar=_PairTest(similar, heads),
        surname_contains=_PairTest(lambda a, b: a <= b or b <= a, words),
        surname_similar=_PairTest(similar, compacts),
        nino_near=_PairTest(one_edit_apart, columns["nino"][2]),
    )
    return coded(lt, 0), coded(rt, 1), tests


def _maybe_similar(letters_l: np.ndarray, letters_r: np.ndarray) -> np.ndarray:
    """The letters test: False where two names cannot reach NAME_THRESHOLD."""
    apart = np.bitwise_count((letters_l ^ letters_r) & _MASK27)
    return apart <= np.maximum(letters_l >> 27, letters_r >> 27)


def _given_names_agree(L: _Coded, R: _Coded, lr: np.ndarray, rr: np.ndarray, tests: _Tests) -> np.ndarray:
    a, b = L.first_head[lr], R.first_head[rr]
    agree = a == b
    agree &= a > 0
    todo = np.flatnonzero(~agree & (a > 0) & (b > 0))
    lt, rt = lr[todo], rr[todo]
    formal_l, formal_r = L.first_formal[lt], R.first_formal[rt]
    both = np.flatnonzero((formal_l > 0) & (formal_r > 0))
    met = np.zeros(len(todo), dtype=bool)
    met[both] = tests.forms_meet[formal_l[both], formal_r[both]]
    agree[todo[met]] = True
    maybe = np.flatnonzero(~met & _maybe_similar(L.first_letters[lt], R.first_letters[rt]))
    pick = todo[maybe]
    agree[pick] = tests.first_similar(a[pick], b[pick])
    return agree


def _surnames_agree(L: _Coded, R: _Coded, lr: np.ndarray, rr: np.ndarray, tests: _Tests
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(agree, equal ignoring spaces) for each pair."""
    a, b = L.surname_compact[lr], R.surname_compact[rr]
    equal = a == b
    equal &= a > 0
    agree = equal.copy()
    todo = np.flatnonzero(~equal & (a > 0) & (b > 0))
    lt, rt = lr[todo], rr[todo]
    letters_l, letters_r = L.surname_letters[lt], R.surname_letters[rt]
    # one's words all in the other's: only possible with several words, and then the letters are within
    several = np.flatnonzero(L.surname_words[lt] | R.surname_words[rt])
    ll, lr_ = letters_l[several] & _MASK27, letters_r[several] & _MASK27
    within = several[((ll & ~lr_) == 0) | ((lr_ & ~ll) == 0)]
    contained = np.zeros(len(todo), dtype=bool)
    contained[within] = tests.surname_contains(L.surname[lt[within]], R.surname[rt[within]])
    agree[todo[contained]] = True
    maybe = np.flatnonzero(~contained & _maybe_similar(letters_l, letters_r))
    pick = todo[maybe]
    agree[pick] = tests.surname_similar(a[pick], b[pick])
    return agree, equal


def _middle_names_agree(L: _Coded, R: _Coded, lr: np.ndarray, rr: np.ndarray) -> np.ndarray:
    a, b = L.middle_head[lr], R.middle_head[rr]
    ia, ib = L.middle_initial[lr], R.middle_initial[rr]
    initial = (((ia | ib) >> 16) > 0) & ((ia & 0xFFFF) == (ib & 0xFFFF))
    return (a > 0) & (b > 0) & ((a == b) | initial)


def _equal(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(present on both and equal, present on both and different)."""
    both = (x > 0) & (y > 0)
    same = x == y
    return both & same, both & ~same


def _grade_pairs(L: _Coded, R: _Coded, lr: np.ndarray, rr: np.ndarray, tests: _Tests, every_pair: bool
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rule rank and agreed-field mask per pair: ``grade`` over arrays. With ``every_pair`` False, pairs
    that grade "no match" are dropped. Returns (positions kept, rank, mask)."""
    nino, nino_differ = _equal(L.nino[lr], R.nino[rr])
    postcode, postcode_x = _equal(L.postcode[lr], R.postcode[rr])
    dob_l, dob_r = L.dob[lr], R.dob[rr]
    dob, dob_differ = _equal(dob_l, dob_r)
    first = _given_names_agree(L, R, lr, rr, tests)
    surname, surname_exact = _surnames_agree(L, R, lr, rr, tests)
    # day and month transposed (same year)
    d = np.flatnonzero(dob_differ)
    a, b = dob_l[d], dob_r[d]
    swap = np.zeros(len(lr), dtype=bool)
    swap[d] = (a // 10000 == b // 10000) & (a // 100 % 100 == b % 100) & (a % 100 == b // 100 % 100)

    # Only pairs with some agreement can grade above "no match": apply the rules to those.
    some = np.flatnonzero(nino | ((dob | swap) & (first | surname | postcode)) | (first & surname))
    s_nino, s_dob, s_first, s_surname, s_postcode = nino[some], dob[some], first[some], surname[some], postcode[some]
    names = s_first & s_surname
    rank = np.full(len(some), _SOME, dtype=np.int64)
    rule3 = s_dob & names & ~postcode_x[some]
    rule4 = s_postcode & s_first & surname_exact[some] & ~(dob_differ[some] & ~swap[some])
    earlier = (s_nino & (s_surname | s_dob)) | (s_dob & names & s_postcode)
    # a NINO conflicts when on both, different and not one typo apart: asked only where it decides
    ask = np.flatnonzero((rule3 | rule4) & ~earlier & nino_differ[some])
    conflict = np.zeros(len(some), dtype=bool)
    conflict[ask] = ~tests.nino_near(L.nino[lr[some[ask]]], R.nino[rr[some[ask]]])
    for level, fired in ((4, rule4 & ~conflict), (3, rule3 & ~conflict), (2, s_dob & names & s_postcode),
                         (1, s_nino & s_dob), (0, s_nino & s_surname)):
        rank[fired] = level
    if every_pair:
        keep, ranks = np.arange(len(lr)), np.full(len(lr), _NONE, dtype=np.int64)
        ranks[some] = rank
    else:
        keep, ranks = some, rank
    kl, kr = lr[keep], rr[keep]
    middle = _middle_names_agree(L, R, kl, kr)
    uprn, _ = _equal(L.uprn[kl], R.uprn[kr])
    mask = (nino[keep].astype(np.int64) | first[keep] << 1 | middle << 2 | surname[keep] << 3 | dob[keep] << 4
            | postcode[keep] << 5 | uprn << 6)
    return keep, ranks, mask


def _pairs_sql(keys: Sequence[str]) -> str:
    """Pairs sharing any blocking key, each pair once: the i-th join skips pairs an earlier key found."""
    branches = []
    for i, key in enumerate(keys):
        earlier = "".join(f" AND NOT (l.k{j} = r.k{j} AND l.k{j} > 0)" for j in range(i))
        branches.append(f"SELECT l.row AS l_row, r.row AS r_row FROM lt l JOIN rt r ON l.k{i} = r.k{i} "
                        f"WHERE l.k{i} > 0{earlier}")
    return "\nUNION ALL\n".join(branches)


def _cascade(left: pa.Table | Sequence[Record], right: pa.Table | Sequence[Record], keys: Sequence[str],
             con: duckdb.DuckDBPyConnection | None = None, every_pair: bool = True,
             workers: int | None = None) -> dict[str, Any]:
    """The best candidate of every left row, as NumPy/Arrow columns indexed by left row.

    Batches of pairs are graded by ``workers`` threads (default: DuckDB's thread count; NumPy
    releases the GIL for whole-array work) while DuckDB streams the next ones.
    """
    keys = tuple(keys)
    unknown = [k for k in keys if k not in _FIELDS]
    if unknown or not keys:
        raise InvalidInput(f"blocking keys must be among {', '.join(_FIELDS)} (got {', '.join(keys) or 'none'})")
    lt, rt = _as_table(left), _as_table(right)
    L, R, tests = _code_tables(lt, rt)
    n = lt.num_rows
    best = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    candidates = np.zeros(n, dtype=np.int64)
    matched: list[tuple[np.ndarray, np.ndarray]] = []
    lock = threading.Lock()

    def grade_batch(batch: pa.RecordBatch) -> None:
        lr = batch.column(0).to_numpy()
        rr = batch.column(1).to_numpy()
        keep, rank, mask = _grade_pairs(L, R, lr, rr, tests, every_pair)
        lr, rr = lr[keep], rr[keep].astype(np.int64)
        order = ((rank * 8 + 7 - np.bitwise_count(mask)) << (_ROW_BITS + _MASK_BITS)) | (rr << _MASK_BITS) | mask
        hit = np.flatnonzero((rank < len(RULES)) & (R.nino[rr] > 0))
        counted = np.bincount(batch.column(0).to_numpy(), minlength=n) if every_pair else None
        with lock:
            np.minimum.at(best, lr, order)
            matched.append((lr[hit].astype(np.int64), R.nino[rr[hit]]))
            if counted is not None:
                candidates[:] += counted

    own = con is None
    con = con or connect()
    try:
        for name, coded, size in (("lt", L, n), ("rt", R, rt.num_rows)):
            con.register(name, pa.table({"row": np.arange(size, dtype=np.int32),
                                         **{f"k{i}": coded.key(k) for i, k in enumerate(keys)}}))
        threads = workers or int(con.sql("SELECT current_setting('threads')").fetchall()[0][0])
        with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
            pending: deque = deque()
            for batch in con.sql(_pairs_sql(keys)).to_arrow_reader(_BATCH_ROWS):
                pending.append(pool.submit(grade_batch, batch))
                while len(pending) > threads:  # bounded: a few batches in memory at once
                    pending.popleft().result()
            for job in pending:
                job.result()
        con.unregister("lt")
        con.unregister("rt")
    finally:
        if own:
            con.close()
    found = best != np.iinfo(np.int64).max
    rule_rank = np.where(found, best >> (_ROW_BITS + _MASK_BITS + 3), _NONE)
    right_row = np.where(found, (best >> _MASK_BITS) & ((1 << _ROW_BITS) - 1), 0)
    mask = np.where(found, best & ((1 << _MASK_BITS) - 1), 0)
    # matching candidates with NINOs of two different people: ambiguous (``verify``'s test)
    ambiguous = np.zeros(n, dtype=bool)
    if matched:
        rows = np.concatenate([m[0] for m in matched])
        ninos = np.concatenate([m[1] for m in matched])
        pairs = np.unique(np.stack([rows, ninos.astype(np.int64)], axis=1), axis=0) if len(rows) else np.zeros((0, 2))
        starts = np.flatnonzero(np.r_[True, pairs[1:, 0] != pairs[:-1, 0]]) if len(pairs) else np.zeros(0, int)
        sizes = np.diff(np.r_[starts, len(pairs)])
        values = tests.nino_near.left
        for start, size in zip(starts[sizes > 1].tolist(), sizes[sizes > 1].tolist()):
            group = pairs[start:start + size]
            ambiguous[group[0, 0]] = _distinct_people({values[c] for c in group[:, 1].tolist()})
    rule_rank[ambiguous] = _RULE_RANK[AMBIGUOUS_RULE]
    right_ids = R.ids.take(pa.array(right_row)) if rt.num_rows else pa.nulls(n, pa.string())
    right_ids = pc.if_else(pa.array(found), right_ids, pa.scalar(None, pa.string()))
    return {"left_ids": L.ids, "rule_rank": rule_rank, "mask": mask, "right_ids": right_ids,
            "ambiguous": ambiguous, "candidates": candidates}


def _agreed_lists() -> pa.Array:
    """For each 7-bit mask, the agreeing field names in ``_FIELDS`` order."""
    return pa.array([[f for i, f in enumerate(_FIELDS) if m >> i & 1] for m in range(1 << _MASK_BITS)],
                    type=pa.list_(pa.string()))


def _labels(rule_rank: np.ndarray) -> tuple[pa.Array, pa.Array]:
    grades = pa.array([MATCH if r < len(RULES) else PARTIAL if r < _NONE else NO_MATCH for r in range(_NONE + 1)])
    rules = pa.array(list(_RANKED_RULES), type=pa.string())
    index = pa.array(rule_rank)
    return grades.take(index), rules.take(index)


def link_tables(left_std: pa.Table, right_std: pa.Table, keys: Sequence[str] = BLOCKING_KEYS,
                con: duckdb.DuckDBPyConnection | None = None) -> pa.Table:
    """Link two standardised tables with the cascade: the best candidate per left record.

    Both tables have ``id`` and standard fields (``standardise_table(...).table``).
    One row per left record whose best candidate grades "match" or "partial"
    (``LINK_SCHEMA``): ``match_probability`` is ``MATCH_PROBABILITY`` (1.0) for a
    match and ``PARTIAL_PROBABILITY`` (0.5) for a partial; ``rule`` the rule that
    fired (``ambiguous`` when matching candidates belong to different people:
    the pair shown is then the best of them, for review); ``agreed`` the
    agreeing fields. Left records without a match or partial are left out.
    Rows come in left order. ``con`` may supply a configured DuckDB (see ``connect``).
    """
    got = _cascade(left_std, right_std, keys, con, every_pair=False)
    keep = np.flatnonzero(got["rule_rank"] < _NONE)
    rule_rank = got["rule_rank"][keep]
    grades, rules = _labels(rule_rank)
    probability = np.where(rule_rank < len(RULES), MATCH_PROBABILITY, PARTIAL_PROBABILITY)
    index = pa.array(keep)
    return pa.table({
        "left_id": got["left_ids"].take(index), "right_id": got["right_ids"].take(index),
        "match_probability": pa.array(probability, pa.float64()), "grade": grades, "rule": rules,
        "agreed": _agreed_lists().take(pa.array(got["mask"][keep])),
    }, schema=LINK_SCHEMA)


def verify_all(applicants: pa.Table | Sequence[Record], source: pa.Table | Sequence[Record],
               keys: Sequence[str] = BLOCKING_KEYS) -> pa.Table:
    """Every applicant checked against a source, blocking on NINO, date of birth and postcode.

    Both inputs are standardised (e.g. ``standardise_table(...).table``), with an
    ``id`` column. One result row per applicant, in applicant order
    (``RESULT_SCHEMA``; ``agreed`` is comma-separated field names,
    ``candidates`` the number of source rows compared). Runs as DuckDB joins
    (``link_tables``); ``verify_all_python`` is the per-record form it agrees with.
    """
    got = _cascade(applicants, source, keys)
    grades, rules = _labels(got["rule_rank"])
    agreed = [",".join(names) for names in _agreed_lists().take(pa.array(got["mask"])).to_pylist()]
    candidate = pc.if_else(pa.array(got["ambiguous"]), pa.scalar(None, pa.string()), got["right_ids"])
    return pa.table({
        "applicant_id": got["left_ids"], "grade": grades, "rule": rules, "agreed": pa.array(agreed, pa.string()),
        "candidate_id": candidate, "candidates": pa.array(got["candidates"], pa.int64()),
    }, schema=RESULT_SCHEMA)


def verify_all_python(applicants: pa.Table | Sequence[Record], source: pa.Table | Sequence[Record],
                      keys: Sequence[str] = BLOCKING_KEYS) -> pa.Table:
    """``verify_all`` one applicant at a time in Python: the reference the batch form is tested against.

    Suits tens of thousands of rows; the benchmark's baseline.
    """
    index = BlockingIndex(_as_table(source), keys)
    out: dict[str, list] = {name: [] for name in RESULT_SCHEMA.names}
    for applicant in _rows(applicants):
        candidates = index.candidates(applicant, keys=keys)
        v = verify(applicant, candidates)
        applicant_id = applicant.get("id")
        out["applicant_id"].append(None if applicant_id is None else str(applicant_id))
        out["grade"].append(v.grade)
        out["rule"].append(v.rule)
        out["agreed"].append(",".join(v.agreed))
        out["candidate_id"].append(None if v.candidate_id is None else str(v.candidate_id))
        out["candidates"].append(len(candidates))
    return pa.table(out, schema=RESULT_SCHEMA)
