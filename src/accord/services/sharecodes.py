"""DVLA-style share codes: a citizen shows chosen items of their driving licence record to a third party.

A signed-in citizen proves which licence is theirs (licence number and postcode, as DVLA's own
service asks; where DVLA's holding carries a NINO, the record must also belong to the signed-in
person), picks items and gets a code: 8 characters from an alphabet without look-alikes, valid
21 days unless they choose otherwise, single or multiple use, withdrawable. A hire company
redeems it with the code plus the last 8 characters of the licence number and sees those items
only, read from DVLA's current holding at that moment.

Legal basis: the citizen's consent (see ``accord.services.consents``), not a Part 5 gateway, so
redemptions do not go through ``policy.decide`` (whose rules are agreements between specified
bodies); the consent record plays the agreement's part. Every redemption of a real code, shared
or refused, is written to the audit log with the citizen as the subject, in the same transaction
as the use it records, so it appears on their "who used my data" page.

Guessing is made useless three ways: the same refusal (404, same words) for an unknown code and a
wrong second factor, so codes cannot be enumerated; wrong guesses counted per code (24 hours) and
per caller (an hour; a registered body, or a keyed hash of an anonymous checker's address) in the
database, so the limits hold across processes and restarts; and codes kept only as keyed hashes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path

import duckdb
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from accord.audit.log import AuditRecord, append
from accord.clock import utcnow
from accord.errors import AccordError, InvalidInput, NotFound
from accord.privacy.pseudonymise import derive_key
from accord.runtime import Hub
from accord.services import consents
from accord.services.holdings import holding_path
from accord.storage.models import Body, Dataset
from accord.storage.tables.sharecodes import Consent, ShareCode, ShareCodeAttempt

DATASET = "dvla-drivers"
# No 0/O/Q, 1/I/L, 2/Z, 5/S, B (8 stays) or U/V: each character reads one way, aloud or handwritten.
ALPHABET = "ACDEFGHJKMNPRTWXY346789"
CODE_LENGTH = 8
KEY_VERSION = 1
CALLER_WINDOW = timedelta(hours=1)
CODE_WINDOW = timedelta(hours=24)
_LICENCE = re.compile(r"^[A-Z0-9]{16}$")
_SUFFIX = re.compile(r"^[A-Z0-9]{8}$")


# ------------------------------------------------------------------ errors


REFUSED = (
    "no valid share code matches that code and driving licence number; check both with the driver "
    "(codes are 8 characters, and the licence characters are the last 8 of the licence number)"
)


class ShareCodeRefused(NotFound):
    """The one answer for an unknown code and for a wrong second factor, so codes cannot be enumerated."""

    def __init__(self) -> None:
        super().__init__(REFUSED)


class ShareCodeUnusable(AccordError):
    """A real code, with the right second factor, that can no longer be used (shown only to its holder)."""

    status = 410
    title = "Gone"


class TooManyAttempts(AccordError):
    status = 429
    title = "Too many requests"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


# ------------------------------------------------------------------ codes and keys


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(text: str) -> str | None:
    """The code as typed, without spaces or dashes and in capitals; None when it cannot be a code."""
    code = re.sub(r"[\s-]+", "", text or "").upper()
    if len(code) != CODE_LENGTH or any(char not in ALPHABET for char in code):
        return None
    return code


def display_code(code: str) -> str:
    return f"{code[:4]} {code[4:]}"


def normalise_licence(text: str) -> str:
    licence = re.sub(r"\s+", "", text or "").upper()
    if not _LICENCE.match(licence):
        raise InvalidInput("enter the driving licence number: 16 letters and numbers, as on the photocard")
    return licence


def normalise_suffix(text: str) -> str:
    suffix = re.sub(r"\s+", "", text or "").upper()
    if not _SUFFIX.match(suffix):
        raise InvalidInput("enter the last 8 characters of the driving licence number (letters and numbers)")
    return suffix


def _postcode(text: object) -> str:
    return re.sub(r"\s+", "", str(text or "")).upper()


@lru_cache(maxsize=32)
def _key(secret: str, use: str) -> bytes:
    return derive_key(secret, use)


def _hub_key(hub: Hub, use: str) -> bytes:
    return _key(hub.settings.secret_key.get_secret_value(), use)


def code_hash(hub: Hub, code: str) -> str:
    """HMAC-SHA256 of the code under a key derived from the hub secret (versioned for rotation)."""
    key = _hub_key(hub, f"accord/sharecodes/code/v{KEY_VERSION}")
    return hmac.new(key, code.encode(), hashlib.sha256).hexdigest()


def address_caller(hub: Hub, address: str) -> str:
    """An anonymous checker's address as a keyed hash: enough to rate-limit, not an IP address kept."""
    key = _hub_key(hub, "accord/sharecodes/address/v1")
    return "address:" + hmac.new(key, address.encode(), hashlib.sha256).hexdigest()[:40]


def _seal(hub: Hub, consent_id: str, locator: dict) -> bytes:
    """The licence record a consent covers, encrypted and bound to that consent (AES-GCM)."""
    nonce = secrets.token_bytes(12)
    aead = AESGCM(_hub_key(hub, "accord/sharecodes/record-locator/v1"))
    return nonce + aead.encrypt(nonce, json.dumps(locator, sort_keys=True).encode(), consent_id.encode())


def _unseal(hub: Hub, consent: Consent) -> dict | None:
    blob = bytes(consent.record_locator)
    try:
        plain = AESGCM(_hub_key(hub, "accord/sharecodes/record-locator/v1")).decrypt(
            blob[:12], blob[12:], consent.id.encode()
        )
    except InvalidTag:  # the hub secret changed since the code was made
        return None
    return json.loads(plain)


# ------------------------------------------------------------------ the items a citizen may share


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
    postcode = _postcode(row.get("postcode"))
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


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _columns(path: Path) -> list[str]:
    with duckdb.connect() as connection:
        return [row[0] for row in connection.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(path)]).fetchall()]


def _rows(path: Path, column: str, value: str) -> list[dict]:
    """DVLA's current rows with ``column = value``, read from the Parquet holding (filter pushed down)."""
    with duckdb.connect() as connection:
        result = connection.execute(
            f"SELECT * FROM read_parquet(?) WHERE {_quote(column)} = ? LIMIT 10", [str(path), value]
        )
        names = [d[0] for d in result.description]
        return [dict(zip(names, row, strict=True)) for row in result.fetchall()]


def available_items(hub: Hub) -> list[Item]:
    """The items DVLA's current holding can answer; NotFound when DVLA has loaded no records."""
    columns = set(_columns(holding_path(hub, DATASET)))
    return [item for item in ITEMS.values() if set(item.columns) <= columns]


def shared_values(items: list[str], row: dict, today: date) -> dict:
    """Exactly the fields of the chosen items, in the catalogue's order: the redaction at this boundary."""
    values: dict = {}
    for name, item in ITEMS.items():
        if name in items:
            values.update(item.read(row, today))
    return values


# ------------------------------------------------------------------ the citizen's side


@dataclass(frozen=True)
class CreatedCode:
    code: str  # shown once, never stored
    share_code_id: str
    consent_id: str
    receipt_id: str
    items: list[str]
    purpose: str
    multiple_use: bool
    created_at: datetime
    expires_at: datetime

    @property
    def display(self) -> str:
        return display_code(self.code)


def validity_days(hub: Hub, days: int | None) -> int:
    longest = hub.settings.share_code_max_days
    if days is None:
        return min(hub.settings.share_code_days, longest)
    if not 1 <= days <= longest:
        raise InvalidInput(f"a share code can last from 1 to {longest} days")
    return days


def find_licence(hub: Hub, person_key: str, licence_number: str, postcode: str) -> dict:
    """The signed-in person's DVLA row: licence number and postcode must match, and where DVLA's
    holding has a NINO, that NINO's person key must be the signed-in person's."""
    licence = normalise_licence(licence_number)
    wanted = _postcode(postcode)
    if not wanted:
        raise InvalidInput("enter the postcode on your driving licence")
    path = holding_path(hub, DATASET)
    for row in _rows(path, "driver_number", licence):
        if _postcode(row.get("postcode")) != wanted:
            continue
        if "nino" in row:
            try:
                if not row["nino"] or hub.person_key("nino", str(row["nino"])) != person_key:
                    continue
            except InvalidInput:
                continue
        return row
    raise InvalidInput("no driving licence matches that licence number and postcode; check both against your photocard")


def create(
    hub: Hub,
    person_key: str,
    *,
    licence_number: str,
    postcode: str,
    purpose: str,
    items: list[str],
    multiple_use: bool = False,
    days: int | None = None,
    now: datetime | None = None,
) -> CreatedCode:
    now = now or utcnow()
    chosen = consents.PURPOSES.get(purpose)
    if chosen is None:
        raise InvalidInput("choose why you are sharing your driving licence information")
    offered = {item.name for item in available_items(hub)}
    asked = set(items)
    unknown = sorted(asked - offered)
    if unknown:
        raise InvalidInput(f"these cannot be shared: {', '.join(unknown)}")
    items = [name for name in ITEMS if name in asked]  # catalogue order, no repeats
    if not items:
        raise InvalidInput("choose at least one piece of information to share")
    expires_at = now + timedelta(days=validity_days(hub, days))
    row = find_licence(hub, person_key, licence_number, postcode)
    locator = (
        {"column": "record_id", "value": str(row["record_id"])}
        if row.get("record_id") is not None
        else {"column": "driver_number", "value": str(row["driver_number"])}
    )
    with hub.transaction() as session:
        controller_id = _controller(session)
        consent_id = consents.new_id("cr")
        consent = consents.give(
            session,
            person_key=person_key,
            controller_id=controller_id,
            dataset_id=DATASET,
            purpose=chosen,
            items=items,
            record_locator=_seal(hub, consent_id, locator),
            expires_at=expires_at,
            now=now,
            consent_id=consent_id,
        )
        code, digest = _unused_code(session, hub)
        share = ShareCode(
            id=consents.new_id("sc"),
            code_hash=digest,
            key_version=KEY_VERSION,
            consent_id=consent_id,
            person_key=person_key,
            items=items,
            created_at=now,
            expires_at=expires_at,
            multiple_use=multiple_use,
            uses=0,
        )
        session.add(share)
        session.flush()
        append(
            session,
            AuditRecord(
                kind="consent.given",
                occurred_at=now,
                outcome="done",
                body_id=controller_id,
                actor="the driver, signed in",
                purpose=chosen.title,
                purpose_iri=chosen.iri,
                action="sharecode.create",
                dataset_id=DATASET,
                fields=tuple(items),
                details={"consent_id": consent_id, "share_code_id": share.id, "multiple_use": multiple_use,
                         "expires_at": expires_at.isoformat()},
            ),
        )
        return CreatedCode(code, share.id, consent_id, consent.receipt_id, items, chosen.title, multiple_use, now,
                           expires_at)


def _controller(session: Session) -> str:
    dataset = session.get(Dataset, DATASET)
    if dataset is None:
        raise NotFound(f"dataset {DATASET} is not registered, so driving licence information cannot be shared")
    return dataset.body_id


def _unused_code(session: Session, hub: Hub) -> tuple[str, str]:
    for _ in range(10):
        code = new_code()
        digest = code_hash(hub, code)
        if session.scalar(select(ShareCode.id).where(ShareCode.code_hash == digest)) is None:
            return code, digest
    raise RuntimeError("could not draw an unused share code in 10 tries")  # 1 in 24^8 each: a broken generator


def status(share: ShareCode, now: datetime) -> str:
    if share.withdrawn_at is not None:
        return "withdrawn"
    if not share.multiple_use and share.uses >= 1:
        return "used"
    if share.expires_at <= now:
        return "expired"
    return "active"


def my_codes(hub: Hub, person_key: str, now: datetime | None = None) -> list[dict]:
    """The person's codes, newest first, with what each shares and its state (never the code)."""
    now = now or utcnow()
    with hub.transaction() as session:
        rows = session.execute(
            select(ShareCode, Consent)
            .join(Consent, Consent.id == ShareCode.consent_id)
            .where(ShareCode.person_key == person_key)
            .order_by(ShareCode.created_at.desc(), ShareCode.id)
        ).all()
        return [_view(share, consent, now) for share, consent in rows]


def _view(share: ShareCode, consent: Consent, now: datetime) -> dict:
    return {
        "id": share.id,
        "consent_id": consent.id,
        "receipt_id": consent.receipt_id,
        "purpose": consent.purpose,
        "items": list(share.items),
        "item_labels": [ITEM_LABELS.get(i, i) for i in share.items],
        "created_at": share.created_at,
        "expires_at": share.expires_at,
        "multiple_use": share.multiple_use,
        "uses": share.uses,
        "last_used_at": share.last_used_at,
        "withdrawn_at": share.withdrawn_at,
        "status": status(share, now),
    }


def _own(session: Session, person_key: str, share_code_id: str) -> ShareCode:
    share = session.get(ShareCode, share_code_id) if len(share_code_id) <= 40 else None
    if share is None or share.person_key != person_key:  # someone else's code is as absent as none
        raise NotFound("you have no share code with that reference")
    return share


def withdraw(hub: Hub, person_key: str, share_code_id: str, now: datetime | None = None) -> bool:
    """Withdraw the code and its consent at once (False when it already was withdrawn)."""
    now = now or utcnow()
    with hub.transaction() as session:
        share = _own(session, person_key, share_code_id)
        if share.withdrawn_at is not None:
            return False
        share.withdrawn_at = now
        consent = session.get(Consent, share.consent_id)
        consents.withdraw(consent, now)
        append(
            session,
            AuditRecord(
                kind="consent.withdrawn",
                occurred_at=now,
                outcome="done",
                body_id=consent.controller_id,
                actor="the driver, signed in",
                purpose=consent.purpose,
                purpose_iri=consent.purpose_iri,
                action="sharecode.withdraw",
                dataset_id=consent.dataset_id,
                details={"consent_id": consent.id, "share_code_id": share.id},
            ),
        )
        return True


def receipt(hub: Hub, person_key: str, share_code_id: str, now: datetime | None = None) -> dict:
    """The citizen's 27560 consent receipt for one of their codes."""
    now = now or utcnow()
    with hub.transaction() as session:
        share = _own(session, person_key, share_code_id)
        consent = session.get(Consent, share.consent_id)
        controller = session.get(Body, consent.controller_id)
        return consents.receipt(
            consent, controller_name=controller.name if controller else consent.controller_id,
            item_labels=ITEM_LABELS, now=now,
        )


# ------------------------------------------------------------------ the third party's side


@dataclass(frozen=True)
class Redeemer:
    """Who presents a code: a registered body (bearer token or CLI) or an anonymous checker."""

    caller: str  # what the limits count by
    body_id: str | None
    actor: str  # shown to the citizen
    anonymous: bool

    @classmethod
    def body(cls, body_id: str, officer: str | None = None) -> "Redeemer":
        return cls(f"body:{body_id}", body_id, officer or f"{body_id} (system)", False)

    @classmethod
    def checker(cls, hub: Hub, address: str, organisation: str) -> "Redeemer":
        printable = "".join(c for c in organisation if c.isprintable() or c.isspace())
        stated = re.sub(r"\s+", " ", printable).strip()[:150] or "An organisation that gave no name"
        return cls(address_caller(hub, address), None, f"{stated} (name given by the checker, not verified)", True)


@dataclass(frozen=True)
class Redemption:
    consent_id: str
    purpose: str
    items: list[str]
    shared: dict
    checked_at: datetime
    expires_at: datetime
    multiple_use: bool

    def as_dict(self) -> dict:
        return {
            "consent_id": self.consent_id,
            "purpose": self.purpose,
            "items": list(self.items),
            "driving_licence": dict(self.shared),
            "checked_at": self.checked_at.isoformat(),
            "code_expires_at": self.expires_at.isoformat(),
            "multiple_use": self.multiple_use,
        }


def redeem(
    hub: Hub, code: str, licence_suffix: str, redeemer: Redeemer, *, request_id: str, now: datetime | None = None
) -> Redemption:
    """Show a code's items to whoever presents it with the second factor; refuse (and record) otherwise.

    Refusals are raised only after their transaction has committed, so the attempt and the
    audit entry stay even though the caller gets an error.
    """
    now = now or utcnow()
    suffix = normalise_suffix(licence_suffix)
    outcome = _attempt(hub, normalise_code(code), suffix, redeemer, request_id, now)
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


def _retry_after(session: Session, where, limit: int, window: timedelta, now: datetime) -> int:  # noqa: ANN001
    """Seconds until a guess is allowed again under this limit (0: allowed now)."""
    recent = (
        select(ShareCodeAttempt.attempted_at)
        .where(where, ShareCodeAttempt.failed.is_(True), ShareCodeAttempt.attempted_at > now - window)
        .order_by(ShareCodeAttempt.attempted_at.desc())
    )
    limiting = session.scalar(recent.offset(limit - 1).limit(1))
    if limiting is None:
        return 0
    return max(1, math.ceil((limiting + window - now).total_seconds()))


def _attempt(
    hub: Hub, code: str | None, suffix: str, redeemer: Redeemer, request_id: str, now: datetime
) -> Redemption | AccordError:
    settings = hub.settings
    with hub.transaction() as session:

        def note(outcome: str, share: ShareCode | None = None, failed: bool = False) -> None:
            session.add(ShareCodeAttempt(attempted_at=now, caller=redeemer.caller, outcome=outcome, failed=failed,
                                         share_code_id=share.id if share else None))

        limit = settings.share_code_failures_per_address if redeemer.anonymous else settings.share_code_failures_per_body
        wait = _retry_after(session, ShareCodeAttempt.caller == redeemer.caller, limit, CALLER_WINDOW, now)
        if wait:
            note("caller_limited")
            return TooManyAttempts(f"too many wrong share codes or licence numbers from you; try again in "
                                   f"{_minutes(wait)}", wait)
        share = None
        if code is not None:
            share = session.scalar(
                select(ShareCode).where(ShareCode.code_hash == code_hash(hub, code)).with_for_update()
            )
        if share is None:
            note("unknown", failed=True)
            return ShareCodeRefused()
        consent = session.get(Consent, share.consent_id)

        def audit(allowed: bool, reason: str) -> None:
            append(
                session,
                AuditRecord(
                    kind="sharecode.redemption",
                    occurred_at=now,
                    outcome="allow" if allowed else "deny",
                    body_id=redeemer.body_id,
                    actor=redeemer.actor,
                    purpose=consent.purpose,
                    purpose_iri=consent.purpose_iri,
                    action="sharecode.redeem",
                    dataset_id=consent.dataset_id,
                    subjects=(consent.person_key,),
                    fields=tuple(consent.items),
                    records=1 if allowed else 0,
                    reasons=(reason,),
                    request_id=request_id,
                    details={"consent_id": consent.id, "share_code_id": share.id, "legal_basis": consent.legal_basis,
                             "anonymous_checker": redeemer.anonymous},
                ),
            )

        wait = _retry_after(session, ShareCodeAttempt.share_code_id == share.id,
                            settings.share_code_failures_per_code, CODE_WINDOW, now)
        if wait:
            note("code_locked", share)
            audit(False, "refused without checking: too many wrong licence numbers were tried with this code today")
            return TooManyAttempts(f"too many wrong attempts with this share code; try again in {_minutes(wait)}", wait)

        row = _licence_row(hub, consent)
        if row is None:
            note("record_missing", share)
            audit(False, "the driving licence record is no longer in DVLA's current records")
            return ShareCodeRefused()
        expected = str(row.get("driver_number") or "").upper()[-8:]
        if not hmac.compare_digest(expected.encode(), suffix.encode()):
            note("wrong_factor", share, failed=True)
            audit(False, "the last 8 characters of the licence number given did not match")
            return ShareCodeRefused()

        unusable = _unusable(share, now)
        if unusable is None:
            claimed = session.execute(
                update(ShareCode)
                .where(
                    ShareCode.id == share.id,
                    ShareCode.withdrawn_at.is_(None),
                    ShareCode.expires_at > now,
                    or_(ShareCode.multiple_use.is_(True), ShareCode.uses == 0),
                )
                .values(uses=ShareCode.uses + 1, last_used_at=now)
                .execution_options(synchronize_session=False)
            )
            if claimed.rowcount != 1:  # used up by a concurrent redemption a moment ago
                session.refresh(share)
                unusable = _unusable(share, now) or ("used", "this share code has already been used")
        if unusable is not None:
            outcome, sentence = unusable
            note(outcome, share)
            audit(False, sentence)
            return ShareCodeUnusable(f"{sentence}; ask the driver for a new one")

        note("shared", share)
        audit(True, f"shared with the driver's consent ({consent.legal_basis})")
        return Redemption(consent.id, consent.purpose, list(consent.items), shared_values(consent.items, row, now.date()),
                          now, share.expires_at, share.multiple_use)


def _unusable(share: ShareCode, now: datetime) -> tuple[str, str] | None:
    state = status(share, now)
    if state == "withdrawn":
        return "withdrawn", "the driver has withdrawn this share code"
    if state == "used":
        return "used", "this share code has already been used"
    if state == "expired":
        return "expired", "this share code has expired"
    return None


def _licence_row(hub: Hub, consent: Consent) -> dict | None:
    locator = _unseal(hub, consent)
    if locator is None:
        return None
    try:
        rows = _rows(holding_path(hub, consent.dataset_id), locator["column"], locator["value"])
    except NotFound:
        return None
    return rows[0] if rows else None


def _minutes(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


# ------------------------------------------------------------------ the operator's side


def operator_list(hub: Hub, *, state: str | None = None, limit: int = 100, now: datetime | None = None) -> list[dict]:
    """Codes for the hub operator: references, dates, state, uses and recent wrong guesses; no code."""
    if state is not None and state not in ("active", "expired", "used", "withdrawn"):
        raise InvalidInput("status must be one of: active, expired, used, withdrawn")
    now = now or utcnow()
    with hub.transaction() as session:
        guesses = dict(
            session.execute(
                select(ShareCodeAttempt.share_code_id, func.count())
                .where(ShareCodeAttempt.failed.is_(True), ShareCodeAttempt.attempted_at > now - CODE_WINDOW,
                       ShareCodeAttempt.share_code_id.is_not(None))
                .group_by(ShareCodeAttempt.share_code_id)
            ).all()
        )
        rows = session.execute(
            select(ShareCode, Consent).join(Consent, Consent.id == ShareCode.consent_id).order_by(
                ShareCode.created_at.desc(), ShareCode.id
            )
        ).all()
        shown = []
        for share, consent in rows:
            view = _view(share, consent, now)
            if state is not None and view["status"] != state:
                continue
            view["wrong_guesses_24h"] = guesses.get(share.id, 0)
            shown.append(view)
            if len(shown) >= limit:
                break
        return shown


def prune_attempts(hub: Hub, older_than: timedelta, now: datetime | None = None) -> int:
    """Delete attempt rows older than ``older_than`` (at least the 24-hour limit window); the audit
    log keeps the record of every redemption of a real code."""
    if older_than < CODE_WINDOW:
        raise InvalidInput("attempts are needed for the 24-hour limit; keep at least 1 day")
    now = now or utcnow()
    with hub.transaction() as session:
        result = session.execute(delete(ShareCodeAttempt).where(ShareCodeAttempt.attempted_at < now - older_than))
        return result.rowcount or 0
