"""Recompute the audit tree from the stored payloads and check it against the signed checkpoints.

What is caught, and how it is named:
- a payload edited in place: its hash no longer matches the stored leaf hash;
- an entry deleted: a gap in the leaf indices;
- an entry inserted (indices shifted to make room): the entry after it carries
  the hash stored for its position;
- entries reordered: an entry carries the hash stored for another position;
- the stored tree rewritten to hide any of these: the recomputed root no
  longer matches a signed checkpoint (named as the range of leaves between the
  last checkpoint that still verifies and the first that does not).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from accord.audit import checkpoint as checkpoints
from accord.audit.merkle import MemoryNodes, leaf_hash, root
from accord.audit.store import head
from accord.storage.models import AuditEntry, AuditNode


@dataclass
class Report:
    tree_size: int = 0
    checkpoints_checked: int = 0
    problems: list[str] = field(default_factory=list)
    first_bad_leaf: int | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def fail(self, message: str, leaf: int | None = None, upto: int | None = None) -> None:
        """Record a problem at ``leaf`` (or in the leaves [leaf, upto), when only a range is known)."""
        self.problems.append(message)
        if leaf is None:
            return
        if upto is not None and self.first_bad_leaf is not None and leaf <= self.first_bad_leaf < upto:
            return  # the range holds the leaf already named, which explains it
        if self.first_bad_leaf is None or leaf < self.first_bad_leaf:
            self.first_bad_leaf = leaf


def verify(
    session: Session, public: Ed25519PublicKey, origin: str, extra_notes: list[str] | None = None
) -> Report:
    # The server may be integrating and signing while this runs. Everything is read up
    # to the tree head as it stood at the start; what lies beyond it is judged against
    # the head re-read at the end (a head never shrinks, and an index is committed
    # together with the head that covers it).
    report = Report()
    size, stored_root = head(session)
    report.tree_size = size
    stored = {
        idx: bytes(value)
        for idx, value in session.execute(
            select(AuditNode.idx, AuditNode.hash).where(AuditNode.level == 0, AuditNode.idx < size)
        )
    }
    position_of = {value: idx for idx, value in stored.items()}
    actual: dict[int, bytes] = {}
    for leaf_index, payload in session.execute(
        select(AuditEntry.leaf_index, AuditEntry.payload).where(
            AuditEntry.leaf_index.is_not(None), AuditEntry.leaf_index < size
        )
    ):
        actual[leaf_index] = leaf_hash(payload.encode())
    later_size, _ = head(session)
    beyond = session.scalars(
        select(AuditEntry.leaf_index).where(AuditEntry.leaf_index >= max(size, later_size))
    ).all()

    _check_leaves(report, size, stored, actual, position_of, beyond, max(size, later_size))
    recomputed = MemoryNodes(actual.get(i, stored.get(i, b"\x00" * 32)) for i in range(size))
    _check_nodes(report, session, recomputed)
    if size and root(recomputed, size) != stored_root:
        report.fail("the stored tree head does not match the tree recomputed from the entries")
    _check_checkpoints(report, session, public, origin, recomputed, extra_notes or [], max(size, later_size))
    return report


def _check_leaves(
    report: Report, size: int, stored: dict, actual: dict, position_of: dict, beyond: list, head_size: int
) -> None:
    for index in sorted(beyond):
        report.fail(f"leaf {index}: an entry was inserted beyond the integrated tree (size {head_size})", index)
    for index in range(size):
        have, want = actual.get(index), stored.get(index)
        if want is None:
            report.fail(f"leaf {index}: its stored leaf hash is missing", index)
            return
        if have == want:
            continue
        if have is None:
            report.fail(f"leaf {index}: the entry was deleted", index)
        elif have in position_of and position_of[have] != index:
            report.fail(
                f"leaf {index}: entries were reordered (it holds the entry recorded at leaf {position_of[have]})",
                index,
            )
        elif actual.get(index + 1) == want:
            report.fail(f"leaf {index}: an entry was inserted here, shifting later entries", index)
        else:
            report.fail(f"leaf {index}: the entry was edited after it was logged", index)
        return  # later mismatches follow from the first


def _check_nodes(report: Report, session: Session, recomputed: MemoryNodes) -> None:
    # Subtrees beyond the tree read here are not in ``recomputed`` and are skipped.
    for level, idx, value in session.execute(
        select(AuditNode.level, AuditNode.idx, AuditNode.hash).where(AuditNode.level > 0)
    ):
        expected = recomputed.hashes.get((level, idx))
        if expected is not None and expected != bytes(value):
            first_leaf = idx << level
            report.fail(
                f"stored subtree ({level}, {idx}) over leaves from {first_leaf} was altered",
                first_leaf,
                first_leaf + (1 << level),
            )
            return


def _check_checkpoints(
    report: Report,
    session: Session,
    public: Ed25519PublicKey,
    origin: str,
    recomputed: MemoryNodes,
    extra: list[str],
    head_size: int,
) -> None:
    notes = [row.note for row in checkpoints.all_checkpoints(session)] + list(extra)
    verified: list[checkpoints.Checkpoint] = []
    for note in notes:
        try:
            verified.append(checkpoints.verify_note(note, public, origin))
        except checkpoints.CheckpointError as exc:
            report.fail(f"checkpoint not accepted: {exc}")
    good_size = 0
    for signed in sorted(verified, key=lambda c: c.tree_size):
        if recomputed.size < signed.tree_size <= head_size:
            continue  # signed after this verification read the tree: checked next time
        report.checkpoints_checked += 1
        if signed.tree_size > recomputed.size:
            report.fail(
                f"a signed checkpoint covers {signed.tree_size} leaves but only {recomputed.size} are stored: "
                f"a leaf between {good_size} and {signed.tree_size - 1} was deleted",
                good_size,
                signed.tree_size,
            )
            return
        if root(recomputed, signed.tree_size) != signed.root_hash:
            report.fail(
                f"the entries no longer match the checkpoint signed at size {signed.tree_size}: "
                f"a leaf between {good_size} and {signed.tree_size - 1} was altered",
                good_size,
                signed.tree_size,
            )
            return
        good_size = signed.tree_size
