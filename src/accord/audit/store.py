"""The Merkle tree kept in the database: node lookups and the integrated tree head."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from accord.audit.merkle import EMPTY_ROOT, Key
from accord.storage.models import AuditHead, AuditNode

_BATCH = 400  # keys per IN (...) query; keeps statements small on both backends


class SqlNodes:
    """A NodeSource over the audit_nodes table."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def nodes(self, keys: Iterable[Key]) -> dict[Key, bytes]:
        wanted = sorted(set(keys))
        found: dict[Key, bytes] = {}
        for start in range(0, len(wanted), _BATCH):
            chunk = wanted[start : start + _BATCH]
            rows = self.session.execute(
                select(AuditNode.level, AuditNode.idx, AuditNode.hash).where(
                    tuple_(AuditNode.level, AuditNode.idx).in_(chunk)
                )
            )
            for level, idx, value in rows:
                found[(level, idx)] = bytes(value)
        return found


def head(session: Session) -> tuple[int, bytes]:
    """The integrated tree's (size, root); (0, empty root) before anything is integrated."""
    row = session.get(AuditHead, 1)
    if row is None:
        return 0, EMPTY_ROOT
    return row.tree_size, bytes(row.root_hash)
