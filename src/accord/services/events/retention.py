"""Keeping events no longer than needed: the hub keeps an event only to deliver it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from accord.audit.log import AuditRecord, append
from accord.errors import InvalidInput
from accord.services.events.kinds import PURPOSE
from accord.storage.tables.events import EventDelivery, RegistrationEvent


def purge_events(session: Session, before: datetime, actor: str, now: datetime, request_id: str) -> int:
    """Delete events recorded before ``before`` that no webhook still has to send.

    The hub keeps an event only to deliver it, to serve the pull feed and replays, and to
    answer deceased checks; the recipients keep their copies under their agreements'
    retention. Events with a pending or dead-lettered delivery are kept (they are owed).
    """
    if before > now:
        raise InvalidInput("the cut-off must not be in the future")
    owed = select(EventDelivery.event_sequence).where(EventDelivery.state.in_(("pending", "dead")))
    doomed = list(session.scalars(
        select(RegistrationEvent.sequence).where(RegistrationEvent.recorded_at < before,
                                                 RegistrationEvent.sequence.not_in(owed))
    ))
    for start in range(0, len(doomed), 5000):
        chunk = doomed[start:start + 5000]
        session.execute(EventDelivery.__table__.delete().where(EventDelivery.__table__.c.event_sequence.in_(chunk)))
        session.execute(RegistrationEvent.__table__.delete().where(RegistrationEvent.__table__.c.sequence.in_(chunk)))
    append(session, AuditRecord(kind="events.purge", occurred_at=now, outcome="done", actor=actor, purpose=str(PURPOSE),
                                records=len(doomed), request_id=request_id,
                                details={"recorded_before": before.isoformat(), "deleted": len(doomed)}))
    return len(doomed)
