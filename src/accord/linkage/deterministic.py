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
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from accord.errors import InvalidInput
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
#
# The same cascade over whole tables, as DuckDB joins. Candidates are the
# right-hand rows sharing a blocking key (NINO, date of birth or postcode) with
# the left-hand row, exactly as ``BlockingIndex`` finds them; each candidate
# pair is graded by SQL that mirrors ``compare``/``grade`` field by field
# (DuckDB's jaro_winkler_similarity is the same Winkler measure as RapidFuzz's,
# and given-name forms come from ``first_name_forms`` itself), and the best
# candidate per left row is chosen by the same order as ``verify``.
# tests/linkage/test_linkage_deterministic_batch.py checks that the two agree.

BLOCKING_KEYS = ("nino", "dob", "postcode")
RESULT_SCHEMA = pa.schema([
    ("applicant_id", pa.string()), ("grade", pa.string()), ("rule", pa.string()),
    ("agreed", pa.string()), ("candidate_id", pa.string()), ("candidates", pa.int64()),
])
# What a grade means as a probability in a matches file: a "match" grade is a
# certain link by the rules; a "partial" (some identifiers agree, or an
# ambiguous match) is a lead for review, below the usual 0.9 threshold of
# ``accord link evaluate`` and ``accord link cluster`` so it is never linked
# by default, yet above zero so reviewers can find it.
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


class BlockingIndex:
    """Source rows indexed by each blocking key, so an applicant meets only rows sharing one.

    The per-record form of the blocking that ``link_tables`` does with joins.
    """

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
    columns["_row"] = pa.array(np.arange(n, dtype=np.int64))
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


def _prepare(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> None:
    """The per-record parts of the comparison, computed once per record rather than once per pair."""
    con.register(f"{name}_in", table)
    heads = con.sql(f"SELECT DISTINCT split_part(first_name, ' ', 1) AS head FROM {name}_in "
                    "WHERE nullif(first_name, '') IS NOT NULL").fetchall()
    forms = pa.table({"head": [h for (h,) in heads],
                      "forms": [sorted(first_name_forms(h) or {h}) for (h,) in heads]},
                     schema=pa.schema([("head", pa.string()), ("forms", pa.list_(pa.string()))]))
    con.register(f"{name}_forms", forms)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {name} AS
        SELECT t._row AS row, t.id,
               nullif(t.nino, '') AS nino,
               nullif(t.first_name, '') AS fn, split_part(nullif(t.first_name, ''), ' ', 1) AS fn_head,
               f.forms AS fn_forms,
               split_part(nullif(t.middle_name, ''), ' ', 1) AS mn_head,
               nullif(t.surname, '') AS sn, replace(nullif(t.surname, ''), ' ', '') AS sn_compact,
               list_filter(string_split(nullif(t.surname, ''), ' '), lambda x: x <> '') AS sn_tokens,
               t.dob, year(t.dob) AS dob_y, month(t.dob) AS dob_m, day(t.dob) AS dob_d,
               nullif(t.postcode, '') AS postcode, nullif(t.uprn, '') AS uprn
        FROM {name}_in t LEFT JOIN {name}_forms f ON f.head = split_part(nullif(t.first_name, ''), ' ', 1)
    """)
    con.unregister(f"{name}_in")
    con.unregister(f"{name}_forms")


def _candidate_pairs_sql(keys: Sequence[str]) -> str:
    """Pairs sharing any blocking key, each pair once: the i-th join skips pairs an earlier key found."""
    column = {"first_name": "fn", "middle_name": "mn_head", "surname": "sn"}
    branches = []
    for i, key in enumerate(keys):
        col = column.get(key, key)
        earlier = "".join(f" AND NOT coalesce(l.{column.get(k, k)} = r.{column.get(k, k)}, false)"
                          for k in keys[:i])
        branches.append(f"SELECT l.row AS l_row, r.row AS r_row FROM lt l JOIN rt r ON l.{col} = r.{col}{earlier}")
    return "\nUNION ALL\n".join(branches)


_GRADE_SQL = f"""
WITH pairs AS (
    {{pairs}}
), cmp AS (
    SELECT p.l_row, p.r_row, r.nino AS r_nino,
        l.nino = r.nino AS nino_eq,
        l.nino <> r.nino AND NOT (length(l.nino) = length(r.nino) AND damerau_levenshtein(l.nino, r.nino) = 1)
            AS nino_conflict,
        CASE WHEN l.fn IS NULL OR r.fn IS NULL THEN NULL
             WHEN l.fn = r.fn OR list_has_any(l.fn_forms, r.fn_forms) OR l.fn_head = r.fn_head THEN true
             ELSE jaro_winkler_similarity(l.fn_head, r.fn_head) >= {NAME_THRESHOLD} END AS first_ok,
        CASE WHEN l.mn_head IS NULL OR r.mn_head IS NULL THEN NULL
             WHEN l.mn_head = r.mn_head THEN true
             ELSE (length(l.mn_head) = 1 OR length(r.mn_head) = 1) AND left(l.mn_head, 1) = left(r.mn_head, 1)
        END AS middle_ok,
        l.sn_compact = r.sn_compact AS surname_eq,
        CASE WHEN l.sn IS NULL OR r.sn IS NULL THEN NULL
             WHEN l.sn_compact = r.sn_compact OR list_has_all(l.sn_tokens, r.sn_tokens)
                  OR list_has_all(r.sn_tokens, l.sn_tokens) THEN true
             ELSE jaro_winkler_similarity(l.sn_compact, r.sn_compact) >= {NAME_THRESHOLD} END AS surname_ok,
        l.dob = r.dob AS dob_eq,
        l.dob <> r.dob AND l.dob_y = r.dob_y AND l.dob_d = r.dob_m AND l.dob_m = r.dob_d AS dob_swap,
        l.postcode = r.postcode AS postcode_eq,
        l.uprn = r.uprn AS uprn_eq
    FROM pairs p JOIN lt l ON l.row = p.l_row JOIN rt r ON r.row = p.r_row
), flags AS (
    SELECT l_row, r_row, r_nino,
        coalesce(nino_eq, false) AS nino, coalesce(nino_conflict, false) AS nino_x,
        coalesce(first_ok, false) AS first, coalesce(middle_ok, false) AS middle,
        coalesce(surname_ok, false) AS surname, coalesce(surname_eq, false) AS surname_exact,
        coalesce(dob_eq, false) AS dob, coalesce(dob_swap, false) AS dob_swap,
        coalesce(NOT dob_eq AND NOT dob_swap, false) AS dob_x,
        coalesce(postcode_eq, false) AS postcode, coalesce(NOT postcode_eq, false) AS postcode_x,
        coalesce(uprn_eq, false) AS uprn
    FROM cmp
), ranked AS (
    SELECT l_row, r_row, r_nino,
        CASE WHEN nino AND surname THEN 0
             WHEN nino AND dob THEN 1
             WHEN dob AND first AND surname AND postcode THEN 2
             WHEN dob AND first AND surname AND NOT nino_x AND NOT postcode_x THEN 3
             WHEN postcode AND first AND surname_exact AND NOT dob_x AND NOT nino_x THEN 4
             WHEN nino OR ((dob OR dob_swap) AND (first OR surname OR postcode)) OR (first AND surname)
                  THEN {_SOME}
             ELSE {_NONE} END AS rule_rank,
        nino::BIGINT + first::BIGINT * 2 + middle::BIGINT * 4 + surname::BIGINT * 8 + dob::BIGINT * 16
            + postcode::BIGINT * 32 + uprn::BIGINT * 64 AS mask
    FROM flags
)
SELECT l_row,
    min(((rule_rank * 8 + 7 - bit_count(mask))::BIGINT << {_ROW_BITS + _MASK_BITS}) | (r_row::BIGINT << {_MASK_BITS}) | mask)
        AS best,
    count(*) AS candidates,
    list(DISTINCT r_nino) FILTER (WHERE rule_rank <= {len(RULES) - 1} AND r_nino IS NOT NULL) AS matched_ninos
FROM ranked GROUP BY l_row
"""


def _cascade(left: pa.Table | Sequence[Record], right: pa.Table | Sequence[Record], keys: Sequence[str],
             con: duckdb.DuckDBPyConnection | None = None) -> dict[str, Any]:
    """The best candidate of every left row, as NumPy/Arrow columns indexed by left row."""
    lt, rt = _as_table(left), _as_table(right)
    unknown = [k for k in keys if k not in _FIELDS]
    if unknown or not keys:
        raise InvalidInput(f"blocking keys must be among {', '.join(_FIELDS)} (got {', '.join(keys) or 'none'})")
    own = con is None
    con = con or connect()
    try:
        _prepare(con, "lt", lt)
        _prepare(con, "rt", rt)
        got = con.sql(_GRADE_SQL.replace("{pairs}", _candidate_pairs_sql(tuple(keys)))).to_arrow_table()
    finally:
        if own:
            con.close()
    n = lt.num_rows
    best = np.full(n, -1, dtype=np.int64)
    candidates = np.zeros(n, dtype=np.int64)
    rows = got.column("l_row").to_numpy()
    best[rows] = got.column("best").to_numpy()
    candidates[rows] = got.column("candidates").to_numpy()
    found = best >= 0
    rule_rank = np.where(found, best >> (_ROW_BITS + _MASK_BITS + 3), _NONE)
    right_row = np.where(found, (best >> _MASK_BITS) & ((1 << _ROW_BITS) - 1), -1)
    mask = np.where(found, best & ((1 << _MASK_BITS) - 1), 0)
    # ambiguity: matching candidates with NINOs of two different people (the same test as ``verify``)
    ambiguous = np.zeros(n, dtype=bool)
    ninos = got.column("matched_ninos")
    lengths = pc.fill_null(pc.list_value_length(ninos), 0).to_numpy(zero_copy_only=False)
    for i in np.flatnonzero(lengths >= 2):
        ambiguous[rows[i]] = _distinct_people(set(ninos[int(i)].as_py()))
    rule_rank[ambiguous] = _RULE_RANK[AMBIGUOUS_RULE]
    right_ids = rt.column("id").take(pa.array(np.where(found, right_row, 0))) if rt.num_rows else pa.nulls(n)
    right_ids = pc.if_else(pa.array(found), right_ids, pa.scalar(None, pa.string()))
    return {"left_ids": lt.column("id"), "rule_rank": rule_rank, "mask": mask, "right_ids": right_ids,
            "ambiguous": ambiguous, "candidates": candidates, "found": found}


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
    got = _cascade(left_std, right_std, keys, con)
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
    index = BlockingIndex(_rows(source), keys)
    out: dict[str, list] = {name: [] for name in RESULT_SCHEMA.names}
    for applicant in _rows(applicants):
        candidates = index.candidates(applicant)
        v = verify(applicant, candidates)
        applicant_id = applicant.get("id")
        out["applicant_id"].append(None if applicant_id is None else str(applicant_id))
        out["grade"].append(v.grade)
        out["rule"].append(v.rule)
        out["agreed"].append(",".join(v.agreed))
        out["candidate_id"].append(None if v.candidate_id is None else str(v.candidate_id))
        out["candidates"].append(len(candidates))
    return pa.table(out, schema=RESULT_SCHEMA)
