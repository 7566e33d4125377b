"""Integrate appended entries into the Merkle tree, in batches (group commit).

Entries are appended in the transactions of the accesses they record, so
they may commit in any order; the sequencer gives each a leaf index in the
order it finds them and stores the hashes of the complete subtrees that
finishes. One sequencer runs at a time: it holds the audit_head row's lock.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from accord.audit.merkle import EMPTY_ROOT, complete_parents, decompose, leaf_hash, node_hash
from accord.audit.store import SqlNodes
from accord.storage.models import AuditEntry, AuditHead, AuditNode

DEFAULT_BATCH = 5000


def _lock_head(session: Session, now: datetime) -> AuditHead:
    locked = session.execute(update(AuditHead).where(AuditHead.id == 1).values(tree_size=AuditHead.tree_size))
    if locked.rowcount == 0:
        session.add(AuditHead(id=1, tree_size=0, root_hash=EMPTY_ROOT, updated_at=now))
        session.flush()
    row = session.get(AuditHead, 1, populate_existing=True)
    assert row is not None
    return row


def integrate_batch(session: Session, now: datetime, limit: int = DEFAULT_BATCH) -> int:
    """Integrate up to ``limit`` pending entries in the caller's transaction; returns how many."""
    head = _lock_head(session, now)
    pending = session.execute(
        select(AuditEntry.id, AuditEntry.payload)
        .where(AuditEntry.leaf_index.is_(None))
        .order_by(AuditEntry.id)
        .limit(limit)
    ).all()
    if not pending:
        return 0
    size = head.tree_size
    frontier = SqlNodes(session).nodes(decompose(0, size))
    new_nodes: list[dict] = []
    assignments: list[dict] = []
    for entry_id, payload in pending:
        for (level, idx), value in complete_parents(size, leaf_hash(payload.encode()), frontier):
            frontier[(level, idx)] = value
            new_nodes.append({"level": level, "idx": idx, "hash": value})
        assignments.append({"entry_id": entry_id, "new_index": size})
        size += 1
    session.execute(AuditNode.__table__.insert(), new_nodes)
    session.execute(
        update(AuditEntry.__table__)
        .where(AuditEntry.__table__.c.id == bindparam("entry_id"))
        .values(leaf_index=bindparam("new_index")),
        assignments,
    )
    keys = decompose(0, size)
    root = frontier[keys[-1]]
    for key in reversed(keys[:-1]):
        root = node_hash(frontier[key], root)
    head.tree_size = size
    head.root_hash = root
    head.updated_at = now
    session.flush()
    return len(pending)


def integrate(
    sessions: sessionmaker[Session], now_fn, limit: int = DEFAULT_BATCH, max_batches: int = 1000,  # noqa: ANN001
    lock: AbstractContextManager | None = None,
) -> int:
    """Integrate everything pending, one committed batch at a time; returns the count.

    ``lock`` is held around each batch's transaction: the server passes the write lock
    its other heavy writers share, so on SQLite they take turns instead of meeting the
    database's sleeping busy handler (storage/write_lock.py).
    """
    total = 0
    for _ in range(max_batches):
        session = sessions()
        try:
            with lock if lock is not None else nullcontext():
                done = integrate_batch(session, now_fn(), limit)
                session.commit()
        except IntegrityError:
            session.rollback()  # another sequencer created the head row first; try again
            continue
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
        total += done
        if done < limit:
            break
    return total
