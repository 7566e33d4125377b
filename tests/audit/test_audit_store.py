"""The tree kept in the database (SQLite and PostgreSQL) equals the in-memory tree over the same leaves."""

from __future__ import annotations

from datetime import timedelta

import pytest
from audit_support import NOW, append_entries, count, flip, integrate_all, leaf_hashes, stored_nodes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select, update

from accord.audit import checkpoint as checkpoints
from accord.audit import merkle
from accord.audit.log import AuditRecord, append
from accord.audit.merkle import MemoryNodes
from accord.audit.sequencer import integrate, integrate_batch
from accord.audit.store import SqlNodes, head
from accord.runtime import Hub
from accord.storage.models import AuditEntry, AuditHead, AuditNode

N = 37  # not a power of two, so the tree has a ragged right edge


def assert_same_tree(hub: Hub, size: int) -> MemoryNodes:
    """Root, every inclusion proof and every consistency proof from SqlNodes equal MemoryNodes'."""
    with hub.transaction() as session:
        leaves = leaf_hashes(session)
        assert len(leaves) == size
        memory = MemoryNodes(leaves)
        sql = SqlNodes(session)
        assert head(session) == (size, merkle.root(memory, size))
        for n in range(1, size + 1):
            assert merkle.root(sql, n) == merkle.root(memory, n), f"root of size {n}"
        for index in range(size):
            assert merkle.inclusion_proof(sql, index, size) == merkle.inclusion_proof(memory, index, size), index
        for first in range(1, size + 1):
            proof = merkle.consistency_proof(sql, first, size)
            assert proof == merkle.consistency_proof(memory, first, size), first
            assert merkle.verify_consistency(first, size, merkle.root(sql, first), merkle.root(sql, size), proof)
        # the store holds exactly the complete subtrees, no more
        assert stored_nodes(session) == memory.hashes
    return memory


def test_an_empty_log_has_the_empty_root(hub: Hub) -> None:
    assert integrate_all(hub) == 0
    with hub.transaction() as session:
        assert head(session) == (0, merkle.EMPTY_ROOT)
        assert merkle.root(SqlNodes(session), 0) == merkle.EMPTY_ROOT


def test_the_stored_tree_equals_the_memory_tree(hub: Hub) -> None:
    append_entries(hub, 0, N)
    with hub.transaction() as session:
        assert head(session) == (0, merkle.EMPTY_ROOT)  # appended, not yet integrated
        assert count(session, AuditEntry, AuditEntry.leaf_index.is_(None)) == N
    assert integrate_all(hub) == N
    assert integrate_all(hub) == 0  # nothing left pending
    assert_same_tree(hub, N)
    with hub.transaction() as session:
        # leaf indices are 0..N-1 in the order the entries were appended
        ids = list(session.scalars(select(AuditEntry.id).order_by(AuditEntry.leaf_index)))
        assert ids == sorted(ids)
        assert list(session.scalars(select(AuditEntry.leaf_index).order_by(AuditEntry.id))) == list(range(N))
        # each leaf is the SHA-256 leaf hash of the exact stored payload bytes
        first = session.scalar(select(AuditEntry).where(AuditEntry.leaf_index == 0))
        assert SqlNodes(session).nodes([(0, 0)])[(0, 0)] == merkle.leaf_hash(first.payload.encode("utf-8"))


def test_integrating_in_small_batches_gives_the_same_tree_as_one_batch(hub: Hub) -> None:
    append_entries(hub, 0, N)
    assert integrate(hub.sessions, lambda: NOW, limit=4) == N
    with hub.transaction() as session:
        in_batches = stored_nodes(session), head(session)
        # forget the tree and integrate again, all at once
        session.execute(update(AuditEntry).values(leaf_index=None))
        session.query(AuditNode).delete()
        session.query(AuditHead).delete()
    assert integrate(hub.sessions, lambda: NOW, limit=1000) == N
    with hub.transaction() as session:
        assert (stored_nodes(session), head(session)) == in_batches
    assert_same_tree(hub, N)


def test_integrate_batch_takes_at_most_its_limit(hub: Hub) -> None:
    append_entries(hub, 0, 10)
    with hub.transaction() as session:
        assert integrate_batch(session, NOW, limit=3) == 3
        assert head(session)[0] == 3
    with hub.transaction() as session:
        assert count(session, AuditEntry, AuditEntry.leaf_index.is_(None)) == 7


def test_appends_interleaved_with_integration_grow_one_consistent_tree(hub: Hub) -> None:
    key = Ed25519PrivateKey.generate()
    origin = "test.example/audit"
    signed: list[checkpoints.Checkpoint] = []
    start = 0
    for batch in (1, 2, 5, 8, 3, 13, 5):
        append_entries(hub, start, batch)
        start += batch
        integrate(hub.sessions, lambda: NOW, limit=3)
        with hub.transaction() as session:
            row = checkpoints.create(session, key, origin, NOW + timedelta(minutes=start))
            signed.append(checkpoints.verify_note(row.note, key.public_key(), origin))
    total = start
    memory = assert_same_tree(hub, total)
    # every checkpoint signed along the way is consistent with every later one
    with hub.transaction() as session:
        sql = SqlNodes(session)
        for i, old in enumerate(signed):
            assert old.root_hash == merkle.root(memory, old.tree_size)
            for new in signed[i:]:
                proof = merkle.consistency_proof(sql, old.tree_size, new.tree_size)
                assert merkle.verify_consistency(old.tree_size, new.tree_size, old.root_hash, new.root_hash, proof)


def test_entries_appended_after_a_checkpoint_extend_it_consistently(hub: Hub) -> None:
    key = Ed25519PrivateKey.generate()
    append_entries(hub, 0, 11)
    integrate_all(hub)
    with hub.transaction() as session:
        row = checkpoints.create(session, key, "o.example", NOW)
        old = checkpoints.verify_note(row.note, key.public_key(), "o.example")
    append_entries(hub, 11, 20)
    integrate_all(hub)
    with hub.transaction() as session:
        size, new_root = head(session)
        sql = SqlNodes(session)
        proof = merkle.consistency_proof(sql, old.tree_size, size)
        assert (old.tree_size, size) == (11, 31)
        assert merkle.verify_consistency(old.tree_size, size, old.root_hash, new_root, proof)
        # and an old entry's inclusion can be proved in the old checkpoint and in the new tree
        for tree_size, tree_root in [(old.tree_size, old.root_hash), (size, new_root)]:
            leaf = sql.nodes([(0, 7)])[(0, 7)]
            path = merkle.inclusion_proof(sql, 7, tree_size)
            assert merkle.verify_inclusion(leaf, 7, tree_size, path, tree_root)
        # the proof does not vouch for any other old root
        assert not merkle.verify_consistency(old.tree_size, size, flip(old.root_hash), new_root, proof)


def test_a_rolled_back_append_leaves_nothing_to_integrate(hub: Hub) -> None:
    append_entries(hub, 0, 3)
    with pytest.raises(RuntimeError), hub.transaction() as session:
        append(session, AuditRecord(kind="test.entry", occurred_at=NOW, outcome="done", subjects=("pk_abc",)))
        raise RuntimeError("the access failed")
    assert integrate_all(hub) == 3
    assert_same_tree(hub, 3)


def test_entries_committed_out_of_id_order_are_all_integrated_once(hub: Hub) -> None:
    """An entry whose transaction commits after a later one still gets exactly one leaf."""
    if hub.engine.dialect.name == "sqlite":
        pytest.skip("SQLite has one writer at a time, so commits cannot overtake each other")
    slow = hub.sessions()
    try:
        append(slow, AuditRecord(kind="test.slow", occurred_at=NOW, outcome="done"))  # id allocated, not committed
        append_entries(hub, 0, 4)
        assert integrate_all(hub) == 4
        slow.commit()
    finally:
        slow.close()
    assert integrate_all(hub) == 1
    memory = assert_same_tree(hub, 5)
    with hub.transaction() as session:
        late = session.scalar(select(AuditEntry).where(AuditEntry.kind == "test.slow"))
        assert late.leaf_index == 4
        assert memory.hashes[(0, 4)] == merkle.leaf_hash(late.payload.encode())
