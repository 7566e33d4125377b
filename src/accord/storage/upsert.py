"""Backend differences in one place: INSERT that does nothing when the row exists."""

from __future__ import annotations

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_if_absent(session: Session, table: Table, row: dict) -> None:
    """Insert ``row`` unless a row with its primary key exists (ON CONFLICT DO NOTHING)."""
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    if dialect not in ("postgresql", "sqlite"):
        raise NotImplementedError(f"no insert-if-absent for the {dialect} dialect")
    session.execute(module.insert(table).values(**row).on_conflict_do_nothing())
