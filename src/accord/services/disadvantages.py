"""Multiple disadvantages (Troubled Families / Supporting Families): which households meet two or more factors.

A council asks which households in its area meet at least ``min_factors`` of the
factors the framework lists for the ``multiple_disadvantages`` objective
(worklessness, crime and anti-social behaviour, school attendance, children in
need, domestic abuse, health, housing). The answer names each household by a
reference the council already holds - its own council-tax account references
and the property's UPRN - and the names of the factors met. No indicator value,
no other body's identifier or record id, no person's details ever leave this
module.

Order of work, and why:

1. ``plan``: read the agreement the council names and ask the decision point
   (``policy.decide``, pure, nothing recorded yet) about every dataset it
   discloses, requesting only the fields this service can use (identifiers for
   linkage, the factors' indicator fields). A refusal of any one is recorded at
   once with ``request_access`` and nothing is read. Only the bodies named in
   the agreement are sources: its disclosed datasets and the requesting
   council's own datasets (its household list and its own case records).
2. ``link``: read the permitted fields of each holding (DuckDB over its Parquet
   file; nothing else is read), standardise them (``accord.linkage.standardise``)
   and place each record in a household of the council's list with the
   deterministic rules below (DuckDB joins; the person comparison is
   ``accord.linkage.deterministic.compare``). Each factor is then evaluated per
   household from the indicator fields of the records placed in it.
3. ``record``: one decision per disclosed dataset read, through
   ``request_access``, naming as pseudonymous subjects the people of the
   identified households whose records from that dataset were used, so each of
   them sees the use on /citizen. The answer is released only after these
   decisions commit; if the decision point now refuses (a daily limit reached
   meanwhile, too many people for the agreement's per-request limit), the
   answer is discarded and the refusal returned.

The area: the households are the council's own household list (the dataset of
its own with ``account_ref``, ``address_line_1`` and ``postcode``: its council
tax base), so no household outside its area can be returned; records about
people elsewhere never place.

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

Measured on synthetic data against the answer key (tests/disadvantages): see
docs/disadvantages.md for precision and recall.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import select
from sqlalchemy.orm import Session

from accord.clock import utcnow
from accord.errors import Conflict, InvalidInput, NotFound
from accord.framework import Factor, Framework
from accord.linkage.deterministic import compare
from accord.linkage.standardise import standardise_names, standardise_table
from accord.policy import AccessRequest, decide
from accord.policy.context import SqlPolicyContext
from accord.registry.agreements import get_agreement
from accord.registry.datasets import list_datasets
from accord.runtime import Hub
from accord.services.access import request_access
from accord.services.holdings import holding_path
from accord.storage.models import Agreement, Dataset

ACTION = "households.identify"
GATEWAY, OBJECTIVE = "public_service_delivery", "multiple_disadvantages"
PURPOSE = f"{GATEWAY}:{OBJECTIVE}"

# A registered field that holds a standard linkage field (the registry's common names).
IDENTITY_FIELDS: dict[str, str] = {
    "first_name": "first_name",
    "surname": "surname",
    "date_of_birth": "dob",
    "address_line_1": "address",
    "postcode": "postcode",
    "nino": "nino",
    "uprn": "uprn",
}
NHS_NUMBER = "nhs_number"  # kept only to name the person as an audit subject
# The council's household list: its own dataset of properties with accounts.
LIST_REQUIRED = ("account_ref", "address_line_1", "postcode")
LIST_OPTIONAL = ("uprn", "liable_name", "joint_liable_name")
LIABLE_NAMES = ("liable_name", "joint_liable_name")  # whose surnames are known at a property
_OFFICER = re.compile(r"^[^\x00-\x1f\x7f]{1,200}$")
_COLUMNS = ("first_name", "surname", "dob", "address", "postcode", "nino", "uprn", "nhs")
# Pairs sharing a date of birth are compared in Python only if their surnames could agree: looser than
# the comparison's own Jaro-Winkler threshold (0.92), so the filter never drops a pair it would accept.
SURNAME_PREFILTER = 0.8
_STRING = pa.string()


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Household:
    """One household in the answer: the council's own references and the factor names met."""

    uprn: str | None
    account_refs: tuple[str, ...]
    factors: tuple[str, ...]

    def public(self) -> dict:
        reference: dict[str, Any] = {}
        if self.uprn is not None:
            reference["uprn"] = self.uprn
        if self.account_refs:
            reference["account_refs"] = list(self.account_refs)
        return {"reference": reference, "factors": list(self.factors)}


@dataclass(frozen=True)
class Identification:
    """What the council gets: allowed with households, or refused with the reasons (recorded either way)."""

    allowed: bool
    reasons: tuple[str, ...]
    body_id: str
    agreement_id: str | None
    request_id: str
    decision_ids: tuple[int, ...]
    min_factors: int
    factors_considered: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    households: tuple[Household, ...] = ()
    obligations: dict = field(default_factory=dict)

    def public(self) -> dict:
        """The minimal answer: references the council holds and factor names; nothing from other bodies."""
        return {
            "allowed": self.allowed,
            "reasons": list(self.reasons),
            "agreement_id": self.agreement_id,
            "request_id": self.request_id,
            "decision_ids": list(self.decision_ids),
            "area": self.body_id,
            "min_factors": self.min_factors,
            "factors_considered": list(self.factors_considered),
            "sources": list(self.sources),
            "count": len(self.households),
            "households": [household.public() for household in self.households],
            "obligations": self.obligations,
        }


# --------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class Source:
    """One dataset read: another body's under the agreement (decided), or the council's own."""

    dataset_id: str
    body_id: str
    own: bool
    fields: tuple[str, ...]  # the fields read: permitted by the decision, or the council's own
    requested: tuple[str, ...] = ()  # the fields asked of the decision point


@dataclass(frozen=True)
class Plan:
    body_id: str
    officer: str
    agreement_id: str
    request_id: str
    client_id: str | None
    now: datetime
    household_list: Source
    sources: tuple[Source, ...]
    factors: dict[str, Factor]
    min_factors: int


def objective_factors(framework: Framework) -> tuple[dict[str, Factor], int]:
    gateway = framework.gateway(GATEWAY)
    objective = gateway.objectives.get(OBJECTIVE) if gateway else None
    if objective is None or not objective.factors:
        raise Conflict(f"the framework {framework.id} lists no factors for {PURPOSE}")
    return dict(objective.factors), objective.min_factors or 2


def indicator_fields(factors: Mapping[str, Factor]) -> set[str]:
    return {indicator.field for factor in factors.values() for indicator in factor.indicators}


def check_officer(officer: str) -> str:
    value = (officer or "").strip()
    if not _OFFICER.match(value):
        raise InvalidInput("the officer must be named in 1-200 printable characters")
    return value


def _wanted(dataset: Dataset, indicators: set[str]) -> tuple[str, ...]:
    """The registered fields this service can use: identifiers for linkage and indicator fields."""
    useful = set(IDENTITY_FIELDS) | {NHS_NUMBER} | indicators
    return tuple(f.name for f in dataset.fields if f.name in useful)


def plan(hub: Hub, *, body_id: str, officer: str, agreement_id: str, request_id: str,
         client_id: str | None = None, min_factors: int | None = None, now: datetime | None = None,
         ) -> Plan | Identification:
    """Decide every source before anything is read; a refusal is recorded and returned as it is.

    Returns a ``Plan`` when every dataset the agreement discloses (and this
    service can use) is permitted; otherwise the recorded refusal.
    """
    now = now or utcnow()
    officer = check_officer(officer)
    factors, least = objective_factors(hub.framework)
    if min_factors is not None:
        if not least <= min_factors <= len(factors):
            raise InvalidInput(
                f"min_factors must be between {least} (the objective's minimum) and {len(factors)} (its factors)")
        least = min_factors
    indicators = indicator_fields(factors)

    def refuse(session: Session, dataset_id: str, fields: tuple[str, ...], *why: str) -> Identification:
        request = AccessRequest(body_id=body_id, officer=officer, action=ACTION, dataset_id=dataset_id,
                                purpose=PURPOSE, fields=fields or tuple(sorted(indicators)), records=1,
                                agreement_id=agreement_id)
        decision, row = request_access(session, hub.framework, request, now=now, request_id=request_id,
                                       client_id=client_id)
        if decision.allowed:  # only called after the pure check refused, or for no agreement at all
            raise AssertionError("a refusal was expected from the decision point")
        return Identification(False, why or decision.reasons, body_id, agreement_id, request_id, (row.id,), least)

    with hub.transaction() as session:
        agreement = _visible_agreement(session, agreement_id, body_id)
        if agreement is None:
            return refuse(session, "", (), f"no agreement '{agreement_id}' exists")
        disclosed = list(dict.fromkeys(item.dataset_id for item in agreement.data))
        datasets = {d.id: d for d in session.scalars(select(Dataset).where(Dataset.id.in_(disclosed)))}
        context = SqlPolicyContext(session, hub.framework)
        sources: list[Source] = []
        for dataset_id in disclosed:
            wanted = _wanted(datasets[dataset_id], indicators)
            if not set(wanted) & indicators:
                continue  # nothing the factors are read from: neither asked for nor read
            request = AccessRequest(body_id=body_id, officer=officer, action=ACTION, dataset_id=dataset_id,
                                    purpose=PURPOSE, fields=wanted, records=1, agreement_id=agreement_id)
            decision = decide(context, request, now)
            if not decision.allowed:
                return refuse(session, dataset_id, wanted)
            sources.append(Source(dataset_id, datasets[dataset_id].body_id, False, decision.permitted_fields,
                                  wanted))
        if not sources:
            first = disclosed[0] if disclosed else ""
            fields = _wanted(datasets[first], indicators) if first else ()
            probe = AccessRequest(body_id=body_id, officer=officer, action=ACTION, dataset_id=first, purpose=PURPOSE,
                                  fields=fields or tuple(sorted(indicators)), records=1, agreement_id=agreement_id)
            if not decide(context, probe, now).allowed:
                return refuse(session, first, fields)
            raise Conflict(f"agreement '{agreement_id}' discloses none of the fields the factors are read from "
                           f"({', '.join(sorted(indicators))})")
        own = list_datasets(session, body_id)
        household_list = _household_list(own, body_id)
        for dataset in own:
            if dataset.id != household_list.dataset_id:
                wanted = _wanted(dataset, indicators)
                if set(wanted) & indicators:
                    sources.append(Source(dataset.id, body_id, True, wanted))
    return Plan(body_id, officer, agreement_id, request_id, client_id, now, household_list, tuple(sources),
                factors, least)


def _visible_agreement(session: Session, agreement_id: str, body_id: str) -> Agreement | None:
    """The agreement named, unless unknown or another body's draft (drafts are private to their parties)."""
    if not agreement_id or len(agreement_id) > 64 or not agreement_id.isprintable():
        return None
    try:
        agreement = get_agreement(session, agreement_id)
    except NotFound:
        return None
    if agreement.status == "draft" and body_id not in {p.body_id for p in agreement.parties}:
        return None
    return agreement


def _household_list(own: Sequence[Dataset], body_id: str) -> Source:
    """The council's own list of properties with accounts: its area and the references it knows."""
    candidates = []
    for dataset in own:
        names = {f.name for f in dataset.fields}
        if all(name in names for name in LIST_REQUIRED):
            candidates.append((("uprn" not in names), dataset.id, dataset))
    if not candidates:
        raise Conflict(
            f"'{body_id}' has no household list: register a dataset of its own with the fields "
            f"{', '.join(LIST_REQUIRED)} (its council tax accounts) and load its records")
    _, _, dataset = min(candidates, key=lambda c: (c[0], c[1]))
    names = {f.name for f in dataset.fields}
    fields = tuple(name for name in LIST_REQUIRED + LIST_OPTIONAL if name in names)
    return Source(dataset.id, body_id, True, fields)


# --------------------------------------------------------------------------- reading


def _read(hub: Hub, connection: duckdb.DuckDBPyConnection, source: Source) -> pa.Table:
    """Only the fields the source may give: nothing else of the holding is read."""
    try:
        path = holding_path(hub, source.dataset_id)
    except NotFound as missing:
        raise Conflict(missing.detail) from None
    present = {row[0] for row in connection.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(path)]).fetchall()}
    columns = [name for name in source.fields if name in present]
    if not columns:
        return pa.table({})
    select = ", ".join('"' + name.replace('"', '""') + '"' for name in columns)
    return connection.sql(f"SELECT {select} FROM read_parquet(?)", params=[str(path)]).to_arrow_table()


def _standard(table: pa.Table, source: str) -> pa.Table:
    """The linkage columns (``_COLUMNS``) in standard form; absent ones are empty."""
    mapping = {std: name for name, std in IDENTITY_FIELDS.items() if name in table.column_names}
    standard = standardise_table(table, mapping, id_column=None, source=source).table
    rows = table.num_rows
    columns = {}
    for name in _COLUMNS:
        if name == "nhs":
            columns[name] = _nhs_numbers(table.column(NHS_NUMBER)) if NHS_NUMBER in table.column_names \
                else pa.nulls(rows, _STRING)
        elif name in standard.column_names:
            columns[name] = standard.column(name)
        else:
            columns[name] = pa.nulls(rows, pa.date32() if name == "dob" else _STRING)
    return pa.table(columns)


def _nhs_numbers(values: pa.ChunkedArray) -> pa.Array:
    cleaned = [re.sub(r"\s+", "", v) if isinstance(v, str) else None for v in values.cast(_STRING).to_pylist()]
    return pa.array([v if v and v.isdigit() and len(v) == 10 else None for v in cleaned], type=_STRING)


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
        rows = self.db.execute(f"SELECT rid, {_PERSON}, nhs FROM recs JOIN wanted_rows USING (rid)").fetchall()
        self.db.unregister("wanted_rows")
        return {row[0]: {**_record(row[1:6]), "nhs": row[6]} for row in rows}


@dataclass(frozen=True)
class Linked:
    households: tuple[Household, ...]
    subjects: dict[str, tuple[str, ...]]  # dataset id -> pseudonymous person keys
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


def link(hub: Hub, prepared: Plan) -> Linked:
    """Read the permitted fields, place the records in households, evaluate the factors."""
    connection = duckdb.connect()
    try:
        connection.execute("SET threads TO 2")
        household_table = _read(hub, connection, prepared.household_list)
        if household_table.num_rows == 0:
            raise Conflict(f"the household list {prepared.household_list.dataset_id} holds no records")
        households, surnames, references = _household_rows(household_table, prepared.household_list.dataset_id)
        parts, origins, hits = [], [], []
        considered: set[str] = set()
        offset = 0
        for source in prepared.sources:
            table = _read(hub, connection, source)
            if table.num_rows == 0:
                continue
            standard = _standard(table, source.dataset_id)
            rids = pa.array(range(offset, offset + table.num_rows), type=pa.int64())
            parts.append(standard.add_column(0, "rid", rids))
            origins.append((offset, offset + table.num_rows, source.dataset_id))
            found = _hits(table, prepared.factors, offset)
            hits += found
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
        subjects, people = _subjects(hub, linker, placed, set(chosen), origins)
        return Linked(result, subjects, people, tuple(n for n in prepared.factors if n in considered))
    finally:
        connection.close()


def _dataset_of(rid: int, origins: Sequence[tuple[int, int, str]]) -> str:
    for start, end, dataset_id in origins:
        if start <= rid < end:
            return dataset_id
    raise LookupError(rid)


def _subjects(hub: Hub, linker: Linker, placed: Mapping[int, str], chosen: set[str],
              origins: Sequence[tuple[int, int, str]]) -> tuple[dict[str, tuple[str, ...]], dict[str, int]]:
    """The people of the identified households, per dataset whose records about them were used.

    Records in one household are grouped into people with ``same_person``; a
    person's key is from their NINO (the one most of their records give; none on
    a tie, rather than risk naming someone else), else their NHS number, else
    their standardised given name, surname and date of birth (scheme ``person``).
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
            key = _person_key(hub, [records[rid] for rid in group])
            for dataset_id in {_dataset_of(rid, origins) for rid in group}:
                people[dataset_id] += 1
                if key:
                    subjects[dataset_id].add(key)
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


def _most_common(values: Iterable[str | None]) -> str | None:
    counts = Counter(v for v in values if v)
    if not counts:
        return None
    (top, n), *rest = counts.most_common()
    return None if rest and rest[0][1] == n else top


def _person_key(hub: Hub, records: Sequence[Mapping[str, Any]]) -> str | None:
    nino = _most_common(r.get("nino") for r in records)
    if nino:
        return hub.person_key("nino", nino)
    nhs = _most_common(r.get("nhs") for r in records)
    if nhs:
        return hub.person_key("nhs_number", nhs)
    for record in records:
        if record.get("first_name") and record.get("surname") and record.get("dob"):
            given = record["first_name"].split(" ", 1)[0]
            return hub.person_key("person", f"{given}|{record['surname']}|{record['dob']}")
    return None


# --------------------------------------------------------------------------- record and answer


def record(hub: Hub, prepared: Plan, linked: Linked) -> Identification:
    """One decision per disclosed dataset read, with its people as subjects; the answer only if all allow."""
    decided = [source for source in prepared.sources if not source.own]
    ids: list[int] = []
    refusals: list[str] = []
    obligations: dict = {}
    with hub.transaction() as session:
        for source in decided:
            subjects = linked.subjects.get(source.dataset_id, ())
            request = AccessRequest(
                body_id=prepared.body_id, officer=prepared.officer, action=ACTION, dataset_id=source.dataset_id,
                purpose=PURPOSE, fields=source.requested, records=max(1, linked.people.get(source.dataset_id, 0)),
                agreement_id=prepared.agreement_id, subjects=subjects)
            decision, row = request_access(session, hub.framework, request, now=prepared.now,
                                           request_id=prepared.request_id, client_id=prepared.client_id)
            ids.append(row.id)
            if not decision.allowed:
                refusals += list(decision.reasons)
            elif not obligations:
                obligations = dict(decision.obligations)
    sources = tuple(s.dataset_id for s in (prepared.household_list, *prepared.sources))
    if refusals:
        return Identification(False, tuple(refusals), prepared.body_id, prepared.agreement_id, prepared.request_id,
                              tuple(ids), prepared.min_factors, linked.factors_considered, sources)
    reasons = (f"permitted under agreement '{prepared.agreement_id}' for {len(decided)} dataset(s)",)
    return Identification(True, reasons, prepared.body_id, prepared.agreement_id, prepared.request_id, tuple(ids),
                          prepared.min_factors, linked.factors_considered, sources, linked.households, obligations)


def identify(hub: Hub, *, body_id: str, officer: str, agreement_id: str, request_id: str,
             client_id: str | None = None, min_factors: int | None = None,
             now: datetime | None = None) -> Identification:
    """The whole request: plan (decide), link (read and match), record (audit); see the module docstring."""
    prepared = plan(hub, body_id=body_id, officer=officer, agreement_id=agreement_id, request_id=request_id,
                    client_id=client_id, min_factors=min_factors, now=now)
    if isinstance(prepared, Identification):
        return prepared
    return record(hub, prepared, link(hub, prepared))
