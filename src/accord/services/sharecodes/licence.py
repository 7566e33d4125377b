"""The driving licence items a citizen may share, and the licence record read under a consent.

DVLA's holding is read only under a grant (``services.access.by_consent``): when the
signed-in driver finds their own licence (their own request: its number, postcode and the
NINO that ties it to them) and when a redeemer presents a valid code (the driver's consent),
and only the columns the items need.
``shared_values`` is the redaction at this boundary: exactly the chosen items.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from accord.errors import InvalidInput, NotFound
from accord.framework import Purpose
from accord.linkage.standardise import known_columns
from accord.runtime import Hub
from accord.services import holdings
from accord.services.access import AccessRequest, Grant, by_consent
from accord.services.sharecodes.codes import DATASET, normalise_licence, postcode_key, unseal
from accord.services.subjects import subject_key
from accord.storage.tables.sharecodes import Consent

def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year without one
        return day.replace(year=day.year + years, day=28)


def licence_valid_to(issued: date, born: date | None) -> date | None:
    """When the licence ends, by DVLA's rule for car licences: on the day before the holder's 70th
    birthday, and 3 years at a time for a licence issued at 70 or over. The extract holds no
    renewals, so a licence is taken to end at the first of those dates (None without a birth date)."""
    if born is None:
        return None
    seventy = _add_years(born, 70)
    if issued >= seventy:
        return _add_years(issued, 3) - timedelta(days=1)
    return seventy - timedelta(days=1)


def _iso(value: object) -> str | None:
    return value.isoformat() if isinstance(value, date) else None


def _name(row: dict, today: date) -> dict:
    parts = [str(row.get(c) or "").strip() for c in ("first_name", "middle_name", "surname")]
    return {"name": " ".join(p for p in parts if p) or None}


def _address(row: dict, today: date) -> dict:
    postcode = postcode_key(row.get("postcode"))
    postcode = f"{postcode[:-3]} {postcode[-3:]}" if len(postcode) > 3 else postcode
    parts = [str(row.get("address_line_1") or "").strip(), postcode]
    return {"address": ", ".join(p for p in parts if p) or None}


def _born(row: dict) -> date | None:
    born = row.get("date_of_birth")
    return born if isinstance(born, date) else None


def _status(row: dict, today: date) -> dict:
    issued = row.get("licence_issue_date")
    ends = licence_valid_to(issued, _born(row)) if isinstance(issued, date) else None
    if ends is None:
        return {"licence_status": None}
    return {"licence_status": "valid" if issued <= today <= ends else "expired"}


def _dates(row: dict, today: date) -> dict:
    issued = row.get("licence_issue_date")
    if not isinstance(issued, date):
        return {"licence_valid_from": None, "licence_valid_to": None}
    ends = licence_valid_to(issued, _born(row))
    return {"licence_valid_from": issued.isoformat(), "licence_valid_to": ends.isoformat() if ends else None}


def _points(row: dict, today: date) -> dict:
    points = row.get("penalty_points")
    return {"penalty_points": int(points) if points is not None else None}


def _entitlements(row: dict, today: date) -> dict:
    value = row.get("entitlements")
    if value is None:
        return {"entitlements": None}
    found = value if isinstance(value, list) else re.split(r"[,;\s]+", str(value))
    return {"entitlements": [str(v).strip().upper() for v in found if str(v).strip()]}


@dataclass(frozen=True)
class Item:
    name: str
    label: str
    hint: str
    columns: tuple[str, ...]  # the holding must have these for the item to be offered
    read: Callable[[dict, date], dict]


ITEMS: dict[str, Item] = {
    item.name: item
    for item in (
        Item("licence_status", "Licence status", "Whether the licence is valid today",
             ("licence_issue_date", "date_of_birth"), _status),
        Item("licence_dates", "Licence valid from and to", "When the licence was issued and when it ends",
             ("licence_issue_date", "date_of_birth"), _dates),
        Item("penalty_points", "Penalty points", "Penalty points on the licence", ("penalty_points",), _points),
        Item("entitlements", "Vehicles you can drive", "The categories of vehicle on the licence", ("entitlements",),
             _entitlements),
        Item("name", "Name", "Your name as it is on the licence", ("first_name", "surname"), _name),
        Item("date_of_birth", "Date of birth", "Your date of birth", ("date_of_birth",),
             lambda row, today: {"date_of_birth": _iso(row.get("date_of_birth"))}),
        Item("address", "Address", "The first line of your address and postcode", ("address_line_1", "postcode"),
             _address),
    )
}
# What each shared field is called on the pages (the API returns the field names).
FIELD_LABELS = {
    "licence_status": "Licence status",
    "licence_valid_from": "Licence valid from",
    "licence_valid_to": "Licence valid to",
    "penalty_points": "Penalty points",
    "entitlements": "Vehicles they can drive",
    "name": "Name",
    "date_of_birth": "Date of birth",
    "address": "Address",
}
ITEM_LABELS = {name: item.label for name, item in ITEMS.items()}


LOOKUP = ("driver_number", "postcode")  # what finds a licence: its number, checked against its postcode


def available_items(hub: Hub) -> list[Item]:
    """The items DVLA's current holding can answer (from its loaded fields; no record is read)."""
    columns = set(holdings.holding_info(hub, DATASET).columns)
    return [item for item in ITEMS.values() if set(item.columns) <= columns]


def item_columns(items: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(c for name in items for c in ITEMS[name].columns))


def _grant(hub: Hub, body_id: str, actor: str, action: str, purpose: Purpose, fields: tuple[str, ...],
           basis: str) -> Grant:
    request = AccessRequest(body_id=body_id, officer=actor, action=action, dataset_id=DATASET, purpose=purpose,
                            fields=fields)
    with hub.transaction() as session:
        return by_consent(session, request, basis)


NOT_YOURS = ("you can only share your own driving licence: the licence number and postcode you entered do not "
             "match a licence held in your name")


def _nino_column(hub: Hub) -> str:
    """The column of DVLA's holding holding the driver's NINO (by the one table of aliases)."""
    column = known_columns(holdings.holding_info(hub, DATASET).columns, ["nino"]).get("nino")
    if column is None:
        raise NotFound("driving licence information cannot be shared at the moment: DVLA's records hold no "
                       "National Insurance numbers to tie a licence to its holder")
    return column


def find_licence(hub: Hub, person_key: str, controller: str, purpose: Purpose, licence_number: str,
                 postcode: str) -> dict:
    """The signed-in person's DVLA row: the licence number and postcode must match, and the record must
    be about the signed-in person, through the person key: the key of the NINO DVLA holds for the
    driver (which is also the record's subject key) must be the key of the identifier the identity
    provider verified. A name and date of birth never tie a licence to anyone here.

    Another person's licence, a mistyped postcode and a licence with no NINO on record get the same
    answer, so the refusal confirms neither that the licence exists nor whose it is."""
    licence = normalise_licence(licence_number)
    wanted = postcode_key(postcode)
    if not wanted:
        raise InvalidInput("enter the postcode on your driving licence")
    nino = _nino_column(hub)
    grant = _grant(hub, controller, "the driver, signed in", "sharecode.create", purpose, (*LOOKUP, nino),
                   "the driver's own request, signed in")
    rows = holdings.read(grant, [*LOOKUP, nino, holdings.ROW_KEY, holdings.SUBJECT],
                         any_of=[holdings.Equals("driver_number", (licence,))], limit=10).to_pylist()
    for row in rows:
        if postcode_key(row.get("postcode")) != wanted or not person_key:
            continue
        holder = subject_key(hub, nino=row.get(nino)) if row.get(nino) else None  # None: no NINO, no one's to share
        if holder == person_key and row.get(holdings.SUBJECT) == person_key:
            return {k: v for k, v in row.items() if k != nino}  # the NINO goes no further
    raise InvalidInput(NOT_YOURS)


def licence_row(hub: Hub, consent: Consent, redeemer_body: str, actor: str) -> dict | None:
    """The licence a consent covers, with only its items' columns (None: no longer in DVLA's records)."""
    locator = unseal(hub, consent)
    if locator is None:
        return None
    grant = _grant(hub, redeemer_body, actor, "sharecode.redeem", Purpose("consent", consent.purpose_code),
                   (*item_columns(consent.items), "driver_number"), f"the driver's consent ({consent.legal_basis})")
    try:
        rows = holdings.read(grant, [*grant.readable], any_of=[holdings.Equals(locator["column"], (locator["value"],))],
                             limit=1).to_pylist()
    except NotFound:
        return None
    return rows[0] if rows else None


def shared_values(items: list[str], row: dict, today: date) -> dict:
    """Exactly the fields of the chosen items, in the catalogue's order: the redaction at this boundary."""
    values: dict = {}
    for name, item in ITEMS.items():
        if name in items:
            values.update(item.read(row, today))
    return values
