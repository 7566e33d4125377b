"""Matching a customer list with the qualifying claimants: deterministic rules on standardised identifiers
(``accord.linkage.standardise``):

1. ``nino``                   NINO equal, and surname or date of birth equal
2. ``dob+surname+postcode``   date of birth, surname and postcode equal
3. ``names+postcode``         given names equivalent (equal, or nickname and
                              formal name: Bill / William), surname equal, postcode equal
4. ``names+address``          given names equivalent, surname equal, first line of
                              address equal, postcode district (outward code) equal
                              or the postcode missing on one side (a mistyped inward code)
5. ``similar-names+address``  postcode and first line of address equal, given name
                              and surname each Jaro-Winkler >= 0.92 (a typo on one side)

Rules 3-5 also require the dates of birth not to differ where both sides
have one. A surname and address alone (another member of the household) never
match, and a customer with no given name can match only by rules 1-2.

Each rule is a DuckDB join on one blocking key; a customer is eligible when any
rule finds a qualifying claimant. The claimants are read once per job, under the
job's grant, and carry their subject keys (``services.subjects``) so the people
matched can be named in the audit log without reading any identifier again.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from accord.errors import InvalidInput
from accord.linkage import standardise as std
from accord.services import holdings
from accord.services.access import Grant
from accord.services.eligibility.intake import MATCH_FIELDS, usable

RULES = ("nino", "dob+surname+postcode", "names+postcode", "names+address", "similar-names+address")
SIMILAR = 0.92


def claimant_fields(columns: list[str]) -> dict[str, str]:
    """{matching field: the holding's column} for the identifiers a holding has."""
    return std.known_columns(columns, MATCH_FIELDS)


def qualifying_claimants(grant: Grant, condition: tuple[str, ...], fields: dict[str, str]) -> pa.Table:
    """The claimants meeting the condition, standardised for matching, with their subject keys.

    Only rows meeting the condition are read, and only the granted identifier columns.
    """
    present = set(holdings.columns(grant))
    missing = [c for c in condition if c not in present]
    if missing:
        raise InvalidInput(f"the holding of {grant.dataset_id} lacks the condition field(s) {', '.join(missing)}")
    fields = {f: column for f, column in fields.items() if column in present}
    if not usable(fields):
        raise InvalidInput(f"the holding of {grant.dataset_id} has too few identifiers to match on")
    table = holdings.read(grant, [*fields.values(), holdings.SUBJECT],
                          any_of=[holdings.IsTrue(c) for c in condition])
    prepared = standardise_side(table, fields, {})
    prepared = prepared.drop(["forms"]).append_column("forms", prepared.column("forms"))
    subjects = table.column(holdings.SUBJECT) if holdings.SUBJECT in table.column_names \
        else pa.nulls(table.num_rows, pa.string())
    prepared = prepared.append_column("subject", subjects)
    return prepared.add_column(0, "ckey", pa.array(range(prepared.num_rows), type=pa.int64()))


def _forms(names: pa.Array) -> pa.Array:
    """Each standardised given name's equivalent forms (itself and formal names), once per distinct name."""
    encoded = pc.dictionary_encode(names)
    forms = pa.array([sorted(std.first_name_forms(v)) if v else None for v in encoded.dictionary.to_pylist()],
                     type=pa.list_(pa.string()))
    return forms.take(encoded.indices)


def _head(names: pa.Array) -> pa.Array:
    return pc.list_element(pc.split_pattern(names, " "), 0) if len(names) else names


def standardise_side(table: pa.Table, fields: dict[str, str], keep: dict[str, str]) -> pa.Table:
    """Standard matching columns from ``table``: fn (given name, first word), forms, sur (surname
    without spaces), pc, addr, dob, nino; absent fields are NULL columns, so every rule's SQL is the same."""
    n = table.num_rows
    out: dict[str, pa.Array] = {alias: table.column(column) for alias, column in keep.items()}

    def text(field_name: str) -> pa.Array | None:
        column = fields.get(field_name)
        if column is None:
            return None
        values = table.column(column)
        if not pa.types.is_string(values.type):
            values = values.cast(pa.string())
        return values.combine_chunks() if values.num_chunks else pa.array([], pa.string())

    first = text("first_name")
    given = _head(std.standardise_names(first)) if first is not None else pa.nulls(n, pa.string())
    out["fn"] = given
    out["forms"] = _forms(given) if first is not None else pa.nulls(n, pa.list_(pa.string()))
    surname = text("surname")
    out["sur"] = (pc.replace_substring(std.standardise_names(surname), " ", "") if surname is not None
                  else pa.nulls(n, pa.string()))
    for field_name, alias, fn in (("postcode", "pc", std.standardise_postcodes),
                                  ("address", "addr", std.standardise_addresses),
                                  ("nino", "nino", std.standardise_ninos)):
        values = text(field_name)
        out[alias] = fn(values) if values is not None else pa.nulls(n, pa.string())
    if "dob" in fields:
        dob = table.column(fields["dob"])
        if not pa.types.is_date32(dob.type):
            dob = std.standardise_dates(dob if pa.types.is_date(dob.type) or pa.types.is_timestamp(dob.type)
                                        else dob.cast(pa.string()), column=fields["dob"], tolerance=1.0).values
            dob = pa.array(dob, type=pa.date32()) if isinstance(dob, list) else dob
        out["dob"] = dob
    else:
        out["dob"] = pa.nulls(n, pa.date32())
    return pa.table(out)


_DOB_OK = "(c.dob IS NULL OR k.dob IS NULL OR c.dob = k.dob)"
# "12 Park Road" is in hundreds of towns: without the postcode, the address must be in the same district.
_DISTRICT_OK = "(c.pc IS NULL OR k.pc IS NULL OR split_part(c.pc, ' ', 1) = split_part(k.pc, ' ', 1))"
MATCH_SQL = f"""
WITH cf AS (SELECT _row, unnest(forms) AS form, sur, pc, addr, dob FROM chunk WHERE forms IS NOT NULL),
hits AS (
    SELECT c._row, k.ckey FROM chunk c JOIN claimants k ON c.nino = k.nino WHERE c.sur = k.sur OR c.dob = k.dob
    UNION ALL
    SELECT c._row, k.ckey FROM chunk c JOIN claimants k ON c.dob = k.dob AND c.sur = k.sur AND c.pc = k.pc
    UNION ALL
    SELECT c._row, k.ckey FROM cf c JOIN claimant_forms k ON c.form = k.form AND c.sur = k.sur AND c.pc = k.pc
        WHERE {_DOB_OK}
    UNION ALL
    SELECT c._row, k.ckey FROM cf c JOIN claimant_forms k ON c.form = k.form AND c.sur = k.sur AND c.addr = k.addr
        WHERE {_DOB_OK} AND {_DISTRICT_OK}
    UNION ALL
    SELECT c._row, k.ckey FROM chunk c JOIN claimants k ON c.pc = k.pc AND c.addr = k.addr
        WHERE jaro_winkler_similarity(c.fn, k.fn) >= {SIMILAR} AND jaro_winkler_similarity(c.sur, k.sur) >= {SIMILAR}
        AND {_DOB_OK}
),
matched AS (SELECT DISTINCT h._row, k.subject FROM hits h JOIN claimants k USING (ckey))
SELECT c._row, c.account_reference, m._row IS NOT NULL AS eligible,
       list(DISTINCT m.subject) FILTER (WHERE m.subject IS NOT NULL) AS subjects
FROM chunk c LEFT JOIN matched m USING (_row)
GROUP BY ALL ORDER BY c._row
"""
