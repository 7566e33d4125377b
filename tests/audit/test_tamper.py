"""The tamper suite: every attack on what a citizen's "who used my data" depends on, and what verify says.

Each test builds a small log (8 entries, checkpoints at 4 and 8, a witness
cosigning them where the attack needs one), tampers as an operator with SQL
access could, and asserts that `verify` fails and names the right leaf (and
entry), or the right kind: an edit, a deletion, an insertion, a swap, a changed
embargo or subject row, a consistent rewrite with the checkpoints deleted
(caught by the witness) and a rewrite with checkpoints re-signed (a FORK).
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from audit_support import (
    NOW,
    append_entries,
    rebuild_tree,
    record,
    tamper_delete,
    tamper_edit,
    tamper_insert,
    tamper_swap,
)
from sqlalchemy import delete, insert, select, update
from witness_support import new_witness, served, setting

from accord.audit import checkpoint as checkpoints
from accord.audit import log as audit_log
from accord.audit.binding import commitment
from accord.audit.log import append
from accord.clock import utcnow
from accord.runtime import Hub
from accord.services import audit
from accord.storage.models import AuditCheckpoint, AuditEntry, AuditSubject, AuditWitnessReply

SIZE = 8
EMBARGO = NOW + timedelta(days=90)


@pytest.fixture
def logged(hub: Hub) -> Hub:
    """Leaves 0-3 about pk_alice, 4-7 about pk_bob with an embargo; checkpoints at 4 and 8."""
    append_entries(hub, 0, 4, subjects=("pk_alice",))
    audit.checkpoint_now(hub)
    append_entries(hub, 4, 4, subjects=("pk_bob", "pk_carol"), embargo_until=EMBARGO)
    audit.checkpoint_now(hub)
    assert audit.verify_log(hub).ok
    return hub


@pytest.fixture
def witnessed(logged: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    """The log with a witness (served on loopback) that cosigned the checkpoint at 8."""
    store = new_witness(tmp_path / "witness", logged)
    with served(store) as url:
        set_setting(monkeypatch, logged, witnesses=[setting(store, url)])
        [sent] = audit.publish_checkpoint(logged)
        assert (sent.outcome, sent.tree_size) == ("cosigned", SIZE), sent
        yield logged, store


def set_setting(monkeypatch: pytest.MonkeyPatch, hub: Hub, **changes: object) -> None:
    """Change the shared hub's (frozen) settings for this test only."""
    monkeypatch.setattr(hub, "settings", hub.settings.model_copy(update=changes))


def failed(hub: Hub, **kwargs: object):  # noqa: ANN201
    report = audit.verify_log(hub, **kwargs)
    assert not report.ok, "tampering went unnoticed"
    return report


def entry_id_at(hub: Hub, leaf: int) -> int:
    with hub.transaction() as session:
        return session.scalar(select(AuditEntry.id).where(AuditEntry.leaf_index == leaf))


# ---------------------------------------------------------------- the entries themselves


def test_an_edited_entry_is_named_by_leaf_and_entry(logged: Hub) -> None:
    entry = entry_id_at(logged, 5)
    with logged.transaction() as session:
        tamper_edit(session, 5, outcome="deny")
    report = failed(logged)
    assert (report.first_bad_leaf, report.first_bad_entry) == (5, entry)
    assert report.findings[0].kind == "edited"


def test_a_deleted_entry_is_named_by_leaf(logged: Hub) -> None:
    with logged.transaction() as session:
        tamper_delete(session, 2)
    report = failed(logged)
    assert report.first_bad_leaf == 2
    assert report.findings[0].kind == "deleted"


def test_an_inserted_entry_is_named_by_leaf_and_the_forged_entry(logged: Hub) -> None:
    with logged.transaction() as session:
        tamper_insert(session, 3, record(99, actor="forger", subjects=("pk_alice",)))
        forged = session.scalar(select(AuditEntry.id).where(AuditEntry.leaf_index == 3))
    report = failed(logged)
    assert (report.first_bad_leaf, report.first_bad_entry) == (3, forged)
    assert report.findings[0].kind == "inserted"


def test_swapped_entries_are_named_by_the_first_leaf(logged: Hub) -> None:
    moved = entry_id_at(logged, 6)
    with logged.transaction() as session:
        tamper_swap(session, 1, 6)
    report = failed(logged)
    assert (report.first_bad_leaf, report.first_bad_entry) == (1, moved)
    assert report.findings[0].kind == "reordered"


# ---------------------------------------------------------------- what the citizen's view reads beside the leaf


def test_a_cleared_embargo_is_caught_at_its_leaf(logged: Hub) -> None:
    entry = entry_id_at(logged, 6)
    with logged.transaction() as session:
        session.execute(update(AuditEntry).where(AuditEntry.id == entry).values(embargo_until=None))
    report = failed(logged)
    assert (report.first_bad_leaf, report.first_bad_entry) == (6, entry)
    assert [f.kind for f in report.findings] == ["embargo"]
    assert "its embargo was changed" in report.problems[0]


def test_an_embargo_added_to_hide_an_entry_is_caught(logged: Hub) -> None:
    entry = entry_id_at(logged, 1)
    with logged.transaction() as session:
        hidden = NOW + timedelta(days=999)
        session.execute(update(AuditEntry).where(AuditEntry.id == entry).values(embargo_until=hidden))
    report = failed(logged)
    assert (report.first_bad_leaf, report.first_bad_entry, report.findings[0].kind) == (1, entry, "embargo")


def test_a_deleted_subject_row_is_caught_at_its_leaf(logged: Hub) -> None:
    entry = entry_id_at(logged, 2)
    with logged.transaction() as session:
        session.execute(delete(AuditSubject).where(AuditSubject.entry_id == entry))
    report = failed(logged)
    assert (report.first_bad_leaf, report.first_bad_entry, report.findings[0].kind) == (2, entry, "subjects")
    assert "removed before their retention ended" in report.problems[0]


@pytest.mark.parametrize("how", ["added", "changed"])
def test_an_added_or_changed_subject_row_is_caught_at_its_leaf(logged: Hub, how: str) -> None:
    entry = entry_id_at(logged, 4)
    with logged.transaction() as session:
        if how == "changed":
            session.execute(update(AuditSubject).where(AuditSubject.entry_id == entry,
                                                       AuditSubject.person_key == "pk_bob").values(person_key="pk_dan"))
        else:
            session.execute(insert(AuditSubject).values(entry_id=entry, person_key="pk_dan"))
    report = failed(logged)
    assert (report.first_bad_leaf, report.first_bad_entry, report.findings[0].kind) == (4, entry, "subjects")
    assert "were added or changed" in report.problems[0]


def test_subject_rows_removed_once_their_retention_ended_verify(logged: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows past ACCORD_AUDIT_SUBJECT_RETENTION_DAYS may go (the rest still verify), never before the embargo ends."""
    set_setting(monkeypatch, logged, audit_subject_retention_days=1)
    with logged.transaction() as session:
        session.execute(delete(AuditSubject).where(AuditSubject.person_key == "pk_alice"))  # leaves 0-3: no embargo
    report = audit.verify_log(logged)  # the clock is past NOW + 1 day
    assert report.ok, report.problems
    with logged.transaction() as session:
        session.execute(delete(AuditSubject).where(AuditSubject.person_key == "pk_carol"))  # leaves 4-7: embargoed
    report = failed(logged)
    assert (report.first_bad_leaf, report.findings[0].kind) == (4, "subjects")
    set_setting(monkeypatch, logged, audit_subject_retention_days=36500)  # not due for a century
    assert failed(logged).first_bad_leaf == 0


def test_the_leaf_commits_to_subjects_and_embargo(logged: Hub) -> None:
    with logged.transaction() as session:
        payload = json.loads(session.scalar(select(AuditEntry.payload).where(AuditEntry.leaf_index == 5)))
    assert payload["v"] == 2
    assert payload["commitment"] == commitment(["pk_carol", "pk_bob"], EMBARGO.isoformat())
    assert payload["commitment"] != commitment(["pk_bob"], EMBARGO.isoformat())
    assert payload["commitment"] != commitment(["pk_bob", "pk_carol"], None)


def test_version_1_entries_and_their_checkpoint_still_verify_after_the_upgrade(
        hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    """Entries and a checkpoint written by the code before leaf version 2 verify as they did; new ones are v2."""
    def canonical_v1(rec: audit_log.AuditRecord) -> str:  # the code before this change, as it wrote leaves
        data = {name: getattr(rec, name) for name in audit_log._FIELDS}
        data["v"] = 1
        data["occurred_at"] = rec.occurred_at.isoformat()
        data["embargo_until"] = rec.embargo_until.isoformat() if rec.embargo_until else None
        data["subjects"] = sorted(set(rec.subjects))
        return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    with monkeypatch.context() as old_code:
        old_code.setattr(audit_log, "canonical", canonical_v1)
        append_entries(hub, 0, 5, subjects=("pk_alice",), embargo_until=EMBARGO)
        old_checkpoint = audit.checkpoint_now(hub)
    with hub.transaction() as session:
        old_payloads = list(session.scalars(select(AuditEntry.payload).order_by(AuditEntry.leaf_index)))
    assert all(json.loads(p)["v"] == 1 and "commitment" not in json.loads(p) for p in old_payloads)
    append_entries(hub, 5, 3, subjects=("pk_bob",))
    audit.checkpoint_now(hub)
    report = audit.verify_log(hub, [old_checkpoint["note"]])
    assert report.ok, report.problems
    assert report.checkpoints_checked == 3
    with hub.transaction() as session:
        payloads = list(session.scalars(select(AuditEntry.payload).order_by(AuditEntry.leaf_index)))
    assert payloads[:5] == old_payloads and all(json.loads(p)["v"] == 2 for p in payloads[5:])
    # v1 entries name their subjects and embargo in the payload, so their rows are held to them too
    with hub.transaction() as session:
        session.execute(update(AuditEntry).where(AuditEntry.leaf_index == 3).values(embargo_until=None))
    assert failed(hub).first_bad_leaf == 3


# ---------------------------------------------------------------- rewrites: checkpoints, witnesses and forks


def test_two_signed_checkpoints_of_one_size_with_different_roots_are_a_fork(logged: Hub) -> None:
    with logged.transaction() as session:
        saved = session.scalar(select(AuditCheckpoint.note).where(AuditCheckpoint.tree_size == SIZE))
        tamper_edit(session, 6)
        rebuild_tree(session)
        session.execute(delete(AuditCheckpoint).where(AuditCheckpoint.tree_size == SIZE))
    audit.checkpoint_now(logged)  # re-signed by the hub's own key over the rewritten log
    report = failed(logged, extra_notes=[saved])
    assert [f.kind for f in report.forks] == ["fork"]
    assert f"FORK at size {SIZE}" in report.forks[0].message and "saved checkpoint 1" in report.forks[0].message


def test_a_consistent_rewrite_with_the_checkpoints_deleted_is_caught_by_the_witness(witnessed) -> None:  # noqa: ANN001
    hub, store = witnessed
    with hub.transaction() as session:
        tamper_edit(session, 5, outcome="deny")
        rebuild_tree(session)
        session.execute(delete(AuditWitnessReply))
        session.execute(delete(AuditCheckpoint))
    assert audit.verify_log(hub, consult_witnesses=False).ok  # the database alone is self-consistent
    report = failed(hub)
    [finding] = [f for f in report.findings if f.kind == "witness"]
    assert f"checkpoint signed at size {SIZE} (as witness {store.name}" in finding.message
    assert "a leaf between 0 and 7 was altered" in finding.message
    assert report.first_bad_leaf == 0


def test_a_rewrite_with_checkpoints_re_signed_is_a_fork_against_the_witness(witnessed) -> None:  # noqa: ANN001
    hub, store = witnessed
    with hub.transaction() as session:
        tamper_edit(session, 5, outcome="deny")
        rebuild_tree(session)
        session.execute(delete(AuditWitnessReply))
        session.execute(delete(AuditCheckpoint))
    audit.checkpoint_now(hub)
    with hub.transaction() as session:
        tamper_edit(session, 1)  # the checkpoint at 4, re-signed too
        rebuild_tree(session)
        session.execute(delete(AuditCheckpoint))
    checkpoints_resigned(hub, [4, SIZE])
    report = failed(hub)
    forks = [f.message for f in report.forks]
    assert any(f"FORK at size {SIZE}" in m and f"witness {store.name}" in m for m in forks), report.problems
    assert report.first_bad_leaf == 0  # the re-signed checkpoint at 4 is no anchor: the edit at 1 is before it
    assert any(f.kind == "witness" and "a leaf between 0 and 7 was altered" in f.message for f in report.findings)


def checkpoints_resigned(hub: Hub, sizes: list[int]) -> None:
    """The forger's checkpoints: the rewritten tree at each size, signed with the hub's key."""
    from accord.audit import merkle
    from accord.audit.store import SqlNodes

    with hub.transaction() as session:
        for size in sizes:
            root = merkle.root(SqlNodes(session), size)
            signed = checkpoints.sign(hub.signing_key, hub.settings.audit_origin, size, root, utcnow())
            session.add(AuditCheckpoint(tree_size=size, root_hash=root, created_at=utcnow(), note=signed.note))


def test_a_witness_refuses_a_rewritten_log_and_verify_raises_the_alarm(witnessed) -> None:  # noqa: ANN001
    hub, store = witnessed
    with hub.transaction() as session:
        tamper_edit(session, 2)
        rebuild_tree(session)
        session.execute(delete(AuditWitnessReply))
        session.execute(delete(AuditCheckpoint))
    append_entries(hub, SIZE, 2)
    audit.checkpoint_now(hub)
    [sent] = audit.publish_checkpoint(hub)
    assert sent.outcome == "refused" and sent.detail.startswith("422"), sent
    assert store.latest(hub.settings.audit_origin).size == SIZE  # the witness kept what it had cosigned
    report = failed(hub)
    assert any(f.kind == "witness-refused" and store.name in f.message for f in report.findings)


def test_an_unreachable_witness_is_a_warning_and_the_checkpoint_is_sent_again(logged: Hub, tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    store = new_witness(tmp_path / "witness", logged)
    from witness_support import free_port

    set_setting(monkeypatch, logged, witnesses=[setting(store, f"http://127.0.0.1:{free_port()}")])
    [sent] = audit.publish_checkpoint(logged)
    assert sent.outcome == "unreachable"
    with logged.transaction() as session:
        assert session.scalar(select(AuditWitnessReply)) is None  # nothing stored: the next pass sends it again
    report = audit.verify_log(logged)
    assert report.ok and any(store.name in w for w in report.warnings)
    with served(store) as url:
        set_setting(monkeypatch, logged, witnesses=[setting(store, url)])
        assert [s.outcome for s in audit.publish_checkpoint(logged)] == ["cosigned"]
        report = audit.verify_log(logged)
    assert report.ok and report.cosigned_checked == 2  # stored with the checkpoint, and the witness's latest


def test_records_appended_by_the_old_path_are_still_written(hub: Hub) -> None:
    """append() is unchanged for callers: a record with subjects writes its rows and its v2 leaf."""
    with hub.transaction() as session:
        append(session, record(0, subjects=("pk_b", "pk_a", "pk_a")))
    with hub.transaction() as session:
        keys = sorted(session.scalars(select(AuditSubject.person_key)))
        payload = json.loads(session.scalar(select(AuditEntry.payload)))
    assert keys == ["pk_a", "pk_b"] and payload["subjects"] == keys
    assert payload["commitment"] == commitment(keys, None)


def test_retention_removes_only_the_subject_rows_that_are_due_and_the_log_still_verifies(
        logged: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    from accord.services import retention

    with logged.transaction() as session:
        assert retention.run(session, NOW + timedelta(days=400))["audit subject rows past their retention"] == 0
    set_setting(monkeypatch, logged, audit_subject_retention_days=30)
    later = NOW + timedelta(days=31)
    monkeypatch.setattr(audit, "utcnow", lambda: later)  # verify judges "due" at the same time
    with logged.transaction() as session:  # past 30 days, before the embargo ends: only pk_alice's rows
        assert retention.run(session, later)["audit subject rows past their retention"] == 4
    report = audit.verify_log(logged)
    assert report.ok, report.problems
    later = EMBARGO + timedelta(days=1)
    with logged.transaction() as session:  # after the embargo: the rest
        assert retention.run(session, later)["audit subject rows past their retention"] == 8
        assert session.scalar(select(AuditSubject)) is None
    report = audit.verify_log(logged)
    assert report.ok, report.problems


def test_the_published_checkpoint_carries_the_witness_cosignature(witnessed) -> None:  # noqa: ANN001
    from accord.audit.cosignature import Witness, cosigned_at

    hub, store = witnessed
    latest = audit.latest_checkpoint(hub)
    assert latest["witnessed_by"] == [store.name]
    body = checkpoints.verify_note(latest["note"], hub.signing_key.public_key(), hub.settings.audit_origin).body
    assert cosigned_at(latest["cosigned_note"], body, Witness.from_key(store.verifier_key)) is not None
    assert checkpoints.verify_note(latest["cosigned_note"], hub.signing_key.public_key(), hub.settings.audit_origin)
