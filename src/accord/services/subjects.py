"""One subject key per person, derived the same way by every service.

Whom an audit entry names is the person *as the hub resolved them*: the source
record a check matched, the claimant an eligibility job found, the death record
that said deceased. Never whatever the requester typed, which may be someone
else's details or a mistake. Each holding therefore carries, from the moment
its body loads it, one subject key per record (``SUBJECT``), computed here
from the record's own identifiers:

- its National Insurance number when it has a valid one;
- otherwise its standardised given name (canonical: Bill and William alike),
  surname and date of birth.

The derivation itself is ``accord.privacy.pseudonymise.subject_key``; this
module standardises the inputs, with the linkage engine's standardisers, so a
record from any body yields the same key for the same person. A citizen's
"who used my data" collects every key their verified identity resolves to
(``identity_keys``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from accord.linkage.standardise import (
    canonical_first_name, canonical_first_names, compact_name, parse_date, standardise_name, standardise_nino,
    standardise_table,
)
from accord.privacy import pseudonymise
from accord.runtime import Hub

SUBJECT = "_subject"  # the column of subject keys in every holding
# The identifiers a subject key is made from, as standard fields.
IDENTITY_FIELDS = ("nino", "first_name", "surname", "dob")


def subject_key(hub: Hub, *, nino: Any = None, first_name: Any = None, surname: Any = None,
                dob: Any = None) -> str | None:
    """The subject key of one record's identifiers (raw or standard; None: it names no one)."""
    return pseudonymise.subject_key(
        hub.subject_secret,
        nino=standardise_nino(nino) if nino else None,
        given=canonical_first_name(first_name),
        surname=compact_name(standardise_name(surname)),
        born=parse_date(dob),  # a date, a datetime (its day) or text
    )


def identity_keys(hub: Hub, *, nino: Any = None, first_name: Any = None, surname: Any = None,
                  dob: Any = None) -> tuple[str, ...]:
    """Every key a verified identity resolves to: a citizen sees entries under any of them."""
    keys = (subject_key(hub, nino=nino), subject_key(hub, first_name=first_name, surname=surname, dob=dob))
    return tuple(dict.fromkeys(k for k in keys if k))


def subject_column(hub: Hub, table: pa.Table, field_map: Mapping[str, str], source: str) -> pa.Array:
    """Each row's subject key (or null), for a holding being loaded; ``field_map`` is {standard field: column}."""
    mapping = {std: column for std, column in field_map.items() if std in IDENTITY_FIELDS}
    if not mapping:
        return pa.nulls(table.num_rows, pa.string())
    standard = standardise_table(table.select(list(dict.fromkeys(mapping.values()))), mapping, id_column=None,
                                 source=source, date_tolerance=1.0).table

    def column(name: str) -> list:
        return standard.column(name).to_pylist() if name in standard.column_names else [None] * table.num_rows

    ninos, surnames, dobs = column("nino"), column("surname"), column("dob")
    givens = (canonical_first_names(standard.column("first_name")) if "first_name" in standard.column_names
              else [None] * table.num_rows)
    givens = givens.to_pylist() if isinstance(givens, pa.Array) else givens
    secret = hub.subject_secret
    keys = [
        pseudonymise.subject_key(secret, nino=nino, given=given, surname=compact_name(surname), born=born)
        for nino, given, surname, born in zip(ninos, givens, surnames, dobs, strict=True)
    ]
    return pa.array(keys, type=pa.string())
