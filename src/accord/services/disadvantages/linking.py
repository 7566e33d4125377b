"""Linking: the permitted fields of each source, read under its grant, placed in the council's households.

Placing a record in a household, first rule that applies:

- ``uprn``: the record's UPRN is a listed property's.
- ``address``: standardised address line and postcode equal a listed property's.
- ``address, no postcode``: the record has no postcode, its address line is
  that of exactly one listed property, and its surname is already known there
  (the liable name on the account or a record placed by address).
- ``person``: the record is the same person as a placed record - NINO equal
  (with surname or date of birth agreeing), or date of birth equal, surnames
  agreeing and given names agreeing (when either lacks a given name, postcodes
  equal instead), with no conflicting NINO - and all that person's placed
  records are in one household. This follows people whose record shows an
  address they have since left.
- ``postcode and surname``: a record with no address line (the agreement may
  leave it out) whose surname is known at exactly one listed property with its
  postcode.
- ``former address``: a record at an address no listed property has, where a
  person placed by the ``person`` rule was recorded at that same address:
  households move together, so it is that household's former address.

Each factor is then evaluated per household from the indicator fields of the
records placed in it. The people of the households identified are named by the
subject keys their records carry (``services.subjects``), per dataset read.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from accord.errors import Conflict, NotFound
from accord.framework import Factor
from accord.linkage.deterministic import compare
from accord.linkage.standardise import standardise_names, standardise_table
from accord.services import holdings
from accord.services.disadvantages.answer import Household
from accord.services.disadvantages.plan import IDENTITY_FIELDS, Plan, Source

LIABLE_NAMES = ("liable_name", "joint_liable_name")  # whose surnames are known at a property
_COLUMNS = ("first_name", "surname", "dob", "address", "postcode", "nino", "uprn")
# Pairs sharing a date of birth are compared in Python only if their surnames could agree: looser than
# the comparison's own Jaro-Winkler threshold (0.92), so the filter never drops a pair it would accept.
SURNAME_PREFILTER = 0.8
_STRING = pa.string()


def _read(source: Source, with_subjects: bool = False) -> pa.Table:
    """Only the fields the source's grant permits: nothing else of the holding is read."""
    try:
        return holdings.read(source.grant, [*source.fields, *((holdings.SUBJECT,) if with_subjects else ())])
    except NotFound as missing:
        raise Conflict(missing.detail) from None


def _standard(table: pa.Table, source: str) -> pa.Table:
    """The linkage columns (``_COLUMNS``) in standard form; absent ones are empty."""
    mapping = {std: name for name, std in IDENTITY_FIELDS.items() if name in table.column_names}
    standard = standardise_table(table, mapping, id_column=None, source=source).table
    rows = table.num_rows
    columns = {}
    for name in _COLUMNS:
        if name in standard.column_names:
            columns[name] = standard.column(name)
        else:
            columns[name] = pa.nulls(rows, pa.date32() if name == "dob" else _STRING)
    return pa.table(columns)


def _hits(table: pa.Table, factors: Mapping[str, Factor], offset: int) -> list[tuple[int, str]]:
    """(row id, factor) for each row whose indicator field holds a value meaning the factor is met."""
    found: list[tuple[int, str]] = []
    for name, factor in factors.items():
        met = None
        for indicator in factor.indicators:
            if indicator.field not in table.column_names:
                continue
            values = pa.array(sorted({str(v).lower() for v in indicator.values}), type=_STRING)
            text = pc.utf8_lower(pc.utf8_trim_whitespace(table.column(indicator.field).cast(_STRING)))
            hit = pc.fill_null(pc.is_in(text, value_set=values), False)
            met = hit if met is None else pc.or_(met, hit)
        if met is not None:
            found += [(offset + int(i), name) for i in pc.indices_nonzero(met).to_pylist()]
    return found


# --------------------------------------------------------------------------- linkage


def same_person(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Two standardised records about one person, whatever address each shows (module docstring)."""
    c = compare(a, b)
    if c.levels.get("nino") == "exact":
        return c.agrees("surname") or c.levels.get("dob") == "exact"
    if c.conflicts("nino") or c.levels.get("dob") != "exact" or not c.agrees("surname"):
        return False
    if "first_name" in c.levels:
        return c.agrees("first_name")
    return c.levels.get("postcode") == "exact"


def _record(row: Sequence[Any]) -> dict[str, Any]:
    first_name, surname, dob, postcode, nino = row
    return {"first_name": first_name, "surname": surname, "dob": dob, "postcode": postcode, "nino": nino}


_PERSON = "first_name, surname, dob, postcode, nino"


class Linker:
    """Places records in the council's households (rules in the module docstring), with DuckDB."""

    def __init__(self, connection: duckdb.DuckDBPyConnection, households: pa.Table, liable: pa.Table,
                 records: pa.Table) -> None:
        self.db = connection
        self.db.register("household_rows", households)
        self.db.register("liable_rows", liable)
        self.db.register("record_rows", records)
        self.db.execute("""
            CREATE TEMP TABLE homes AS SELECT * FROM household_rows;
            CREATE TEMP TABLE liable_surnames AS SELECT DISTINCT key, surname_key FROM liable_rows;
            CREATE TEMP TABLE recs AS SELECT *, replace(surname, ' ', '') AS surname_key FROM record_rows;
            CREATE TEMP TABLE at_address AS
                SELECT address, postcode, min(key) AS key FROM homes
                WHERE address IS NOT NULL AND postcode IS NOT NULL GROUP BY ALL HAVING count(DISTINCT key) = 1;
            CREATE TEMP TABLE placed (rid BIGINT PRIMARY KEY, key VARCHAR, rule VARCHAR);
            CREATE TEMP TABLE moved_from (address VARCHAR, postcode VARCHAR, key VARCHAR);
        """)

    def run(self) -> None:
        self.db.execute("""
            INSERT INTO placed
            SELECT r.rid, h.key, 'uprn' FROM recs r JOIN (SELECT uprn, min(key) AS key FROM homes
                WHERE uprn IS NOT NULL GROUP BY uprn) h ON r.uprn = h.uprn;
            INSERT INTO placed
            SELECT r.rid, a.key, 'address' FROM recs r JOIN at_address a USING (address, postcode)
            WHERE r.rid NOT IN (SELECT rid FROM placed);
        """)
        self._surnames()
        self.db.execute("""
            INSERT INTO placed
            SELECT r.rid, a.key, 'address, no postcode' FROM recs r
            JOIN (SELECT address, min(key) AS key FROM homes WHERE address IS NOT NULL
                  GROUP BY address HAVING count(DISTINCT key) = 1) a USING (address)
            WHERE r.postcode IS NULL AND r.rid NOT IN (SELECT rid FROM placed)
              AND EXISTS (SELECT 1 FROM known_surnames s WHERE s.key = a.key AND s.surname_key = r.surname_key);
        """)
        self._people()
        self._surnames()
        self.db.execute("""
            INSERT INTO placed
            SELECT r.rid, min(h.key), 'postcode and surname' FROM recs r
            JOIN homes h ON h.postcode = r.postcode
            JOIN known_surnames s ON s.key = h.key AND s.surname_key = r.surname_key
            WHERE r.address IS NULL AND r.rid NOT IN (SELECT rid FROM placed)
            GROUP BY r.rid HAVING count(DISTINCT h.key) = 1;
        """)
        self._people()
        self.db.execute("""
            INSERT INTO placed
            SELECT r.rid, m.key, 'former address' FROM recs r
            JOIN (SELECT address, postcode, min(key) AS key FROM moved_from GROUP BY ALL
                  HAVING count(DISTINCT key) = 1) m USING (address, postcode)
            WHERE r.rid NOT IN (SELECT rid FROM placed);
        """)

    def _surnames(self) -> None:
        self.db.execute("""
            CREATE OR REPLACE TEMP TABLE known_surnames AS
            SELECT key, surname_key FROM liable_surnames
            UNION
            SELECT DISTINCT p.key, r.surname_key FROM placed p JOIN recs r USING (rid) WHERE r.surname_key IS NOT NULL;
        """)

    def _people(self) -> None:
        """The ``person`` rule: an unplaced record takes the household of the same person's placed records."""
        pairs = self.db.execute(f"""
            WITH open AS (SELECT * FROM recs WHERE rid NOT IN (SELECT rid FROM placed)),
                 done AS (SELECT r.*, p.key FROM recs r JOIN placed p USING (rid))
            SELECT o.rid, o.first_name, o.surname, o.dob, o.postcode, o.nino,
                   d.first_name, d.surname, d.dob, d.postcode, d.nino, d.key
            FROM open o JOIN done d ON o.dob = d.dob
            WHERE o.nino = d.nino OR jaro_winkler_similarity(o.surname_key, d.surname_key) >= {SURNAME_PREFILTER}
               OR contains(o.surname, d.surname) OR contains(d.surname, o.surname)
            UNION ALL
            SELECT o.rid, o.first_name, o.surname, o.dob, o.postcode, o.nino,
                   d.first_name, d.surname, d.dob, d.postcode, d.nino, d.key
            FROM open o JOIN done d ON o.nino = d.nino AND o.dob IS DISTINCT FROM d.dob
        """).fetchall()
        households: dict[int, set[str]] = defaultdict(set)
        for row in pairs:
            if same_person(_record(row[1:6]), _record(row[6:11])):
                households[row[0]].add(row[11])
        found = [(rid, next(iter(keys))) for rid, keys in households.items() if len(keys) == 1]
        if not found:
            return
        self.db.register("found_people", pa.table({"rid": [r for r, _ in found], "key": [k for _, k in found]}))
        self.db.execute(f"""
            INSERT INTO placed SELECT rid, key, 'person' FROM found_people;
            INSERT INTO moved_from
            SELECT r.address, r.postcode, f.key FROM found_people f JOIN recs r USING (rid)
            WHERE r.address IS NOT NULL AND NOT EXISTS
                (SELECT 1 FROM homes h WHERE h.address = r.address AND h.postcode IS NOT DISTINCT FROM r.postcode);
        """)
        self.db.unregister("found_people")

    def placements(self) -> dict[int, str]:
        return dict(self.db.execute("SELECT rid, key FROM placed").fetchall())

    def records_of(self, rids: Iterable[int]) -> dict[int, dict[str, Any]]:
        wanted = pa.table({"rid": pa.array(sorted(set(rids)), type=pa.int64())})
        self.db.register("wanted_rows", wanted)
        rows = self.db.execute(f"SELECT rid, {_PERSON} FROM recs JOIN wanted_rows USING (rid)").fetchall()
        self.db.unregister("wanted_rows")
        return {row[0]: _record(row[1:6]) for row in rows}


@dataclass(frozen=True)
class Linked:
    households: tuple[Household, ...]
    subjects: dict[str, tuple[str, ...]]  # dataset id -> subject keys of the people whose records were used
    people: dict[str, int]  # dataset id -> people of the identified households with records in it
    factors_considered: tuple[str, ...]


def _household_rows(table: pa.Table, dataset_id: str,
                    ) -> tuple[pa.Table, pa.Table, dict[str, tuple[str | None, tuple[str, ...]]]]:
    """Properties of the council's list, keyed by UPRN (else address and postcode), with their accounts."""
    standard = standardise_table(
        table, {std: name for name, std in IDENTITY_FIELDS.items() if name in table.column_names},
        id_column=None, source=dataset_id).table
    uprns = standard.column("uprn").to_pylist() if "uprn" in standard.column_names else [None] * table.num_rows
    addresses = standard.column("address").to_pylist()
    postcodes = standard.column("postcode").to_pylist()
    accounts = table.column("account_ref").cast(_STRING).to_pylist()
    # Standardised once per distinct name (standardise_names), not once per row.
    named = [standardise_names(table.column(name).cast(_STRING)).to_pylist()
             for name in LIABLE_NAMES if name in table.column_names]
    keys = [f"u:{uprn}" if uprn else (f"a:{address}|{postcode}" if address and postcode else None)
            for uprn, address, postcode in zip(uprns, addresses, postcodes)]
    refs: dict[str, tuple[str | None, list[str]]] = {}
    surname_rows: list[tuple[str, str]] = []
    for row, (key, uprn, account) in enumerate(zip(keys, uprns, accounts)):
        if key is None:
            continue
        entry = refs.setdefault(key, (uprn, []))
        if account and account not in entry[1]:
            entry[1].append(account)
        for names in named:
            if names[row]:
                surname_rows.append((key, names[row].split(" ")[-1]))
    homes = pa.table({
        "key": pa.array(keys, type=_STRING), "address": pa.array(addresses, type=_STRING),
        "postcode": pa.array(postcodes, type=_STRING), "uprn": pa.array(uprns, type=_STRING),
    }).filter(pc.is_valid(pa.array(keys, type=_STRING)))
    surnames = pa.table({"key": pa.array([k for k, _ in surname_rows], type=_STRING),
                         "surname_key": pa.array([s for _, s in surname_rows], type=_STRING)})
    return homes, surnames, {key: (uprn, tuple(sorted(accounts))) for key, (uprn, accounts) in refs.items()}


def link(prepared: Plan) -> Linked:
    """Read the permitted fields under each grant, place the records in households, evaluate the factors."""
    connection = duckdb.connect()
    try:
        connection.execute("SET threads TO 2")
        household_table = _read(prepared.household_list)
        if household_table.num_rows == 0:
            raise Conflict(f"the household list {prepared.household_list.dataset_id} holds no records")
        households, surnames, references = _household_rows(household_table, prepared.household_list.dataset_id)
        parts, origins, hits, subject_of = [], [], [], []
        considered: set[str] = set()
        offset = 0
        for source in prepared.sources:
            table = _read(source, with_subjects=True)
            if table.num_rows == 0:
                continue
            standard = _standard(table, source.dataset_id)
            rids = pa.array(range(offset, offset + table.num_rows), type=pa.int64())
            parts.append(standard.add_column(0, "rid", rids))
            origins.append((offset, offset + table.num_rows, source.dataset_id))
            subject_of += (table.column(holdings.SUBJECT).to_pylist() if holdings.SUBJECT in table.column_names
                           else [None] * table.num_rows)
            hits += _hits(table, prepared.factors, offset)
            considered |= {name for name, factor in prepared.factors.items()
                           if any(i.field in table.column_names for i in factor.indicators)}
            offset += table.num_rows
        if not parts:
            return Linked((), {}, {}, tuple(n for n in prepared.factors if n in considered))
        linker = Linker(connection, households, surnames, pa.concat_tables(parts))
        linker.run()
        placed = linker.placements()
        met: dict[str, set[str]] = defaultdict(set)
        for rid, factor in hits:
            key = placed.get(rid)
            if key is not None:
                met[key].add(factor)
        order = {name: i for i, name in enumerate(prepared.factors)}
        chosen = sorted(key for key, factors in met.items() if len(factors) >= prepared.min_factors)
        result = tuple(
            Household(references[key][0], references[key][1], tuple(sorted(met[key], key=order.__getitem__)))
            for key in chosen
        )
        subjects, people = _subjects(linker, placed, set(chosen), origins, subject_of)
        return Linked(result, subjects, people, tuple(n for n in prepared.factors if n in considered))
    finally:
        connection.close()


def _dataset_of(rid: int, origins: Sequence[tuple[int, int, str]]) -> str:
    for start, end, dataset_id in origins:
        if start <= rid < end:
            return dataset_id
    raise LookupError(rid)


def _subjects(linker: Linker, placed: Mapping[int, str], chosen: set[str], origins: Sequence[tuple[int, int, str]],
              subject_of: Sequence[str | None]) -> tuple[dict[str, tuple[str, ...]], dict[str, int]]:
    """The people of the identified households, per dataset whose records about them were used.

    Records in one household are grouped into people with ``same_person`` (to count
    them); each record names its person by the subject key it carries.
    """
    by_household: dict[str, list[int]] = defaultdict(list)
    for rid, key in placed.items():
        if key in chosen:
            by_household[key].append(rid)
    records = linker.records_of(rid for rids in by_household.values() for rid in rids)
    subjects: dict[str, set[str]] = defaultdict(set)
    people: dict[str, int] = defaultdict(int)
    for rids in by_household.values():
        for group in _people_in(rids, records):
            for dataset_id in {_dataset_of(rid, origins) for rid in group}:
                people[dataset_id] += 1
            for rid in group:
                if subject_of[rid]:
                    subjects[_dataset_of(rid, origins)].add(subject_of[rid])
    return {d: tuple(sorted(keys)) for d, keys in subjects.items()}, dict(people)


def _people_in(rids: Sequence[int], records: Mapping[int, Mapping[str, Any]]) -> list[list[int]]:
    parent = {rid: rid for rid in rids}

    def root(rid: int) -> int:
        while parent[rid] != rid:
            parent[rid] = parent[parent[rid]]
            rid = parent[rid]
        return rid

    ordered = sorted(rids)
    for i, a in enumerate(ordered):
        for b in ordered[i + 1:]:
            if root(a) != root(b) and same_person(records[a], records[b]):
                parent[root(b)] = root(a)
    groups: dict[int, list[int]] = defaultdict(list)
    for rid in ordered:
        groups[root(rid)].append(rid)
    return list(groups.values())
