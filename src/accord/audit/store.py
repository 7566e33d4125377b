"""The Merkle tree kept in the database: node lookups and the integrated tree head."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import text
from sqlalchemy.orm import Session

from accord.audit.merkle import EMPTY_ROOT, Key
from accord.storage.models import AuditHead

_BATCH = 400  # keys per IN (...) list; keeps statements small on both backends
_PARTS = 64  # per-level selects joined in one UNION ALL (SQLite allows 500 compound terms)


class SqlNodes:
    """A NodeSource over the audit_nodes table."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def nodes(self, keys: Iterable[Key]) -> dict[Key, bytes]:
        # One query per tree level with ``idx IN (...)``: both SQLite and PostgreSQL
        # then seek the (level, idx) primary key. A row-value ``(level, idx) IN``
        # list is not planned as index seeks by SQLite and scans the whole table.
        by_level: dict[int, list[int]] = {}
        for level, idx in set(keys):
            by_level.setdefault(level, []).append(idx)
        parts = [
            (level, sorted(indices[start : start + _BATCH]))
            for level, indices in sorted(by_level.items())
            for start in range(0, len(indices), _BATCH)
        ]
        found: dict[Key, bytes] = {}
        # All levels in one statement (one round trip), each part its own index seek. Written
        # as SQL text because the statement's shape changes with every proof, and building and
        # compiling a fresh expression tree each time costs more than the lookups themselves.
        for first in range(0, len(parts), _PARTS):
            selects, params = [], {}
            for n, (level, indices) in enumerate(parts[first : first + _PARTS]):
                names = [f"k{n}_{m}" for m in range(len(indices))]
                params[f"l{n}"] = level
                params.update(zip(names, indices))
                placeholders = ", ".join(f":{name}" for name in names)
                selects.append(f"SELECT level, idx, hash FROM audit_nodes WHERE level = :l{n} AND idx IN ({placeholders})")
            for level, idx, value in self.session.execute(text(" UNION ALL ".join(selects)), params):
                found[(level, idx)] = bytes(value)
        return found


def head(session: Session) -> tuple[int, bytes]:
    """The integrated tree's (size, root); (0, empty root) before anything is integrated."""
    row = session.get(AuditHead, 1)
    if row is None:
        return 0, EMPTY_ROOT
    return row.tree_size, bytes(row.root_hash)
