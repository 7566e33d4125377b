"""The third party's side: redeeming a code with the second factor, refused and recorded otherwise.

A hire company (a registered body, or an anonymous checker on the public page)
redeems a code with the last 8 characters of the licence number and sees those
items only, read from DVLA's current holding at that moment under the driver's
consent. Every redemption of a real code, shared or refused, is written to the audit
log with the driver as the subject, in the same transaction as the use it records.
Refusals are raised only after their transaction has committed, so the attempt and
its audit entry stay even though the caller gets an error.
"""

from __future__ import annotations

import hmac
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from accord.audit.log import AuditRecord, append
from accord.clock import utcnow
from accord.errors import AccordError
from accord.runtime import Hub
from accord.services.sharecodes.citizen import status
from accord.services.sharecodes.codes import (
    CALLER_WINDOW, CODE_WINDOW, ShareCodeRefused, ShareCodeUnusable, TooManyAttempts, address_caller, code_hash,
    normalise_code, normalise_suffix,
)
from accord.services.sharecodes.licence import licence_row, shared_values
from accord.storage.tables.sharecodes import Consent, ShareCode, ShareCodeAttempt


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

        row = licence_row(hub, consent, redeemer.body_id or redeemer.caller, redeemer.actor)
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


def _minutes(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"
