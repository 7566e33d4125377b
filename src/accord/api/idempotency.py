"""Idempotency keys on writes: a retry after a timeout does not act twice."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime

from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from accord.clock import utcnow
from accord.errors import Conflict, InvalidInput
from accord.storage.models import IdempotencyKey


def fingerprint(method: str, path: str, payload: object, key: bytes) -> str:
    """A keyed hash of the request: requests can name people (a NINO), and an unkeyed
    hash of a small identifier space is as good as the identifier itself."""
    canonical = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
    return hmac.new(key, f"{method} {path}\n{canonical}".encode(), hashlib.sha256).hexdigest()


def replay(session: Session, client_id: str, key: str | None, print_: str) -> JSONResponse | None:
    if not key:
        return None
    stored = session.get(IdempotencyKey, (client_id, key))
    if stored is None:
        return None
    if stored.request_fingerprint != print_:
        raise InvalidInput(f"Idempotency-Key '{key}' was already used for a different request")
    return JSONResponse(stored.response_body, status_code=stored.status_code, headers={"Idempotent-Replayed": "true"})


def remember(
    session: Session, client_id: str, key: str | None, print_: str, status: int, body: dict, now: datetime
) -> None:
    if not key:
        return
    session.add(
        IdempotencyKey(
            client_id=client_id,
            key=key,
            request_fingerprint=print_,
            status_code=status,
            response_body=body,
            created_at=now,
        )
    )
    session.flush()


def run_write(hub, caller, key: str | None, request, payload: object, work, redact=None) -> JSONResponse:  # noqa: ANN001
    """Do ``work(session) -> (status, body)`` once per idempotency key, in one transaction.

    ``redact(body)`` gives the body to keep for replays, for responses that
    carry something shown once (a client secret), which must never be stored.
    """
    # The fingerprint (canonical JSON and an HMAC of the whole request) is only needed to
    # check and remember a key: most writes send none.
    print_ = fingerprint(request.method, request.url.path, payload, hub.idempotency_key) if key else ""

    def unit(session):  # noqa: ANN001, ANN202 - one transaction: replay check, the write, the replay record
        replayed = replay(session, caller.client_id, key, print_)
        if replayed is not None:
            return replayed, None, None
        status, body = work(session)
        remember(session, caller.client_id, key, print_, status, redact(body) if redact else body, utcnow())
        return None, status, body

    try:
        # Group commit: concurrent writes share one transaction and one commit; each
        # request is answered only after the commit that holds its write.
        replayed, status, body = hub.group_commit.run(unit)
        if replayed is not None:
            return replayed
    except IntegrityError:
        if key:
            raise Conflict(f"a request with Idempotency-Key '{key}' is already being processed; retry") from None
        raise
    return JSONResponse(body, status_code=status)
