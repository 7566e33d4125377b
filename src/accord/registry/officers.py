"""Officers: the people who act for a body, named at one body with roles, and their API tokens.

The hub operator registers an officer with the subject (``sub``) their identity provider
vouches for, a display name and roles (``registry.roles``). Only one active officer holds a
subject, so a sign-in names one person at one body. After signing in to the pages an
officer may take a short-lived bearer token for the API; it is stored only as a hash,
acts only for the officer's body and stops working at once when the officer is
deactivated. Deactivating keeps the row, so the audit log's names still resolve.

What the audit log records for a person is ``label``: ``officer:<id> (<name>)``; for a system
(an API client) ``system:<client id>``; for the operator at the console ``operator:<login>``.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.orm import Session

from accord.errors import Conflict, InvalidInput, NotFound, Unauthorised
from accord.registry.bodies import get_body
from accord.registry.roles import ROLES
from accord.storage.models import Body
from accord.storage.tables.officers import Officer, OfficerSession, OfficerToken

TOKEN_PREFIX = "officer."  # client tokens (token_urlsafe) never hold a dot, so the prefix tells them apart


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def label(officer_id: str, name: str) -> str:
    """How the audit log and the register name a person who acted (at most 200 characters)."""
    head = f"officer:{officer_id}"
    return f"{head} ({name[: 200 - len(head) - 3]})"


def system_label(client_id: str) -> str:
    return f"system:{client_id}"


@dataclass(frozen=True)
class OfficerIdentity:
    """A verified officer: who they are, at which body, with which roles."""

    id: str
    body_id: str
    subject: str
    name: str
    roles: tuple[str, ...]
    hub_operator: bool = False  # an officer of the hub operator's own body

    @property
    def label(self) -> str:
        return label(self.id, self.name)

    @classmethod
    def of(cls, officer: Officer, body_type: str) -> OfficerIdentity:
        return cls(officer.id, officer.body_id, officer.subject, officer.name, tuple(officer.roles),
                   body_type == "hub_operator")


def check_roles(roles: list[str] | tuple[str, ...]) -> list[str]:
    wanted = list(dict.fromkeys(r.strip() for r in roles))
    if not wanted:
        raise InvalidInput(f"an officer needs at least one role: {', '.join(ROLES)}")
    unknown = [r for r in wanted if r not in ROLES]
    if unknown:
        raise InvalidInput(f"unknown role '{unknown[0]}'; the roles are {', '.join(ROLES)}")
    return wanted


def _check_text(value: str, what: str, longest: int) -> str:
    value = (value or "").strip()
    if not value or len(value) > longest or not value.isprintable():
        raise InvalidInput(f"the officer's {what} must be 1 to {longest} printable characters")
    return value


def add_officer(session: Session, body_id: str, subject: str, name: str, roles: list[str] | tuple[str, ...],
                now: datetime) -> Officer:
    """Register a person at a body. Unknown body: 404; unknown role or bad text: 422; a subject
    already held by an active officer: 409."""
    subject = _check_text(subject, "subject", 255)
    name = _check_text(name, "name", 200)
    wanted = check_roles(roles)
    get_body(session, body_id)
    holder = active_by_subject(session, subject)
    if holder is not None:
        raise Conflict(f"subject '{subject}' is already registered as officer '{holder.id}' at '{holder.body_id}'")
    officer = Officer(id=f"ofc-{secrets.token_hex(6)}", body_id=body_id, subject=subject, name=name, roles=wanted,
                      created_at=now)
    session.add(officer)
    session.flush()
    return officer


def active_by_subject(session: Session, subject: str) -> Officer | None:
    return session.scalars(select(Officer).where(Officer.subject == subject, Officer.deactivated_at.is_(None))).first()


def get_officer(session: Session, officer_id: str, body_id: str | None = None) -> Officer:
    officer = session.get(Officer, officer_id)
    if officer is None or (body_id is not None and officer.body_id != body_id):
        where = f" at '{body_id}'" if body_id else ""
        raise NotFound(f"no officer '{officer_id}'{where} exists")
    return officer


def list_officers(session: Session, body_id: str | None = None) -> list[Officer]:
    query = select(Officer).order_by(Officer.body_id, Officer.created_at, Officer.id)
    if body_id:
        get_body(session, body_id)
        query = query.where(Officer.body_id == body_id)
    return list(session.scalars(query))


def deactivate_officer(session: Session, officer_id: str, now: datetime, body_id: str | None = None) -> Officer:
    """The officer can no longer sign in; their tokens and page sessions end at once."""
    officer = get_officer(session, officer_id, body_id)
    if officer.deactivated_at is None:
        officer.deactivated_at = now
        session.execute(update(OfficerToken).where(OfficerToken.officer_id == officer.id,
                                                   OfficerToken.revoked_at.is_(None)).values(revoked_at=now))
        session.execute(update(OfficerSession).where(OfficerSession.officer_id == officer.id,
                                                     OfficerSession.ended_at.is_(None)).values(ended_at=now))
        session.flush()
    return officer


def find_officer(session: Session, body_id: str, subject: str) -> OfficerIdentity:
    """The active officer with this subject at this body (the command line's ``--officer``)."""
    body = get_body(session, body_id)
    officer = active_by_subject(session, subject)
    if officer is None or officer.body_id != body_id:
        raise InvalidInput(f"no active officer with subject '{subject}' is registered at '{body_id}' "
                           "(see accord officers list)")
    return OfficerIdentity.of(officer, body.body_type)


def officer_summary(officer: Officer) -> dict:
    return {"id": officer.id, "body_id": officer.body_id, "subject": officer.subject, "name": officer.name,
            "roles": list(officer.roles), "created_at": officer.created_at.isoformat(),
            "active": officer.deactivated_at is None,
            "deactivated_at": officer.deactivated_at.isoformat() if officer.deactivated_at else None}


# ------------------------------------------------------------------ API tokens


def issue_token(session: Session, officer_id: str, now: datetime, ttl_seconds: int) -> str:
    """A bearer token for the officer's own API calls; shown once, only its hash kept."""
    officer = get_officer(session, officer_id)
    if officer.deactivated_at is not None:
        raise Unauthorised("the officer is deactivated")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(OfficerToken(token_hash=_hash(token), officer_id=officer.id, issued_at=now,
                             expires_at=now + timedelta(seconds=ttl_seconds)))
    session.flush()
    return token


def is_officer_token(token: str) -> bool:
    return token.startswith(TOKEN_PREFIX)


_T, _O, _B = OfficerToken.__table__, Officer.__table__, Body.__table__
_RESOLVE = (
    select(_T.c.expires_at, _T.c.revoked_at, _O.c.id, _O.c.body_id, _O.c.subject, _O.c.name, _O.c.roles,
           _O.c.deactivated_at, _B.c.body_type)
    .select_from(_T.join(_O, _O.c.id == _T.c.officer_id).join(_B, _B.c.id == _O.c.body_id))
    .where(_T.c.token_hash == bindparam("token_hash"))
)


def resolve_token(session: Session | Connection, token: str, now: datetime) -> OfficerIdentity:
    """The officer an officer's bearer token stands for, read afresh on every call."""
    row = session.execute(_RESOLVE, {"token_hash": _hash(token)}).first()
    if row is None or row.revoked_at is not None:
        raise Unauthorised("the bearer token is not valid")
    if row.deactivated_at is not None:
        raise Unauthorised("the bearer token's officer is deactivated")
    if row.expires_at <= now:
        raise Unauthorised("the bearer token has expired; take a new one from your officer page")
    return OfficerIdentity(row.id, row.body_id, row.subject, row.name, tuple(row.roles),
                           row.body_type == "hub_operator")


def revoke_tokens(session: Session, officer_id: str, now: datetime) -> None:
    session.execute(update(OfficerToken).where(OfficerToken.officer_id == officer_id,
                                               OfficerToken.revoked_at.is_(None)).values(revoked_at=now))
