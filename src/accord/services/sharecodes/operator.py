"""The hub operator's side: codes listed without the codes, and old attempt rows pruned."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, select

from accord.clock import utcnow
from accord.errors import InvalidInput
from accord.runtime import Hub
from accord.services.sharecodes.citizen import _view
from accord.services.sharecodes.codes import CODE_WINDOW
from accord.storage.tables.sharecodes import Consent, ShareCode, ShareCodeAttempt


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
