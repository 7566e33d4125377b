"""Leased work: the one way a worker claims due rows (background jobs, webhook deliveries).

A claim is one UPDATE whose WHERE picks the due rows by key, so rows are chosen
and claimed under the same lock: SQLite's single writer, or on PostgreSQL the row
locks of ``FOR UPDATE SKIP LOCKED`` in the choosing (materialised) query, so workers
racing for work pass over each other's rows instead of queueing on them. The claim writes a
lease (an owner or token and an expiry) with it; a worker that dies simply lets its
lease run out, and the rows are due again. Every later write a worker makes is
conditional on still holding its lease, so one that lost it changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session


def claim_due(
    session: Session,
    entity: Any,
    *,
    key: Any,
    due: Sequence[ColumnElement[bool]],
    order_by: Sequence[Any],
    limit: int,
    values: dict[str, Any],
    join: tuple[Any, Any] | None = None,
    recheck: bool = False,
) -> list[Any]:
    """Claim up to ``limit`` rows of ``entity`` meeting ``due`` (oldest by ``order_by``); returns their keys.

    ``join`` (target, on-clause) lets ``due`` test another table (a subscription's state).
    ``recheck`` repeats ``due`` in the UPDATE itself; without it only the key is tested
    there, so the database finds each row by its key rather than scanning the due rows again.
    """
    chosen = select(key)
    if join is not None:
        chosen = chosen.join(*join)
    chosen = chosen.where(*due).order_by(*order_by).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        # Chosen once, in a materialised CTE: as a plain subquery PostgreSQL re-runs it for each row the
        # UPDATE touches, and SKIP LOCKED then passes over the rows just claimed and picks the next, so
        # the limit would never hold.
        chosen = chosen.with_for_update(skip_locked=True, of=entity).cte("chosen").prefix_with("MATERIALIZED")
        chosen = select(*chosen.c)
    statement = update(entity).where(key.in_(chosen), *(due if recheck else ())).values(**values)
    return list(session.execute(statement.returning(key).execution_options(synchronize_session=False)).scalars())
