"""verify_log recomputes the tree and names the first tampered leaf, on SQLite and PostgreSQL.

Each test builds a 12-entry log with signed checkpoints at sizes 4 and 12,
then tampers with it in SQL the way someone with database access could.
"""

from __future__ import annotations

import pytest
from audit_support import (
    append_entries,
    integrate_all,
    rebuild_tree,
    record,
    tamper_delete,
    tamper_edit,
    tamper_insert,
    tamper_node,
    tamper_swap,
)
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import delete, select, text, update

from accord.audit import checkpoint as checkpoints
from accord.audit.log import canonical
from accord.audit.store import head
from accord.clock import utcnow
from accord.runtime import Hub
from accord.services import audit
from accord.storage.models import AuditCheckpoint, AuditEntry, AuditHead

SIZE = 12


@pytest.fixture
def logged(hub: Hub) -> Hub:
    append_entries(hub, 0, 4, subjects=("pk_alpha",))
    assert audit.checkpoint_now(hub)["tree_size"] == 4
    append_entries(hub, 4, SIZE - 4)
    assert audit.checkpoint_now(hub)["tree_size"] == SIZE
    report = audit.verify_log(hub)
    assert report.ok, report.problems
    return hub


def failed(hub: Hub, **kwargs: object):  # noqa: ANN201
    report = audit.verify_log(hub, **kwargs)
    assert not report.ok, "tampering went unnoticed"
    return report


def test_an_intact_log_verifies(logged: Hub) -> None:
    report = audit.verify_log(logged)
    assert report.ok and report.problems == []
    assert (report.tree_size, report.checkpoints_checked, report.first_bad_leaf) == (SIZE, 2, None)


def test_entries_after_the_last_checkpoint_are_integrated_and_verified(logged: Hub) -> None:
    append_entries(logged, SIZE, 3)  # pending: verify_log integrates them first
    report = audit.verify_log(logged)
    assert report.ok and report.tree_size == SIZE + 3
    with logged.transaction() as session:
        tamper_edit(session, SIZE + 1)  # not covered by any checkpoint, still caught by its leaf hash
    report = failed(logged)
    assert report.first_bad_leaf == SIZE + 1
    assert f"leaf {SIZE + 1}: the entry was edited" in report.problems[0]


@pytest.mark.parametrize("leaf", [0, 5, SIZE - 1])
def test_an_edited_payload_is_named(logged: Hub, leaf: int) -> None:
    with logged.transaction() as session:
        tamper_edit(session, leaf, outcome="deny", actor="someone else")
    report = failed(logged)
    assert report.first_bad_leaf == leaf
    assert report.problems[0] == f"leaf {leaf}: the entry was edited after it was logged"


def test_a_one_byte_edit_is_named(logged: Hub) -> None:
    with logged.transaction() as session:
        session.execute(text("UPDATE audit_entries SET payload = payload || ' ' WHERE leaf_index = 6"))
    assert failed(logged).first_bad_leaf == 6


@pytest.mark.parametrize("leaf", [0, 5, SIZE - 1])
def test_a_deleted_entry_is_named(logged: Hub, leaf: int) -> None:
    with logged.transaction() as session:
        tamper_delete(session, leaf)
    report = failed(logged)
    assert report.first_bad_leaf == leaf
    assert f"leaf {leaf}: the entry was deleted" in report.problems


def test_reordered_entries_are_named(logged: Hub) -> None:
    with logged.transaction() as session:
        tamper_swap(session, 3, 7)
    report = failed(logged)
    assert report.first_bad_leaf == 3
    assert "leaf 3: entries were reordered (it holds the entry recorded at leaf 7)" in report.problems


def test_an_inserted_entry_is_named(logged: Hub) -> None:
    with logged.transaction() as session:
        tamper_insert(session, 4, record(99, outcome="allow", actor="forger"))
    report = failed(logged)
    assert report.first_bad_leaf == 4
    assert "leaf 4: an entry was inserted here, shifting later entries" in report.problems


def test_an_entry_slipped_in_beyond_the_tree_is_named(logged: Hub) -> None:
    with logged.transaction() as session:
        forged = record(99)
        session.add(
            AuditEntry(leaf_index=SIZE, occurred_at=forged.occurred_at, kind=forged.kind, payload=canonical(forged))
        )
    report = failed(logged)
    assert report.first_bad_leaf == SIZE
    assert f"leaf {SIZE}: an entry was inserted beyond the integrated tree (size {SIZE})" in report.problems


def test_a_rewritten_stored_subtree_is_named(logged: Hub) -> None:
    with logged.transaction() as session:
        tamper_node(session, 2, 1)  # covers leaves 4..7
    report = failed(logged)
    assert report.first_bad_leaf == 4
    assert "stored subtree (2, 1) over leaves from 4 was altered" in report.problems


def test_a_rewritten_stored_leaf_hash_is_named(logged: Hub) -> None:
    with logged.transaction() as session:
        tamper_node(session, 0, 9)
    assert failed(logged).first_bad_leaf == 9


def test_a_rewritten_tree_head_is_reported(logged: Hub) -> None:
    with logged.transaction() as session:
        session.execute(update(AuditHead).values(root_hash=b"\x00" * 32))
    report = failed(logged)
    assert "the stored tree head does not match the tree recomputed from the entries" in report.problems


# ---------------------------------------------------------------- a careful forger: only signed checkpoints catch it


def test_an_edit_with_the_whole_tree_recomputed_is_caught_by_the_signed_checkpoint(logged: Hub) -> None:
    with logged.transaction() as session:
        tamper_edit(session, 5, outcome="deny")
        rebuild_tree(session)
    report = failed(logged)
    # the checkpoint at 4 still verifies, the one at 12 does not: the edit is in 4..11
    assert report.first_bad_leaf == 4
    assert report.problems == [
        "the entries no longer match the checkpoint signed at size 12: a leaf between 4 and 11 was altered"
    ]


def test_an_edit_before_every_checkpoint_is_placed_from_leaf_0(logged: Hub) -> None:
    with logged.transaction() as session:
        tamper_edit(session, 2)
        rebuild_tree(session)
    report = failed(logged)
    assert report.first_bad_leaf == 0
    assert "checkpoint signed at size 4: a leaf between 0 and 3 was altered" in report.problems[0]


def test_a_tail_deleted_with_the_tree_recomputed_is_caught(logged: Hub) -> None:
    with logged.transaction() as session:
        for leaf in (9, 10, 11):
            tamper_delete(session, leaf)
        rebuild_tree(session)
    report = failed(logged)
    assert report.first_bad_leaf is not None and 4 <= report.first_bad_leaf <= 9
    assert "a signed checkpoint covers 12 leaves but only 9 are stored" in report.problems[0]


def test_a_middle_deletion_with_later_entries_shifted_and_the_tree_recomputed_is_placed_correctly(logged: Hub) -> None:
    with logged.transaction() as session:
        tamper_delete(session, 5)
        for leaf in range(6, SIZE):
            session.execute(update(AuditEntry).where(AuditEntry.leaf_index == leaf).values(leaf_index=leaf - 1))
        rebuild_tree(session)
    report = failed(logged)
    # leaf 5 went; the named first bad leaf must not be after it
    assert report.first_bad_leaf is not None and 4 <= report.first_bad_leaf <= 5, report.problems
    assert "covers 12 leaves but only 11 are stored" in report.problems[0]


def test_a_saved_checkpoint_catches_a_forger_who_also_deleted_the_stored_checkpoints(logged: Hub) -> None:
    with logged.transaction() as session:
        saved = session.scalar(select(AuditCheckpoint.note).order_by(AuditCheckpoint.id.desc()).limit(1))
        tamper_edit(session, 8)
        rebuild_tree(session)
        session.execute(delete(AuditCheckpoint))
    # the database alone is now self-consistent: this is why checkpoints are published and kept elsewhere
    assert audit.verify_log(logged).ok
    report = failed(logged, extra_notes=[saved])
    assert report.first_bad_leaf == 0
    assert "checkpoint signed at size 12" in report.problems[0]


def test_a_forged_stored_checkpoint_is_reported(logged: Hub) -> None:
    with logged.transaction() as session:
        row = session.scalar(select(AuditCheckpoint).where(AuditCheckpoint.tree_size == 4))
        row.note = row.note.replace("\n4\n", "\n3\n", 1)
    report = failed(logged)
    assert report.problems == ["checkpoint not accepted: the checkpoint signature does not verify"]
    assert report.checkpoints_checked == 1


def test_a_checkpoint_from_another_key_is_not_accepted(logged: Hub) -> None:
    with logged.transaction() as session:
        size, root = head(session)
    other = checkpoints.sign(Ed25519PrivateKey.generate(), logged.settings.audit_origin, size, root, utcnow())
    report = failed(logged, extra_notes=[other.note])
    assert report.problems == [f"checkpoint not accepted: the note is not signed by {logged.settings.audit_origin}"]


def test_verify_after_integrating_more_is_still_consistent_with_old_checkpoints(logged: Hub) -> None:
    append_entries(logged, SIZE, 30)
    integrate_all(logged)
    audit.checkpoint_now(logged)
    report = audit.verify_log(logged)
    assert report.ok and (report.tree_size, report.checkpoints_checked) == (SIZE + 30, 3)
