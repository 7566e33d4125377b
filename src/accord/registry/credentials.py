"""API client credentials of bodies, and the short-lived bearer tokens they obtain.

Secrets and tokens are 256-bit random values shown once; only their SHA-256
hashes are stored (see docs/adr/0003-authentication.md for why a fast hash
suffices for high-entropy secrets). Rotation replaces a client's secret and
revokes its tokens; revocation disables the client and its tokens.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.orm import Session

from accord.errors import InvalidInput, NotFound, Unauthorised
from accord.registry import officers, roles
from accord.registry.bodies import get_body
from accord.storage.models import Body, Client, Token

ADMIN_SCOPE = "admin"
BODY_SCOPE = "body"


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedSecret:
    client_id: str
    client_secret: str
    body_id: str
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class Caller:
    """Who is calling: the body, and either a system (an API client, with its scopes) or a verified
    officer (a person, with their roles) holding an officer's token."""

    body_id: str
    client_id: str | None
    scopes: tuple[str, ...]
    officer: officers.OfficerIdentity | None = None

    @property
    def is_admin(self) -> bool:
        if self.officer is not None:
            return self.officer.hub_operator and self.may(roles.ACT)
        return ADMIN_SCOPE in self.scopes

    @property
    def label(self) -> str:
        """Who acted, as the audit log records it: the person, or the system."""
        if self.officer is not None:
            return self.officer.label
        return officers.system_label(self.client_id or "unknown")

    def may(self, right: str) -> bool:
        """A system holds every right of its body; a person only their roles' (``registry.roles``)."""
        return self.officer is None or roles.may(self.officer.roles, right)

    @classmethod
    def of_officer(cls, officer: officers.OfficerIdentity) -> Caller:
        return cls(officer.body_id, None, (BODY_SCOPE,), officer)


def create_client(session: Session, body_id: str, now: datetime, label: str = "") -> IssuedSecret:
    body: Body = get_body(session, body_id)
    scopes = [BODY_SCOPE] + ([ADMIN_SCOPE] if body.body_type == "hub_operator" else [])
    client_id = f"{body_id[:48]}.{secrets.token_hex(6)}"  # fits the 64-character column for any body id
    secret = secrets.token_urlsafe(32)
    session.add(
        Client(
            client_id=client_id,
            body_id=body_id,
            label=label[:200],
            secret_hash=_hash(secret),
            scopes=scopes,
            created_at=now,
        )
    )
    session.flush()
    return IssuedSecret(client_id, secret, body_id, tuple(scopes))


def _live_client(session: Session, client_id: str) -> Client:
    client = session.get(Client, client_id)
    if client is None:
        raise NotFound(f"no client '{client_id}' exists")
    if client.revoked_at is not None:
        raise InvalidInput(f"client '{client_id}' is revoked")
    return client


def rotate_client(session: Session, client_id: str, now: datetime) -> IssuedSecret:
    client = _live_client(session, client_id)
    secret = secrets.token_urlsafe(32)
    client.secret_hash = _hash(secret)
    client.rotated_at = now
    _revoke_tokens(session, client_id, now)
    session.flush()
    return IssuedSecret(client.client_id, secret, client.body_id, tuple(client.scopes))


def revoke_client(session: Session, client_id: str, now: datetime) -> Client:
    client = _live_client(session, client_id)
    client.revoked_at = now
    _revoke_tokens(session, client_id, now)
    session.flush()
    return client


def list_clients(session: Session, body_id: str | None = None) -> list[Client]:
    query = select(Client).order_by(Client.body_id, Client.created_at)
    if body_id:
        query = query.where(Client.body_id == body_id)
    return list(session.scalars(query))


def _revoke_tokens(session: Session, client_id: str, now: datetime) -> None:
    _revoke(session, now, Token.client_id == client_id)


def revoke_token(session: Session, token: str, now: datetime) -> None:
    """Revoke one bearer token (signing out of a page): a copy of it fails on its next use."""
    _revoke(session, now, Token.token_hash == _hash(token))


def _revoke(session: Session, now: datetime, which) -> None:  # noqa: ANN001 - a condition on Token
    """The one way tokens are revoked: a client's all (rotation, revocation) or one (signing out)."""
    session.execute(update(Token).where(which, Token.revoked_at.is_(None)).values(revoked_at=now))


def issue_token(session: Session, client_id: str, client_secret: str, now: datetime, ttl_seconds: int) -> tuple[str, Client]:
    """OAuth2 client-credentials grant. The same message for every failure, by design."""
    client = session.get(Client, client_id) if client_id else None
    presented = _hash(client_secret or "")
    if client is None or client.revoked_at is not None or not hmac.compare_digest(presented, client.secret_hash):
        raise Unauthorised("the client credentials are not valid")
    token = secrets.token_urlsafe(32)
    session.add(
        Token(token_hash=_hash(token), client_id=client_id, issued_at=now, expires_at=now + timedelta(seconds=ttl_seconds))
    )
    session.flush()
    return token, client


# The bearer-token lookup runs on every API call: one prebuilt statement over the token and its
# client (Core columns, no ORM entities), which runs on a Session or a bare Connection alike.
_TOKENS, _CLIENTS = Token.__table__, Client.__table__
_RESOLVE = (
    select(
        _TOKENS.c.issued_at,
        _TOKENS.c.expires_at,
        _TOKENS.c.revoked_at,
        _CLIENTS.c.client_id,
        _CLIENTS.c.body_id,
        _CLIENTS.c.scopes,
        _CLIENTS.c.revoked_at.label("client_revoked_at"),
        _CLIENTS.c.rotated_at,
    )
    .select_from(_TOKENS.outerjoin(_CLIENTS, _CLIENTS.c.client_id == _TOKENS.c.client_id))
    .where(_TOKENS.c.token_hash == bindparam("token_hash"))
)


def resolve_token(session: Session | Connection, token: str, now: datetime) -> Caller:
    """The caller a bearer token stands for, read afresh: a revoked token fails on its next use."""
    if officers.is_officer_token(token):
        return Caller.of_officer(officers.resolve_token(session, token, now))
    row = session.execute(_RESOLVE, {"token_hash": _hash(token)}).first()
    if row is None or row.revoked_at is not None:
        raise Unauthorised("the bearer token is not valid")
    if row.expires_at <= now:
        raise Unauthorised("the bearer token has expired; request a new one")
    if row.client_id is None or row.client_revoked_at is not None:
        raise Unauthorised("the bearer token's client is revoked")
    if row.rotated_at is not None and row.issued_at <= row.rotated_at:
        # Covers a token issued with the old secret while a rotation was committing.
        raise Unauthorised("the bearer token was issued before the client's secret was rotated")
    return Caller(row.body_id, row.client_id, tuple(row.scopes))
