"""The citizen's side: creating a code for chosen items of their licence, seeing, withdrawing and their receipts.

A signed-in citizen names their licence (licence number and postcode, as DVLA's own
service asks), which must be theirs: its record's subject key must be the person key of the
identifier their identity provider verified (``licence.find_licence``). They pick items and
get a code: 8 characters, valid 21 days unless they choose otherwise, single or multiple use,
withdrawable. The code is shown once and kept only as a keyed hash. Its consent, and so every
redemption's audit entry, names the licence holder, so the holder sees each use of it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from accord.audit.log import AuditRecord, append
from accord.clock import utcnow
from accord.errors import InvalidInput, NotFound
from accord.framework import Purpose
from accord.runtime import Hub
from accord.services import holdings
from accord.services.sharecodes import consents
from accord.services.sharecodes.codes import DATASET, KEY_VERSION, code_hash, display_code, new_code, seal
from accord.services.sharecodes.licence import ITEM_LABELS, ITEMS, available_items, find_licence
from accord.storage.models import Body, Dataset
from accord.storage.tables.sharecodes import Consent, ShareCode


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


def person_keys_of(keys: str | Iterable[str | None]) -> tuple[str, ...]:
    """The signed-in person's subject keys as a tuple of real keys: a lone key is one key (not its
    characters, so ``in`` never matches part of it) and an empty or missing key names no one (so it
    never matches a record that names no one)."""
    found = (keys,) if isinstance(keys, str) else tuple(keys or ())
    return tuple(dict.fromkeys(k for k in found if isinstance(k, str) and k))


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
    """A code for chosen items of the signed-in person's own licence; ``person_key`` is the key of the
    identifier their identity provider verified (the session's main key, not a key from their name)."""
    now = now or utcnow()
    if not isinstance(person_key, str):
        raise TypeError("create takes the verified identity's person key, one string")
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
    with hub.transaction() as session:
        controller_id = _controller(session)
    row = find_licence(hub, person_key, controller_id, Purpose("consent", chosen.code), licence_number, postcode)
    person_key = row[holdings.SUBJECT]  # the licence holder, as the hub resolved them
    locator = (
        {"column": "record_id", "value": str(row["record_id"])}
        if row.get("record_id") is not None
        else {"column": "driver_number", "value": str(row["driver_number"])}
    )
    with hub.transaction() as session:
        consent_id = consents.new_id("cr")
        consent = consents.give(
            session,
            person_key=person_key,
            controller_id=controller_id,
            dataset_id=DATASET,
            purpose=chosen,
            items=items,
            record_locator=seal(hub, consent_id, locator),
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


def my_codes(hub: Hub, person_keys: tuple[str, ...], now: datetime | None = None) -> list[dict]:
    """The person's codes, newest first, with what each shares and its state (never the code)."""
    now = now or utcnow()
    person_keys = person_keys_of(person_keys)
    if not person_keys:
        return []
    with hub.transaction() as session:
        rows = session.execute(
            select(ShareCode, Consent)
            .join(Consent, Consent.id == ShareCode.consent_id)
            .where(ShareCode.person_key.in_(person_keys))
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


def _own(session: Session, person_keys: tuple[str, ...], share_code_id: str) -> ShareCode:
    share = session.get(ShareCode, share_code_id) if len(share_code_id) <= 40 else None
    # someone else's code is as absent as none
    if share is None or share.person_key not in person_keys_of(person_keys):
        raise NotFound("you have no share code with that reference")
    return share


def withdraw(hub: Hub, person_keys: tuple[str, ...], share_code_id: str, now: datetime | None = None) -> bool:
    """Withdraw the code and its consent at once (False when it already was withdrawn)."""
    now = now or utcnow()
    with hub.transaction() as session:
        share = _own(session, person_keys, share_code_id)
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


def receipt(hub: Hub, person_keys: tuple[str, ...], share_code_id: str, now: datetime | None = None) -> dict:
    """The citizen's 27560 consent receipt for one of their codes."""
    now = now or utcnow()
    with hub.transaction() as session:
        share = _own(session, person_keys, share_code_id)
        consent = session.get(Consent, share.consent_id)
        controller = session.get(Body, consent.controller_id)
        return consents.receipt(
            consent, controller_name=controller.name if controller else consent.controller_id,
            item_labels=ITEM_LABELS, now=now,
        )
