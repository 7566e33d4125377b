"""Officers: registering them (the hub operator), signing them in, their page sessions and API tokens.

Every face uses these: the API's ``/v1/bodies/{body}/officers``, ``accord officers`` and the
officers' pages (``web.officer_sign_in``). Sign-in happens in ONE place, ``sign_in``: every
refusal (an unknown subject, a deactivated officer, a callback the identity provider did not
complete) goes through ``refuse``, which counts it (``services.throttle``, scope ``signin``),
so repeated failures lock the account and the address out across server processes.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select

from accord.clock import utcnow
from accord.errors import AccordError
from accord.registry import officers as register
from accord.registry.bodies import get_body
from accord.registry.officers import OfficerIdentity
from accord.runtime import Hub
from accord.services import throttle
from accord.services.unit_of_work import Actor, Reply, run
from accord.storage.models import Body
from accord.storage.tables.officers import Officer, OfficerSession

__all__ = [
    "OfficerIdentity", "SignInRefused", "add", "refuse", "deactivate", "list_", "sign_in", "start_session", "session_officer",
    "end_session", "issue_api_token", "demo_officers",
]


class SignInRefused(AccordError):
    """A sign-in the hub will not accept; ``detail`` is what the officer is told."""

    status = 403
    title = "Sign-in refused"


# ------------------------------------------------------------------ the register of officers


def add(hub: Hub, actor: Actor, body_id: str, subject: str, name: str, roles: list[str], *,
        key: str | None = None) -> Reply:
    def write(session, _):  # noqa: ANN001, ANN202
        return 201, register.officer_summary(register.add_officer(session, body_id, subject, name, roles, utcnow()))

    return run(hub, actor, operation=f"officers.add:{body_id}",
               payload={"body": body_id, "subject": subject, "name": name, "roles": sorted(roles)}, key=key,
               write=write)


def deactivate(hub: Hub, actor: Actor, officer_id: str, *, body_id: str | None = None,
               key: str | None = None) -> Reply:
    """The officer can no longer sign in; their API tokens and page sessions stop working at once."""
    def write(session, _):  # noqa: ANN001, ANN202
        return 200, register.officer_summary(register.deactivate_officer(session, officer_id, utcnow(), body_id))

    return run(hub, actor, operation=f"officers.deactivate:{officer_id}", payload={"officer": officer_id}, key=key,
               write=write)


def list_(hub: Hub, body_id: str | None = None) -> list[dict]:
    with hub.transaction() as session:
        return [register.officer_summary(o) for o in register.list_officers(session, body_id)]


def demo_officers(hub: Hub) -> list[dict]:
    """The active officers the development identity provider offers to sign in as (development only)."""
    with hub.transaction() as session:
        rows = session.execute(select(Officer, Body.name).join(Body, Body.id == Officer.body_id)
                               .where(Officer.deactivated_at.is_(None))
                               .order_by(Officer.body_id, Officer.name)).all()
        return [{**register.officer_summary(o), "body_name": body_name} for o, body_name in rows]


# ------------------------------------------------------------------ signing in


def refuse(hub: Hub, why: str, *, subject: str = "", address: str | None = None) -> SignInRefused:
    """EVERY officer sign-in failure comes through here, and counts towards a lockout.

    The failure is counted against the account (the subject the identity provider named, if
    any) and the address it came from; ``sign_in`` refuses both once they reach their limit.
    """
    throttle.failed(hub, "signin", {"account": subject, "address": address})
    return SignInRefused(why)


def sign_in(hub: Hub, subject: str, *, address: str | None = None) -> OfficerIdentity:
    """The officer the identity provider vouched for (by ``sub``), or ``SignInRefused``.

    ``throttle.TooManyRequests`` if the account or the address is locked out after repeated
    failures: then even a registered officer waits for the lockout to end.
    """
    subject = (subject or "").strip()
    throttle.check(hub, "signin", {"account": subject, "address": address})
    with hub.transaction() as session:
        officer = register.active_by_subject(session, subject) if subject else None
        known = officer is None and subject and session.scalars(
            select(Officer.id).where(Officer.subject == subject)).first()
        identity = OfficerIdentity.of(officer, get_body(session, officer.body_id).body_type) if officer else None
    if identity is None:  # counted outside the read: the throttle writes its own row
        if known:
            raise refuse(hub, "Your officer account has been deactivated. Ask your organisation's "
                              "data-sharing lead or the hub operator if you need it again.",
                         subject=subject, address=address)
        raise refuse(hub, "You are not registered as an officer of any organisation on Accord. "
                          "Ask the hub operator to add you.", subject=subject, address=address)
    throttle.succeeded(hub, "signin", {"account": subject})
    return identity


# ------------------------------------------------------------------ page sessions (server-side)


def _session_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def start_session(hub: Hub, officer: OfficerIdentity, now: datetime) -> str:
    """A new page session: a random id for the cookie; the table keeps only its hash."""
    session_id = secrets.token_urlsafe(32)
    with hub.transaction() as db:
        db.add(OfficerSession(id_hash=_session_hash(session_id), officer_id=officer.id, created_at=now,
                              expires_at=now + timedelta(minutes=hub.settings.officer_session_minutes)))
    return session_id


def session_officer(hub: Hub, session_id: str, now: datetime) -> OfficerIdentity | None:
    """The officer a live session belongs to, read afresh: an ended, expired or deleted session, or a
    deactivated officer, signs no one in."""
    if not session_id:
        return None
    with hub.transaction() as db:
        row = db.get(OfficerSession, _session_hash(session_id))
        if row is None or row.ended_at is not None or row.expires_at <= now:
            return None
        officer = db.get(Officer, row.officer_id)
        if officer is None or officer.deactivated_at is not None:
            return None
        return OfficerIdentity.of(officer, get_body(db, officer.body_id).body_type)


def end_session(hub: Hub, session_id: str, now: datetime) -> None:
    """Sign out: the session ends on the server, so a copy of the cookie signs no one in."""
    with hub.transaction() as db:
        row = db.get(OfficerSession, _session_hash(session_id))
        if row is not None and row.ended_at is None:
            row.ended_at = now


def issue_api_token(hub: Hub, officer: OfficerIdentity, now: datetime) -> str:
    """A bearer token for the officer's own API calls (shown once; only its hash is kept)."""
    with hub.transaction() as session:
        return register.issue_token(session, officer.id, now, hub.settings.officer_token_ttl_seconds)
