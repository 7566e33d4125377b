"""Throttling: failed sign-ins lock a key out for a while, and anonymous posts are rate-limited.

The counters are rows of one table (``throttle_counters``), changed by one atomic statement
each (an upsert with ``RETURNING``), so a limit holds however many server processes share
the database, on SQLite and PostgreSQL alike. Keys are stored only as keyed hashes.

A *scope* names what is limited, and each of its *kinds* of key has a limit and a window
from the settings (docs/configuration.md). The scopes:

=================  ======================  ==================================================
scope.kind         counted by              limit (ACCORD_...) / window
=================  ======================  ==================================================
token.client       failed()                THROTTLE_TOKEN_FAILURES_PER_CLIENT / FAILURE_WINDOW
token.address      failed()                THROTTLE_TOKEN_FAILURES_PER_ADDRESS / FAILURE_WINDOW
signin.account     failed()                THROTTLE_SIGNIN_FAILURES_PER_ACCOUNT / FAILURE_WINDOW
signin.address     failed()                THROTTLE_SIGNIN_FAILURES_PER_ADDRESS / FAILURE_WINDOW
comments.address   hit()                   THROTTLE_COMMENTS_PER_ADDRESS / COMMENTS_WINDOW
=================  ======================  ==================================================

Failures (``check`` before the attempt, ``failed`` after a wrong one, ``succeeded`` after a
right one): once a key has failed ``limit`` times in a window that began at its first failure,
``check`` refuses it until the window ends, however right the next attempt would be. The
refusal says nothing about whether the key (a client id, an account) exists.

Rates (``hit``): each call counts one; the call past the limit in a window is refused.

Refusals raise ``TooManyRequests`` (429, with ``retry_after`` seconds); faces turn it into a
problem+json with Retry-After, or a GOV.UK page. ``reset(hub)`` forgets every counter
(``accord throttle reset``; the tests reset between tests).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import case, delete, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite

from accord.config import Settings
from accord.errors import AccordError
from accord.privacy import labels
from accord.privacy.pseudonymise import derive_key
from accord.runtime import Hub
from accord.storage.tables.throttle import ThrottleCounter

__all__ = ["SCOPES", "Limit", "TooManyRequests", "check", "failed", "hit", "reset", "succeeded"]


class TooManyRequests(AccordError):
    status = 429
    title = "Too many requests"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Limit:
    """How many times a kind of key may count in a window, both read from the settings."""

    limit_setting: str
    window_setting: str
    refusal: str  # the sentence a refused caller reads, before "try again in ..."

    def of(self, settings: Settings) -> tuple[int, int]:
        return int(getattr(settings, self.limit_setting)), int(getattr(settings, self.window_setting))


_SIGN_IN = "too many failed sign-in attempts"
SCOPES: dict[str, dict[str, Limit]] = {
    "token": {
        "client": Limit("throttle_token_failures_per_client", "throttle_failure_window_seconds", _SIGN_IN),
        "address": Limit("throttle_token_failures_per_address", "throttle_failure_window_seconds", _SIGN_IN),
    },
    "signin": {
        "account": Limit("throttle_signin_failures_per_account", "throttle_failure_window_seconds", _SIGN_IN),
        "address": Limit("throttle_signin_failures_per_address", "throttle_failure_window_seconds", _SIGN_IN),
    },
    "comments": {
        "address": Limit("throttle_comments_per_address", "throttle_comments_window_seconds",
                         "too many comments have been sent from your address"),
    },
}


def _limits(scope: str, keys: Mapping[str, str | None]) -> list[tuple[str, Limit, str]]:
    """(counter scope, limit, value) for each key given; an unknown scope or kind is a programming error."""
    kinds = SCOPES[scope]
    return [(f"{scope}.{kind}", kinds[kind], value) for kind, value in keys.items() if value]


def _hashed(hub: Hub, counter: str, value: str) -> str:
    key = hub.cache("throttle.key", lambda: derive_key(hub.settings.secret_key.get_secret_value(), labels.THROTTLE_KEYS))
    return hmac.new(key, f"{counter}\x00{value}".encode(), hashlib.sha256).hexdigest()


def _now() -> int:
    return math.floor(time.time())


def _wait(window_start: int, window: int, now: int) -> int:
    return max(1, window_start + window - now)


def _refused(wait: int, limit: Limit) -> TooManyRequests:
    minutes = max(1, math.ceil(wait / 60))
    return TooManyRequests(f"{limit.refusal}; try again in {minutes} minute{'s' if minutes != 1 else ''}", wait)


def check(hub: Hub, scope: str, keys: Mapping[str, str | None]) -> None:
    """Refuse (TooManyRequests) if any key has failed its limit's number of times in its window."""
    now = _now()
    limits = _limits(scope, keys)
    if not limits:
        return
    wanted = {(counter, _hashed(hub, counter, value)): limit for counter, limit, value in limits}
    table = ThrottleCounter.__table__
    with hub.engine.connect() as connection:
        rows = connection.execute(
            select(table.c.scope, table.c.key, table.c.window_start, table.c.attempts)
            .where(tuple_(table.c.scope, table.c.key).in_(list(wanted)))
        ).all()
    waits = []
    for row in rows:
        limit = wanted[(row.scope, row.key)]
        most, window = limit.of(hub.settings)
        if row.attempts >= most and row.window_start + window > now:
            waits.append((_wait(row.window_start, window, now), limit))
    if waits:
        raise _refused(*max(waits, key=lambda pair: pair[0]))


def _count(hub: Hub, scope: str, keys: Mapping[str, str | None]) -> list[tuple[Limit, int, int]]:
    """Count one for each key, atomically; (limit, count, window start) after counting."""
    now = _now()
    counted = []
    table = ThrottleCounter.__table__
    with hub.transaction() as session:
        dialect = session.get_bind().dialect.name
        module = postgresql if dialect == "postgresql" else sqlite
        for counter, limit, value in _limits(scope, keys):
            _, window = limit.of(hub.settings)
            expired = table.c.window_start <= now - window
            statement = (
                module.insert(table)
                .values(scope=counter, key=_hashed(hub, counter, value), window_start=now, attempts=1)
                .on_conflict_do_update(
                    index_elements=[table.c.scope, table.c.key],
                    set_={"attempts": case((expired, 1), else_=table.c.attempts + 1),
                          "window_start": case((expired, now), else_=table.c.window_start)},
                )
                .returning(table.c.attempts, table.c.window_start)
            )
            row = session.execute(statement).one()
            counted.append((limit, row[0], row[1]))
    return counted


def failed(hub: Hub, scope: str, keys: Mapping[str, str | None]) -> None:
    """Count a failed attempt against each key (``check`` refuses them once at the limit)."""
    _count(hub, scope, keys)


def succeeded(hub: Hub, scope: str, keys: Mapping[str, str | None]) -> None:
    """Forget the failures of these keys (pass only the keys a success vouches for, e.g. the client)."""
    limits = _limits(scope, keys)
    if not limits:
        return
    hashed = [(counter, _hashed(hub, counter, value)) for counter, _, value in limits]
    table = ThrottleCounter.__table__
    with hub.transaction() as session:
        session.execute(delete(table).where(tuple_(table.c.scope, table.c.key).in_(hashed)))


def hit(hub: Hub, scope: str, keys: Mapping[str, str | None]) -> None:
    """Count one request against each key; refuse (TooManyRequests) the one past a limit in its window."""
    now = _now()
    over = []
    for limit, count, window_start in _count(hub, scope, keys):
        most, window = limit.of(hub.settings)
        if count > most:
            over.append((_wait(window_start, window, now), limit))
    if over:
        raise _refused(*max(over, key=lambda pair: pair[0]))


def reset(hub: Hub) -> int:
    """Forget every counter (an operator after an incident; the tests between tests); how many were held."""
    with hub.transaction() as session:
        return session.execute(delete(ThrottleCounter.__table__)).rowcount or 0
