"""The unit of work every write takes, whichever face (API, page, command line) asked for it.

1. **Replay.** A write sent with an idempotency key that was already answered
   gets the first answer again (refusals included), without acting twice. The
   key is the caller's: an API client's, or a page's form token; the request it
   stood for is kept only as a keyed hash, because requests name people.
2. **Prepare** (optional), outside any write transaction: the slow, read-only
   part of a purpose - validating input, asking the decision point, reading the
   holding under the grant, matching. It runs in the caller's thread, so the
   process's one writer thread never waits for it.
3. **Read** (optional), in the write transaction but before its write lock:
   the same kind of work, when it is small (one identity check). Concurrent
   requests share the transaction, so they share its reads too: the decision
   point reads the agreements once for the batch, on the writer's warm
   connection, instead of once per request on a connection whose page cache
   every commit has emptied. The decision is then made in the transaction
   that records it. A read must not write.
4. **Write**, under group commit (``storage.group_commit``): recording the
   decision and its audit entry, the purpose's own rows, and the reply kept for
   replays, in one transaction that concurrent writes share. Each caller is
   answered only after the commit that holds its write.

A ``Reply`` is a status and a JSON-shaped body: the API sends it as it is
(errors as problem documents), the pages and the command line read the body.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from accord.clock import utcnow
from accord.errors import Conflict, InvalidInput
from accord.runtime import Hub
from accord.storage.models import IdempotencyKey

P = TypeVar("P")


@dataclass(frozen=True)
class Actor:
    """Who is acting: a body, the person or system acting for it, and the call they came by.

    ``officer`` is what the audit log records as the actor: a verified officer's
    ``officer:<id> (<name>)``, a system's ``system:<client id>``, or the hub operator at the
    console's ``operator:<login>`` (``registry.officers``); never a name the caller typed.
    """

    body_id: str
    officer: str
    request_id: str
    client_id: str | None = None  # the API client; None from the pages, the command line and officers' tokens
    is_admin: bool = False  # the hub operator: may manage the register, is never granted records
    officer_id: str | None = None  # the verified officer acting, if a person is

    @property
    def replay_owner(self) -> str:
        """Whose idempotency keys these are: an API client's own, an officer's own, or the body's."""
        if self.client_id:
            return self.client_id
        if self.officer_id:
            return f"officer:{self.officer_id}"[:64]
        return f"body:{self.body_id}"[:64]


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict
    replayed: bool = False

    @property
    def ok(self) -> bool:
        return self.status < 400


def fingerprint(operation: str, payload: object, key: bytes) -> str:
    """A keyed hash of the request: requests can name people (a NINO), and an unkeyed
    hash of a small identifier space is as good as the identifier itself."""
    canonical = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
    return hmac.new(key, f"{operation}\n{canonical}".encode(), hashlib.sha256).hexdigest()


def _replay(session: Session, owner: str, key: str, print_: str) -> Reply | None:
    stored = session.get(IdempotencyKey, (owner, key))
    if stored is None:
        return None
    if stored.request_fingerprint != print_:
        raise InvalidInput(f"Idempotency-Key '{key}' was already used for a different request")
    return Reply(stored.status_code, stored.response_body, replayed=True)


def _remember(session: Session, owner: str, key: str, print_: str, reply: Reply) -> None:
    session.add(IdempotencyKey(client_id=owner, key=key, request_fingerprint=print_, status_code=reply.status,
                               response_body=reply.body, created_at=utcnow()))
    session.flush()


def run(
    hub: Hub,
    actor: Actor,
    *,
    operation: str,
    payload: Callable[[], object] | object,
    key: str | None,
    write: Callable[[Session, Any], tuple[int, dict]],
    prepare: Callable[[], P] | None = None,
    read: Callable[[Session, P | None], Any] | None = None,
    redact: Callable[[dict], dict] | None = None,
) -> Reply:
    """Replay, or prepare, read, then write once, in one group-committed transaction (see the module docstring).

    A key is looked up in the write transaction; with a ``prepare`` that is slow (one without a
    ``read`` phase after it) it is looked up before preparing too, so a retry does not prepare again.

    ``write`` gets what ``read(session, prepared)`` returned, or else what ``prepare()`` did.
    ``payload`` (or a function giving it, built only when a key is sent) is what the
    key stands for; ``redact(body)`` gives the body to keep for replays, for answers
    that carry something shown once (a client secret), which must never be stored.
    """
    owner = actor.replay_owner
    print_ = ""
    if key:
        print_ = fingerprint(operation, payload() if callable(payload) else payload, hub.idempotency_key)
    if key and prepare is not None and read is None:
        with hub.transaction() as session:  # a retry must not do the (possibly slow) preparation again
            stored = _replay(session, owner, key, print_)
        if stored is not None:
            return stored
    prepared = prepare() if prepare is not None else None

    def before_lock(session: Session) -> Reply | _Read:
        if key:
            stored = _replay(session, owner, key, print_)  # the first try may have committed meanwhile
            if stored is not None:
                return stored
        return _Read(read(session, prepared) if read is not None else prepared)

    def unit(session: Session, got: Reply | _Read) -> Reply:
        if isinstance(got, Reply):
            return got
        status, body = write(session, got.value)
        reply = Reply(status, body)
        if key:
            _remember(session, owner, key, print_, Reply(status, redact(body) if redact else body))
        return reply

    try:
        return hub.group_commit.run(unit, read=before_lock)
    except IntegrityError:
        if key:
            raise Conflict(f"a request with Idempotency-Key '{key}' is already being processed; retry") from None
        raise


@dataclass(frozen=True)
class _Read:
    value: Any


def once(hub: Hub, actor: Actor, *, operation: str, payload: object, key: str | None, act: Callable[[], Reply],
         redact: Callable[[dict], dict] | None = None) -> Reply:
    """For a write that commits on its own (a file loaded, a redemption that records its refusals too): the
    first answer to a key is replayed, else ``act`` runs and its answer is kept for replays.

    Acting and keeping are two transactions: if the process dies between them the key is
    unused, and a retry acts again, as it would without a key.
    """
    if not key:
        return act()
    print_ = fingerprint(operation, payload, hub.idempotency_key)
    owner = actor.replay_owner
    with hub.transaction() as session:
        stored = _replay(session, owner, key, print_)
    if stored is not None:
        return stored
    reply = act()
    try:
        with hub.transaction() as session:
            if _replay(session, owner, key, print_) is None:
                _remember(session, owner, key, print_, Reply(reply.status, redact(reply.body) if redact else reply.body))
    except IntegrityError:
        pass  # a concurrent retry kept its answer first: both acted, as they would have without a key
    return reply
